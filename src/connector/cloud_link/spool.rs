//! The durable event spool: every batch is written here (in the compact
//! layout of `contract::event_batch`; an older version's rows are gzipped
//! JSON, sent as they are) before it is sent, and deleted once the cloud
//! acknowledged it. While
//! the cloud is away the spool grows up to its cap; past the cap the
//! oldest batches are dropped and their events counted, never silently.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::db::DbError;

const DROPPED_KEY: &str = "spool_dropped_events";

pub struct SpooledBatch {
    pub id: i64,
    pub events: i64,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SpoolTotals {
    pub batches: i64,
    pub events: i64,
    pub bytes: i64,
    /// Events dropped by the cap, since the state file was made.
    pub dropped_events: i64,
}

/// Bytes of pages the state file holds free for reuse (a spool that
/// drained leaves them): room for new batches that the file system's free
/// space does not show.
pub fn free_pages_bytes(conn: &Connection) -> u64 {
    let pages: i64 = conn
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap_or(0);
    let size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap_or(0);
    (pages.max(0) as u64).saturating_mul(size.max(0) as u64)
}

/// Appends a batch, then trims the oldest batches until the spool fits in
/// `cap_bytes`; returns the events dropped by this trim.
pub fn append(
    conn: &mut Connection,
    batch_id: &str,
    events: i64,
    payload: &[u8],
    cap_bytes: i64,
) -> Result<i64, DbError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO spool (batch_id, events, bytes, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![batch_id, events, payload.len() as i64, payload, crate::clock::now_unix()],
    )?;
    let mut total: i64 = tx.query_row("SELECT COALESCE(SUM(bytes), 0) FROM spool", [], |r| {
        r.get(0)
    })?;
    let mut dropped = 0;
    while total > cap_bytes {
        let oldest: Option<(i64, i64, i64)> = tx
            .query_row(
                "SELECT id, events, bytes FROM spool ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((id, n, bytes)) = oldest else { break };
        tx.execute("DELETE FROM spool WHERE id = ?1", [id])?;
        total -= bytes;
        dropped += n;
    }
    if dropped > 0 {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)",
            params![DROPPED_KEY, dropped.to_string()],
        )?;
    }
    tx.commit()?;
    Ok(dropped)
}

/// The oldest batch, to send next.
pub fn oldest(conn: &Connection) -> Result<Option<SpooledBatch>, DbError> {
    next_after(conn, 0)
}

/// The oldest batch after `id` (batches already on their way are skipped).
pub fn next_after(conn: &Connection, id: i64) -> Result<Option<SpooledBatch>, DbError> {
    Ok(conn
        .query_row(
            "SELECT id, events, payload FROM spool WHERE id > ?1 ORDER BY id LIMIT 1",
            [id],
            |r| {
                Ok(SpooledBatch {
                    id: r.get(0)?,
                    events: r.get(1)?,
                    payload: r.get(2)?,
                })
            },
        )
        .optional()?)
}

pub fn remove(conn: &Connection, id: i64) -> Result<(), DbError> {
    match conn
        .execute("DELETE FROM spool WHERE id = ?1", [id])
        .map_err(DbError::from)
    {
        Ok(_) => Ok(()),
        // On a full disk the log may hold the last free bytes: fold it
        // into the file and give its space back, then try once more.
        Err(e) if e.is_disk_full() => {
            give_back_log(conn);
            conn.execute("DELETE FROM spool WHERE id = ?1", [id])?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Checkpoints the write-ahead log into the file and truncates it: on a
/// nearly full disk the log (up to 4 MiB between automatic checkpoints)
/// is space the spool needs. Best effort: a reader in the way only means
/// the log stays for now.
pub fn give_back_log(conn: &Connection) {
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Removes a batch the cloud can never accept, counting it as dropped.
pub fn discard(conn: &Connection, batch: &SpooledBatch) -> Result<(), DbError> {
    remove(conn, batch.id)?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)",
        params![DROPPED_KEY, batch.events.to_string()],
    )?;
    Ok(())
}

pub fn totals(conn: &Connection) -> Result<SpoolTotals, DbError> {
    let (batches, events, bytes) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(events), 0), COALESCE(SUM(bytes), 0) FROM spool",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let dropped: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [DROPPED_KEY],
            |r| r.get(0),
        )
        .optional()?;
    Ok(SpoolTotals {
        batches,
        events,
        bytes,
        dropped_events: dropped.and_then(|d| d.parse().ok()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_drops_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        db.call_blocking(|c| {
            assert_eq!(append(c, "a", 10, &[0; 100], 250)?, 0);
            assert_eq!(append(c, "b", 20, &[0; 100], 250)?, 0);
            assert_eq!(append(c, "c", 30, &[0; 100], 250)?, 10);
            let t = totals(c)?;
            assert_eq!((t.batches, t.events, t.dropped_events), (2, 50, 10));
            let first = oldest(c)?.unwrap();
            assert_eq!(first.events, 20, "oldest first, in order");
            remove(c, first.id)?;
            assert_eq!(oldest(c)?.unwrap().events, 30);
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
