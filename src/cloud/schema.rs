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
        // Dedup keys indexed behind the event's own time: keys are random,
        // so an index on them alone takes each insert to a random page,
        // and every batch rewrote thousands of pages into the log (the
        // store's bound, measured). Ordered by the controller's timestamp
        // first, a batch's inserts land on a few pages at the index's end.
        // Exact still: one body, one timestamp, one key.
        M::up_with_hook(EVENTS_BY_TIME, fill_event_times),
        // Events that failed the cloud's checks, counted with the other
        // refusals.
        M::up("ALTER TABLE group_refusals ADD COLUMN failed_checks INTEGER NOT NULL DEFAULT 0;"),
    ])
}

const EVENTS_BY_TIME: &str = r#"
CREATE TABLE events_by_time (
    offset         INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       TEXT NOT NULL,
    key            BLOB NOT NULL,
    event_ms       INTEGER NOT NULL,
    channel        TEXT NOT NULL,
    source         TEXT NOT NULL,
    msg_type       INTEGER NOT NULL,
    body           BLOB NOT NULL,
    ingested_at_ms INTEGER NOT NULL
) STRICT;
-- Firehose offsets never go back, even when every event had been purged.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'events_by_time', seq FROM sqlite_sequence WHERE name = 'events';
INSERT INTO events_by_time
    SELECT offset, group_id, key, 0, channel, source, msg_type, body, ingested_at_ms FROM events;
DROP TABLE events;
ALTER TABLE events_by_time RENAME TO events;
"#;

/// The time a stored event's dedup index goes by: the controller's own
/// timestamp in its body, the same in every member's copy (0 for a body
/// without one: a gap record, a malformed notification). Read from that
/// one TLV only, so that a change to the rest of the parser can never give
/// a stored event and a later copy of it different times.
pub fn event_ms(body: &[u8]) -> i64 {
    crate::nmsp::notification::timestamp_ms(body).map_or(0, |t| t.min(i64::MAX as u64) as i64)
}

fn fill_event_times(tx: &rusqlite::Transaction) -> rusqlite_migration::HookResult {
    let rows: Vec<(i64, i64)> = {
        let mut stmt = tx.prepare("SELECT offset, body FROM events")?;
        stmt.query_map([], |r| Ok((r.get(0)?, event_ms(&r.get::<_, Vec<u8>>(1)?))))?
            .collect::<Result<_, _>>()?
    };
    let mut update = tx.prepare("UPDATE events SET event_ms = ?2 WHERE offset = ?1")?;
    for (offset, ms) in rows {
        update.execute([offset, ms])?;
    }
    tx.execute_batch("CREATE UNIQUE INDEX events_dedup ON events (group_id, event_ms, key);")?;
    Ok(())
}

pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    steps().to_latest(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    #[test]
    fn migrations_are_valid() {
        assert!(super::steps().validate().is_ok());
    }

    #[test]
    fn events_move_to_the_time_ordered_index_keeping_offsets_and_dedup() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        let steps = super::steps();
        // The nine migrations before the time-ordered index.
        steps.to_version(&mut c, 9).unwrap();
        let body =
            crate::nmsp::notification::measurement(1, 1_700_000_000_000, [1; 6], [2; 6], -50, 6);
        let insert =
            "INSERT INTO events (group_id, key, channel, source, msg_type, body, ingested_at_ms)
                      VALUES ('g', ?1, 'controller', 's', 15, ?2, 0)";
        c.execute(insert, params![[1u8; 32], &body[..]]).unwrap();
        c.execute(insert, params![[2u8; 32], b"no fields".to_vec()])
            .unwrap();
        // Purged: the offsets' high-water mark must survive the move.
        c.execute("DELETE FROM events WHERE key = ?1", [[2u8; 32]])
            .unwrap();
        steps.to_latest(&mut c).unwrap();
        let (offset, ms): (i64, i64) = c
            .query_row("SELECT offset, event_ms FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((offset, ms), (1, 1_700_000_000_000));
        let again = "INSERT OR IGNORE INTO events (group_id, key, event_ms, channel, source, msg_type, body, ingested_at_ms)
                     VALUES ('g', ?1, ?2, 'controller', 's', 15, x'00', 0)";
        assert_eq!(
            c.execute(again, params![[1u8; 32], ms]).unwrap(),
            0,
            "still a duplicate"
        );
        assert_eq!(c.execute(again, params![[3u8; 32], 5]).unwrap(), 1);
        let newest: i64 = c
            .query_row("SELECT MAX(offset) FROM events", [], |r| r.get(0))
            .unwrap();
        assert!(
            newest > 2,
            "offsets go on after the purged one, not from it"
        );
    }
}
