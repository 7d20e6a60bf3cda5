//! The installer: root's side of an upgrade, run by the image's
//! `spaces-connector-upgrade.service` when the service stages a bundle.
//! It trusts nothing the unprivileged service wrote: the bundle is checked
//! again here. Then: stop the service, keep a snapshot of its state file,
//! install the new package, start it, and wait for its health (its own
//! report in the state directory: the new version, up, and every
//! controller that was Active before Active again) for 60 s. When that
//! fails it puts the previous package and the snapshot back by itself.
//! Either way the outcome is written where the dashboard reads it.
//!
//! The package installed now is kept in the installer's own directory
//! (the image puts its first one there): without it there is nothing to
//! roll back to, and the upgrade is refused before anything changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{HEALTH, OUTCOME, REQUEST, STAGE_DIR, STAGED_BUNDLE, UpgradeOutcome, UpgradeRequest};
use super::{ServiceHealth, bundle, read_json, trusted_keys};

/// How long the new version has to become healthy.
pub const HEALTH_WINDOW: Duration = Duration::from_secs(60);
const SERVICE: &str = "spaces-connector";
const INSTALLED: &str = "installed.deb";
const SNAPSHOT: &str = "snapshot";
const STATE_FILES: &[&str] = &["connector.db", "connector.db-wal", "connector.db-shm"];

