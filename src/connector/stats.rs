//! Live figures per channel (the Controller Channel, the AP Channel): the
//! links of each, their totals, and a sampler turning counters into rates.
//! The same snapshot feeds the pages, `/api/v1/stats` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use serde::Serialize;

pub use crate::nmsp::link_stats::{HISTORY_SECS, LinkSnapshot, LinkStats, LinkStatus};

/// Totals of one channel, as the seed's figure shows them.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelTotals {
    pub incoming_rate_per_sec: f64,
    pub incoming_messages: u64,
    pub active: usize,
    pub links: usize,
}

impl ChannelTotals {
    pub fn rate_text(&self) -> String {
        format!("{:.1}", self.incoming_rate_per_sec)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelSnapshot {
    pub totals: ChannelTotals,
    pub links: Vec<LinkSnapshot>,
}

impl ChannelSnapshot {
    /// The links that are Active now: what an upgrade must find Active
    /// again.
    pub fn active_ids(&self) -> Vec<i64> {
        self.links
            .iter()
            .filter(|l| l.status == crate::nmsp::link_stats::LinkStatus::Active)
            .map(|l| l.id)
            .collect()
    }
}

/// The links of one channel, by id.
#[derive(Default)]
pub struct ChannelStats {
    links: RwLock<BTreeMap<i64, Arc<LinkStats>>>,
    /// Messages of links since removed, so totals never go backwards.
    retired_messages: AtomicU64,
    /// The names last read from the state file, for when it cannot be read.
    last_names: RwLock<Vec<(i64, String, String)>>,
}

impl ChannelStats {
    /// The counters for link `id`, created on first use.
    pub fn link(&self, id: i64) -> Arc<LinkStats> {
        if let Some(l) = self
            .links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return l.clone();
        }
        self.links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    pub fn remove(&self, id: i64) {
        if let Some(l) = self
            .links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
        {
            self.retired_messages
                .fetch_add(l.data_in.load(Relaxed), Relaxed);
        }
    }

    /// Takes this second's sample of every link; called once a second.
    pub fn sample(&self) {
        for l in self
            .links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            l.sample();
        }
    }

    /// Like [`snapshot`](Self::snapshot) with the names just read, or
    /// when they could not be read (a state-file fault, counted where it
    /// happened), with the names read last: figures never turn into "no
    /// controllers" because a read failed.
    pub fn snapshot_named<E>(
        &self,
        read: Result<Vec<(i64, String, String)>, E>,
    ) -> ChannelSnapshot {
        let names = match read {
            Ok(names) => {
                *self.last_names.write().unwrap_or_else(|p| p.into_inner()) = names.clone();
                names
            }
            Err(_) => self
                .last_names
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        self.snapshot(&names)
    }

    /// Figures of the links named in `names` (id → (name, address)), in
    /// that order.
    pub fn snapshot(&self, names: &[(i64, String, String)]) -> ChannelSnapshot {
        let links_map = self.links.read().unwrap_or_else(|p| p.into_inner());
        let links: Vec<LinkSnapshot> = names
            .iter()
            .map(|(id, name, address)| match links_map.get(id) {
                Some(l) => l.snapshot(*id, name.clone(), address.clone()),
                None => LinkStats::default().snapshot(*id, name.clone(), address.clone()),
            })
            .collect();
        let live: u64 = links_map.values().map(|l| l.data_in.load(Relaxed)).sum();
        ChannelSnapshot {
            totals: ChannelTotals {
                incoming_rate_per_sec: links.iter().map(|l| l.rate_per_sec).sum(),
                incoming_messages: live + self.retired_messages.load(Relaxed),
                active: links
                    .iter()
                    .filter(|l| l.status == LinkStatus::Active)
                    .count(),
                links: links.len(),
            },
            links,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_per_second_samples() {
        let ch = ChannelStats::default();
        let l = ch.link(1);
        for n in [10u64, 20, 30] {
            l.data_in.fetch_add(n, Relaxed);
            ch.sample();
        }
        let snap = ch.snapshot(&[(1, "a".into(), "10.0.0.1:16113".into())]);
        assert_eq!(snap.links[0].history, vec![10, 20, 30]);
        assert_eq!(snap.links[0].rate_per_sec, 20.0);
        assert_eq!(snap.totals.incoming_messages, 60);
        ch.remove(1);
        assert_eq!(
            ch.snapshot(&[]).totals.incoming_messages,
            60,
            "totals survive removal"
        );
    }

    #[test]
    fn status_changes_keep_last_error() {
        let l = LinkStats::default();
        l.set_down(LinkStatus::Backoff, Some("refused".into()), Some(5));
        l.set_active();
        let s = l.snapshot(1, "a".into(), "x".into());
        assert_eq!(s.status, LinkStatus::Active);
        assert_eq!(s.last_error.as_deref(), Some("refused"));
        assert!(s.connected_at.is_some());
    }
}
