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
/// How long to come back after when every free attempt is in flight.
const BUSY_WAIT: Duration = Duration::from_secs(1);
/// Bound on tracked keys, so a spray of addresses cannot grow memory.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    /// Attempts being verified now: each holds a slot as if it had failed,
    /// so parallel attempts cannot all slip in before the first verdict.
    in_flight: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

/// An attempt holding its throttle slots. Report the verdict with
/// [`Attempt::failed`] or [`Attempt::succeeded`]; dropped without one
/// (the request was cancelled), it just gives its slots back.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: Vec<String>,
    settled: bool,
}

impl LoginThrottle {
    /// Reserves a slot for an attempt under every key, or says how long to
    /// wait: while a key is locked, or while its earlier failures plus the
    /// attempts in flight already use every free attempt.
    pub fn begin(&self, keys: Vec<String>) -> Result<Attempt<'_>, Duration> {
        let now = Instant::now();
        let mut entries = self.lock();
        let mut wait = None::<Duration>;
        for key in &keys {
            if let Some(e) = entries.get(key) {
                let locked = e.locked_until.filter(|u| *u > now).map(|u| u - now);
                let busy = (e.failures + e.in_flight >= FREE_FAILURES).then_some(BUSY_WAIT);
                if let Some(w) = locked.or(busy) {
                    wait = Some(wait.map_or(w, |old: Duration| old.max(w)));
                }
            }
        }
        if let Some(w) = wait {
            return Err(w);
        }
        if entries.len() >= MAX_KEYS {
            entries
                .retain(|_, e| e.in_flight > 0 || now.duration_since(e.last_failure) < MAX_DELAY);
            if entries.len() >= MAX_KEYS {
                return Err(BUSY_WAIT);
            }
        }
        for key in &keys {
            entries
                .entry(key.clone())
                .or_insert(Entry {
                    failures: 0,
                    in_flight: 0,
                    locked_until: None,
                    last_failure: now,
                })
                .in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
            settled: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self, keys: &[String], failed: bool) {
        let now = Instant::now();
        let mut entries = self.lock();
        for key in keys {
            let Some(e) = entries.get_mut(key) else {
                continue;
            };
            e.in_flight = e.in_flight.saturating_sub(1);
            if failed {
                e.failures += 1;
                e.last_failure = now;
                if e.failures >= FREE_FAILURES {
                    let doublings = (e.failures - FREE_FAILURES).min(16);
                    let delay = BASE_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
                    e.locked_until = Some(now + delay);
                }
            } else if e.in_flight == 0 && e.failures == 0 {
                entries.remove(key);
            }
        }
    }
}

impl Attempt<'_> {
    pub fn failed(mut self) {
        self.settled = true;
        self.throttle.settle(&self.keys, true);
    }

    /// Forgets the failures of every key.
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut entries = self.throttle.lock();
        for key in &self.keys {
            entries.remove(key);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.settle(&self.keys, false);
        }
    }
}

/// The user name as stored and as throttled: the same spelling for the
/// lookup and for the lock, so `" Admin"` is `admin` for both.
pub fn normalise_user(username: &str) -> String {
    username.trim().to_lowercase()
}

/// The throttle keys of one attempt: the client address and the user name.
pub fn keys(client_ip: &str, username: &str) -> Vec<String> {
    vec![
        format!("ip:{client_ip}"),
        format!("user:{}", normalise_user(username)),
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
            t.begin(k.clone()).unwrap().failed();
            assert!(t.begin(k.clone()).is_ok());
        }
        t.begin(k.clone()).unwrap().failed();
        let first = t.begin(k.clone()).err().unwrap();
        assert!(first > Duration::from_secs(4) && first <= BASE_DELAY);
        // Another address is throttled too while the user name is locked,
        // whatever its spelling.
        assert!(t.begin(keys("10.0.0.10", " ADMIN ")).is_err());
    }

    #[test]
    fn parallel_attempts_hold_slots_before_their_verdict() {
        let t = LoginThrottle::default();
        let k = keys("10.0.0.9", "admin");
        let held: Vec<_> = (0..FREE_FAILURES)
            .map(|_| t.begin(k.clone()).unwrap())
            .collect();
        assert_eq!(t.begin(k.clone()).err(), Some(BUSY_WAIT));
        // A cancelled attempt gives its slot back without counting.
        drop(held);
        let a = t.begin(k.clone()).unwrap();
        a.succeeded();
        assert!(t.begin(k).is_ok());
    }
}
