//! `spaces-cloud --sink`, a benchmark mode: event batches are
//! authenticated, decompressed, decoded and checked exactly as for the
//! store (`contract::event_batch`), acknowledged and counted, and nothing
//! is stored. It takes the cloud out of the measurement so that a
//! benchmark sees how far one connector goes (`benches/e2e.rs`,
//! scenario "ceiling"). Never for production: a sink keeps no event.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::contract::cloud_api::BatchAck;
use crate::contract::event_batch::CheckedBatch;

/// One latency sample is taken per this many events.
const SAMPLE_EVERY: u64 = 16;
/// Samples kept between two reports, at most.
const MAX_SAMPLES: usize = 200_000;

#[derive(Debug, Default)]
pub struct Sink {
    events: AtomicU64,
    batches: AtomicU64,
    refused: AtomicU64,
    /// Ingest time minus the controller's timestamp (ms), sampled.
    latencies: Mutex<Vec<u32>>,
}

/// What `GET /api/v1/sink` answers: totals since start, and the latency
/// samples since the previous report (which it drains).
#[derive(Debug, Serialize)]
pub struct SinkReport {
    pub events: u64,
    pub batches: u64,
    /// Events whose key did not match their body (never, from ours).
    pub refused: u64,
    pub latency_ms: Vec<u32>,
}

impl Sink {
    /// Checks and counts a batch; acknowledges every good event as new.
    pub fn take(&self, batch: &CheckedBatch) -> BatchAck {
        let before = self.events.load(Relaxed);
        let now = crate::clock::now_ms();
        let accepted = batch.events.len();
        self.refused.fetch_add(batch.forged as u64, Relaxed);
        let mut samples = Vec::new();
        for (i, e) in batch.events.iter().enumerate() {
            if (before + i as u64).is_multiple_of(SAMPLE_EVERY)
                && let Ok(f) = crate::nmsp::NotificationFields::parse(&e.body)
            {
                samples.push(now.saturating_sub(f.timestamp_ms).min(u32::MAX as u64) as u32);
            }
        }
        self.events.fetch_add(accepted as u64, Relaxed);
        self.batches.fetch_add(1, Relaxed);
        if !samples.is_empty() {
            let mut kept = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
            let room = MAX_SAMPLES.saturating_sub(kept.len());
            kept.extend(samples.into_iter().take(room));
        }
        BatchAck {
            accepted,
            new: accepted,
            duplicates: 0,
            replayed_batch: false,
            too_old: 0,
            failed_checks: batch.forged,
        }
    }

    pub fn report(&self) -> SinkReport {
        let latency_ms =
            std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()));
        SinkReport {
            events: self.events.load(Relaxed),
            batches: self.batches.load(Relaxed),
            refused: self.refused.load(Relaxed),
            latency_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::cloud_api::{EventBatch, WireEvent};
    use crate::contract::event::{Channel, dedup_key};
    use crate::contract::event_batch::check_json;
    use base64::Engine;

    #[test]
    fn counts_good_events_refuses_forged_ones_and_stores_nothing() {
        let source = "ab".repeat(32);
        let body = crate::nmsp::notification::measurement(1, 5, [2; 6], [0; 6], -50, 1);
        let good = WireEvent {
            key: hex::encode(dedup_key(&source, 15, &body)),
            channel: Channel::Controller,
            source: source.clone(),
            msg_type: 15,
            body: base64::engine::general_purpose::STANDARD.encode(&body),
            received_at_ms: 5,
        };
        let mut forged = good.clone();
        forged.key = "00".repeat(32);
        let sink = Sink::default();
        let ack = sink.take(&check_json(EventBatch {
            batch_id: "b".into(),
            events: vec![good, forged],
        }));
        assert_eq!((ack.accepted, ack.new), (1, 1));
        let r = sink.report();
        assert_eq!((r.events, r.batches, r.refused), (1, 1, 1));
        assert_eq!(r.latency_ms.len(), 1, "the first event is sampled");
        assert!(sink.report().latency_ms.is_empty(), "drained");
    }
}
