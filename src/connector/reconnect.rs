//! When to dial a controller again after its session ended. A session that
//! had come up is retried at once (within half a second, jittered): a
//! controller restart must not leave both members of a pair waiting out a
//! long backoff together. Only attempts that fail before the session is up
//! grow the delay, exponentially from a quarter second to 30 s, each step
//! jittered so two connectors drift apart instead of retrying in step.

use std::time::Duration;

use rand::Rng;

const FIRST: Duration = Duration::from_millis(250);
const MAX: Duration = Duration::from_secs(30);
/// The retry after a session that was up: somewhere in [0, this).
const AFTER_UP: Duration = Duration::from_millis(500);

/// The retry schedule of one controller.
#[derive(Debug, Default)]
pub struct Reconnect {
    /// Attempts that failed in a row since the last session that came up.
    failures: u32,
}

impl Reconnect {
    /// The delay before the next attempt, after a session that reached
    /// Active (`was_up`) or an attempt that did not.
    pub fn next_delay(&mut self, was_up: bool) -> Duration {
        if was_up {
            self.failures = 0;
            return jitter(AFTER_UP);
        }
        let step = FIRST.saturating_mul(1u32 << self.failures.min(10)).min(MAX);
        self.failures = self.failures.saturating_add(1);
        // Between half and the whole step: spread, never shorter than half.
        step / 2 + jitter(step / 2)
    }
}

fn jitter(upto: Duration) -> Duration {
    let ms = upto.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(0..ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_that_was_up_is_retried_within_half_a_second() {
        let mut r = Reconnect::default();
        for _ in 0..100 {
            assert!(r.next_delay(true) < AFTER_UP);
        }
    }

    #[test]
    fn repeated_failures_back_off_to_30_s_and_an_up_session_resets() {
        let mut r = Reconnect::default();
        let delays: Vec<Duration> = (0..12).map(|_| r.next_delay(false)).collect();
        assert!(delays[0] < Duration::from_millis(250));
        assert!(delays[3] >= Duration::from_secs(1), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= MAX));
        assert!(delays[11] >= MAX / 2);
        assert!(r.next_delay(true) < AFTER_UP);
        assert!(r.next_delay(false) < Duration::from_millis(250), "reset");
    }
}
