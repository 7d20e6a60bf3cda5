//! Backup and restore of the configuration. A backup holds the token, the
//! controllers (with the keys learned from them), the AP allow-list, the
//! API tokens (their hashes), the admin password's hash, the cloud proxy,
//! the admin UI's certificate, and, when asked, the appliance's identity
//! (instance, cloud membership key and NMSP key), sealed with a
//! passphrase (`sealed`).
//!
//! Restored **as this appliance**, the identity comes back: controllers
//! and the cloud know it as before (a replacement for a dead appliance).
//! Restored **as a new appliance**, it keeps its own identity, so every
//! controller must authorise its key. Either way the token is stored
//! without its credential: the appliance registers again, so the cloud's
//! clone check sees a second live appliance with one identity. Network
//! settings stay as they are here (this machine was reached at them).
//! Everything is replaced in one transaction, or nothing is.

pub mod sealed;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::clock::now_unix;
use crate::connector::cloud_link::config_sync;
use crate::contract::token::Token;
use crate::db::DbError;

const FORMAT: u32 = 1;
/// Largest backup file accepted: thousands of controllers fit well under.
pub const MAX_FILE: usize = 4 * 1024 * 1024;
/// Settings that travel with a backup (the identity's go only with it).
const CARRIED_SETTINGS: &[&str] = &["cloud_proxy"];
const IDENTITY_SETTINGS: &[&str] = &["instance_id", "member_key"];

/// What to restore as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreAs {
    /// With the backup's identity: controllers need no new authorisation.
    ThisAppliance,
    /// With this appliance's own identity.
    NewAppliance,
}

impl RestoreAs {
    pub fn parse(s: &str) -> Option<RestoreAs> {
        match s {
            "this_appliance" => Some(RestoreAs::ThisAppliance),
            "new_appliance" => Some(RestoreAs::NewAppliance),
            _ => None,
        }
    }
}

/// A restore as the page and the API take it.
#[derive(Default)]
pub struct RestoreInput {
    pub file: Vec<u8>,
    pub passphrase: String,
    /// `this_appliance` or `new_appliance`.
    pub restore_as: String,
}

impl RestoreInput {
    /// How to restore, or what is missing, field by field.
    pub fn check(&self) -> Result<RestoreAs, crate::fields::FieldErrors> {
        let mut errors = crate::fields::FieldErrors::default();
        if self.file.is_empty() {
            errors.add("backup", "choose the backup file");
        }
        if self.passphrase.is_empty() {
            errors.add("passphrase", "enter the backup's passphrase");
        }
        let how = RestoreAs::parse(&self.restore_as);
        if how.is_none() {
            errors.add(
                "restore_as",
                "choose how to restore: this_appliance or new_appliance",
            );
        }
        match how {
            Some(how) if errors.is_empty() => Ok(how),
            _ => Err(errors),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Sealed(#[from] sealed::SealError),
    #[error("the backup's contents cannot be read: {0}")]
    Damaged(String),
    #[error(
        "this backup holds no identity (it was made without one): restore it as a new appliance"
    )]
    NoIdentity,
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Serialize, Deserialize)]
struct TlsRow {
    purpose: String,
    cert_pem: String,
    key_pem: String,
    created_at: i64,
}

/// The plain contents of a backup.
#[derive(Debug, Serialize, Deserialize)]
struct Contents {
    format: u32,
    made_at: i64,
    version: String,
    token: Option<String>,
    admin_password_hash: Option<String>,
    /// Rows as the state file holds them, column by column.
    controllers: Vec<serde_json::Value>,
    access_points: Vec<serde_json::Value>,
    api_tokens: Vec<serde_json::Value>,
    settings: Vec<(String, String)>,
    tls: Vec<TlsRow>,
    /// For the reader only: not restored.
    network: Option<String>,
    with_identity: bool,
}

/// What a restore did, for the page and the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub made_at: i64,
    pub version: String,
    pub controllers: usize,
    pub access_points: usize,
    pub api_tokens: usize,
    pub token: bool,
    pub identity: bool,
    pub admin_password: bool,
}

impl Restored {
    pub fn summary(&self) -> String {
        format!(
            "backup of {} (version {}): {} controllers, {} access points, {} API tokens{}{}{}",
            crate::clock::format_unix(self.made_at),
            self.version,
            self.controllers,
            self.access_points,
            self.api_tokens,
            if self.token { ", the token" } else { "" },
            if self.identity {
                ", as this appliance (its identity)"
            } else {
                ", as a new appliance"
            },
            if self.admin_password {
                ", the admin password"
            } else {
                ""
            },
        )
    }
}

