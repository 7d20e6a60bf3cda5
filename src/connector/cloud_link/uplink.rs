//! From the sessions' event queue to the spool: events are gathered into
//! batches bounded in count, bytes and time, encoded and compressed once
//! (`contract::event_batch`),
//! and appended to the spool. A graceful shutdown spools what is in memory.
//! The byte bound keeps every batch well under the cloud's body limit, so
//! a batch is never refused whole for its size; a single event is one NMSP
//! frame (at most 64 KiB), far below the bound, so no event can be too
//! large on its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::nmsp::queue::Queued;
use tokio_util::sync::CancellationToken;

use super::spool;
use crate::contract::event_batch::encode_compressed as encode;
use crate::db::Db;

/// Batch bounds.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_events: usize,
    /// Sum of event bodies in one batch, at most (the layout adds 18 bytes
    /// an event, and a few per source).
    pub max_bytes: usize,
    pub max_delay: Duration,
    pub spool_cap_bytes: i64,
}

/// The default byte bound: 8 MiB of bodies, with the layout's own bytes
/// well under half of the cloud's 32 MiB body limit even uncompressed (and
/// under it as an older version's JSON, which was 1.4 times the bodies).
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// Counters of the uplink, for the dashboard and the heartbeat.
#[derive(Default)]
pub struct UplinkStats {
    /// Events written to the spool.
    pub spooled: AtomicU64,
    /// Events the cloud acknowledged.
    pub delivered: AtomicU64,
    pub batches_delivered: AtomicU64,
    /// Events that could not be spooled because the disk is full (or the
    /// headroom kept for the state file's own writes was reached).
    pub lost_disk_full: AtomicU64,
    /// Events that could not be spooled for another storage error.
    pub lost_storage_error: AtomicU64,
    /// Events the cloud refused as older than its dedup window.
    pub refused_too_old: AtomicU64,
    /// Events the cloud refused as failing its checks (a key or a source
    /// it does not accept).
    pub refused_failed_checks: AtomicU64,
    /// The last reason events were lost, for the dashboard.
    pub last_loss: std::sync::Mutex<Option<String>>,
    /// True while spooling fails for want of space (cleared by the next
    /// batch that is spooled).
    pub disk_full: std::sync::atomic::AtomicBool,
}

/// Free space kept on the state file's file system for its own writes
/// (settings, sessions, the outbox): the spool stops short of it.
pub const DISK_HEADROOM: u64 = 2 << 20;

/// File system space kept free beside a batch's write to the log, for the
/// small writes that follow it before the next checkpoint.
const LOG_MARGIN: u64 = 256 << 10;

/// Bytes free for an unprivileged writer on the file system of `path`.
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let dir = path.parent().unwrap_or(path);
    rustix::fs::statvfs(dir)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// Why a batch could not be spooled.
enum Unspooled {
    DiskFull(String),
    Error(String),
}

/// Gathers events into spooled batches until the channel closes or
/// `flush` fires (then drains what is queued and stops).
pub async fn run_batcher(
    db: Db,
    mut events: mpsc::UnboundedReceiver<Queued>,
    limits: BatchLimits,
    stats: Arc<UplinkStats>,
    spooled: Arc<Notify>,
    flush: CancellationToken,
) {
    // Queued events keep their charge against the queue until they are in
    // the spool, so memory held here counts against the queue's budget.
    let mut batch: Vec<Queued> = Vec::with_capacity(limits.max_events);
    let mut batch_bytes = 0usize;
    loop {
        let deadline = tokio::time::sleep(limits.max_delay);
        tokio::pin!(deadline);
        let closing = loop {
            tokio::select! {
                biased;
                e = events.recv() => match e {
                    Some(e) => {
                        batch_bytes += e.event.body.len();
                        batch.push(e);
                        if batch.len() >= limits.max_events || batch_bytes >= limits.max_bytes {
                            break false;
                        }
                    }
                    None => break true,
                },
                _ = &mut deadline, if !batch.is_empty() => break false,
                _ = flush.cancelled() => {
                    events.close();
                    while let Ok(e) = events.try_recv() {
                        batch.push(e);
                    }
                    break true;
                }
            }
        };
        // Write one batch within the bounds; the event that crossed them
        // starts the next. Draining at the end writes everything, still in
        // bounded batches.
        loop {
            let take = batch_len_within(&batch, limits);
            let rest = batch.split_off(take.min(batch.len()));
            let full = std::mem::replace(&mut batch, rest);
            if !full.is_empty() {
                write_batch(&db, full, limits, &stats).await;
                spooled.notify_one();
            }
            if !closing || batch.is_empty() {
                break;
            }
        }
        batch_bytes = batch.iter().map(|q| q.event.body.len()).sum();
        if closing {
            return;
        }
    }
}

