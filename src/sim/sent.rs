//! Which notifications reached at least one connector: the count a test
//! compares with the cloud's firehose. A controller streams the same
//! sequence to every connector, so "sent" is the union over sessions, kept
//! as one bit per sequence number over a sliding window (older bits are
//! folded into a count: no session writes that far behind, the broadcast
//! buffer being smaller than the window).

use std::collections::VecDeque;

/// Bits kept past the newest sequence written, more than the broadcast
/// buffer a lagging session may still be writing from.
const WINDOW_BITS: u64 = 1 << 18;

#[derive(Debug, Default)]
pub struct SentSet {
    /// Sequence number of the first bit of `words[0]`, a multiple of 64.
    base: u64,
    words: VecDeque<u64>,
    /// Bits set in words already folded away.
    folded: u64,
}

impl SentSet {
    /// Marks `seq` as written to a connector.
    pub fn insert(&mut self, seq: u64) {
        if seq < self.base {
            return;
        }
        let word = ((seq - self.base) / 64) as usize;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << ((seq - self.base) % 64);
        while self.words.len() as u64 * 64 > WINDOW_BITS + 64 {
            let w = self.words.pop_front().unwrap_or(0);
            self.folded += u64::from(w.count_ones());
            self.base += 64;
        }
    }

    /// Distinct sequence numbers written so far.
    pub fn count(&self) -> u64 {
        self.folded
            + self
                .words
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_sequence_once_across_sessions_and_past_the_window() {
        let mut s = SentSet::default();
        for seq in 1..=1000 {
            s.insert(seq);
        }
        for seq in 500..=1500 {
            s.insert(seq); // a second session, overlapping
        }
        assert_eq!(s.count(), 1500);
        for seq in 2000..2000 + 3 * WINDOW_BITS {
            s.insert(seq);
        }
        assert_eq!(s.count(), 1500 + 3 * WINDOW_BITS);
        assert!(s.words.len() as u64 * 64 <= WINDOW_BITS + 64);
    }
}
