//! The event batch as a connector stores and sends it (ours): a compact
//! binary layout compressed with zstd, in place of gzipped JSON with hex
//! keys and base64 bodies (which cost the connector a third of its CPU per
//! event and the cloud more). The cloud takes both, so the members of a
//! pair can be upgraded one at a time, and a spool written by an older
//! connector is still delivered.
//!
//! Layout, big-endian like NMSP:
//!
//! ```text
//! magic          4 bytes   "SCB1"
//! batch id       u8 length, then that many bytes of UTF-8
//! sources        u32 count, then each: u8 length and the source's key
//!                hash as text (64 hex digits)
//! events         u32 count, then each:
//!   channel        u8      0 controller, 1 AP
//!   source         u32     index into the sources
//!   msg_type       u8
//!   received_at_ms u64
//!   body           u32 length, then the NMSP body
//! ```
//!
//! No dedup key is sent: the cloud computes it from the source text, the
//! type and the body (`event::dedup_key`), exactly as it checked the key
//! the JSON form carries; so both forms of one event have one key. As in
//! the JSON form, an event whose source is not 64 hex digits is counted
//! forged and not kept. A batch holds at most [`MAX_EVENTS`] events (a
//! connector sends 2,000 at most).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes};

use crate::contract::cloud_api::{EventBatch, WireEvent};
use crate::contract::event::{Channel, Event, dedup_key};

/// The request's `Content-Type` for this layout (sent with
/// `Content-Encoding: zstd`).
pub const CONTENT_TYPE: &str = "application/vnd.spaces-connector.event-batch";
const MAGIC: &[u8; 4] = b"SCB1";
/// zstd's fastest level: at the connector's rates compression costs more
/// than bandwidth does, and it still shrinks a batch several times.
const ZSTD_LEVEL: i32 = 1;
/// Fixed bytes of one event besides its body.
const EVENT_HEADER: usize = 1 + 4 + 1 + 8 + 4;
/// Events in one batch, at most: one request cannot hold the store's
/// only writer (or its memory) for millions of events.
pub const MAX_EVENTS: usize = 65_536;

/// One event of a batch as the cloud trusts it: its key is computed here,
/// never taken from the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedEvent {
    pub channel: Channel,
    /// The source's key hash, 64 lowercase hex digits.
    pub source: Arc<str>,
    pub msg_type: u8,
    pub body: Bytes,
    pub key: [u8; 32],
}

/// A batch decoded from either form. Events that failed the cloud's
/// checks (a JSON event whose key does not match) are counted, not kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckedBatch {
    pub batch_id: String,
    pub events: Vec<CheckedEvent>,
    pub forged: usize,
}

/// Why a binary batch could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BatchError {
    #[error("not an event batch (bad magic)")]
    Magic,
    #[error("the batch ends early ({0})")]
    Truncated(&'static str),
    #[error("the batch id is not UTF-8")]
    BatchId,
    #[error("event {0} names source {1}, and the batch has {2}")]
    Source(usize, u32, usize),
    #[error("event {0} has an unknown channel {1}")]
    Channel(usize, u8),
    #[error("{0} bytes after the last event")]
    Trailing(usize),
    #[error("{0} events in one batch, more than {MAX_EVENTS}")]
    TooMany(usize),
}

/// The batch, uncompressed. Sources are listed once (a source is a key
/// hash in hex; longer text is cut, and the cloud counts such events
/// forged, as it does in the JSON form).
pub fn encode<'a>(batch_id: &str, events: impl Iterator<Item = &'a Event>) -> Vec<u8> {
    let events: Vec<&Event> = events.collect();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut sources: Vec<&[u8]> = Vec::new();
    let mut source_of = Vec::with_capacity(events.len());
    for e in &events {
        let i = *index.entry(&e.source).or_insert_with(|| {
            let text = e.source.as_bytes();
            sources.push(&text[..text.len().min(255)]);
            sources.len() as u32 - 1
        });
        source_of.push(i);
    }
    let id = &batch_id.as_bytes()[..batch_id.len().min(255)];
    let bodies: usize = events.iter().map(|e| e.body.len()).sum();
    let mut out = Vec::with_capacity(
        4 + 1 + id.len() + 4 + 65 * sources.len() + 4 + EVENT_HEADER * events.len() + bodies,
    );
    out.put_slice(MAGIC);
    out.put_u8(id.len() as u8);
    out.put_slice(id);
    out.put_u32(sources.len() as u32);
    for s in &sources {
        out.put_u8(s.len() as u8);
        out.put_slice(s);
    }
    out.put_u32(events.len() as u32);
    for (e, source) in events.iter().zip(source_of) {
        out.put_u8(match e.channel {
            Channel::Controller => 0,
            Channel::Ap => 1,
        });
        out.put_u32(source);
        out.put_u8(e.msg_type);
        out.put_u64(e.received_at_ms);
        out.put_u32(e.body.len() as u32);
        out.put_slice(&e.body);
    }
    out
}

