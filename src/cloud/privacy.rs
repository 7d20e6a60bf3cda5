//! A tenant's client privacy: off, or hashed with a secret salt that only
//! the cloud makes and only the tenant's connectors receive (in their
//! group configuration). Each change is a new generation that takes
//! effect `lead` later by the controllers' own clocks, so every member has
//! it before the first event it applies to (`nmsp::pseudonym`).
//!
//! The salt never leaves this module except into [`PrivacyConfig`]: pages
//! see [`PrivacyView`], which has none.

use rusqlite::{Connection, OptionalExtension, params};

use super::CloudError;
use crate::clock::now_ms;
use crate::contract::cloud_api::{PrivacyConfig, PrivacyEpoch};
use crate::db::DbError;

/// The newest generations sent to connectors: the current one and the
/// one before, for events stamped just before a change took effect.
const SENT_EPOCHS: i64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivacyMode {
    Off,
    Hash,
}

impl PrivacyMode {
    pub fn parse(s: &str) -> Option<PrivacyMode> {
        match s.trim() {
            "off" => Some(PrivacyMode::Off),
            "hash" => Some(PrivacyMode::Hash),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyMode::Off => "off",
            PrivacyMode::Hash => "hash",
        }
    }
}

/// One generation as pages show it: everything but the salt.
#[derive(Debug, Clone)]
pub struct PrivacyView {
    pub generation: u32,
    pub mode: PrivacyMode,
    pub from_ms: u64,
    pub changed_at_ms: u64,
}

impl PrivacyView {
    pub fn label(&self) -> &'static str {
        match self.mode {
            PrivacyMode::Off => "Off",
            PrivacyMode::Hash => "Hashed",
        }
    }

    pub fn from(&self) -> String {
        crate::clock::format_unix((self.from_ms / 1000) as i64)
    }

    pub fn changed(&self) -> String {
        crate::clock::format_unix((self.changed_at_ms / 1000) as i64)
    }
}

/// The table, a migration step of the cloud's state file.
pub const TABLE: &str = r#"
CREATE TABLE tenant_privacy (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    generation INTEGER NOT NULL,
    mode       TEXT NOT NULL,
    salt       BLOB,
    from_ms    INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, generation)
) STRICT;
"#;

