//! Live figures of one NMSP link (a controller session or an AP): counters
//! on the hot path are plain atomics that the link loop bumps; once a second
//! a sampler turns them into a rate and a short history for the charts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::clock::now_unix;

/// Seconds of per-second samples kept for charts.
pub const HISTORY_SECS: usize = 300;
/// Seconds averaged for "rate per second".
const RATE_WINDOW: usize = 10;

/// Where a link stands, as pages and APIs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LinkStatus {
    Connecting,
    Active,
    Backoff,
    Unauthorized,
    CertChanged,
    Disabled,
    /// An AP that connected before and is gone now.
    Disconnected,
}

impl LinkStatus {
    pub fn label(self) -> &'static str {
        match self {
            LinkStatus::Connecting => "Connecting",
            LinkStatus::Active => "Active",
            LinkStatus::Backoff => "Backoff",
            LinkStatus::Unauthorized => "Unauthorized",
            LinkStatus::CertChanged => "Certificate changed",
            LinkStatus::Disabled => "Disabled",
            LinkStatus::Disconnected => "Disconnected",
        }
    }

    /// CSS class; the label is always shown too (never colour alone).
    pub fn css(self) -> &'static str {
        match self {
            LinkStatus::Active => "status-ok",
            LinkStatus::Connecting | LinkStatus::Backoff => "status-pending",
            LinkStatus::Unauthorized | LinkStatus::CertChanged => "status-bad",
            LinkStatus::Disabled | LinkStatus::Disconnected => "status-off",
        }
    }
}

#[derive(Debug, Clone)]
struct LinkState {
    status: LinkStatus,
    connected_at: Option<i64>,
    last_error: Option<String>,
    next_retry_at: Option<i64>,
}

#[derive(Default)]
struct History {
    samples: VecDeque<u32>,
    last_total: u64,
}

/// Counters of one link.
pub struct LinkStats {
    pub msgs_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub msgs_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Data notifications forwarded as events.
    pub data_in: AtomicU64,
    pub unsupported: AtomicU64,
    pub malformed: AtomicU64,
    pub echo_requests_sent: AtomicU64,
    pub echo_responses_received: AtomicU64,
    pub echo_rtt_us: AtomicU64,
    pub reconnects: AtomicU64,
    /// Times the link stopped reading because its share of the event queue
    /// was full (back-pressure towards the peer; nothing is dropped).
    pub paused: AtomicU64,
    /// Data messages this connector never got, from gaps in the source's
    /// sequence (a reconnect, a controller dropping): its own view; the
    /// cloud reports what no member got.
    pub missed: AtomicU64,
    last_sequence: AtomicU64,
    by_type: [AtomicU64; 32],
    state: Mutex<LinkState>,
    history: Mutex<History>,
}

