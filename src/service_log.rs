//! The service's recent log, kept in memory for the Logs page, the API
//! and the support bundle: a `tracing` layer that formats each event into
//! a bounded ring (lines and bytes), numbered so a page can ask for what
//! came after the last line it shows.
//!
//! Beside the usual output (stderr, which journald keeps on the image),
//! not instead of it. Nothing here redacts: secrets are never logged in
//! the first place (a test reads a whole run's log for each one).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Lines kept, and their bytes: about a day of a busy appliance's
/// warnings, a few MB at most.
const MAX_LINES: usize = 10_000;
const MAX_BYTES: usize = 4 * 1024 * 1024;
/// A single line is cut here (a huge error chain, say).
const MAX_LINE: usize = 4096;

/// One log line.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Rising by one per line since the process started.
    pub seq: u64,
    /// Unix milliseconds.
    pub at_ms: u64,
    pub level: &'static str,
    /// The module that logged it, without the crate's name
    /// (`connector::supervisor`).
    pub component: String,
    /// The message and its fields, as `message key=value ...`.
    pub message: String,
}

impl LogLine {
    /// `2026-11-27T19:10:17.123Z`
    pub fn when(&self) -> String {
        let secs = (self.at_ms / 1000) as i64;
        let t = crate::clock::format_unix(secs);
        format!("{}.{:03}Z", t.trim_end_matches('Z'), self.at_ms % 1000)
    }

    /// The line as the download file has it.
    pub fn text(&self) -> String {
        format!(
            "{} {:5} {}: {}",
            self.when(),
            self.level,
            self.component,
            self.message
        )
    }

    fn size(&self) -> usize {
        self.component.len() + self.message.len() + 32
    }
}

/// Which lines a reader wants.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct LogQuery {
    /// The least severe level shown: `error`, `warn`, `info`, `debug`,
    /// `trace` (default: everything kept).
    #[serde(default)]
    pub level: String,
    /// Only components starting with this (`connector::cloud_link`).
    #[serde(default)]
    pub component: String,
    /// Only lines after this sequence number (a page polling for more).
    #[serde(default)]
    pub after: u64,
    /// At most this many, the newest (default and cap: all kept).
    #[serde(default)]
    pub limit: usize,
}

fn rank(level: &str) -> u8 {
    match level {
        "ERROR" | "error" => 1,
        "WARN" | "warn" => 2,
        "INFO" | "info" => 3,
        "DEBUG" | "debug" => 4,
        _ => 5,
    }
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    bytes: usize,
    next_seq: u64,
    /// Lines pushed out by newer ones since the start.
    evicted: u64,
}

/// The ring and its counters.
#[derive(Default)]
pub struct LogRing {
    ring: Mutex<Ring>,
}

/// What the ring holds, for a page's header.
#[derive(Clone, Debug, Serialize)]
pub struct LogSummary {
    pub kept: usize,
    pub evicted: u64,
    pub components: Vec<String>,
}

impl LogSummary {
    /// Of `lines` (and how many older ones were pushed out).
    pub fn of<'a>(lines: impl ExactSizeIterator<Item = &'a LogLine>, evicted: u64) -> LogSummary {
        let kept = lines.len();
        let mut components: Vec<String> = lines.map(|l| l.component.clone()).collect();
        components.sort();
        components.dedup();
        LogSummary {
            kept,
            evicted,
            components,
        }
    }
}

impl LogRing {
    fn push(&self, at_ms: u64, level: &'static str, component: String, message: String) {
        let mut r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        r.next_seq += 1;
        let line = LogLine {
            seq: r.next_seq,
            at_ms,
            level,
            component,
            message,
        };
        r.bytes += line.size();
        r.lines.push_back(line);
        while r.lines.len() > MAX_LINES || r.bytes > MAX_BYTES {
            let Some(old) = r.lines.pop_front() else {
                break;
            };
            r.bytes -= old.size();
            r.evicted += 1;
        }
    }

    /// The lines `q` asks for, oldest first.
    pub fn query(&self, q: &LogQuery) -> Vec<LogLine> {
        let all: Vec<LogLine> = {
            let r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            r.lines
                .iter()
                .filter(|l| l.seq > q.after)
                .cloned()
                .collect()
        };
        filter(all, q)
    }

    pub fn summary(&self) -> LogSummary {
        let r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        LogSummary::of(r.lines.iter(), r.evicted)
    }
}

/// Of `lines` (oldest first), those `q` asks for: by position, level
/// and component, the newest `limit`.
pub fn filter(mut lines: Vec<LogLine>, q: &LogQuery) -> Vec<LogLine> {
    let max_rank = match q.level.as_str() {
        "" => u8::MAX,
        l => rank(l),
    };
    lines.retain(|l| {
        l.seq > q.after && rank(l.level) <= max_rank && l.component.starts_with(&q.component)
    });
    if q.limit > 0 && lines.len() > q.limit {
        lines.drain(..lines.len() - q.limit);
    }
    lines
}

/// The process's ring: the layer writes it, the web UI reads it.
pub fn ring() -> &'static LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(LogRing::default)
}

/// The `tracing` layer feeding [`ring`].
pub struct RingLayer;

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        let mut message = text.message;
        if !text.fields.is_empty() {
            if !message.is_empty() {
                message.push(' ');
            }
            message.push_str(text.fields.trim_start());
        }
        if message.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let component = meta
            .target()
            .strip_prefix("spaces_connector::")
            .unwrap_or(meta.target())
            .to_string();
        ring().push(
            crate::clock::now_ms(),
            level_str(*meta.level()),
            component,
            message,
        );
    }
}

fn level_str(l: Level) -> &'static str {
    match l {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_counts_the_rest() {
        let ring = LogRing::default();
        for i in 0..(MAX_LINES + 5) {
            ring.push(0, "INFO", "connector::x".into(), format!("line {i}"));
        }
        let s = ring.summary();
        assert_eq!((s.kept, s.evicted), (MAX_LINES, 5));
        let all = ring.query(&LogQuery::default());
        assert_eq!(all[0].message, "line 5");
        assert_eq!(all.last().unwrap().seq, (MAX_LINES + 5) as u64);
    }

    #[test]
    fn bounded_in_bytes_too() {
        let ring = LogRing::default();
        for _ in 0..2000 {
            ring.push(0, "INFO", "c".into(), "x".repeat(MAX_LINE));
        }
        let r = ring.ring.lock().unwrap();
        assert!(r.bytes <= MAX_BYTES, "{}", r.bytes);
        assert!(r.evicted > 0);
    }

    #[test]
    fn filters_by_level_component_and_position() {
        let ring = LogRing::default();
        ring.push(
            0,
            "ERROR",
            "connector::cloud_link::uplink".into(),
            "a".into(),
        );
        ring.push(0, "INFO", "connector::supervisor".into(), "b".into());
        ring.push(
            0,
            "WARN",
            "connector::cloud_link::client".into(),
            "c".into(),
        );
        let q = |level: &str, component: &str, after: u64| {
            ring.query(&LogQuery {
                level: level.into(),
                component: component.into(),
                after,
                limit: 0,
            })
            .into_iter()
            .map(|l| l.message)
            .collect::<Vec<_>>()
        };
        assert_eq!(q("warn", "", 0), ["a", "c"]);
        assert_eq!(q("", "connector::cloud_link", 0), ["a", "c"]);
        assert_eq!(q("", "", 2), ["c"]);
        assert_eq!(q("error", "connector::supervisor", 0), Vec::<String>::new());
    }
}
