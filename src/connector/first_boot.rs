//! Headless first boot: settings given without touching the console, on a
//! config drive (a volume labelled `CIDATA` holding `spaces-connector.json`)
//! or as VMware vApp properties. The file:
//!
//! ```json
//! { "network": { "hostname": "conn-1", "mode": "static",
//!                "address": "10.0.2.50/24", "gateway": "10.0.2.2",
//!                "dns": "10.0.2.3", "search": "corp.example", "ntp": "10.0.2.2" },
//!   "proxy": { "url": "http://proxy:3128", "username": "", "password": "", "no_proxy": "" },
//!   "admin_password_hash": "$argon2id$v=19$...",
//!   "token": "SCT1...." }
//! ```
//!
//! Every part is optional. Two steps, split by privilege: `collect` (root,
//! the image's first-boot unit) checks the file, hands the network part to
//! the network helper at once and leaves the file for the service;
//! `import` (the service, at start) applies the rest to the state file,
//! once, records what it applied, and deletes the file (it may hold a
//! token and a password hash).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::connector::network::{self, NetworkInput, confirm};
use crate::connector::proxy::{self, ProxyInput};
use crate::db::{Db, DbError};

/// The file on the config drive, and its name in the state directory.
pub const FILE_NAME: &str = "spaces-connector.json";
const WAITING: &str = "first-boot.json";
const RECORD_KEY: &str = "first_boot";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstBootConfig {
    pub network: Option<NetworkInput>,
    pub proxy: Option<ProxyInput>,
    pub admin_password_hash: Option<String>,
    pub token: Option<String>,
}

/// What the System page shows: when, from where, what was applied and
/// what was refused (with why).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FirstBootRecord {
    pub applied_at: i64,
    pub source: String,
    pub applied: Vec<String>,
    pub refused: Vec<String>,
}

impl FirstBootRecord {
    pub fn applied_at_text(&self) -> String {
        crate::clock::format_unix(self.applied_at)
    }
}

fn parse(raw: &[u8]) -> anyhow::Result<FirstBootConfig> {
    anyhow::ensure!(raw.len() <= 64 * 1024, "larger than 64 KiB");
    Ok(serde_json::from_slice(raw)?)
}

/// The OVF environment VMware delivers (vApp options, read with
/// `vmware-rpctool "info-get guestinfo.ovfEnv"`) turned into the same
/// file: the OVA declares these property keys; empty ones are left out.
pub fn from_ovf_environment(xml: &str) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(xml.len() <= 256 * 1024, "larger than 256 KiB");
    let doc = roxmltree::Document::parse(xml)?;
    let mut props = std::collections::BTreeMap::new();
    for p in doc.descendants().filter(|n| n.has_tag_name("Property")) {
        // The attributes are namespaced (oe:key, oe:value): match the name.
        let attr = |name: &str| {
            p.attributes()
                .find(|a| a.name() == name)
                .map(|a| a.value().trim().to_string())
        };
        if let (Some(k), Some(v)) = (attr("key"), attr("value"))
            && !v.is_empty()
        {
            props.insert(k, v);
        }
    }
    let mut out = serde_json::Map::new();
    let mut network = serde_json::Map::new();
    for key in [
        "hostname",
        "mode",
        "address",
        "gateway",
        "ipv6_address",
        "ipv6_gateway",
        "dns",
        "search",
        "ntp",
    ] {
        if let Some(v) = props.remove(&format!("network.{key}")) {
            network.insert(key.into(), v.into());
        }
    }
    if !network.is_empty() {
        out.insert("network".into(), network.into());
    }
    let mut proxy = serde_json::Map::new();
    for key in ["url", "username", "password", "no_proxy"] {
        if let Some(v) = props.remove(&format!("proxy.{key}")) {
            proxy.insert(key.into(), v.into());
        }
    }
    if !proxy.is_empty() {
        out.insert("proxy".into(), proxy.into());
    }
    for key in ["admin_password_hash", "token"] {
        if let Some(v) = props.remove(key) {
            out.insert(key.into(), v.into());
        }
    }
    Ok(out.into())
}