impl Default for LinkStats {
    fn default() -> Self {
        LinkStats {
            msgs_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            data_in: AtomicU64::new(0),
            unsupported: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            echo_requests_sent: AtomicU64::new(0),
            echo_responses_received: AtomicU64::new(0),
            echo_rtt_us: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            paused: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            last_sequence: AtomicU64::new(0),
            by_type: std::array::from_fn(|_| AtomicU64::new(0)),
            state: Mutex::new(LinkState {
                status: LinkStatus::Connecting,
                connected_at: None,
                last_error: None,
                next_retry_at: None,
            }),
            history: Mutex::new(History::default()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LinkStats {
    /// Notes a data message's sequence; a jump forward counts what was
    /// missed. A lower number is a controller counting again (a restart).
    pub fn saw_sequence(&self, seq: u64) {
        let last = self.last_sequence.swap(seq, Relaxed);
        if last != 0 && seq > last + 1 {
            self.missed.fetch_add(seq - last - 1, Relaxed);
        }
    }

    /// Counts one received frame of `msg_type` with `bytes` on the wire.
    pub fn received(&self, msg_type: u8, bytes: usize) {
        self.msgs_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
        if let Some(c) = self.by_type.get(msg_type as usize) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub fn sent(&self, bytes: usize) {
        self.msgs_out.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    pub fn status(&self) -> LinkStatus {
        lock(&self.state).status
    }

    /// The link is up as of now.
    pub fn set_active(&self) {
        let mut s = lock(&self.state);
        s.status = LinkStatus::Active;
        s.connected_at = Some(now_unix());
        s.next_retry_at = None;
    }

    /// The link is not up: `status` with an optional reason and retry time.
    pub fn set_down(&self, status: LinkStatus, error: Option<String>, next_retry_at: Option<i64>) {
        let mut s = lock(&self.state);
        s.status = status;
        s.connected_at = None;
        if error.is_some() {
            s.last_error = error;
        }
        s.next_retry_at = next_retry_at;
    }

    /// Notes a problem that did not take the link down (a skipped frame).
    pub fn note_error(&self, error: String) {
        lock(&self.state).last_error = Some(error);
    }

    /// Takes this second's sample (the channel's sampler calls it).
    pub fn sample(&self) {
        let total = self.data_in.load(Relaxed);
        let mut h = lock(&self.history);
        let delta = total.saturating_sub(h.last_total);
        h.last_total = total;
        if h.samples.len() == HISTORY_SECS {
            h.samples.pop_front();
        }
        h.samples.push_back(delta.min(u32::MAX as u64) as u32);
    }

    pub fn snapshot(&self, id: i64, name: String, address: String) -> LinkSnapshot {
        let state = lock(&self.state).clone();
        let history: Vec<u32> = lock(&self.history).samples.iter().copied().collect();
        let window = &history[history.len().saturating_sub(RATE_WINDOW)..];
        let rate = if window.is_empty() {
            0.0
        } else {
            window.iter().map(|&v| v as f64).sum::<f64>() / window.len() as f64
        };
        let by_type = self
            .by_type
            .iter()
            .enumerate()
            .filter_map(|(t, c)| {
                let n = c.load(Relaxed);
                (n > 0).then(|| {
                    let name = crate::nmsp::MessageType::from_u8(t as u8)
                        .map(|m| m.name().to_string())
                        .unwrap_or_else(|| format!("type {t}"));
                    (name, n)
                })
            })
            .collect();
        LinkSnapshot {
            id,
            name,
            address,
            status: state.status,
            status_label: state.status.label(),
            status_css: state.status.css(),
            connected_at: state.connected_at,
            last_error: state.last_error,
            next_retry_at: state.next_retry_at,
            rate_per_sec: rate,
            messages: self.data_in.load(Relaxed),
            msgs_in: self.msgs_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            msgs_out: self.msgs_out.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            unsupported: self.unsupported.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            echo_requests_sent: self.echo_requests_sent.load(Relaxed),
            echo_responses_received: self.echo_responses_received.load(Relaxed),
            echo_rtt_ms: self.echo_rtt_us.load(Relaxed) as f64 / 1000.0,
            reconnects: self.reconnects.load(Relaxed),
            paused: self.paused.load(Relaxed),
            missed: self.missed.load(Relaxed),
            by_type,
            history,
        }
    }
}

/// One link's figures, for pages and APIs.
#[derive(Debug, Clone, Serialize)]
pub struct LinkSnapshot {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub status: LinkStatus,
    pub status_label: &'static str,
    pub status_css: &'static str,
    pub connected_at: Option<i64>,
    pub last_error: Option<String>,
    pub next_retry_at: Option<i64>,
    /// Data messages per second, averaged over the last 10 seconds.
    pub rate_per_sec: f64,
    /// Data messages received (forwarded as events).
    pub messages: u64,
    pub msgs_in: u64,
    pub bytes_in: u64,
    pub msgs_out: u64,
    pub bytes_out: u64,
    pub unsupported: u64,
    pub malformed: u64,
    pub echo_requests_sent: u64,
    pub echo_responses_received: u64,
    pub echo_rtt_ms: f64,
    pub reconnects: u64,
    pub paused: u64,
    pub missed: u64,
    pub by_type: BTreeMap<String, u64>,
    /// Data messages per second, oldest first, one per second.
    pub history: Vec<u32>,
}

impl LinkSnapshot {
    pub fn connected_at_text(&self) -> String {
        self.connected_at
            .map(crate::clock::format_unix)
            .unwrap_or_else(|| "-".into())
    }
    pub fn rate_text(&self) -> String {
        format!("{:.1}", self.rate_per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_in_the_sequence_count_as_missed_and_a_restart_does_not() {
        let s = LinkStats::default();
        for seq in [1, 2, 3, 7, 8] {
            s.saw_sequence(seq);
        }
        assert_eq!(s.missed.load(Relaxed), 3);
        // The controller restarted and counts from 1 again.
        s.saw_sequence(1);
        s.saw_sequence(2);
        assert_eq!(s.missed.load(Relaxed), 3);
    }
}