/// The batch as it is spooled and sent: encoded, then zstd-compressed.
pub fn encode_compressed<'a>(batch_id: &str, events: impl Iterator<Item = &'a Event>) -> Vec<u8> {
    let raw = encode(batch_id, events);
    // Compressing a buffer in memory fails only on allocation failure.
    zstd::bulk::compress(&raw, ZSTD_LEVEL).unwrap_or_default()
}

/// Largest zstd window a batch may use: the fastest level uses 2^19 bytes
/// at most; without a bound a few bytes of request could make the cloud
/// set aside 128 MiB for the window.
const MAX_WINDOW_LOG: u32 = 20;

/// Inflates a compressed batch: at most `limit` bytes, and a window of at
/// most 2^20 bytes.
pub fn inflate(compressed: &[u8], limit: usize) -> Result<Bytes, InflateError> {
    use std::io::Read;
    let mut decoder = zstd::stream::read::Decoder::new(compressed)?;
    decoder.window_log_max(MAX_WINDOW_LOG)?;
    let mut out = Vec::new();
    decoder.take(limit as u64 + 1).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(InflateError::TooLarge(limit));
    }
    Ok(out.into())
}

/// Why a compressed batch could not be inflated.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    #[error("not zstd, or a window over 2^20 bytes: {0}")]
    Zstd(#[from] std::io::Error),
    #[error("more than {0} bytes once inflated")]
    TooLarge(usize),
}

/// A batch as a request carries it, in either form, checked: the compact
/// layout (`compact`, compressed when `zstd`) or an older member's JSON
/// (already inflated by the server). At most `limit` bytes once inflated.
pub fn read_request(
    compact: bool,
    zstd: bool,
    body: Bytes,
    limit: usize,
) -> Result<CheckedBatch, String> {
    if !compact {
        return serde_json::from_slice::<EventBatch>(&body)
            .map(check_json)
            .map_err(|e| e.to_string());
    }
    let body = if zstd {
        inflate(&body, limit).map_err(|e| e.to_string())?
    } else {
        body
    };
    decode(body).map_err(|e| e.to_string())
}