/// Where things are: the service's state directory and the installer's.
pub struct Installer {
    pub state_dir: PathBuf,
    pub work_dir: PathBuf,
    pub extra_keys: Vec<String>,
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Installer {
    fn stage(&self) -> PathBuf {
        self.state_dir.join(STAGE_DIR)
    }

    /// Runs the staged upgrade, if one waits; returns what happened.
    pub fn run(&self) -> Result<String, String> {
        let Some(request) = read_json::<UpgradeRequest>(&self.stage().join(REQUEST)) else {
            return Ok("no upgrade waiting".into());
        };
        let bytes = std::fs::read(self.stage().join(STAGED_BUNDLE)).unwrap_or_default();
        // Whatever happens next, this request is taken: the path unit
        // must not start again on it.
        let _ = std::fs::remove_file(self.stage().join(REQUEST));
        let _ = std::fs::remove_file(self.stage().join(STAGED_BUNDLE));
        let trusted = trusted_keys(&self.extra_keys);
        let checked = bundle::verify(&bytes, &trusted, crate::VERSION, bundle::debian_arch());
        let verified = match checked {
            Ok(v) => v,
            Err(e) => return self.finish(&request, "refused", Some(e.to_string())),
        };
        let installed = self.work_dir.join(INSTALLED);
        if !installed.exists() {
            let why = format!(
                "no copy of the installed package ({}) to roll back to",
                installed.display()
            );
            return self.finish(&request, "refused", Some(why));
        }
        let new_deb = self.work_dir.join(&verified.manifest.deb);
        std::fs::write(&new_deb, &verified.deb).map_err(|e| e.to_string())?;
        let started = crate::clock::now_ms();
        match self.install(&new_deb, &request, started) {
            Ok(()) => {
                std::fs::rename(&new_deb, &installed).map_err(|e| e.to_string())?;
                self.finish(&request, "upgraded", None)
            }
            Err(why) => {
                let put_back = self.roll_back(&installed);
                let _ = std::fs::remove_file(&new_deb);
                let why = match put_back {
                    Ok(()) => why,
                    Err(e) => format!("{why}; and the rollback failed too: {e}"),
                };
                self.finish(&request, "rolled_back", Some(why))
            }
        }
    }

    /// Stop, snapshot, install, start, wait for health.
    fn install(&self, deb: &Path, request: &UpgradeRequest, started_ms: u64) -> Result<(), String> {
        run("systemctl", &["stop", SERVICE])?;
        let snapshot = self.work_dir.join(SNAPSHOT);
        let _ = std::fs::remove_dir_all(&snapshot);
        std::fs::create_dir_all(&snapshot).map_err(|e| e.to_string())?;
        for f in STATE_FILES {
            let from = self.state_dir.join(f);
            if from.exists() {
                std::fs::copy(&from, snapshot.join(f)).map_err(|e| format!("snapshot: {e}"))?;
            }
        }
        let _ = std::fs::remove_file(self.state_dir.join(HEALTH));
        run("dpkg", &["--install", &deb.display().to_string()])?;
        let _ = run("systemctl", &["reset-failed", SERVICE]);
        run("systemctl", &["start", SERVICE])?;
        self.wait_healthy(request, started_ms)
    }

    fn wait_healthy(&self, request: &UpgradeRequest, started_ms: u64) -> Result<(), String> {
        let deadline = Instant::now() + HEALTH_WINDOW;
        let mut last = "the new version never reported".to_string();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(1));
            let Some(h) = read_json::<ServiceHealth>(&self.state_dir.join(HEALTH)) else {
                continue;
            };
            if h.at_ms < started_ms || h.version != request.to {
                last = format!("version {} reported, not {}", h.version, request.to);
                continue;
            }
            let missing: Vec<String> = request
                .active_controllers
                .iter()
                .filter(|id| !h.active_controllers.contains(id))
                .map(|id| id.to_string())
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            last = format!("controller(s) {} not Active again", missing.join(", "));
        }
        Err(format!("{last} within {} s", HEALTH_WINDOW.as_secs()))
    }

    /// The previous package and the snapshot, back. Every step is tried
    /// even when one fails (a broken package may leave dpkg unhappy);
    /// the first failure is reported.
    fn roll_back(&self, installed: &Path) -> Result<(), String> {
        let mut first_error: Option<String> = None;
        let mut step = |r: Result<(), String>| {
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        };
        let _ = run("systemctl", &["stop", SERVICE]);
        // A unit that failed to start too often refuses to start again.
        let _ = run("systemctl", &["reset-failed", SERVICE]);
        step(run(
            "dpkg",
            &["--install", &installed.display().to_string()],
        ));
        let _ = run("systemctl", &["stop", SERVICE]);
        let snapshot = self.work_dir.join(SNAPSHOT);
        for f in STATE_FILES {
            let _ = std::fs::remove_file(self.state_dir.join(f));
            let kept = snapshot.join(f);
            if kept.exists() {
                step(
                    std::fs::copy(&kept, self.state_dir.join(f))
                        .map(|_| ())
                        .map_err(|e| format!("restore: {e}")),
                );
            }
        }
        let owner = "spaces-connector:spaces-connector";
        step(run(
            "chown",
            &["-R", owner, &self.state_dir.display().to_string()],
        ));
        let _ = run("systemctl", &["reset-failed", SERVICE]);
        step(run("systemctl", &["start", SERVICE]));
        first_error.map_or(Ok(()), Err)
    }

    /// Writes the outcome for the dashboard (owned by the service).
    fn finish(
        &self,
        request: &UpgradeRequest,
        result: &str,
        reason: Option<String>,
    ) -> Result<String, String> {
        let outcome = UpgradeOutcome {
            from: request.from.clone(),
            to: request.to.clone(),
            result: result.into(),
            reason,
            at: crate::clock::now_unix(),
        };
        let json = serde_json::to_vec_pretty(&outcome).map_err(|e| e.to_string())?;
        let path = self.stage().join(OUTCOME);
        std::fs::create_dir_all(self.stage()).map_err(|e| e.to_string())?;
        crate::connector::atomic_file::replace(&path, &json).map_err(|e| e.to_string())?;
        let _ = run(
            "chown",
            &[
                "-R",
                "spaces-connector:spaces-connector",
                &self.stage().display().to_string(),
            ],
        );
        Ok(format!(
            "upgrade {} to {}: {result}{}",
            outcome.from,
            outcome.to,
            outcome
                .reason
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ))
    }
}
