//! Schema migrations, by version number (SQLite `user_version`).
//!
//! Append new steps; never edit a released one. The test at the bottom
//! checks that the list is valid and applies from scratch.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::DbError;

/// Tables every portal has (connector and cloud): settings, TLS material,
/// the admin, sessions and API tokens. A macro so it can be `concat!`ed
/// into each program's first migration.
#[macro_export]
macro_rules! auth_tables {
    () => {
        r#"
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- TLS material made at first boot: 'web' serves the admin UI, 'nmsp' is
-- the connector's client identity towards controllers.
CREATE TABLE tls_identity (
    purpose    TEXT PRIMARY KEY,
    cert_pem   TEXT NOT NULL,
    key_pem    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE admin (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Only a hash of the session id is stored: a copy of this file does not
-- hand out live sessions.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    client_ip  TEXT NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used  INTEGER
) STRICT;

"#
    };
}

fn steps() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(concat!(
            auth_tables!(),
            r#"
CREATE TABLE cloud_token (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    token       TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    tenant_name TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    cloud_url   TEXT NOT NULL,
    stored_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE controllers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    host       TEXT NOT NULL,
    port       INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    kind       TEXT NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    UNIQUE (host, port)
) STRICT;
CREATE UNIQUE INDEX controllers_name ON controllers (name COLLATE NOCASE);
"#
        )),
        // Trust on first use of each controller's certificate (NMSP.md):
        // the accepted key hash, and a changed one awaiting an admin.
        M::up(
            r#"
ALTER TABLE controllers ADD COLUMN cert_pin TEXT;
ALTER TABLE controllers ADD COLUMN pending_pin TEXT;
"#,
        ),
        // The cloud link: the credential from registration, the durable
        // event spool, and controller changes waiting to reach the cloud.
        M::up(
            r#"
ALTER TABLE cloud_token ADD COLUMN credential TEXT;
ALTER TABLE cloud_token ADD COLUMN registered_at INTEGER;
CREATE TABLE spool (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id   TEXT NOT NULL,
    events     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    payload    BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE config_outbox (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    op   TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    kind TEXT NOT NULL
) STRICT;
"#,
        ),
    ])
}

pub fn apply(conn: &mut Connection) -> Result<(), DbError> {
    steps().to_latest(conn)?;
    Ok(())
}

#[cfg(test)]
pub(super) fn latest_version() -> i64 {
    3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(steps().validate().is_ok());
    }

    #[test]
    fn applies_from_scratch_to_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_version());
    }
}
