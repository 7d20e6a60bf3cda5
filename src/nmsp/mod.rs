//! NMSP as this project speaks it (`shared/NMSP.md`): the codec (frames,
//! TLVs, typed messages) and the link loop that runs a session over it
//! (echo keepalive, dead-peer detection, counters), shared by the
//! connector's controller sessions and AP channel and by the simulator.
//!
//! May import `contract` (events) and `clock` only.
//!
//! Message ids are public; framing, TLV layout and tag numbers are ours and
//! live only here, so they can move toward a real controller's bytes later
//! without touching session or event code.
//!
//! Codec layers, bottom up:
//! - [`frame`]: `type u8 | flags u8 | length u16 BE | body`, and
//!   [`FrameCodec`] for `tokio_util::codec::Framed`. Never panics, never
//!   buffers beyond one frame (4 + 65,535 bytes), refuses unknown flags.
//! - [`tlv`]: `tag u16 BE | len u16 BE | value` inside a body.
//! - [`message`]: [`Message`] ⇄ [`Frame`]. An unknown message id is
//!   [`DecodeError::UnsupportedType`]: count it, skip it, keep the session.
//! - [`notification`]: bodies of data notifications (15, 18, 22). The
//!   connector forwards those bodies byte for byte.
//!
//! # Tags
//!
//! All integers are big-endian; a fixed-width value of another length is
//! `BadValue`. Unknown tags are skipped; a known tag twice in one message
//! is `BadValue`.
//!
//! | tag    | name              | value           | used in |
//! |--------|-------------------|-----------------|---------|
//! | 0x0001 | `TRANSACTION_ID`  | u32             | every request and response (1, 2, 13, 14, 16, 17, 20, 21, 30, 31) |
//! | 0x0002 | `SEQUENCE`        | u64             | data notifications (required): per controller, not per session |
//! | 0x0003 | `TIMESTAMP_MS`    | u64, ms since the Unix epoch | data notifications (required) |
//! | 0x0004 | `PROTOCOL_VERSION`| u16             | Capability (7), currently 1 |
//! | 0x0005 | `SERVICES`        | u32 [`Service`] bitmask | Capability (offered/wanted), Subscribe Request (wanted), Subscribe Response (accepted) |
//! | 0x0006 | `CONTROLLER_NAME` | UTF-8           | reserved; no message emits it yet |
//! | 0x0010 | `CLIENT_MAC`      | 6 bytes         | Measurement (15), Information (18) |
//! | 0x0011 | `AP_MAC`          | 6 bytes         | 15, 18, Statistics (22) |
//! | 0x0012 | `RSSI`            | i8, dBm         | 15 |
//! | 0x0013 | `CHANNEL`         | u8              | 15 |
//! | 0x0014 | `BAND`            | u8: 1 = 2.4 GHz, 2 = 5 GHz, 3 = 6 GHz | 18 |
//! | 0x0015 | `SSID`            | UTF-8           | 18 |
//! | 0x0020 | `AP_CLIENT_COUNT` | u32             | 22 |
//! | 0x0021 | `AP_RX_FRAMES`    | u32, wrapping   | 22 |
//! | 0x0022 | `AP_TX_FRAMES`    | u32, wrapping   | 22 |
//! | 0x0023 | `AP_TX_RETRIES`   | u32, wrapping   | 22 |
//!
//! # Services
//!
//! RSSI/location = 1, client info = 2, AP info = 4, statistics = 8,
//! IoT/BLE = 16 (see [`Service`]); unknown bits are carried through.

pub mod frame;
pub mod link;
pub mod link_stats;
pub mod message;
pub mod notification;
pub mod queue;
pub mod service;
pub mod tag;
pub mod tlv;

#[cfg(test)]
mod tests;

pub use frame::{Frame, FrameCodec, FrameError, HEADER_LEN, KNOWN_FLAGS, MAX_BODY_LEN};
pub use message::{DecodeError, Message, MessageType, PROTOCOL_VERSION};
pub use notification::{ApCounters, NotificationFields};
pub use service::Service;
pub use tlv::{Tlv, TlvError, TlvReader, TlvWriter};
