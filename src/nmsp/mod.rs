//! NMSP as this project speaks it (`shared/NMSP.md`): the codec (frames,
//! TLVs, typed messages) and the link loop that runs a session over it
//! (echo keepalive, dead-peer detection, counters), shared by the
//! connector's controller sessions and AP channel and by the simulator.
//!
//! May import `contract` (events) and `clock` only.
//!
//! Message ids are public (but a switch's 40); framing, TLV layout and tag numbers are ours and
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
//! - [`notification`]: bodies of data notifications (15, 18, 22 and a
//!   switch's 40). The connector forwards those bodies byte for byte,
//!   unless the tenant asked for client privacy: then [`pseudonym`]
//!   replaces the client fields with keyed hashes first.
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
//! | 0x0030 | `ATTACH_STATE`    | u8: 1 = new (link up), 2 = delete (link down) | 40 (required there) |
//! | 0x0031 | `CLIENT_IP`       | 4 bytes (IPv4) or 16 (IPv6) | 40 |
//! | 0x0032 | `USER_NAME`       | UTF-8, the 802.1X identity | 40, where the port authenticated one |
//! | 0x0033 | `SWITCH_PORT`     | UTF-8, e.g. `GigabitEthernet1/0/7` | 40 |
//! | 0x0034 | `VLAN`            | u16             | 40 |
//! | 0x0035 | `SWITCH_SERIAL`   | UTF-8           | 40 |
//! | 0x0036 | `SWITCH_UDI`      | UTF-8, `PID:…,VID:…,SN:…` | 40 |
//! | 0x0040 | `PRIVACY`         | u32, the salt generation | any data notification, added last by a connector that hashed the client fields |
//!
//! # Wired: Catalyst switches [ours, after Cisco's public description]
//!
//! Cisco's switch guides (e.g. the Catalyst 3850 consolidated platform
//! configuration guide, IOS XE 3SE, "Wired Location Service"; README
//! gives the address) say what a switch reports to a location
//! server over NMSP: at link up and link down of an end point, the slot
//! and port, the end point's MAC and IP address, the 802.1X user name if
//! applicable, the device category (wired station), the state (new or
//! delete), the serial number and UDI and the time since the change; the
//! location server opens the connection and the switch listens. The
//! message id, tags and layout are not public; ours: a switch sends
//! **Attachment Notification (40)** as a data notification (sequence and
//! timestamp first, like 15, 18 and 22) with `ATTACH_STATE`,
//! `CLIENT_MAC`, `CLIENT_IP`, `USER_NAME`, `SWITCH_PORT`, `VLAN`,
//! `SWITCH_SERIAL` and `SWITCH_UDI`, in that order. It offers the
//! `attachment` service (32). Transport, authorisation by key hash,
//! session order and keepalive are the controllers'.
//!
//! # Services
//!
//! RSSI/location = 1, client info = 2, AP info = 4, statistics = 8,
//! IoT/BLE = 16, wired attachment = 32 (see [`Service`]); unknown bits
//! are carried through.

pub mod frame;
pub mod link;
pub mod link_stats;
pub mod message;
pub mod notification;
pub mod pseudonym;
pub mod queue;
pub mod service;
pub mod tag;
pub mod tlv;

#[cfg(test)]
mod tests;

pub use frame::{Frame, FrameCodec, FrameError, HEADER_LEN, KNOWN_FLAGS, MAX_BODY_LEN};
pub use message::{DecodeError, Message, MessageType, PROTOCOL_VERSION};
pub use notification::{ApCounters, AttachState, NotificationFields};
pub use service::Service;
pub use tlv::{Tlv, TlvError, TlvReader, TlvWriter};