/// True when a spooled payload is in this layout (zstd's frame magic), not
/// the gzipped JSON of an older connector.
pub fn is_compressed_batch(payload: &[u8]) -> bool {
    payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Reads an uncompressed batch, checking every count against the bytes
/// that remain before it allocates (fuzzed: `fuzz_targets/batch_decode.rs`).
/// Bodies are slices of `bytes`, not copies.
pub fn decode(bytes: Bytes) -> Result<CheckedBatch, BatchError> {
    let mut b = bytes;
    if b.len() < 4 || &b[..4] != MAGIC {
        return Err(BatchError::Magic);
    }
    b.advance(4);
    let id_len = take_u8(&mut b, "batch id")? as usize;
    let id = take(&mut b, id_len, "batch id")?;
    let batch_id = std::str::from_utf8(&id)
        .map_err(|_| BatchError::BatchId)?
        .to_string();
    let n_sources = take_u32(&mut b, "sources")? as usize;
    if n_sources > MAX_EVENTS {
        return Err(BatchError::TooMany(n_sources));
    }
    if n_sources > b.len() {
        return Err(BatchError::Truncated("sources"));
    }
    // A source that is not a key hash stays `None`: its events are forged.
    let mut sources: Vec<Option<Arc<str>>> = Vec::with_capacity(n_sources);
    for _ in 0..n_sources {
        let len = take_u8(&mut b, "source")? as usize;
        let text = take(&mut b, len, "source")?;
        sources.push(
            is_source(&text).then(|| Arc::from(std::str::from_utf8(&text).unwrap_or_default())),
        );
    }
    let n_events = take_u32(&mut b, "events")? as usize;
    if n_events > MAX_EVENTS {
        return Err(BatchError::TooMany(n_events));
    }
    if n_events > b.len() / EVENT_HEADER {
        return Err(BatchError::Truncated("events"));
    }
    let mut forged = 0;
    let mut events = Vec::with_capacity(n_events);
    for i in 0..n_events {
        if b.len() < EVENT_HEADER {
            return Err(BatchError::Truncated("event"));
        }
        let channel = match b.get_u8() {
            0 => Channel::Controller,
            1 => Channel::Ap,
            other => return Err(BatchError::Channel(i, other)),
        };
        let s = b.get_u32();
        let source = sources
            .get(s as usize)
            .ok_or(BatchError::Source(i, s, sources.len()))?
            .clone();
        let msg_type = b.get_u8();
        let _received_at_ms = b.get_u64();
        let len = b.get_u32() as usize;
        let body = take(&mut b, len, "body")?;
        let Some(source) = source else {
            forged += 1;
            continue;
        };
        let key = dedup_key(&source, msg_type, &body);
        events.push(CheckedEvent {
            channel,
            source,
            msg_type,
            body,
            key,
        });
    }
    if !b.is_empty() {
        return Err(BatchError::Trailing(b.len()));
    }
    Ok(CheckedBatch {
        batch_id,
        events,
        forged,
    })
}

/// The older form (gzipped JSON, already inflated and parsed), checked as
/// before: a source is 64 hex digits, the body base64, and the key the one
/// its source, type and body make; an event failing any is counted forged.
pub fn check_json(batch: EventBatch) -> CheckedBatch {
    let mut checked = CheckedBatch {
        batch_id: batch.batch_id,
        events: Vec::with_capacity(batch.events.len()),
        forged: 0,
    };
    for e in batch.events {
        match check_json_event(e) {
            Some(e) => checked.events.push(e),
            None => checked.forged += 1,
        }
    }
    checked
}

fn check_json_event(e: WireEvent) -> Option<CheckedEvent> {
    use base64::Engine;
    if !is_source(e.source.as_bytes()) {
        return None;
    }
    let body = base64::engine::general_purpose::STANDARD
        .decode(&e.body)
        .ok()?;
    let key = dedup_key(&e.source, e.msg_type, &body);
    (hex::encode(key) == e.key).then(|| CheckedEvent {
        channel: e.channel,
        source: e.source.into(),
        msg_type: e.msg_type,
        body: body.into(),
        key,
    })
}

/// A source the cloud takes, in either form: a key hash, 64 hex digits.
fn is_source(text: &[u8]) -> bool {
    text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit)
}

fn take_u8(b: &mut Bytes, what: &'static str) -> Result<u8, BatchError> {
    if b.is_empty() {
        return Err(BatchError::Truncated(what));
    }
    Ok(b.get_u8())
}

fn take_u32(b: &mut Bytes, what: &'static str) -> Result<u32, BatchError> {
    if b.len() < 4 {
        return Err(BatchError::Truncated(what));
    }
    Ok(b.get_u32())
}

