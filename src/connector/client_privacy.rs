//! The tenant's client privacy as this connector keeps it: the setting the
//! cloud sends with the group configuration, stored so that a restart
//! while the cloud is away still hashes (nothing is spooled in the clear),
//! and turned into the schedule every link applies (`nmsp::pseudonym`).
//!
//! The salts live in the state file's `settings` table under their own
//! key, which backups, support bundles and pages never read.

use rusqlite::{Connection, OptionalExtension};

use crate::contract::cloud_api::PrivacyConfig;
use crate::db::DbError;
use crate::nmsp::pseudonym::{PrivacySchedule, Pseudonymizer};

const KEY: &str = "client_privacy";

/// The stored setting (none yet: off).
pub fn load(conn: &Connection) -> Result<PrivacyConfig, DbError> {
    let raw: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [KEY], |r| {
            r.get(0)
        })
        .optional()?;
    // Written only by `store`; one that does not parse is treated as "off"
    // until the cloud sends the setting again.
    Ok(raw
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or_default())
}

/// Stores `cfg`; true if it differs from what was stored.
pub fn store(conn: &Connection, cfg: &PrivacyConfig) -> Result<bool, DbError> {
    if load(conn)? == *cfg {
        return Ok(false);
    }
    let raw = serde_json::to_string(cfg).map_err(|e| DbError::Task(e.to_string()))?;
    conn.execute(
        "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
        [KEY, &raw],
    )?;
    Ok(true)
}

/// The schedule links apply. A salt that is not hex (never sent by our
/// cloud) is used as its bytes: still hashed, and alike on every member.
pub fn schedule(cfg: &PrivacyConfig) -> PrivacySchedule {
    PrivacySchedule::new(
        cfg.epochs
            .iter()
            .map(|e| {
                let p = e.salt.as_ref().map(|s| {
                    let salt = hex::decode(s).unwrap_or_else(|_| s.as_bytes().to_vec());
                    Pseudonymizer::new(e.generation, &salt)
                });
                (e.from_ms, p)
            })
            .collect(),
    )
}

/// What the status API and the pages say: "hashed" while the newest
/// generation hashes, else "off".
pub fn label(cfg: &PrivacyConfig) -> &'static str {
    match cfg.epochs.iter().max_by_key(|e| e.generation) {
        Some(e) if e.salt.is_some() => "hashed",
        _ => "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::cloud_api::PrivacyEpoch;

    #[test]
    fn stored_across_restarts_and_applied_by_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        let cfg = PrivacyConfig {
            epochs: vec![PrivacyEpoch {
                generation: 1,
                from_ms: 100,
                salt: Some("0102".into()),
            }],
        };
        db.call_blocking(move |c| {
            assert_eq!(label(&load(c)?), "off");
            assert!(store(c, &cfg)?);
            assert!(!store(c, &cfg)?, "unchanged");
            let back = load(c)?;
            assert_eq!(label(&back), "hashed");
            assert_eq!(schedule(&back).at(150).map(|p| p.generation()), Some(1));
            assert!(store(c, &PrivacyConfig::default())?, "turned off");
            assert_eq!(label(&load(c)?), "off");
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
