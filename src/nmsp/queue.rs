//! The queue between NMSP links and the uplink, bounded in bytes, not in
//! count: every queued event holds a charge of its body plus a fixed
//! overhead against two budgets, the whole queue's and its own source's.
//! A link whose charge cannot be taken stops reading (TCP pushes back on
//! its peer) until the uplink has spooled enough, so memory stays bounded
//! whatever the peers send. The per-source budget keeps one flooding
//! source from filling the queue, and the budgets hand out bytes in the
//! order links asked for them, so a flood cannot starve a quiet source.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::pseudonym::Privacy;
use crate::contract::event::Event;

/// What an event costs besides its body: the `Event` itself, its `Arc`
/// source and the queue's bookkeeping, rounded up.
pub const EVENT_OVERHEAD: usize = 192;

/// The whole queue's default budget.
pub const DEFAULT_TOTAL_BYTES: usize = 32 << 20;
/// One source's default budget.
pub const DEFAULT_SOURCE_BYTES: usize = 4 << 20;

/// An event on its way to the uplink, holding its charge until dropped
/// (the uplink drops it once the event is in the spool).
pub struct Queued {
    pub event: Event,
    _charge: Charge,
}

/// Bytes held against the queue's and a source's budgets.
pub struct Charge {
    _total: OwnedSemaphorePermit,
    _source: OwnedSemaphorePermit,
}

/// The sending side, from which each link takes its own [`SourceQueue`].
#[derive(Clone)]
pub struct EventQueue {
    tx: mpsc::UnboundedSender<Queued>,
    total: Arc<Semaphore>,
    total_bytes: usize,
    source_bytes: usize,
    privacy: Privacy,
}

/// The queue as one source (a controller session or an AP link) sees it.
pub struct SourceQueue {
    tx: mpsc::UnboundedSender<Queued>,
    total: Arc<Semaphore>,
    source: Arc<Semaphore>,
    /// The tenant's client privacy, applied before an event exists.
    pub privacy: Privacy,
}

/// The uplink went away: the connector is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the event queue is closed")]
pub struct Closed;

impl EventQueue {
    /// A queue of at most `total_bytes`, of which one source may hold
    /// `source_bytes`; returns it with the receiving end. The queue is
    /// unbounded in count because the charges bound it in bytes.
    pub fn new(
        total_bytes: usize,
        source_bytes: usize,
    ) -> (EventQueue, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let source_bytes = source_bytes.clamp(max_cost(), total_bytes.max(max_cost()));
        let queue = EventQueue {
            tx,
            total: Arc::new(Semaphore::new(total_bytes.max(max_cost()))),
            total_bytes: total_bytes.max(max_cost()),
            source_bytes,
            privacy: Privacy::default(),
        };
        (queue, rx)
    }

    /// A handle for one more source, with a budget of its own.
    pub fn for_source(&self) -> SourceQueue {
        SourceQueue {
            tx: self.tx.clone(),
            total: self.total.clone(),
            source: Arc::new(Semaphore::new(self.source_bytes)),
            privacy: self.privacy.clone(),
        }
    }

    /// Every source's events go through `privacy` (the connector's one
    /// shared setting) from now on.
    pub fn with_privacy(mut self, privacy: Privacy) -> EventQueue {
        self.privacy = privacy;
        self
    }

    /// Bytes charged by events not yet spooled.
    pub fn queued_bytes(&self) -> usize {
        self.total_bytes - self.total.available_permits()
    }

    pub fn capacity_bytes(&self) -> usize {
        self.total_bytes
    }
}

/// The most one event can cost: a frame's largest body plus the overhead.
fn max_cost() -> usize {
    super::MAX_BODY_LEN + EVENT_OVERHEAD
}

/// What queuing `event` charges.
pub fn cost(event: &Event) -> u32 {
    (event.body.len() + EVENT_OVERHEAD).min(max_cost()) as u32
}

impl SourceQueue {
    /// Queues `event` if both budgets have room now; hands it back if not.
    pub fn try_push(&self, event: Event) -> Result<(), (Event, Option<Closed>)> {
        if self.tx.is_closed() {
            return Err((event, Some(Closed)));
        }
        let n = cost(&event);
        let Ok(source) = self.source.clone().try_acquire_many_owned(n) else {
            return Err((event, None));
        };
        let Ok(total) = self.total.clone().try_acquire_many_owned(n) else {
            return Err((event, None));
        };
        self.send(
            event,
            Charge {
                _total: total,
                _source: source,
            },
        )
        .map_err(|(e, c)| (e, Some(c)))
    }

    /// Waits until `bytes` can be charged (this source's budget first,
    /// then the queue's, each in the order asked). Cancel-safe: dropped
    /// before it completes, it holds nothing.
    pub async fn reserve(&self, bytes: u32) -> Charge {
        // The semaphores are never closed, so acquiring cannot fail.
        let source = self
            .source
            .clone()
            .acquire_many_owned(bytes)
            .await
            .expect("source budget never closes");
        let total = self
            .total
            .clone()
            .acquire_many_owned(bytes)
            .await
            .expect("queue budget never closes");
        Charge {
            _total: total,
            _source: source,
        }
    }

    /// Queues `event` with a charge taken by [`SourceQueue::reserve`].
    pub fn send(&self, event: Event, charge: Charge) -> Result<(), (Event, Closed)> {
        self.tx
            .send(Queued {
                event,
                _charge: charge,
            })
            .map_err(|e| (e.0.event, Closed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::event::Channel;
    use bytes::Bytes;

    fn event(len: usize) -> Event {
        Event::new(Channel::Ap, "src".into(), 15, Bytes::from(vec![0u8; len]))
    }

    #[tokio::test]
    async fn one_source_cannot_fill_the_queue_and_spooling_frees_it() {
        let (q, mut rx) = EventQueue::new(1 << 20, 256 << 10);
        let flood = q.for_source();
        let mut queued = 0;
        while flood.try_push(event(60_000)).is_ok() {
            queued += 1;
        }
        // The flood is held to its own budget...
        assert_eq!(queued, (256 << 10) / (60_000 + EVENT_OVERHEAD));
        assert!(q.queued_bytes() <= 256 << 10);
        // ...and another source still gets in at once.
        let quiet = q.for_source();
        assert!(quiet.try_push(event(100)).is_ok());
        // Once the uplink has taken (and dropped) what was queued, the
        // flood's budget is free again.
        for _ in 0..=queued {
            drop(rx.recv().await.unwrap());
        }
        assert_eq!(q.queued_bytes(), 0);
        assert!(flood.try_push(event(60_000)).is_ok());
    }

    #[tokio::test]
    async fn the_whole_queue_is_bounded_across_sources() {
        let (q, rx) = EventQueue::new(1 << 20, 512 << 10);
        let sources: Vec<_> = (0..8).map(|_| q.for_source()).collect();
        let mut bytes = 0;
        for s in &sources {
            while s.try_push(event(30_000)).is_ok() {
                bytes += 30_000 + EVENT_OVERHEAD;
            }
        }
        assert!(bytes <= 1 << 20, "{bytes}");
        assert!(q.queued_bytes() <= q.capacity_bytes());
        drop(rx);
        assert!(matches!(
            sources[0].try_push(event(1)),
            Err((_, Some(Closed)))
        ));
    }
}
