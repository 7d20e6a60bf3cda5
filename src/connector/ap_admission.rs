//! Who may open an AP link, decided before a byte of AP data is read:
//! only APs on the allow-list (by certificate key hash), and never from an
//! address that keeps being refused. Every refusal is counted per address,
//! with the key hash the AP presented, for the Access points page, the API
//! and `/metrics`; the table of refused sources is bounded.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Refused sources remembered, at most (the oldest are forgotten first).
const MAX_SOURCES: usize = 256;
/// An address refused this often within [`PENALTY_WINDOW`] has its next
/// connections closed before the TLS handshake.
const PENALTY_REFUSALS: u32 = 5;
const PENALTY_WINDOW: Duration = Duration::from_secs(60);

/// One refused source, as pages and APIs show it.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedSource {
    pub address: String,
    /// Handshakes refused because the AP was not allowed (or showed no key).
    pub refused: u64,
    /// Connections closed unread while the address was penalised.
    pub dropped: u64,
    /// The key hash the AP presented last, if any.
    pub last_key_hash: Option<String>,
    pub last_reason: String,
    pub last_at: i64,
}

struct Entry {
    shown: RefusedSource,
    window_start: Instant,
    in_window: u32,
    seen: Instant,
}

/// The allow-list in memory and the refusal records.
#[derive(Default)]
pub struct Admission {
    allowed: RwLock<HashSet<String>>,
    sources: RwLock<BTreeMap<IpAddr, Entry>>,
    /// Handshakes refused in all (not allowed, no key).
    pub refused_total: AtomicU64,
    /// Connections closed unread from penalised addresses.
    pub dropped_total: AtomicU64,
}

impl Admission {
    /// Replaces the allow-list; returns the key hashes no longer allowed
    /// (their open links are to be closed). An AP just allowed may well
    /// have been refused a moment ago: newly allowed keys lift every
    /// address's penalty, so it gets in at its next try.
    pub fn set_allowed(&self, now: HashSet<String>) -> Vec<String> {
        let mut allowed = self.allowed.write().unwrap_or_else(|p| p.into_inner());
        let gone = allowed.difference(&now).cloned().collect();
        let grew = now.difference(&allowed).next().is_some();
        *allowed = now;
        drop(allowed);
        if grew {
            let mut sources = self.sources.write().unwrap_or_else(|p| p.into_inner());
            for e in sources.values_mut() {
                e.in_window = 0;
            }
        }
        gone
    }

    pub fn is_allowed(&self, key_hash: &str) -> bool {
        self.allowed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key_hash)
    }

    /// False (and counted) when `ip` was refused too often lately: its
    /// connection is closed before any TLS work is spent on it.
    pub fn may_try(&self, ip: IpAddr) -> bool {
        let mut sources = self.sources.write().unwrap_or_else(|p| p.into_inner());
        let Some(e) = sources.get_mut(&ip) else {
            return true;
        };
        if e.window_start.elapsed() > PENALTY_WINDOW {
            e.window_start = Instant::now();
            e.in_window = 0;
        }
        if e.in_window < PENALTY_REFUSALS {
            return true;
        }
        e.shown.dropped += 1;
        e.seen = Instant::now();
        self.dropped_total.fetch_add(1, Relaxed);
        false
    }

    /// Records a refused handshake from `ip`.
    pub fn refuse(&self, ip: IpAddr, key_hash: Option<String>, reason: &str) {
        self.refused_total.fetch_add(1, Relaxed);
        let mut sources = self.sources.write().unwrap_or_else(|p| p.into_inner());
        if !sources.contains_key(&ip) && sources.len() >= MAX_SOURCES {
            let oldest = sources
                .iter()
                .min_by_key(|(_, e)| e.seen)
                .map(|(ip, _)| *ip);
            if let Some(oldest) = oldest {
                sources.remove(&oldest);
            }
        }
        let now = Instant::now();
        let e = sources.entry(ip).or_insert_with(|| Entry {
            shown: RefusedSource {
                address: ip.to_string(),
                refused: 0,
                dropped: 0,
                last_key_hash: None,
                last_reason: String::new(),
                last_at: 0,
            },
            window_start: now,
            in_window: 0,
            seen: now,
        });
        if e.window_start.elapsed() > PENALTY_WINDOW {
            e.window_start = now;
            e.in_window = 0;
        }
        e.in_window += 1;
        e.seen = now;
        e.shown.refused += 1;
        e.shown.last_key_hash = key_hash;
        e.shown.last_reason = reason.to_string();
        e.shown.last_at = crate::clock::now_unix();
    }

    /// Refused sources, most recent first.
    pub fn refused_sources(&self) -> Vec<RefusedSource> {
        let sources = self.sources.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<RefusedSource> = sources.values().map(|e| e.shown.clone()).collect();
        out.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(a.address.cmp(&b.address)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_per_address_and_penalised() {
        let a = Admission::default();
        a.set_allowed(["ab".repeat(32)].into());
        assert!(a.is_allowed(&"ab".repeat(32)));
        let ip: IpAddr = "10.0.0.66".parse().unwrap();
        for _ in 0..PENALTY_REFUSALS {
            assert!(a.may_try(ip));
            a.refuse(ip, Some("cd".repeat(32)), "not on the allow-list");
        }
        assert!(!a.may_try(ip), "penalised after repeated refusals");
        let shown = &a.refused_sources()[0];
        assert_eq!(shown.refused, u64::from(PENALTY_REFUSALS));
        assert_eq!(shown.dropped, 1);
        assert_eq!(
            shown.last_key_hash.as_deref(),
            Some("cd".repeat(32).as_str())
        );
        assert!(a.may_try("10.0.0.67".parse().unwrap()), "others unaffected");
        a.set_allowed(["ab".repeat(32), "cd".repeat(32)].into());
        assert!(a.may_try(ip), "allowing a new key lifts the penalty");
        a.set_allowed(["cd".repeat(32)].into());
        let gone = a.set_allowed(HashSet::new());
        assert_eq!(gone, vec!["cd".repeat(32)]);
    }

    #[test]
    fn the_table_of_sources_is_bounded() {
        let a = Admission::default();
        for i in 0..(MAX_SOURCES as u32 + 50) {
            a.refuse(IpAddr::from(i.to_be_bytes()), None, "no key");
        }
        assert_eq!(a.refused_sources().len(), MAX_SOURCES);
        assert_eq!(a.refused_total.load(Relaxed), MAX_SOURCES as u64 + 50);
    }
}