/// How many events from the front of `batch` make one batch within both
/// bounds (at least one: a single event is never larger than a frame).
fn batch_len_within(batch: &[Queued], limits: BatchLimits) -> usize {
    let mut bytes = 0;
    let n = batch
        .iter()
        .take(limits.max_events)
        .take_while(|q| {
            bytes += q.event.body.len();
            bytes <= limits.max_bytes
        })
        .count();
    n.max(1)
}

/// What became of one batch: how many events were spooled (and how many
/// older ones the spool cap dropped to make room), and how many were lost
/// and why.
struct Written {
    spooled: usize,
    cap_dropped: i64,
    lost: Option<(usize, Unspooled)>,
}

/// How many payload bytes one batch may take now: the log's write needs
/// the file system's own space (beside `LOG_MARGIN`); the headroom may be
/// pages the state file holds free; and until the next checkpoint a batch
/// takes its size twice, in the log and then in the file.
fn room(fs_free: u64, pages_free: u64) -> u64 {
    let free = fs_free.saturating_add(pages_free);
    fs_free
        .saturating_sub(LOG_MARGIN)
        .min(free.saturating_sub(DISK_HEADROOM) / 2)
}

async fn write_batch(db: &Db, queued: Vec<Queued>, limits: BatchLimits, stats: &UplinkStats) {
    let id = uuid::Uuid::new_v4().to_string();
    let path = db.path().to_path_buf();
    let total = queued.len();
    // Encoded and compressed on the blocking pool before the state file is
    // taken: the store is held only to check the room and append.
    let encoded = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let payload = encode(&id, queued.iter().map(|q| &q.event));
            (queued, payload)
        })
        .await
    };
    let Ok((queued, mut payload)) = encoded else {
        stats.lost_storage_error.fetch_add(total as u64, Relaxed);
        tracing::error!(
            events = total,
            "events lost: the batch could not be encoded"
        );
        return;
    };
    let written = db
        .call(move |c| {
            // Stop short of filling the disk: the state file's own writes
            // (sessions, settings) must keep working.
            let mut fs_free = free_bytes(&path).unwrap_or(u64::MAX);
            if fs_free < DISK_HEADROOM + 4 * payload.len() as u64 {
                // The log may be holding what little is left: give it back.
                spool::give_back_log(c);
                fs_free = free_bytes(&path).unwrap_or(u64::MAX);
            }
            let pages_free = spool::free_pages_bytes(c);
            let free = fs_free.saturating_add(pages_free);
            let room = room(fs_free, pages_free);
            // As much of the batch as fits: a nearly full disk keeps what
            // it can rather than losing whole batches.
            let mut take = queued.len();
            while take > 0 && payload.len() as u64 > room {
                let fits = (take as u64).saturating_mul(room) / payload.len() as u64;
                take = (fits as usize).min(take - 1);
                payload = encode(&id, queued[..take].iter().map(|q| &q.event));
            }
            let full = || {
                Unspooled::DiskFull(format!(
                    "disk full: {} kB free, {} kB kept for the state file",
                    free / 1024,
                    DISK_HEADROOM / 1024
                ))
            };
            if take == 0 {
                return Ok(Written {
                    spooled: 0,
                    cap_dropped: 0,
                    lost: Some((queued.len(), full())),
                });
            }
            let rest = (take < queued.len()).then(|| (queued.len() - take, full()));
            Ok::<_, crate::db::DbError>(
                match spool::append(c, &id, take as i64, &payload, limits.spool_cap_bytes) {
                    Ok(cap_dropped) => Written {
                        spooled: take,
                        cap_dropped,
                        lost: rest,
                    },
                    Err(e) => Written {
                        spooled: 0,
                        cap_dropped: 0,
                        lost: Some((
                            queued.len(),
                            if e.is_disk_full() {
                                Unspooled::DiskFull(format!("disk full: {e}"))
                            } else {
                                Unspooled::Error(e.to_string())
                            },
                        )),
                    },
                },
            )
        })
        .await
        .unwrap_or_else(|e| Written {
            spooled: 0,
            cap_dropped: 0,
            lost: Some((total, Unspooled::Error(e.to_string()))),
        });
    if written.spooled > 0 {
        stats.spooled.fetch_add(written.spooled as u64, Relaxed);
        if written.cap_dropped > 0 {
            tracing::warn!(
                dropped = written.cap_dropped,
                "spool cap reached: oldest events dropped"
            );
        }
    }
    let Some((n, why)) = written.lost else {
        stats.disk_full.store(false, Relaxed);
        return;
    };
    let (counter, reason) = match why {
        Unspooled::DiskFull(reason) => {
            stats.disk_full.store(true, Relaxed);
            (&stats.lost_disk_full, reason)
        }
        Unspooled::Error(reason) => (&stats.lost_storage_error, reason),
    };
    counter.fetch_add(n as u64, Relaxed);
    tracing::error!(events = n, %reason, "events lost: they could not be spooled");
    *stats.last_loss.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_counts_a_batch_twice_and_freed_pages_only_for_the_file() {
        const MIB: u64 = 1 << 20;
        // Nothing freed inside the file: twice the batch beside the headroom.
        assert_eq!(room(10 * MIB, 0), (10 * MIB - DISK_HEADROOM) / 2);
        // Plenty freed inside, little outside: the log's write decides.
        assert_eq!(room(4 * MIB, 8 * MIB), 4 * MIB - LOG_MARGIN);
        assert_eq!(room(LOG_MARGIN / 2, 64 * MIB), 0);
    }
    use crate::contract::event::{Channel, Event};

    #[tokio::test]
    async fn batches_are_bounded_in_bytes_so_none_can_exceed_the_cloud_limit() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        let (queue, rx) = crate::nmsp::queue::EventQueue::new(16 << 20, 8 << 20);
        let source = queue.for_source();
        for i in 0..40u8 {
            let body = bytes::Bytes::from(vec![i; 60_000]);
            let e = Event::new(Channel::Controller, "ab".repeat(32).into(), 15, body);
            source.try_push(e).map_err(|_| "queued").unwrap();
        }
        drop((source, queue));
        let limits = BatchLimits {
            max_events: 2000,
            max_bytes: 1 << 20,
            max_delay: Duration::from_millis(20),
            spool_cap_bytes: i64::MAX,
        };
        let stats = Arc::new(UplinkStats::default());
        run_batcher(
            db.clone(),
            rx,
            limits,
            stats.clone(),
            Arc::new(Notify::new()),
            CancellationToken::new(),
        )
        .await;
        let batches = db
            .call(|c| {
                let mut out = Vec::new();
                let mut after = 0;
                while let Some(b) = spool::next_after(c, after)? {
                    after = b.id;
                    out.push(b);
                }
                Ok::<_, crate::db::DbError>(out)
            })
            .await
            .unwrap();
        // 40 bodies of 60 kB, at most 1 MiB of bodies a batch: 3 batches.
        assert_eq!(batches.len(), 3);
        assert_eq!(batches.iter().map(|b| b.events).sum::<i64>(), 40);
        for b in &batches {
            let raw = zstd::bulk::decompress(&b.payload, 32 << 20).unwrap();
            assert!(raw.len() < 1_100_000, "a batch of {} bytes", raw.len());
            let batch = crate::contract::event_batch::decode(raw.into()).unwrap();
            assert_eq!(batch.events.len() as i64, b.events);
        }
        assert_eq!(stats.spooled.load(Relaxed), 40);
    }
}
