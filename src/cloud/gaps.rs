//! Gaps in a source's sequence: every data notification carries its
//! controller's sequence number (per controller, not per session), so the
//! cloud can tell which events no member delivered, for instance while
//! both members of a pair were down. Missing ranges are kept per source and
//! filled by a late copy (the other member's, a replayed spool); what is
//! still missing after a grace period (on the steady clock, so a step of
//! the wall clock neither hides nor hurries one) is reported as a gap, with its count
//! and when it was seen, and put on the firehose once as a gap record.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::Digest;

use crate::contract::cloud_api::GapRecord;
use crate::db::DbError;

/// The `channel` of a gap record's row in the events table: gap records
/// take their place in the firehose's order like events.
pub const CHANNEL: &str = "gap";

/// A missing range younger than this may still be filled by a member that
/// is catching up; it is not reported yet.
pub const GRACE_MS: i64 = 10_000;
/// A sequence this far below the highest seen is a controller that started
/// counting again (a restart), not a late event.
const RESTART_DROP: i64 = 1_000_000;

/// The gaps of one source, as pages and the API show them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SourceGaps {
    pub source: String,
    /// Missing ranges.
    pub gaps: i64,
    /// Events missing in all.
    pub missing: i64,
    /// When the first and the last of these gaps were detected (ms).
    pub first_detected_ms: i64,
    pub last_detected_ms: i64,
}

/// The highest sequence seen per source, read once per batch and written
/// once per batch ([`Tracker::save`]), not once per event.
#[derive(Default)]
pub struct Tracker {
    highest: HashMap<String, Option<i64>>,
    changed: std::collections::HashSet<String>,
}

impl Tracker {
    /// Notes a new (not duplicate) event `seq` of `source`.
    pub fn observe(
        &mut self,
        conn: &Connection,
        group: &str,
        source: &str,
        seq: i64,
        now_ms: i64,
    ) -> Result<(), DbError> {
        let highest = match self.highest.get(source) {
            Some(h) => *h,
            None => {
                let h: Option<i64> = conn
                    .query_row(
                        "SELECT highest FROM source_sequences WHERE group_id = ?1 AND source = ?2",
                        params![group, source],
                        |r| r.get(0),
                    )
                    .optional()?;
                self.highest.insert(source.to_string(), h);
                h
            }
        };
        let next_highest = match highest {
            // The first event of a source: nothing before it is expected.
            None => seq,
            Some(h) if seq > h => {
                if seq > h + 1 {
                    conn.execute(
                        "INSERT OR IGNORE INTO sequence_gaps (group_id, source, first, last, detected_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![group, source, h + 1, seq - 1, now_ms],
                    )?;
                }
                seq
            }
            Some(h) if seq < h - RESTART_DROP => seq,
            Some(h) => {
                fill(conn, group, source, seq)?;
                h
            }
        };
        if highest != Some(next_highest) {
            self.highest.insert(source.to_string(), Some(next_highest));
            self.changed.insert(source.to_string());
        }
        Ok(())
    }

    /// Writes the highest sequences that changed (in the batch's
    /// transaction, before it commits).
    pub fn save(&mut self, conn: &Connection, group: &str) -> Result<(), DbError> {
        let mut upsert = conn.prepare_cached(
            "INSERT INTO source_sequences (group_id, source, highest) VALUES (?1, ?2, ?3)
             ON CONFLICT (group_id, source) DO UPDATE SET highest = excluded.highest",
        )?;
        for source in self.changed.drain() {
            if let Some(Some(h)) = self.highest.get(&source) {
                upsert.execute(params![group, source, h])?;
            }
        }
        Ok(())
    }
}