const CONTROLLER_COLUMNS: &[&str] = &[
    "id",
    "name",
    "host",
    "port",
    "kind",
    "enabled",
    "created_at",
    "cert_pin",
    "added_by",
];
const AP_COLUMNS: &[&str] = &["key_hash", "name", "added_by", "added_at"];
const API_TOKEN_COLUMNS: &[&str] = &["id", "name", "token_hash", "prefix", "created_at", "scope"];

/// Every row of `table`, as JSON objects of `columns`.
fn rows(c: &Connection, table: &str, columns: &[&str]) -> Result<Vec<serde_json::Value>, DbError> {
    let sql = format!("SELECT {} FROM {table}", columns.join(", "));
    let mut stmt = c.prepare(&sql)?;
    let out = stmt.query_map([], |r| {
        let mut o = serde_json::Map::new();
        for (i, col) in columns.iter().enumerate() {
            let v = match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                rusqlite::types::ValueRef::Integer(n) => n.into(),
                rusqlite::types::ValueRef::Real(f) => f.into(),
                rusqlite::types::ValueRef::Text(t) => {
                    String::from_utf8_lossy(t).into_owned().into()
                }
                rusqlite::types::ValueRef::Blob(_) => serde_json::Value::Null,
            };
            o.insert(col.to_string(), v);
        }
        Ok(serde_json::Value::Object(o))
    })?;
    Ok(out.collect::<Result<_, _>>()?)
}

/// Puts `rows` back into `table` (emptied first).
fn put_rows(
    c: &Connection,
    table: &str,
    columns: &[&str],
    rows: &[serde_json::Value],
) -> Result<(), RestoreError> {
    c.execute(&format!("DELETE FROM {table}"), [])
        .map_err(DbError::from)?;
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    );
    let mut stmt = c.prepare(&sql).map_err(DbError::from)?;
    for row in rows {
        let values: Vec<rusqlite::types::Value> = columns
            .iter()
            .map(|col| match &row[*col] {
                serde_json::Value::Null => rusqlite::types::Value::Null,
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .map(rusqlite::types::Value::Integer)
                    .unwrap_or(rusqlite::types::Value::Null),
                serde_json::Value::String(s) => rusqlite::types::Value::Text(s.clone()),
                other => rusqlite::types::Value::Text(other.to_string()),
            })
            .collect();
        stmt.execute(rusqlite::params_from_iter(values))
            .map_err(|e| RestoreError::Damaged(format!("{table}: {e}")))?;
    }
    Ok(())
}

fn setting(c: &Connection, key: &str) -> Result<Option<String>, DbError> {
    Ok(
        c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?,
    )
}

