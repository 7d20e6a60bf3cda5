//! When to dial a controller again after its session ended. A session that
//! had come up is retried at once (within half a second, jittered): a
//! controller restart must not leave both members of a pair waiting out a
//! long backoff together. Only attempts that fail before the session is up
//! grow the delay, exponentially from a tenth of a second to 30 s, each step
//! jittered (backon) so two connectors drift apart instead of retrying in
//! step.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use rand::Rng;

/// The retry after a session that was up: somewhere in [0, this).
const AFTER_UP: Duration = Duration::from_millis(500);
/// Failed attempts wait [step, 2 × step) (backon's jitter), the step
/// doubling from this ...
const FIRST_STEP: Duration = Duration::from_millis(100);
/// ... up to this: never more than 30 s between attempts.
const MAX_STEP: Duration = Duration::from_secs(15);
#[cfg(test)]
const MAX: Duration = Duration::from_secs(30);

/// The retry schedule of one controller.
#[derive(Debug)]
pub struct Reconnect {
    /// Delays for attempts that fail in a row since the last session that
    /// came up.
    failures: ExponentialBackoff,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            failures: failing(),
        }
    }
}

impl Reconnect {
    /// The delay before the next attempt, after a session that reached
    /// Active (`was_up`) or an attempt that did not.
    pub fn next_delay(&mut self, was_up: bool) -> Duration {
        if was_up {
            self.failures = failing();
            let ms = AFTER_UP.as_millis() as u64;
            return Duration::from_millis(rand::rng().random_range(0..ms));
        }
        self.failures.next().unwrap_or(MAX_STEP)
    }
}

fn failing() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(FIRST_STEP)
        .with_max_delay(MAX_STEP)
        .with_jitter()
        .without_max_times()
        .build()
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
        assert!(delays[0] < Duration::from_millis(250), "{delays:?}");
        assert!(delays[3] >= Duration::from_millis(800), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= MAX), "{delays:?}");
        assert!(delays[11] >= MAX / 2, "{delays:?}");
        assert!(r.next_delay(true) < AFTER_UP);
        assert!(r.next_delay(false) < Duration::from_millis(250), "reset");
    }
}
