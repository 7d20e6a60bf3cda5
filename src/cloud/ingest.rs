//! Ingest with de-duplication: every member of a group sends every event;
//! each dedup key is stored once per group, and only then appears on the
//! firehose. Batches are idempotent per member and batch id, so a retried
//! or replayed batch never counts twice. Stored in SQLite, so dedup
//! survives a restart of the cloud.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::registry::Member;
use crate::contract::cloud_api::{BatchAck, FirehoseEvent, FirehoseGap, FirehoseLine};
use crate::contract::event::Channel;
use crate::contract::event_batch::CheckedBatch;
use crate::db::DbError;

/// Received, unique and duplicate counts for one source (controller or AP).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub source: String,
    pub received: i64,
    pub unique: i64,
}

impl Totals {
    pub fn duplicates(&self) -> i64 {
        self.received - self.unique
    }

    /// The start of the source's key hash, for tables.
    pub fn short_source(&self) -> String {
        self.source.chars().take(12).collect()
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Controller => "controller",
        Channel::Ap => "ap",
    }
}

/// Stores a batch whose events passed the cloud's checks
/// (`contract::event_batch`: keys computed here, forgeries left out);
/// returns how many of its events were new to the group.
/// An event whose own timestamp is older than `window_ms` is refused and
/// counted: its key may have been purged, and taking it could deliver it
/// twice.
pub fn ingest(
    conn: &mut Connection,
    member: &Member,
    batch: &CheckedBatch,
    window_ms: i64,
) -> Result<BatchAck, DbError> {
    let tx = conn.transaction()?;
    // Statements prepared once per connection: parsing SQL per batch was
    // measurable at tens of batches a second.
    let seen: Option<(i64, i64)> = tx
        .prepare_cached(
            "SELECT events, new_events FROM batches WHERE member_id = ?1 AND batch_id = ?2",
        )?
        .query_row(params![member.instance_id, batch.batch_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((events, new)) = seen {
        return Ok(BatchAck {
            accepted: events as usize,
            new: new as usize,
            duplicates: (events - new) as usize,
            replayed_batch: true,
            too_old: 0,
            failed_checks: 0,
        });
    }
    let now_ms = crate::clock::now_ms() as i64;
    // "Older than the window" by both clocks: a wall clock stepped forward
    // must not make every live event look too old.
    let steady_ms = crate::clock::steady_now_ms() as i64;
    let oldest_ms = now_ms.min(steady_ms) - window_ms;
    let mut accepted = 0usize;
    let mut new = 0usize;
    let mut too_old = 0usize;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (group_id, key, event_ms, channel, source, msg_type, body, ingested_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        // Totals are summed per source in memory: one row write per source
        // and batch rather than per event.
        let mut per_source: std::collections::HashMap<&str, (i64, i64)> = Default::default();
        let mut sequences = super::gaps::Tracker::default();
        for e in &batch.events {
            let fields = crate::nmsp::NotificationFields::parse(&e.body).ok();
            if let Some(f) = &fields
                && (f.timestamp_ms.min(i64::MAX as u64) as i64) < oldest_ms
            {
                too_old += 1;
                continue;
            }
            accepted += 1;
            let n = insert.execute(params![
                member.group_id,
                &e.key[..],
                // The dedup index's order (`schema::event_ms`): the fields
                // already read carry the same TIMESTAMP TLV's value.
                fields.as_ref().map_or_else(
                    || super::schema::event_ms(&e.body),
                    |f| f.timestamp_ms.min(i64::MAX as u64) as i64,
                ),
                channel_name(e.channel),
                &*e.source,
                e.msg_type,
                &e.body[..],
                now_ms
            ])?;
            new += n;
            if n == 1
                && let Some(fields) = &fields
            {
                let seq = fields.sequence.min(i64::MAX as u64) as i64;
                sequences.observe(&tx, &member.group_id, &e.source, seq, steady_ms)?;
            }
            let t = per_source.entry(&*e.source).or_default();
            t.0 += 1;
            t.1 += n as i64;
        }
        sequences.save(&tx, &member.group_id)?;
        let mut totals = tx.prepare_cached(
            "INSERT INTO event_totals (group_id, source, received, unique_new) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (group_id, source) DO UPDATE SET received = received + excluded.received,
                 unique_new = unique_new + excluded.unique_new",
        )?;
        for (source, (received, unique)) in per_source {
            totals.execute(params![member.group_id, source, received, unique])?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO batches (member_id, batch_id, events, new_events, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![member.instance_id, batch.batch_id, accepted as i64, new as i64, crate::clock::now_unix()],
    )?;
    if too_old > 0 || batch.forged > 0 {
        tracing::warn!(member = %member.instance_id, too_old, failed_checks = batch.forged,
            "events refused: older than the dedup window, or failing the checks (key or source)");
        tx.execute(
            "INSERT INTO group_refusals (group_id, too_old, failed_checks) VALUES (?1, ?2, ?3)
             ON CONFLICT (group_id) DO UPDATE SET too_old = too_old + excluded.too_old,
                 failed_checks = failed_checks + excluded.failed_checks",
            params![member.group_id, too_old as i64, batch.forged as i64],
        )?;
    }
    tx.commit()?;
    Ok(BatchAck {
        accepted,
        new,
        duplicates: accepted - new,
        replayed_batch: false,
        too_old,
        failed_checks: batch.forged,
    })
}

/// Events of a group the cloud refused, in all, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Older than the dedup window.
    pub too_old: i64,
    /// Failed the checks: a key that does not match its event, a source
    /// that is no key hash.
    pub failed_checks: i64,
}

pub fn refusals(conn: &Connection, group_id: &str) -> Result<Refusals, DbError> {
    Ok(conn
        .query_row(
            "SELECT too_old, failed_checks FROM group_refusals WHERE group_id = ?1",
            [group_id],
            |r| {
                Ok(Refusals {
                    too_old: r.get(0)?,
                    failed_checks: r.get(1)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Per-source totals of a group.
pub fn totals(conn: &Connection, group_id: &str) -> Result<Vec<Totals>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT source, received, unique_new FROM event_totals WHERE group_id = ?1 ORDER BY source",
    )?;
    let rows = stmt.query_map([group_id], |r| {
        Ok(Totals {
            source: r.get(0)?,
            received: r.get(1)?,
            unique: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` lines (unique events and gap records) of a tenant's
/// firehose after `after`, oldest first.
pub fn firehose_page(
    conn: &Connection,
    tenant_id: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<FirehoseLine>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.offset, e.group_id, e.channel, e.source, e.msg_type, e.body, e.key, e.ingested_at_ms
         FROM events e JOIN groups g ON g.id = e.group_id
         WHERE g.tenant_id = ?1 AND e.offset > ?2 ORDER BY e.offset LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![tenant_id, after, limit as i64], |r| {
        let channel: String = r.get(2)?;
        let body: Vec<u8> = r.get(5)?;
        let (offset, group_id) = (r.get(0)?, r.get(1)?);
        if channel == super::gaps::CHANNEL {
            let gap = serde_json::from_slice(&body).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Blob, e.into())
            })?;
            return Ok(FirehoseLine::Gap(FirehoseGap {
                offset,
                group_id,
                gap,
            }));
        }
        let key: Vec<u8> = r.get(6)?;
        Ok(FirehoseLine::Event(FirehoseEvent {
            offset,
            group_id,
            channel: if channel == "ap" {
                Channel::Ap
            } else {
                Channel::Controller
            },
            source: r.get(3)?,
            msg_type: r.get(4)?,
            body: B64.encode(body),
            key: hex::encode(key),
            ingested_at_ms: r.get::<_, i64>(7)? as u64,
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Forgets events and batch ids older than the dedup window.
/// The newest rows of the events and batches tables at one moment: purging
/// goes by these (ingest order), never by the wall clock, so a clock step
/// cannot purge events newer than the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub event_offset: i64,
    pub batch_rowid: i64,
}

pub fn mark(conn: &Connection) -> Result<Mark, DbError> {
    Ok(conn.query_row(
        "SELECT (SELECT COALESCE(MAX(offset), 0) FROM events),
                (SELECT COALESCE(MAX(rowid), 0) FROM batches)",
        [],
        |r| {
            Ok(Mark {
                event_offset: r.get(0)?,
                batch_rowid: r.get(1)?,
            })
        },
    )?)
}

/// Removes what was already stored at `mark` (taken a window ago, as a
/// monotonic clock measures it).
pub fn purge(conn: &Connection, mark: Mark) -> Result<usize, DbError> {
    let n = conn.execute("DELETE FROM events WHERE offset <= ?1", [mark.event_offset])?;
    conn.execute("DELETE FROM batches WHERE rowid <= ?1", [mark.batch_rowid])?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::cloud_api::{EventBatch, WireEvent};
    use crate::contract::event::dedup_key;
    use crate::contract::event_batch::check_json;

    /// Batches are built in the older JSON form here: the checks on it
    /// (forged keys, sources that are no key hash) are the cloud's.
    fn ingest(
        c: &mut Connection,
        m: &Member,
        batch: &EventBatch,
        window_ms: i64,
    ) -> Result<BatchAck, DbError> {
        super::ingest(c, m, &check_json(batch.clone()), window_ms)
    }

    fn event(source: &str, body: &[u8]) -> WireEvent {
        WireEvent {
            key: hex::encode(dedup_key(source, 15, body)),
            channel: Channel::Controller,
            source: source.into(),
            msg_type: 15,
            body: B64.encode(body),
            received_at_ms: 0,
        }
    }

    const DAY_MS: i64 = 86_400_000;

    fn member(id: &str) -> Member {
        Member {
            instance_id: id.into(),
            group_id: "g".into(),
            protocol_version: crate::contract::cloud_api::PROTOCOL_VERSION,
        }
    }

    #[test]
    fn dedups_across_members_replays_nothing_and_skips_forgeries() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open_in(dir.path(), "c.db", super::super::schema::migrate).unwrap();
        let src = "ab".repeat(32);
        db.call_blocking(|c| {
            c.execute_batch(
                "INSERT INTO tenants VALUES ('t', 'T', 'x', 0);
                 INSERT INTO groups (id, tenant_id, name, kind, secret_hash, token, created_at)
                 VALUES ('g', 't', 'G', 'wireless', 'x', 'x', 0);",
            )?;
            let a = EventBatch {
                batch_id: "1".into(),
                events: vec![event(&src, b"one"), event(&src, b"two")],
            };
            let ack = ingest(c, &member("A"), &a, DAY_MS)?;
            assert_eq!((ack.new, ack.duplicates), (2, 0));
            // The other member of the pair sends the same events.
            let b = EventBatch {
                batch_id: "1".into(),
                events: vec![event(&src, b"two"), event(&src, b"three")],
            };
            let ack = ingest(c, &member("B"), &b, DAY_MS)?;
            assert_eq!((ack.new, ack.duplicates), (1, 1));
            // A retried batch counts nothing twice.
            let again = ingest(c, &member("A"), &a, DAY_MS)?;
            assert!(again.replayed_batch);
            assert_eq!(totals(c, "g")?[0].received, 4);
            // A wrong key, or a source that is no key hash, is not stored.
            let mut forged = event(&src, b"four");
            forged.key = hex::encode([0u8; 32]);
            let bad = EventBatch {
                batch_id: "2".into(),
                events: vec![forged, event("ab", b"five")],
            };
            let ack = ingest(c, &member("A"), &bad, DAY_MS)?;
            assert_eq!((ack.accepted, ack.failed_checks), (0, 2));
            assert_eq!(firehose_page(c, "t", 0, 100)?.len(), 3);
            assert_eq!(
                refusals(c, "g")?,
                Refusals {
                    too_old: 0,
                    failed_checks: 2
                },
                "counted for the group"
            );
            Ok::<_, DbError>(())
        })
        .unwrap();
    }

    #[test]
    fn replays_older_than_the_window_are_refused_and_purges_go_by_ingest_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open_in(dir.path(), "c.db", super::super::schema::migrate).unwrap();
        let src = "cd".repeat(32);
        let notification = |seq: u64, ts: u64| {
            crate::nmsp::notification::measurement(seq, ts, [1; 6], [2; 6], -50, 6)
        };
        db.call_blocking(|c| {
            c.execute_batch(
                "INSERT INTO tenants VALUES ('t', 'T', 'x', 0);
                 INSERT INTO groups (id, tenant_id, name, kind, secret_hash, token, created_at)
                 VALUES ('g', 't', 'G', 'wireless', 'x', 'x', 0);",
            )?;
            let now = crate::clock::now_ms();
            let fresh = notification(1, now);
            let stale = notification(2, now - 2 * DAY_MS as u64);
            let batch = EventBatch {
                batch_id: "r".into(),
                events: vec![event(&src, &fresh), event(&src, &stale)],
            };
            let ack = ingest(c, &member("A"), &batch, DAY_MS)?;
            assert_eq!(
                (ack.new, ack.too_old),
                (1, 1),
                "the stale replay is refused"
            );
            assert_eq!(refusals(c, "g")?.too_old, 1, "and counted");
            // Purging goes by what was stored at a mark, whatever the clock.
            let m = mark(c)?;
            let later = EventBatch {
                batch_id: "s".into(),
                events: vec![event(&src, &notification(3, now))],
            };
            ingest(c, &member("A"), &later, DAY_MS)?;
            assert_eq!(purge(c, m)?, 1);
            assert_eq!(
                firehose_page(c, "t", 0, 100)?.len(),
                1,
                "the newer event stays"
            );
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
