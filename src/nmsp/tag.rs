//! TLV tag numbers, all "ours" in NMSP.md terms (widths and meanings are
//! tabled in the `nmsp` module doc). Kept in one place so that moving to
//! the controllers' real numbers later is a one-file change.

pub const TRANSACTION_ID: u16 = 0x0001;
pub const SEQUENCE: u16 = 0x0002;
pub const TIMESTAMP_MS: u16 = 0x0003;
pub const PROTOCOL_VERSION: u16 = 0x0004;
pub const SERVICES: u16 = 0x0005;
pub const CONTROLLER_NAME: u16 = 0x0006;

pub const CLIENT_MAC: u16 = 0x0010;
pub const AP_MAC: u16 = 0x0011;
pub const RSSI: u16 = 0x0012;
pub const CHANNEL: u16 = 0x0013;
pub const BAND: u16 = 0x0014;
pub const SSID: u16 = 0x0015;

pub const AP_CLIENT_COUNT: u16 = 0x0020;
pub const AP_RX_FRAMES: u16 = 0x0021;
pub const AP_TX_FRAMES: u16 = 0x0022;
pub const AP_TX_RETRIES: u16 = 0x0023;

// Wired: a switch's Attachment Notification (40).
pub const ATTACH_STATE: u16 = 0x0030;
pub const CLIENT_IP: u16 = 0x0031;
pub const USER_NAME: u16 = 0x0032;
pub const SWITCH_PORT: u16 = 0x0033;
pub const VLAN: u16 = 0x0034;
pub const SWITCH_SERIAL: u16 = 0x0035;
pub const SWITCH_UDI: u16 = 0x0036;

/// Written by the connector, not a controller: the body's client fields
/// are pseudonyms made with this salt generation (`pseudonym`).
pub const PRIVACY: u16 = 0x0040;
