//! The connector's state file: its name, and its schema migrations by
//! version number (SQLite `user_version`).
//!
//! Append new steps; never edit a released one. The test at the bottom
//! checks that the list is valid and applies from scratch.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use std::path::Path;

use crate::db::{Db, DbError};

/// File name of the state database inside the data directory.
pub const DB_FILE: &str = "connector.db";

/// Opens (creating if needed) the connector's state file in `data_dir`.
pub fn open(data_dir: &Path) -> Result<Db, DbError> {
    Db::open_in(data_dir, DB_FILE, apply)
}

fn steps() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(concat!(
            crate::auth_tables!(),
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
        // The AP Channel's allow-list; the outbox carries access points as
        // well as controllers; where a controller came from.
        M::up(
            r#"
CREATE TABLE access_points (
    key_hash TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL
) STRICT;
ALTER TABLE config_outbox ADD COLUMN item TEXT NOT NULL DEFAULT 'controller'
    CHECK (item IN ('controller', 'access_point'));
ALTER TABLE controllers ADD COLUMN added_by TEXT NOT NULL DEFAULT '';
"#,
        ),
        // API tokens have a scope; those made before scopes could do
        // everything and keep that.
        M::up("ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';"),
        // Who changed what, from where (the portal's audit trail).
        M::up(crate::portal::audit::AUDIT_TABLE),
    ])
}

pub fn apply(conn: &mut Connection) -> Result<(), DbError> {
    steps().to_latest(conn)?;
    Ok(())
}

#[cfg(test)]
fn latest_version() -> i64 {
    6
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