fn take(b: &mut Bytes, n: usize, what: &'static str) -> Result<Bytes, BatchError> {
    if b.len() < n {
        return Err(BatchError::Truncated(what));
    }
    Ok(b.split_to(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source: &str, channel: Channel, body: &'static [u8]) -> Event {
        Event::new(channel, source.into(), 15, Bytes::from_static(body))
    }

    #[test]
    fn round_trip_lists_each_source_once_and_computes_the_same_keys() {
        let a = "ab".repeat(32);
        let c = "cd".repeat(32);
        let events = [
            event(&a, Channel::Controller, b"one"),
            event(&c, Channel::Ap, b""),
            event(&a, Channel::Controller, b"three"),
        ];
        let raw = encode("b-1", events.iter());
        // magic, id, two sources, three events with their bodies.
        assert_eq!(raw.len(), 4 + 1 + 3 + 4 + 2 * 65 + 4 + 3 * EVENT_HEADER + 8);
        let batch = decode(Bytes::from(raw)).unwrap();
        assert_eq!(batch.batch_id, "b-1");
        assert_eq!(batch.events.len(), 3);
        for (got, sent) in batch.events.iter().zip(&events) {
            assert_eq!(got.key, sent.dedup_key());
            assert_eq!(&*got.source, &*sent.source);
            assert_eq!((got.channel, got.msg_type), (sent.channel, sent.msg_type));
            assert_eq!(got.body, sent.body);
        }
        let packed = encode_compressed("b-1", events.iter());
        assert!(is_compressed_batch(&packed));
        assert_eq!(decode(inflate(&packed, 1 << 20).unwrap()).unwrap(), batch);
        assert!(matches!(
            inflate(&packed, 10),
            Err(InflateError::TooLarge(10))
        ));
        // A frame asking for a 2^27 window is refused before it is set aside.
        let mut wide = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        wide.window_log(27).unwrap();
        std::io::Write::write_all(&mut wide, &vec![7u8; 1 << 21]).unwrap();
        let wide = wide.finish().unwrap();
        assert!(matches!(
            inflate(&wide, 32 << 20),
            Err(InflateError::Zstd(_))
        ));
    }

    #[test]
    fn one_event_in_either_form_has_one_key() {
        use base64::Engine;
        let source = "0f".repeat(32);
        let e = event(&source, Channel::Controller, b"\x00\x02body");
        let json = EventBatch {
            batch_id: "j".into(),
            events: vec![WireEvent {
                key: hex::encode(e.dedup_key()),
                channel: e.channel,
                source: source.clone(),
                msg_type: e.msg_type,
                body: base64::engine::general_purpose::STANDARD.encode(&e.body),
                received_at_ms: 1,
            }],
        };
        let from_json = check_json(json);
        let from_binary = decode(Bytes::from(encode("j", std::iter::once(&e)))).unwrap();
        assert_eq!(from_json, from_binary);
    }

    #[test]
    fn a_forged_json_key_is_counted_not_kept() {
        let batch = EventBatch {
            batch_id: "f".into(),
            events: vec![WireEvent {
                key: "00".repeat(32),
                channel: Channel::Ap,
                source: "ab".repeat(32),
                msg_type: 15,
                body: String::new(),
                received_at_ms: 1,
            }],
        };
        let checked = check_json(batch);
        assert_eq!((checked.events.len(), checked.forged), (0, 1));
    }

    #[test]
    fn every_truncation_and_lie_is_an_error_never_a_panic() {
        let source = "ab".repeat(32);
        let events = [event(&source, Channel::Ap, b"body")];
        let raw = encode("id", events.iter());
        for cut in 0..raw.len() {
            assert!(
                decode(Bytes::copy_from_slice(&raw[..cut])).is_err(),
                "{cut}"
            );
        }
        let mut trailing = raw.clone();
        trailing.push(0);
        assert_eq!(decode(Bytes::from(trailing)), Err(BatchError::Trailing(1)));
        // An event naming a source the batch does not list.
        let mut lie = raw.clone();
        let at = 4 + 1 + 2 + 4 + 65 + 4 + 1;
        lie[at..at + 4].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(decode(Bytes::from(lie)), Err(BatchError::Source(0, 7, 1)));
        // Counts far beyond the bytes allocate nothing.
        let mut huge = raw[..4 + 1 + 2].to_vec();
        huge.extend_from_slice(&60_000u32.to_be_bytes());
        assert_eq!(
            decode(Bytes::from(huge.clone())),
            Err(BatchError::Truncated("sources"))
        );
        huge[4 + 1 + 2..4 + 1 + 2 + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            decode(Bytes::from(huge)),
            Err(BatchError::TooMany(u32::MAX as usize))
        );
        let mut channel = raw;
        channel[4 + 1 + 2 + 4 + 65 + 4] = 9;
        assert_eq!(decode(Bytes::from(channel)), Err(BatchError::Channel(0, 9)));
        // More events than a batch may hold, whatever the bytes.
        let mut many = b"SCB1\x00\x00\x00\x00\x00".to_vec();
        many.extend_from_slice(&(MAX_EVENTS as u32 + 1).to_be_bytes());
        many.resize(many.len() + (MAX_EVENTS + 1) * EVENT_HEADER, 0);
        assert_eq!(
            decode(Bytes::from(many)),
            Err(BatchError::TooMany(MAX_EVENTS + 1))
        );
    }

    #[test]
    fn an_event_whose_source_is_no_key_hash_is_forged_in_this_form_too() {
        let good = "ab".repeat(32);
        let events = [
            event("not a key hash", Channel::Controller, b"x"),
            event(&good, Channel::Controller, b"y"),
        ];
        let batch = decode(Bytes::from(encode("s", events.iter()))).unwrap();
        assert_eq!((batch.events.len(), batch.forged), (1, 1));
        assert_eq!(&*batch.events[0].source, good.as_str());
    }
}