/// Takes a backup of the state file, sealed with `passphrase`.
pub fn take(
    c: &Connection,
    passphrase: &str,
    with_identity: bool,
) -> Result<Vec<u8>, RestoreError> {
    let mut settings = Vec::new();
    let keys = CARRIED_SETTINGS.iter().chain(if with_identity {
        IDENTITY_SETTINGS
    } else {
        &[]
    });
    for key in keys {
        if let Some(v) = setting(c, key)? {
            settings.push((key.to_string(), v));
        }
    }
    let mut tls = Vec::new();
    for purpose in ["web", "nmsp"] {
        if purpose == "nmsp" && !with_identity {
            continue;
        }
        let row = c
            .query_row(
                "SELECT cert_pem, key_pem, created_at FROM tls_identity WHERE purpose = ?1",
                [purpose],
                |r| {
                    Ok(TlsRow {
                        purpose: purpose.into(),
                        cert_pem: r.get(0)?,
                        key_pem: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(DbError::from)?;
        tls.extend(row);
    }
    let contents = Contents {
        format: FORMAT,
        made_at: now_unix(),
        version: crate::VERSION.into(),
        token: c
            .query_row("SELECT token FROM cloud_token", [], |r| r.get(0))
            .optional()
            .map_err(DbError::from)?,
        admin_password_hash: c
            .query_row("SELECT password_hash FROM admin", [], |r| r.get(0))
            .optional()
            .map_err(DbError::from)?,
        controllers: rows(c, "controllers", CONTROLLER_COLUMNS)?,
        access_points: rows(c, "access_points", AP_COLUMNS)?,
        api_tokens: rows(c, "api_tokens", API_TOKEN_COLUMNS)?,
        settings,
        tls,
        network: setting(c, "network")?,
        with_identity,
    };
    let plain = serde_json::to_vec(&contents).map_err(|e| RestoreError::Damaged(e.to_string()))?;
    Ok(sealed::seal(&plain, passphrase)?)
}

/// Restores `file` into the state file, all or nothing. The admin
/// password comes back only where none is set (a fresh appliance).
pub fn restore(
    c: &mut Connection,
    file: &[u8],
    passphrase: &str,
    restore_as: RestoreAs,
) -> Result<Restored, RestoreError> {
    let plain = sealed::open(file, passphrase)?;
    let b: Contents =
        serde_json::from_slice(&plain).map_err(|e| RestoreError::Damaged(e.to_string()))?;
    if b.format > FORMAT {
        return Err(sealed::SealError::NewerFormat(b.format).into());
    }
    let identity = restore_as == RestoreAs::ThisAppliance;
    if identity && !b.with_identity {
        return Err(RestoreError::NoIdentity);
    }
    let tx = c.transaction().map_err(DbError::from)?;
    put_rows(&tx, "controllers", CONTROLLER_COLUMNS, &b.controllers)?;
    put_rows(&tx, "access_points", AP_COLUMNS, &b.access_points)?;
    put_rows(&tx, "api_tokens", API_TOKEN_COLUMNS, &b.api_tokens)?;
    for (key, value) in &b.settings {
        let wanted = CARRIED_SETTINGS.contains(&key.as_str())
            || (identity && IDENTITY_SETTINGS.contains(&key.as_str()));
        if wanted {
            tx.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map_err(DbError::from)?;
        }
    }
    for row in &b.tls {
        // The admin UI's certificate names this appliance: only as itself.
        if identity && (row.purpose == "web" || row.purpose == "nmsp") {
            tx.execute(
                "INSERT OR REPLACE INTO tls_identity (purpose, cert_pem, key_pem, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![row.purpose, row.cert_pem, row.key_pem, row.created_at],
            )
            .map_err(DbError::from)?;
        }
    }
    tx.execute("DELETE FROM cloud_token", [])
        .map_err(DbError::from)?;
    if let Some(raw) = &b.token {
        let token = Token::parse(raw).map_err(|e| RestoreError::Damaged(e.to_string()))?;
        crate::connector::stored_token::set(&tx, &token, None)?;
    }
    config_sync::clear_outbox(&tx)?;
    config_sync::offer_all(&tx)?;
    let admin_password = match &b.admin_password_hash {
        Some(hash) => crate::portal::auth::admin::create(&tx, hash)?,
        None => false,
    };
    tx.commit().map_err(DbError::from)?;
    Ok(Restored {
        made_at: b.made_at,
        version: b.version,
        controllers: b.controllers.len(),
        access_points: b.access_points.len(),
        api_tokens: b.api_tokens.len(),
        token: b.token.is_some(),
        identity,
        admin_password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "backup passphrase 1";

    fn state() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::connector::schema::apply(&mut c).unwrap();
        c
    }

    fn with_config() -> Connection {
        let c = state();
        c.execute_batch(
            r#"
INSERT INTO controllers (id, name, host, port, kind, enabled, created_at, cert_pin)
    VALUES (7, 'WLC-1', '10.0.0.5', 16113, 'aireos', 1, 1, 'pin-of-wlc-1');
INSERT INTO access_points (key_hash, name, added_by, added_at) VALUES ('ap-hash', 'AP-1', '', 1);
INSERT INTO api_tokens (id, name, token_hash, prefix, created_at, scope) VALUES (1, 'ci', 'h', 'scapi_ab', 1, 'read');
INSERT INTO admin (id, username, password_hash, updated_at) VALUES (1, 'admin', 'argon-hash', 1);
INSERT INTO settings (key, value) VALUES ('cloud_proxy', '{"url":"http://proxy:3128"}');
INSERT INTO settings (key, value) VALUES ('instance_id', 'instance-a'), ('member_key', 'member-a');
INSERT INTO settings (key, value) VALUES ('network', '{"hostname":"a"}');
INSERT INTO tls_identity (purpose, cert_pem, key_pem, created_at) VALUES ('nmsp', 'cert-a', 'nmsp-key-a', 1), ('web', 'web-a', 'webkey-a', 1);
"#,
        )
        .unwrap();
        c
    }

    fn one(c: &Connection, sql: &str) -> Option<String> {
        c.query_row(sql, [], |r| r.get(0)).optional().unwrap()
    }

    #[test]
    fn as_a_new_appliance_it_keeps_its_own_identity_and_password() {
        let file = take(&with_config(), PASS, true).unwrap();
        let mut b = state();
        b.execute_batch(
            "INSERT INTO settings (key, value) VALUES ('instance_id', 'instance-b');
             INSERT INTO tls_identity (purpose, cert_pem, key_pem, created_at) VALUES ('nmsp', 'cert-b', 'key-b', 1);
             INSERT INTO admin (id, username, password_hash, updated_at) VALUES (1, 'admin', 'b-hash', 1);
             INSERT INTO controllers (name, host, port, kind, created_at) VALUES ('old', 'h', 1, 'aireos', 1);",
        )
        .unwrap();
        let r = restore(&mut b, &file, PASS, RestoreAs::NewAppliance).unwrap();
        assert_eq!((r.controllers, r.access_points, r.api_tokens), (1, 1, 1));
        assert!(!r.identity && !r.admin_password);
        let pin = one(&b, "SELECT cert_pin FROM controllers WHERE name = 'WLC-1'");
        assert_eq!(pin.as_deref(), Some("pin-of-wlc-1"));
        assert_eq!(
            one(&b, "SELECT name FROM controllers WHERE name = 'old'"),
            None
        );
        assert_eq!(
            one(&b, "SELECT value FROM settings WHERE key = 'instance_id'").unwrap(),
            "instance-b"
        );
        assert_eq!(
            one(
                &b,
                "SELECT key_pem FROM tls_identity WHERE purpose = 'nmsp'"
            )
            .unwrap(),
            "key-b"
        );
        assert_eq!(
            one(&b, "SELECT password_hash FROM admin").unwrap(),
            "b-hash"
        );
        assert!(one(&b, "SELECT value FROM settings WHERE key = 'cloud_proxy'").is_some());
        assert_eq!(
            one(&b, "SELECT value FROM settings WHERE key = 'network'"),
            None,
            "not restored"
        );
    }

    #[test]
    fn as_this_appliance_its_identity_comes_back_and_a_fresh_one_gets_the_password() {
        let file = take(&with_config(), PASS, true).unwrap();
        let mut b = state();
        let r = restore(&mut b, &file, PASS, RestoreAs::ThisAppliance).unwrap();
        assert!(r.identity && r.admin_password);
        assert_eq!(
            one(&b, "SELECT value FROM settings WHERE key = 'instance_id'").unwrap(),
            "instance-a"
        );
        assert_eq!(
            one(&b, "SELECT value FROM settings WHERE key = 'member_key'").unwrap(),
            "member-a"
        );
        assert_eq!(
            one(
                &b,
                "SELECT key_pem FROM tls_identity WHERE purpose = 'nmsp'"
            )
            .unwrap(),
            "nmsp-key-a"
        );
        assert_eq!(
            one(&b, "SELECT key_pem FROM tls_identity WHERE purpose = 'web'").unwrap(),
            "webkey-a"
        );
        assert_eq!(
            one(&b, "SELECT password_hash FROM admin").unwrap(),
            "argon-hash"
        );
    }

    #[test]
    fn refusals_change_nothing() {
        let without = take(&with_config(), PASS, false).unwrap();
        let mut b = state();
        b.execute_batch("INSERT INTO controllers (name, host, port, kind, created_at) VALUES ('mine', 'h', 1, 'aireos', 1);")
            .unwrap();
        assert!(matches!(
            restore(&mut b, &without, PASS, RestoreAs::ThisAppliance),
            Err(RestoreError::NoIdentity)
        ));
        assert!(matches!(
            restore(
                &mut b,
                &without,
                "not the passphrase",
                RestoreAs::NewAppliance
            ),
            Err(RestoreError::Sealed(sealed::SealError::CannotOpen))
        ));
        assert!(matches!(
            restore(
                &mut b,
                &without[..without.len() / 2],
                PASS,
                RestoreAs::NewAppliance
            ),
            Err(RestoreError::Sealed(sealed::SealError::CannotOpen))
        ));
        assert_eq!(one(&b, "SELECT name FROM controllers").unwrap(), "mine");
        // Without the identity, the file holds no private key at all.
        let plain = sealed::open(&without, PASS).unwrap();
        let text = String::from_utf8(plain).unwrap();
        assert!(
            !text.contains("nmsp-key-a") && !text.contains("member-a"),
            "{text}"
        );
        assert!(
            text.contains("webkey-a"),
            "the admin UI's certificate travels"
        );
    }
}
