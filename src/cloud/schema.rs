//! The reference cloud's state file: the shared portal tables plus tenants,
//! connector groups (one per token), their members, their configuration,
//! and the de-duplicated event store behind the firehose.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::db::DbError;

fn steps() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(concat!(
            crate::auth_tables!(),
            r#"
CREATE TABLE tenants (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    firehose_key_hash TEXT NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;

-- A group is what one token names: the connectors configured with it.
CREATE TABLE groups (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    secret_hash    TEXT NOT NULL,
    token          TEXT NOT NULL,
    config_version INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
    instance_id      TEXT PRIMARY KEY,
    group_id         TEXT NOT NULL REFERENCES groups (id),
    hostname         TEXT NOT NULL,
    addresses        TEXT NOT NULL,
    seen_ip          TEXT NOT NULL,
    software_version TEXT NOT NULL,
    protocol_version INTEGER NOT NULL,
    credential_hash  TEXT NOT NULL UNIQUE,
    first_seen       INTEGER NOT NULL,
    last_heartbeat   INTEGER NOT NULL,
    heartbeat        TEXT
) STRICT;

CREATE TABLE group_controllers (
    group_id TEXT NOT NULL REFERENCES groups (id),
    host     TEXT NOT NULL,
    port     INTEGER NOT NULL,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, host, port)
) STRICT;

CREATE TABLE batches (
    member_id   TEXT NOT NULL,
    batch_id    TEXT NOT NULL,
    events      INTEGER NOT NULL,
    new_events  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, batch_id)
) STRICT;

-- One row per unique event of a group; the rowid is the firehose offset.
CREATE TABLE events (
    offset         INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       TEXT NOT NULL,
    key            BLOB NOT NULL,
    channel        TEXT NOT NULL,
    source         TEXT NOT NULL,
    msg_type       INTEGER NOT NULL,
    body           BLOB NOT NULL,
    ingested_at_ms INTEGER NOT NULL,
    UNIQUE (group_id, key)
) STRICT;

CREATE TABLE event_totals (
    group_id   TEXT NOT NULL,
    source     TEXT NOT NULL,
    received   INTEGER NOT NULL,
    unique_new INTEGER NOT NULL,
    PRIMARY KEY (group_id, source)
) STRICT;
"#
        )),
        // Membership is bound to the member key the connector registered
        // with, not to its (public) instance id.
        M::up("ALTER TABLE members ADD COLUMN member_key_hash TEXT;"),
        // Config pushed by a member is attributed to it; access points
        // allowed on the group's AP Channel.
        M::up("ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';"),
        // Group tokens have a lifecycle (rotate, revoke, a member limit) and
        // are no longer kept: only their secret's hash is.
        M::up(
            r#"
ALTER TABLE groups ADD COLUMN revoked_at INTEGER;
ALTER TABLE groups ADD COLUMN max_members INTEGER;
ALTER TABLE groups ADD COLUMN token_issued_at INTEGER NOT NULL DEFAULT 0;
UPDATE groups SET token = '';
"#,
        ),
        // Sequence continuity per source: the highest seen and the ranges
        // no member delivered.
        M::up(
            r#"
CREATE TABLE source_sequences (
    group_id TEXT NOT NULL,
    source   TEXT NOT NULL,
    highest  INTEGER NOT NULL,
    PRIMARY KEY (group_id, source)
) STRICT;
CREATE TABLE group_refusals (
    group_id TEXT PRIMARY KEY,
    too_old  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE sequence_gaps (
    group_id    TEXT NOT NULL,
    source      TEXT NOT NULL,
    first       INTEGER NOT NULL,
    last        INTEGER NOT NULL,
    detected_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, source, first)
) STRICT;
"#,
        ),
        M::up(
            r#"
ALTER TABLE group_controllers ADD COLUMN added_by TEXT NOT NULL DEFAULT '';
CREATE TABLE group_access_points (
    group_id TEXT NOT NULL REFERENCES groups (id),
    key_hash TEXT NOT NULL,
    name     TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, key_hash)
) STRICT;
"#,
        ),
        // A gap goes on the firehose once, when its grace period is over.
        M::up("ALTER TABLE sequence_gaps ADD COLUMN published INTEGER NOT NULL DEFAULT 0;"),
        // Who changed what on the dashboard (the portal's audit trail).
        M::up(crate::portal::audit::AUDIT_TABLE),
        // A tenant's client privacy setting and its salts.
        M::up(super::privacy::TABLE),
    ])
}

pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    steps().to_latest(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::steps().validate().is_ok());
    }
}