/// Root's step: checks `from`, hands its network part to the helper (so
/// the very first boot comes up at the right address) and leaves the file
/// in `state_dir` for the service. `source` says where it came from.
/// With `ovf_env`, `from` is VMware's OVF environment document rather
/// than the JSON file.
pub fn collect(
    from: &Path,
    ovf_env: bool,
    state_dir: &Path,
    source: &str,
) -> anyhow::Result<String> {
    let mut raw = std::fs::read(from)?;
    if ovf_env {
        let xml = String::from_utf8(raw)?;
        raw = serde_json::to_vec(&from_ovf_environment(&xml)?)?;
    }
    let config = parse(&raw).map_err(|e| anyhow::anyhow!("{}: {e}", from.display()))?;
    std::fs::create_dir_all(state_dir)?;
    let mut said = Vec::new();
    if let Some(n) = &config.network {
        match n.validate() {
            Ok(s) => {
                confirm::handoff(state_dir, &s)?;
                said.push(format!("network handed to the helper ({})", n.mode));
            }
            Err(e) => said.push(format!("network refused: {}", e.summary())),
        }
    }
    let waiting = serde_json::json!({ "source": source, "config": serde_json::from_slice::<serde_json::Value>(&raw)? });
    let path = state_dir.join(WAITING);
    std::fs::write(&path, serde_json::to_vec(&waiting)?)?;
    said.push(format!(
        "the rest waits in {} for the service",
        path.display()
    ));
    Ok(said.join("; "))
}

/// The service's step, at start: applies a waiting first-boot file once.
/// The token is returned for the caller to enroll (the cloud link is not
/// running yet when this runs).
pub async fn import(
    db: &Db,
    state_dir: &Path,
) -> Result<Option<(FirstBootRecord, Option<String>)>, DbError> {
    let path: PathBuf = state_dir.join(WAITING);
    let Ok(raw) = std::fs::read(&path) else {
        return Ok(None);
    };
    // Gone before anything is applied: a file that fails half-way is not
    // applied again at every start.
    let _ = std::fs::remove_file(&path);
    let waiting: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
    let source = waiting["source"]
        .as_str()
        .unwrap_or("config drive")
        .to_string();
    let mut record = FirstBootRecord {
        applied_at: crate::clock::now_unix(),
        source,
        ..Default::default()
    };
    let config = match serde_json::from_value::<FirstBootConfig>(waiting["config"].clone()) {
        Ok(c) => c,
        Err(e) => {
            record.refused.push(format!("the file: {e}"));
            let r = record.clone();
            db.call(move |c| save(c, &r)).await?;
            return Ok(Some((record, None)));
        }
    };
    let token = config.token.clone();
    let r = db
        .call(move |c| {
            let mut record = record;
            if let Some(n) = &config.network {
                match network::set_at_console(c, n) {
                    Ok(_) => record.applied.push("network".into()),
                    Err(network::NetworkError::Invalid(f)) => {
                        record.refused.push(format!("network: {}", f.summary()))
                    }
                    Err(e) => record.refused.push(format!("network: {e}")),
                }
            }
            if let Some(p) = &config.proxy {
                match proxy::set(c, p) {
                    Ok(_) => record.applied.push("proxy".into()),
                    Err(e) => record.refused.push(format!("proxy: {e}")),
                }
            }
            if let Some(h) = &config.admin_password_hash {
                let ok =
                    argon2::PasswordHash::new(h).is_ok_and(|p| p.algorithm.as_str() == "argon2id");
                if !ok {
                    record
                        .refused
                        .push("admin_password_hash: not an argon2id hash ($argon2id$...)".into());
                } else if crate::portal::auth::admin::create(c, h)? {
                    record.applied.push("admin password".into());
                } else {
                    record
                        .refused
                        .push("admin_password_hash: an admin password was already set".into());
                }
            }
            save(c, &record)?;
            Ok::<_, DbError>(record)
        })
        .await?;
    Ok(Some((r, token)))
}

