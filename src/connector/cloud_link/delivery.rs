//! Delivering one spooled batch and acting on the cloud's answer: an
//! acknowledged batch leaves the spool (or is remembered for removal when
//! the disk refuses even that), a batch the cloud refuses for good is
//! dropped and counted; any other failure (a cloud too old to read it,
//! see `client`) keeps it spooled.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use super::client::{ClientError, CloudClient};
use super::spool;
use super::uplink::UplinkStats;
use crate::db::Db;

/// Batches on their way to the cloud at once.
pub(super) const MAX_IN_FLIGHT: usize = 4;

pub(super) async fn deliver(
    client: CloudClient,
    db: Db,
    uplink: Arc<UplinkStats>,
    acked: Arc<Mutex<std::collections::BTreeSet<i64>>>,
    batch: spool::SpooledBatch,
) -> Result<(), ClientError> {
    match client.events(batch.payload.clone()).await {
        Ok(ack) => {
            for (n, counter, why) in [
                (
                    ack.too_old,
                    &uplink.refused_too_old,
                    "older than its dedup window",
                ),
                (
                    ack.failed_checks,
                    &uplink.refused_failed_checks,
                    "that failed its checks (key or source)",
                ),
            ] {
                if n > 0 {
                    counter.fetch_add(n as u64, Relaxed);
                    tracing::warn!(events = n, "the cloud refused events {why}");
                }
            }
            uplink.delivered.fetch_add(batch.events as u64, Relaxed);
            uplink.batches_delivered.fetch_add(1, Relaxed);
            let id = batch.id;
            if let Err(e) = db.call(move |c| spool::remove(c, id)).await {
                // Never sent again; removed as soon as the disk allows.
                tracing::warn!(error = %e, "an acknowledged batch could not leave the spool yet");
                acked.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
            }
            Ok(())
        }
        Err(ClientError::Refused {
            status, message, ..
        }) if status != 401 => {
            tracing::error!(%message, events = batch.events, "the cloud refused a batch: dropped");
            let _ = db.call(move |c| spool::discard(c, &batch)).await;
            Ok(())
        }
        Err(e) => Err(e),
    }
}
