//! Clock helpers: the store keeps times as Unix seconds so that rows
//! written by the console and by the service compare without time zones;
//! `steady_now_ms` is the same scale kept by the monotonic clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now: the resolution of event
/// timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch as the monotonic clock counts them
/// from the first call (anchored to the wall clock then): a step of the
/// wall clock after that moves it not at all. Durations the cloud judges
/// (the dedup window, a gap's grace) use it beside the wall clock.
pub fn steady_now_ms() -> u64 {
    static ANCHOR: std::sync::OnceLock<(std::time::Instant, u64)> = std::sync::OnceLock::new();
    let (at, wall) = ANCHOR.get_or_init(|| (std::time::Instant::now(), now_ms()));
    wall + at.elapsed().as_millis() as u64
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp for pages and APIs.
/// Takes the seconds by value or by reference (templates pass references).
pub fn format_unix(secs: impl std::borrow::Borrow<i64>) -> String {
    time::OffsetDateTime::from_unix_timestamp(*secs.borrow())
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".to_string())
}