/// Adds the token's outcome to the record.
pub async fn record_token(db: &Db, outcome: Result<(), String>) -> Result<(), DbError> {
    db.call(move |c| {
        let mut r = get(c)?.unwrap_or_default();
        match outcome {
            Ok(()) => r.applied.push("token".into()),
            Err(e) => r.refused.push(format!("token: {e}")),
        }
        save(c, &r)
    })
    .await
}

fn save(c: &rusqlite::Connection, r: &FirstBootRecord) -> Result<(), DbError> {
    crate::db::settings::put(c, RECORD_KEY, r)
}

pub fn get(c: &rusqlite::Connection) -> Result<Option<FirstBootRecord>, DbError> {
    crate::db::settings::get(c, RECORD_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_config_drive_is_collected_by_root_and_applied_once_by_the_service() {
        let drive = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let file = drive.path().join(FILE_NAME);
        let hash = crate::portal::auth::password::hash("correct horse battery".into())
            .await
            .unwrap();
        std::fs::write(
            &file,
            serde_json::json!({
                "network": {"hostname": "conn-1", "mode": "static", "address": "10.0.2.50/24",
                            "gateway": "10.0.2.2", "dns": "10.0.2.3", "ntp": "10.0.2.2"},
                "proxy": {"url": "ftp://bad"},
                "admin_password_hash": hash,
                "token": "SCT1.x"
            })
            .to_string(),
        )
        .unwrap();
        let said = collect(&file, false, state.path(), "config drive CIDATA").unwrap();
        assert!(said.contains("network handed"), "{said}");
        let handed: NetworkInput =
            serde_json::from_slice(&std::fs::read(confirm::handoff_path(state.path())).unwrap())
                .unwrap();
        assert_eq!(handed.address, "10.0.2.50/24");

        let db = crate::connector::schema::open(state.path()).unwrap();
        let (record, token) = import(&db, state.path()).await.unwrap().unwrap();
        assert_eq!(record.applied, vec!["network", "admin password"]);
        assert_eq!(record.refused.len(), 1, "{record:?}");
        assert!(record.refused[0].starts_with("proxy:"));
        assert_eq!(token.as_deref(), Some("SCT1.x"));
        assert!(import(&db, state.path()).await.unwrap().is_none(), "once");
        let stored = db.call_blocking(|c| network::settings::get(c)).unwrap();
        assert_eq!(stored.hostname, "conn-1");
        assert!(
            db.call_blocking(|c| crate::portal::auth::admin::exists(c))
                .unwrap()
        );

        // VMware's vApp properties, as the OVF environment carries them.
        let env = r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" oe:id="">
  <PlatformSection><Kind>VMware ESXi</Kind></PlatformSection>
  <PropertySection>
    <Property oe:key="network.hostname" oe:value="conn-9"/>
    <Property oe:key="network.mode" oe:value="static"/>
    <Property oe:key="network.address" oe:value="10.1.0.9/24"/>
    <Property oe:key="network.dns" oe:value="10.1.0.53"/>
    <Property oe:key="proxy.url" oe:value=""/>
    <Property oe:key="token" oe:value="SCT1.y"/>
  </PropertySection>
</Environment>"#;
        let json = from_ovf_environment(env).unwrap();
        assert_eq!(json["network"]["address"], "10.1.0.9/24");
        assert!(json.get("proxy").is_none(), "empty properties are left out");
        let config: FirstBootConfig = serde_json::from_value(json).unwrap();
        assert_eq!(config.token.as_deref(), Some("SCT1.y"));
        assert_eq!(
            config.network.unwrap().validate().unwrap().hostname,
            "conn-9"
        );

        std::fs::write(&file, r#"{"netwrok": {}}"#).unwrap();
        assert!(
            collect(&file, false, state.path(), "x").is_err(),
            "unknown fields are refused"
        );
    }
}
