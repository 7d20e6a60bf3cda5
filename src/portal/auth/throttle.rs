//! Login throttling: after a few failures from one client address or for
//! one user name, further attempts are refused for a delay that doubles
//! with each failure. Kept in memory: a restart forgiving everyone is an
//! acceptable price for not writing on every failed attempt.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the first delay.
const FREE_FAILURES: u32 = 3;
const BASE_DELAY: Duration = Duration::from_secs(5);
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Bound on tracked keys, so a spray of addresses cannot grow memory.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

impl LoginThrottle {
    /// Time left before any of `keys` may try again, if locked.
    pub fn retry_after(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| entries.get(k))
            .filter_map(|e| e.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Records a failed attempt for every key.
    pub fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| now.duration_since(e.last_failure) < MAX_DELAY);
        }
        for key in keys {
            let e = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                locked_until: None,
                last_failure: now,
            });
            e.failures += 1;
            e.last_failure = now;
            if e.failures >= FREE_FAILURES {
                let doublings = (e.failures - FREE_FAILURES).min(16);
                let delay = BASE_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
                e.locked_until = Some(now + delay);
            }
        }
    }

    /// Forgets the failures of every key after a successful login.
    pub fn succeeded(&self, keys: &[String]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            entries.remove(key);
        }
    }
}

/// The throttle keys of one attempt: the client address and the user name.
pub fn keys(client_ip: &str, username: &str) -> Vec<String> {
    vec![
        format!("ip:{client_ip}"),
        format!("user:{}", username.to_lowercase()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_free_failures_and_doubles() {
        let t = LoginThrottle::default();
        let k = keys("10.0.0.9", "admin");
        for _ in 0..FREE_FAILURES - 1 {
            t.failed(&k);
            assert!(t.retry_after(&k).is_none());
        }
        t.failed(&k);
        let first = t.retry_after(&k).unwrap();
        assert!(first > Duration::from_secs(4) && first <= BASE_DELAY);
        t.failed(&k);
        assert!(t.retry_after(&k).unwrap() > BASE_DELAY);
        // Another address is throttled too while the user name is locked.
        assert!(t.retry_after(&keys("10.0.0.10", "admin")).is_some());
        t.succeeded(&k);
        assert!(t.retry_after(&k).is_none());
    }
}
