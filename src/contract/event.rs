//! An event: one data notification a controller sent, as the connector
//! forwards it to the cloud.
//!
//! Its [`dedup_key`] is computed only from what every connector's copy has
//! in common (DESIGN.md §3.4): the controller's identity (the SHA-256 of its
//! certificate key, the same whichever address a connector dials), the
//! message type and the body, which carries the controller's own sequence
//! and timestamp. Every copy of one message has the same key; the cloud
//! computes it on arrival (it never trusts a sender's) and stores each key
//! once, so a connector does not compute it at all.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Which channel an event arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Controller,
    Ap,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub channel: Channel,
    /// The source's identity: its certificate key hash (hex).
    pub source: Arc<str>,
    pub msg_type: u8,
    pub body: Bytes,
    /// When this connector received it (ms since the epoch).
    pub received_at_ms: u64,
}

impl Event {
    pub fn new(channel: Channel, source: Arc<str>, msg_type: u8, body: Bytes) -> Event {
        Event::received_at(channel, source, msg_type, body, crate::clock::now_ms())
    }

    /// An event received at `received_at_ms` (a link reads the clock once
    /// for all the frames one read brought).
    pub fn received_at(
        channel: Channel,
        source: Arc<str>,
        msg_type: u8,
        body: Bytes,
        received_at_ms: u64,
    ) -> Event {
        Event {
            channel,
            source,
            msg_type,
            body,
            received_at_ms,
        }
    }

    /// Its dedup key, as the cloud computes it.
    pub fn dedup_key(&self) -> [u8; 32] {
        dedup_key(&self.source, self.msg_type, &self.body)
    }
}

/// SHA-256 over `source \0 type body`: identical for every connector's copy.
pub fn dedup_key(source: &str, msg_type: u8, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0, msg_type]);
    h.update(body);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_message_same_key_whoever_receives_it() {
        let body = Bytes::from_static(b"\x00\x02\x00\x08\x00\x00\x00\x00\x00\x00\x00\x07");
        let a = Event::new(Channel::Controller, "abc".into(), 15, body.clone());
        let b = Event::new(Channel::Controller, "abc".into(), 15, body.clone());
        assert_eq!(a.dedup_key(), b.dedup_key());
        assert_ne!(a.dedup_key(), dedup_key("abd", 15, &body));
        assert_ne!(a.dedup_key(), dedup_key("abc", 18, &body));
        // The separator keeps (source, type) from running into the body.
        assert_ne!(dedup_key("ab", 15, b"c"), dedup_key("a", 15, b"bc"));
    }
}
