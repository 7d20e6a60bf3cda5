//! Signed upgrades. The service checks an uploaded bundle (`bundle`):
//! signed by a trusted release key, newer, whole; and, on the appliance
//! image, stages it in its state directory with the controllers Active
//! now, for the root helper that installs it and checks the appliance's
//! health afterwards. What the helper did last (upgraded, or rolled back
//! and why) is read back here for the dashboard.
//!
//! Trusted keys: the release key built in (`SPACES_CONNECTOR_RELEASE_KEY`
//! at compile time), and any the machine's owner adds with
//! `serve --trust-release-key` (a lab's own builds).

pub mod bundle;
pub mod install;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use bundle::{BundleError, ReleaseKey, Verified};

/// Under the state directory: the staged bundle and its request.
const STAGE_DIR: &str = "upgrade";
const REQUEST: &str = "request.json";
const STAGED_BUNDLE: &str = "bundle.scupdate";
/// Written by the installer: how the last upgrade ended.
const OUTCOME: &str = "outcome.json";
/// Written by the service every few seconds where upgrades are managed:
/// what the installer's health check reads.
const HEALTH: &str = "health.json";

/// The service's own report of its health, for the installer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceHealth {
    pub version: String,
    /// Unix milliseconds: a report older than the restart is not one.
    pub at_ms: u64,
    pub active_controllers: Vec<i64>,
}

/// Writes the service's health report (the web UI is up by then).
pub fn write_health(data_dir: &Path, active_controllers: Vec<i64>) -> std::io::Result<()> {
    let h = ServiceHealth {
        version: crate::VERSION.into(),
        at_ms: crate::clock::now_ms(),
        active_controllers,
    };
    let json = serde_json::to_vec(&h).map_err(std::io::Error::other)?;
    crate::connector::atomic_file::replace(&data_dir.join(HEALTH), &json)
}

/// The release key built into this program, if its build named one.
const BUILT_IN: Option<&str> = option_env!("SPACES_CONNECTOR_RELEASE_KEY");

/// Every key a bundle may be signed with.
pub fn trusted_keys(extra: &[String]) -> Vec<ReleaseKey> {
    BUILT_IN
        .into_iter()
        .chain(extra.iter().map(String::as_str))
        .filter_map(ReleaseKey::parse)
        .collect()
}

/// An upgrade waiting for the helper.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpgradeRequest {
    pub from: String,
    pub to: String,
    pub requested_at: i64,
    /// Controllers Active when it was asked: Active again after it, or
    /// the helper rolls back.
    pub active_controllers: Vec<i64>,
}

/// How the helper's last upgrade ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpgradeOutcome {
    pub from: String,
    pub to: String,
    /// `upgraded`, `rolled_back` or `refused`.
    pub result: String,
    /// Why it rolled back.
    pub reason: Option<String>,
    pub at: i64,
}

impl UpgradeOutcome {
    pub fn rolled_back(&self) -> bool {
        self.result == "rolled_back"
    }
    /// The installer refused the bundle before changing anything.
    pub fn refused(&self) -> bool {
        self.result == "refused"
    }
    pub fn at_text(&self) -> String {
        crate::clock::format_unix(self.at)
    }
}

/// What the System page and the dashboard show of upgrades.
#[derive(Clone, Debug, Serialize)]
pub struct UpgradeView {
    pub version: &'static str,
    /// This machine installs upgrades (the image).
    pub managed: bool,
    /// A release key is trusted (else every bundle is refused).
    pub trusts_a_key: bool,
    pub pending: Option<UpgradeRequest>,
    pub outcome: Option<UpgradeOutcome>,
    /// Members of the pair that are not up, by name.
    pub peers_down: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(
        "upgrades are installed on the appliance image; here, install the .deb the bundle holds yourself"
    )]
    NotManaged,
    #[error("an upgrade to {0} is already waiting to be installed")]
    Pending(String),
    #[error("the bundle could not be staged: {0}")]
    Io(#[from] std::io::Error),
}

fn stage_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(STAGE_DIR)
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The upgrade waiting for the helper, if any.
pub fn pending(data_dir: &Path) -> Option<UpgradeRequest> {
    read_json(&stage_dir(data_dir).join(REQUEST))
}

/// How the last upgrade ended, if one ran.
pub fn outcome(data_dir: &Path) -> Option<UpgradeOutcome> {
    read_json(&stage_dir(data_dir).join(OUTCOME))
}

/// Checks `bytes` and, when this machine installs upgrades, stages them
/// for the helper: the bundle first, the request last (its appearance is
/// what the helper's path unit waits for).
pub fn submit(
    data_dir: &Path,
    bytes: &[u8],
    trusted: &[ReleaseKey],
    managed: bool,
    active_controllers: Vec<i64>,
) -> Result<UpgradeRequest, UpgradeError> {
    let Verified { manifest, .. } =
        bundle::verify(bytes, trusted, crate::VERSION, bundle::debian_arch())?;
    if let Some(p) = pending(data_dir) {
        return Err(UpgradeError::Pending(p.to));
    }
    if !managed {
        return Err(UpgradeError::NotManaged);
    }
    let dir = stage_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    crate::connector::atomic_file::replace(&dir.join(STAGED_BUNDLE), bytes)?;
    let request = UpgradeRequest {
        from: crate::VERSION.into(),
        to: manifest.version,
        requested_at: crate::clock::now_unix(),
        active_controllers,
    };
    let json = serde_json::to_vec_pretty(&request).map_err(std::io::Error::other)?;
    crate::connector::atomic_file::replace(&dir.join(REQUEST), &json)?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::bundle::tests::{bundle, release_key};
    use super::*;

    fn newer() -> String {
        let mut v = semver::Version::parse(crate::VERSION).unwrap();
        v.minor += 1;
        v.to_string()
    }

    #[test]
    fn a_good_bundle_is_staged_once_and_only_where_upgrades_are_managed() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = release_key();
        let b = bundle(&key, &newer(), b"package");
        let trusted = [public];
        assert!(matches!(
            submit(dir.path(), &b, &trusted, false, vec![]),
            Err(UpgradeError::NotManaged)
        ));
        assert!(pending(dir.path()).is_none(), "nothing staged");
        let r = submit(dir.path(), &b, &trusted, true, vec![3, 4]).unwrap();
        assert_eq!(
            (r.to.as_str(), r.active_controllers.as_slice()),
            (newer().as_str(), &[3, 4][..])
        );
        assert_eq!(pending(dir.path()).unwrap().to, newer());
        assert_eq!(
            std::fs::read(dir.path().join("upgrade/bundle.scupdate")).unwrap(),
            b
        );
        assert!(matches!(
            submit(dir.path(), &b, &trusted, true, vec![]),
            Err(UpgradeError::Pending(_))
        ));
    }

    #[test]
    fn a_refused_bundle_stages_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = release_key();
        let (_, other) = release_key();
        let b = bundle(&key, &newer(), b"package");
        assert!(matches!(
            submit(dir.path(), &b, &[other], true, vec![]),
            Err(UpgradeError::Bundle(BundleError::BadSignature))
        ));
        assert!(!dir.path().join("upgrade").exists());
    }
}
