//! The dedup keys each group stored most recently, in memory: with a pair,
//! every event arrives twice within moments, and the second copy is known
//! a duplicate here without a write to the store (measured: the store's
//! statement execution for those copies was the cloud's largest cost).
//!
//! Only a hint that saves work, never the authority: a key is remembered
//! after the transaction that stored it committed, a key not found falls
//! back to the store's unique index, and memory is bounded (two
//! generations of at most [`GENERATION`] keys per group, for at most
//! [`MAX_GROUPS`] groups; a group past that goes to the store each time).

use std::collections::{HashMap, HashSet};

/// Keys per generation and group: at a pair's 150,000 events/s, about
/// a second and a half, far longer than between the two copies of an event.
const GENERATION: usize = 250_000;
/// Groups remembered at once.
const MAX_GROUPS: usize = 64;

#[derive(Default)]
struct Generations {
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
}

#[derive(Default)]
pub struct RecentKeys {
    groups: HashMap<String, Generations>,
}

impl RecentKeys {
    /// True when `key` is known stored for `group`.
    pub fn contains(&self, group: &str, key: &[u8; 32]) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.current.contains(key) || g.previous.contains(key))
    }

    /// Notes keys that a committed transaction stored (or found stored).
    pub fn remember(&mut self, group: &str, keys: impl IntoIterator<Item = [u8; 32]>) {
        if !self.groups.contains_key(group) && self.groups.len() >= MAX_GROUPS {
            return;
        }
        let g = self.groups.entry(group.to_string()).or_default();
        for key in keys {
            if g.current.len() >= GENERATION {
                g.previous = std::mem::take(&mut g.current);
            }
            g.current.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(i as u64).to_be_bytes());
        k
    }

    #[test]
    fn remembers_per_group_and_forgets_the_oldest_generation() {
        let mut r = RecentKeys::default();
        r.remember("g", [key(1)]);
        assert!(r.contains("g", &key(1)));
        assert!(!r.contains("h", &key(1)), "per group");
        // Two full generations after it: the first is gone.
        r.remember("g", (2..=2 * GENERATION + 1).map(key));
        assert!(r.contains("g", &key(2 * GENERATION + 1)));
        assert!(r.contains("g", &key(GENERATION + 1)));
        assert!(!r.contains("g", &key(1)), "two generations at most");
    }

    #[test]
    fn groups_past_the_bound_are_not_remembered() {
        let mut r = RecentKeys::default();
        for g in 0..MAX_GROUPS {
            r.remember(&g.to_string(), [key(g)]);
        }
        r.remember("one more", [key(0)]);
        assert!(!r.contains("one more", &key(0)));
        assert!(r.contains("0", &key(0)));
    }
}