/// A late event fills its place in a missing range.
fn fill(conn: &Connection, group: &str, source: &str, seq: i64) -> Result<(), DbError> {
    let range: Option<(i64, i64, i64, i64)> = conn
        .query_row(
            "SELECT first, last, detected_ms, published FROM sequence_gaps
             WHERE group_id = ?1 AND source = ?2 AND first <= ?3 AND last >= ?3",
            params![group, source, seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    // What is left of a published gap stays published: one record per gap.
    let Some((first, last, detected, published)) = range else {
        return Ok(());
    };
    conn.execute(
        "DELETE FROM sequence_gaps WHERE group_id = ?1 AND source = ?2 AND first = ?3",
        params![group, source, first],
    )?;
    let insert = |a: i64, b: i64| {
        conn.execute(
            "INSERT INTO sequence_gaps (group_id, source, first, last, detected_ms, published)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![group, source, a, b, detected, published],
        )
    };
    if first < seq {
        insert(first, seq - 1)?;
    }
    if seq < last {
        insert(seq + 1, last)?;
    }
    Ok(())
}

/// Gaps per source of a group that stayed open past the grace period.
pub fn report(conn: &Connection, group: &str, now_ms: i64) -> Result<Vec<SourceGaps>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT source, COUNT(*), SUM(last - first + 1), MIN(detected_ms), MAX(detected_ms)
         FROM sequence_gaps WHERE group_id = ?1 AND detected_ms <= ?2
         GROUP BY source ORDER BY source",
    )?;
    let rows = stmt.query_map(params![group, now_ms - GRACE_MS], |r| {
        Ok(SourceGaps {
            source: r.get(0)?,
            gaps: r.get(1)?,
            missing: r.get(2)?,
            first_detected_ms: r.get(3)?,
            last_detected_ms: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Puts every gap that stayed open past the grace period on the firehose,
/// once. Returns how many records were added.
pub fn publish_due(conn: &Connection, now_ms: i64) -> Result<usize, DbError> {
    let tx = conn.unchecked_transaction()?;
    let due: Vec<(String, String, i64, i64, i64)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT group_id, source, first, last, detected_ms FROM sequence_gaps
             WHERE published = 0 AND detected_ms <= ?1 ORDER BY detected_ms, first",
        )?;
        let rows = stmt.query_map([now_ms - GRACE_MS], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    for (group, source, first, last, detected) in &due {
        let record = GapRecord {
            source: source.clone(),
            first_sequence: *first,
            last_sequence: *last,
            missing: last - first + 1,
            detected_at_ms: *detected,
        };
        let body = serde_json::to_vec(&record).unwrap_or_default();
        let key = sha2::Sha256::digest(format!("{CHANNEL}/{source}/{first}/{last}")).to_vec();
        tx.execute(
            "INSERT OR IGNORE INTO events (group_id, key, event_ms, channel, source, msg_type, body, ingested_at_ms)
             VALUES (?1, ?2, 0, ?3, ?4, 0, ?5, ?6)",
            params![group, key, CHANNEL, source, body, now_ms],
        )?;
        tx.execute(
            "UPDATE sequence_gaps SET published = 1 WHERE group_id = ?1 AND source = ?2 AND first = ?3",
            params![group, source, first],
        )?;
    }
    tx.commit()?;
    Ok(due.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> crate::db::Db {
        let dir = tempfile::tempdir().unwrap().keep();
        crate::db::Db::open_in(&dir, "c.db", crate::cloud::schema::migrate).unwrap()
    }

    #[test]
    fn missing_ranges_are_reported_after_grace_and_filled_by_late_copies() {
        let db = db();
        db.call_blocking(|c| {
            let mut t = Tracker::default();
            for seq in [1, 2, 3, 7, 8, 20] {
                t.observe(c, "g", "s", seq, 0)?;
            }
            t.save(c, "g")?;
            // 4..=6 and 9..=19 missing: 14 events in two gaps.
            assert!(report(c, "g", 1)?.is_empty(), "not before the grace");
            let r = report(c, "g", GRACE_MS)?;
            assert_eq!((r[0].gaps, r[0].missing), (2, 14));
            assert_eq!(
                publish_due(c, 1)?,
                0,
                "not on the firehose before the grace"
            );
            assert_eq!(publish_due(c, GRACE_MS)?, 2, "one record per gap");
            assert_eq!(publish_due(c, GRACE_MS + 1)?, 0, "once");
            // The other member's copies of 5 and 9 arrive late.
            let mut t = Tracker::default();
            t.observe(c, "g", "s", 5, 1)?;
            t.observe(c, "g", "s", 9, 1)?;
            let r = report(c, "g", GRACE_MS)?;
            assert_eq!((r[0].gaps, r[0].missing), (3, 12));
            assert_eq!(
                publish_due(c, GRACE_MS + 1)?,
                0,
                "what is left stays published"
            );
            // A controller that starts counting again is not a gap.
            t.observe(c, "g", "s", 20 + RESTART_DROP + 5, 2)?;
            t.observe(c, "g", "s", 1, 2)?;
            t.observe(c, "g", "s", 2, 2)?;
            assert_eq!(
                report(c, "g", GRACE_MS + 10)?[0].missing,
                12 + RESTART_DROP + 4
            );
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