/// Every generation of a tenant, newest first (none: privacy was never
/// turned on, which is off).
pub fn history(conn: &Connection, tenant_id: &str) -> Result<Vec<PrivacyView>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT generation, mode, from_ms, changed_at FROM tenant_privacy
         WHERE tenant_id = ?1 ORDER BY generation DESC LIMIT 20",
    )?;
    let rows = stmt.query_map([tenant_id], |r| {
        Ok(PrivacyView {
            generation: r.get(0)?,
            mode: PrivacyMode::parse(&r.get::<_, String>(1)?).unwrap_or(PrivacyMode::Off),
            from_ms: r.get::<_, i64>(2)? as u64,
            changed_at_ms: r.get::<_, i64>(3)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The mode in force for new changes (the newest generation's).
pub fn current(conn: &Connection, tenant_id: &str) -> Result<Option<PrivacyView>, DbError> {
    Ok(history(conn, tenant_id)?.into_iter().next())
}

/// Sets the mode; `Ok(None)` when it already was. Turning hashing on makes
/// a new salt.
pub fn set_mode(
    conn: &mut Connection,
    tenant_id: &str,
    mode: PrivacyMode,
    lead_ms: u64,
) -> Result<Option<PrivacyView>, CloudError> {
    let now = current(conn, tenant_id)?;
    if now.as_ref().map_or(PrivacyMode::Off, |v| v.mode) == mode {
        return Ok(None);
    }
    Ok(Some(new_generation(conn, tenant_id, mode, lead_ms)?))
}

/// A new salt for a tenant that hashes: the pseudonyms change from then on.
pub fn rotate(
    conn: &mut Connection,
    tenant_id: &str,
    lead_ms: u64,
) -> Result<PrivacyView, CloudError> {
    match current(conn, tenant_id)? {
        Some(v) if v.mode == PrivacyMode::Hash => {
            new_generation(conn, tenant_id, PrivacyMode::Hash, lead_ms)
        }
        _ => Err(CloudError::Invalid(
            "Client privacy is off: there is no salt to change. Turn hashing on first.".into(),
        )),
    }
}

fn new_generation(
    conn: &mut Connection,
    tenant_id: &str,
    mode: PrivacyMode,
    lead_ms: u64,
) -> Result<PrivacyView, CloudError> {
    let tx = conn.transaction().map_err(DbError::from)?;
    let exists: Option<String> = tx
        .query_row("SELECT id FROM tenants WHERE id = ?1", [tenant_id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(DbError::from)?;
    if exists.is_none() {
        return Err(CloudError::NotFound);
    }
    let generation: u32 = tx
        .query_row(
            "SELECT COALESCE(MAX(generation), 0) + 1 FROM tenant_privacy WHERE tenant_id = ?1",
            [tenant_id],
            |r| r.get(0),
        )
        .map_err(DbError::from)?;
    let salt = match mode {
        PrivacyMode::Hash => {
            let mut s = [0u8; crate::nmsp::pseudonym::SALT_LEN];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut s)
                .map_err(|_| CloudError::Invalid("no randomness for a salt".into()))?;
            Some(s.to_vec())
        }
        PrivacyMode::Off => None,
    };
    let now = now_ms();
    let view = PrivacyView {
        generation,
        mode,
        from_ms: now + lead_ms,
        changed_at_ms: now,
    };
    tx.execute(
        "INSERT INTO tenant_privacy (tenant_id, generation, mode, salt, from_ms, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            tenant_id,
            generation,
            mode.as_str(),
            salt,
            view.from_ms as i64,
            now as i64
        ],
    )
    .map_err(DbError::from)?;
    // Every group of the tenant has a new configuration to long-poll.
    tx.execute(
        "UPDATE groups SET config_version = config_version + 1 WHERE tenant_id = ?1",
        [tenant_id],
    )
    .map_err(DbError::from)?;
    tx.commit().map_err(DbError::from)?;
    Ok(view)
}

/// Whether events from a member of `group_id` speaking `protocol_version`
/// must be refused: its tenant hashes client identities (now or in a
/// generation still sent) and that member could not have applied it, so
/// what it sends would put them in the clear.
pub fn refuses(conn: &Connection, group_id: &str, protocol_version: u32) -> Result<bool, DbError> {
    if protocol_version >= crate::contract::cloud_api::PRIVACY_PROTOCOL_VERSION {
        return Ok(false);
    }
    Ok(config_for_group(conn, group_id)?
        .epochs
        .iter()
        .any(|e| e.salt.is_some()))
}

/// What a group's members receive: the newest generations of its tenant,
/// salts included.
pub fn config_for_group(conn: &Connection, group_id: &str) -> Result<PrivacyConfig, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.generation, p.salt, p.from_ms FROM tenant_privacy p
         JOIN groups g ON g.tenant_id = p.tenant_id
         WHERE g.id = ?1 ORDER BY p.generation DESC LIMIT ?2",
    )?;
    let mut epochs = stmt
        .query_map(params![group_id, SENT_EPOCHS], |r| {
            Ok(PrivacyEpoch {
                generation: r.get(0)?,
                salt: r.get::<_, Option<Vec<u8>>>(1)?.map(hex::encode),
                from_ms: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    epochs.reverse();
    Ok(PrivacyConfig { epochs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::cloud::schema::migrate(&mut c).unwrap();
        c.execute(
            "INSERT INTO tenants (id, name, firehose_key_hash, created_at) VALUES ('t', 'T', '', 0)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO groups (id, tenant_id, name, kind, secret_hash, token, created_at)
             VALUES ('g', 't', 'G', 'wired', '', '', 0)",
            [],
        )
        .unwrap();
        c
    }

    #[test]
    fn on_rotate_off_each_a_generation_and_a_new_config() {
        let mut c = db();
        assert!(config_for_group(&c, "g").unwrap().epochs.is_empty());
        let v1 = set_mode(&mut c, "t", PrivacyMode::Hash, 0)
            .unwrap()
            .unwrap();
        assert_eq!((v1.generation, v1.mode), (1, PrivacyMode::Hash));
        assert!(
            set_mode(&mut c, "t", PrivacyMode::Hash, 0)
                .unwrap()
                .is_none(),
            "no change"
        );
        let v2 = rotate(&mut c, "t", 30_000).unwrap();
        assert!(v2.from_ms >= v1.from_ms + 30_000);
        let cfg = config_for_group(&c, "g").unwrap();
        assert_eq!(cfg.epochs.len(), 2);
        let (s1, s2) = (cfg.epochs[0].salt.clone(), cfg.epochs[1].salt.clone());
        assert!(s1.is_some() && s2.is_some() && s1 != s2, "a new salt");
        assert!(
            !format!("{cfg:?}").contains(&s1.unwrap()),
            "Debug hides the salt"
        );
        set_mode(&mut c, "t", PrivacyMode::Off, 0).unwrap().unwrap();
        let cfg = config_for_group(&c, "g").unwrap();
        assert_eq!(cfg.epochs.last().unwrap().salt, None);
        assert!(matches!(
            rotate(&mut c, "t", 0),
            Err(CloudError::Invalid(_))
        ));
        let version: i64 = c
            .query_row(
                "SELECT config_version FROM groups WHERE id = 'g'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, 4, "each change reaches the members");
    }
}
