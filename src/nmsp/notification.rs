//! Bodies of the data notifications (15, 18, 22 from controllers, 40 from
//! switches): builders for whoever plays the controller or switch
//! (wlc-sim, tests) and a parser for whoever wants the fields.
//!
//! Every body starts with sequence and timestamp, in that order, and the
//! builders always emit the same TLVs in the same order, so one controller
//! event gives one byte string no matter who encodes it.

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};

use super::message::{DecodeError, find_tags, optional, required};
use super::tag;
use super::tlv::{Tlv, TlvError, TlvWriter};

/// Values of the `BAND` TLV.
pub const BAND_2_4_GHZ: u8 = 1;
pub const BAND_5_GHZ: u8 = 2;
pub const BAND_6_GHZ: u8 = 3;

/// Per-AP counters of a Statistics Notification. They are u32 and wrap, as
/// controller counters do; consumers should diff them modulo 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApCounters {
    pub client_count: u32,
    pub rx_frames: u32,
    pub tx_frames: u32,
    pub tx_retries: u32,
}

fn header(buf: &mut BytesMut, sequence: u64, timestamp_ms: u64) -> TlvWriter<'_> {
    let mut w = TlvWriter::new(buf);
    w.put_u64(tag::SEQUENCE, sequence)
        .put_u64(tag::TIMESTAMP_MS, timestamp_ms);
    w
}

/// Measurement Notification (15): one client seen by one AP.
pub fn measurement(
    sequence: u64,
    timestamp_ms: u64,
    client_mac: [u8; 6],
    ap_mac: [u8; 6],
    rssi_dbm: i8,
    channel: u8,
) -> Bytes {
    let mut buf = BytesMut::new();
    header(&mut buf, sequence, timestamp_ms)
        .put_mac(tag::CLIENT_MAC, client_mac)
        .put_mac(tag::AP_MAC, ap_mac)
        .put_i8(tag::RSSI, rssi_dbm)
        .put_u8(tag::CHANNEL, channel);
    buf.freeze()
}

/// Information Notification (18): a client's association. Fails only for an
/// SSID over 65,535 bytes; keeping SSIDs to 802.11's 32 is the caller's job.
pub fn information(
    sequence: u64,
    timestamp_ms: u64,
    client_mac: [u8; 6],
    ap_mac: [u8; 6],
    ssid: &str,
    band: u8,
) -> Result<Bytes, TlvError> {
    let mut buf = BytesMut::new();
    header(&mut buf, sequence, timestamp_ms)
        .put_mac(tag::CLIENT_MAC, client_mac)
        .put_mac(tag::AP_MAC, ap_mac)
        .put_str(tag::SSID, ssid)?
        .put_u8(tag::BAND, band);
    Ok(buf.freeze())
}

/// Statistics Notification (22): one AP's counters.
pub fn statistics(sequence: u64, timestamp_ms: u64, ap_mac: [u8; 6], c: &ApCounters) -> Bytes {
    let mut buf = BytesMut::new();
    header(&mut buf, sequence, timestamp_ms)
        .put_mac(tag::AP_MAC, ap_mac)
        .put_u32(tag::AP_CLIENT_COUNT, c.client_count)
        .put_u32(tag::AP_RX_FRAMES, c.rx_frames)
        .put_u32(tag::AP_TX_FRAMES, c.tx_frames)
        .put_u32(tag::AP_TX_RETRIES, c.tx_retries);
    buf.freeze()
}

/// Values of the `ATTACH_STATE` TLV, as the switch reports a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AttachState {
    /// Link up: an end point appeared on the port.
    New = 1,
    /// Link down: it left.
    Delete = 2,
}

/// One wired end point's link up or down, as a switch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub sequence: u64,
    pub timestamp_ms: u64,
    pub state: AttachState,
    pub client_mac: [u8; 6],
    pub client_ip: Option<IpAddr>,
    /// The 802.1X user name, where the port authenticated one.
    pub user_name: Option<String>,
    /// The interface, e.g. `GigabitEthernet1/0/7`.
    pub port: String,
    pub vlan: u16,
    /// The switch's serial number and UDI (`PID:…,VID:…,SN:…`).
    pub serial: String,
    pub udi: String,
}

/// Attachment Notification (40). Fails only for a text field over 65,535
/// bytes.
pub fn attachment(a: &Attachment) -> Result<Bytes, TlvError> {
    let mut buf = BytesMut::new();
    let mut w = header(&mut buf, a.sequence, a.timestamp_ms);
    w.put_u8(tag::ATTACH_STATE, a.state as u8)
        .put_mac(tag::CLIENT_MAC, a.client_mac);
    match a.client_ip {
        Some(IpAddr::V4(v4)) => w.put_bytes(tag::CLIENT_IP, &v4.octets())?,
        Some(IpAddr::V6(v6)) => w.put_bytes(tag::CLIENT_IP, &v6.octets())?,
        None => &mut w,
    };
    if let Some(user) = &a.user_name {
        w.put_str(tag::USER_NAME, user)?;
    }
    w.put_str(tag::SWITCH_PORT, &a.port)?
        .put_u16(tag::VLAN, a.vlan)
        .put_str(tag::SWITCH_SERIAL, &a.serial)?
        .put_str(tag::SWITCH_UDI, &a.udi)?;
    Ok(buf.freeze())
}

fn ip(t: &Tlv<'_>) -> Option<IpAddr> {
    match t.value.len() {
        4 => t.fixed::<4>().map(IpAddr::from),
        16 => t.fixed::<16>().map(IpAddr::from),
        _ => None,
    }
}

/// The controller's timestamp of a notification body, read from its
/// TIMESTAMP TLV and nothing else: the cloud orders its dedup index by it,
/// so it must stay the same for a body whatever else is parsed from it.
pub fn timestamp_ms(body: &[u8]) -> Option<u64> {
    let [ts] = find_tags(body, [tag::TIMESTAMP_MS]).ok()?;
    ts?.u64()
}

/// Everything a notification body may carry; fields a given notification
/// does not use are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationFields {
    pub sequence: u64,
    pub timestamp_ms: u64,
    pub client_mac: Option<[u8; 6]>,
    pub ap_mac: Option<[u8; 6]>,
    pub rssi_dbm: Option<i8>,
    pub channel: Option<u8>,
    pub band: Option<u8>,
    pub ssid: Option<String>,
    /// Present only if all four counters are; a partial set is an error
    /// rather than zeros that would look like a counter reset.
    pub counters: Option<ApCounters>,
    /// Wired (40): [`AttachState`] as its number.
    pub attach_state: Option<u8>,
    pub client_ip: Option<IpAddr>,
    pub user_name: Option<String>,
    pub switch_port: Option<String>,
    pub vlan: Option<u16>,
    pub switch_serial: Option<String>,
    pub switch_udi: Option<String>,
    /// Set when the connector hashed the client fields: the salt's
    /// generation (`pseudonym`).
    pub privacy_generation: Option<u32>,
}

impl NotificationFields {
    pub fn parse(body: &[u8]) -> Result<NotificationFields, DecodeError> {
        const COUNTER_TAGS: [u16; 4] = [
            tag::AP_CLIENT_COUNT,
            tag::AP_RX_FRAMES,
            tag::AP_TX_FRAMES,
            tag::AP_TX_RETRIES,
        ];
        let [
            seq,
            ts,
            cmac,
            amac,
            rssi,
            chan,
            band,
            ssid,
            c0,
            c1,
            c2,
            c3,
            state,
            cip,
            user,
            port,
            vlan,
            serial,
            udi,
            privacy,
        ] = find_tags(
            body,
            [
                tag::SEQUENCE,
                tag::TIMESTAMP_MS,
                tag::CLIENT_MAC,
                tag::AP_MAC,
                tag::RSSI,
                tag::CHANNEL,
                tag::BAND,
                tag::SSID,
                COUNTER_TAGS[0],
                COUNTER_TAGS[1],
                COUNTER_TAGS[2],
                COUNTER_TAGS[3],
                tag::ATTACH_STATE,
                tag::CLIENT_IP,
                tag::USER_NAME,
                tag::SWITCH_PORT,
                tag::VLAN,
                tag::SWITCH_SERIAL,
                tag::SWITCH_UDI,
                tag::PRIVACY,
            ],
        )?;
        let text = |t: Option<Tlv<'_>>, tag| optional(t, tag, |t| t.str().map(str::to_owned));
        let counters = [c0, c1, c2, c3];
        let counters = if counters.iter().all(Option::is_none) {
            None
        } else {
            let mut v = [0u32; 4];
            for ((slot, tlv), tag) in v.iter_mut().zip(counters).zip(COUNTER_TAGS) {
                *slot = required(tlv, tag, Tlv::u32)?;
            }
            Some(ApCounters {
                client_count: v[0],
                rx_frames: v[1],
                tx_frames: v[2],
                tx_retries: v[3],
            })
        };
        Ok(NotificationFields {
            sequence: required(seq, tag::SEQUENCE, Tlv::u64)?,
            timestamp_ms: required(ts, tag::TIMESTAMP_MS, Tlv::u64)?,
            client_mac: optional(cmac, tag::CLIENT_MAC, Tlv::fixed)?,
            ap_mac: optional(amac, tag::AP_MAC, Tlv::fixed)?,
            rssi_dbm: optional(rssi, tag::RSSI, Tlv::i8)?,
            channel: optional(chan, tag::CHANNEL, Tlv::u8)?,
            band: optional(band, tag::BAND, Tlv::u8)?,
            ssid: text(ssid, tag::SSID)?,
            counters,
            attach_state: optional(state, tag::ATTACH_STATE, Tlv::u8)?,
            client_ip: optional(cip, tag::CLIENT_IP, ip)?,
            user_name: text(user, tag::USER_NAME)?,
            switch_port: text(port, tag::SWITCH_PORT)?,
            vlan: optional(vlan, tag::VLAN, Tlv::u16)?,
            switch_serial: text(serial, tag::SWITCH_SERIAL)?,
            switch_udi: text(udi, tag::SWITCH_UDI)?,
            privacy_generation: optional(privacy, tag::PRIVACY, Tlv::u32)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const AP: [u8; 6] = [0x00, 0x3a, 0x7d, 0x11, 0x22, 0x33];

    #[test]
    fn measurement_exact_bytes_and_parse() {
        let body = measurement(5, 1_700_000_000_000, CLIENT, AP, -67, 36);
        let expected: &[u8] = b"\x00\x02\x00\x08\x00\x00\x00\x00\x00\x00\x00\x05\
              \x00\x03\x00\x08\x00\x00\x01\x8b\xcf\xe5\x68\x00\
              \x00\x10\x00\x06\x02\x00\x00\x00\x00\x01\
              \x00\x11\x00\x06\x00\x3a\x7d\x11\x22\x33\
              \x00\x12\x00\x01\xbd\
              \x00\x13\x00\x01\x24";
        assert_eq!(&body[..], expected);
        let f = NotificationFields::parse(&body).unwrap();
        assert_eq!(f.sequence, 5);
        assert_eq!(f.timestamp_ms, 1_700_000_000_000);
        assert_eq!(f.client_mac, Some(CLIENT));
        assert_eq!(f.ap_mac, Some(AP));
        assert_eq!(f.rssi_dbm, Some(-67));
        assert_eq!(f.channel, Some(36));
        assert_eq!((f.band, f.ssid, f.counters), (None, None, None));
    }

    #[test]
    fn information_and_statistics_parse() {
        let body = information(6, 2, CLIENT, AP, "corp-wifi", BAND_5_GHZ).unwrap();
        let f = NotificationFields::parse(&body).unwrap();
        assert_eq!(f.ssid.as_deref(), Some("corp-wifi"));
        assert_eq!(f.band, Some(BAND_5_GHZ));

        let c = ApCounters {
            client_count: 12,
            rx_frames: u32::MAX,
            tx_frames: 1,
            tx_retries: 0,
        };
        let f = NotificationFields::parse(&statistics(7, 3, AP, &c)).unwrap();
        assert_eq!((f.sequence, f.ap_mac, f.counters), (7, Some(AP), Some(c)));
        assert_eq!(f.client_mac, None);
    }

    #[test]
    fn attachment_round_trips_with_and_without_optional_fields() {
        let mut a = Attachment {
            sequence: 1,
            timestamp_ms: 2,
            state: AttachState::New,
            client_mac: CLIENT,
            client_ip: Some("2001:db8::7".parse().unwrap()),
            user_name: Some("bob".into()),
            port: "GigabitEthernet1/0/2".into(),
            vlan: 30,
            serial: "FOC1".into(),
            udi: "PID:C9300-48P,VID:V02,SN:FOC1".into(),
        };
        let f = NotificationFields::parse(&attachment(&a).unwrap()).unwrap();
        assert_eq!(f.attach_state, Some(AttachState::New as u8));
        assert_eq!(f.client_ip, a.client_ip);
        assert_eq!(f.user_name.as_deref(), Some("bob"));
        assert_eq!((f.vlan, f.privacy_generation), (Some(30), None));
        a.client_ip = None;
        a.user_name = None;
        a.state = AttachState::Delete;
        let f = NotificationFields::parse(&attachment(&a).unwrap()).unwrap();
        assert_eq!((f.client_ip, f.user_name), (None, None));
        assert_eq!(
            f.switch_udi.as_deref(),
            Some("PID:C9300-48P,VID:V02,SN:FOC1")
        );
    }

    #[test]
    fn same_event_gives_identical_bytes() {
        let a = information(9, 9, CLIENT, AP, "x", BAND_6_GHZ).unwrap();
        let b = information(9, 9, CLIENT, AP, "x", BAND_6_GHZ).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn partial_counters_and_bad_values_are_errors() {
        let mut buf = BytesMut::new();
        TlvWriter::new(&mut buf)
            .put_u64(tag::SEQUENCE, 1)
            .put_u64(tag::TIMESTAMP_MS, 1)
            .put_u32(tag::AP_RX_FRAMES, 5);
        assert_eq!(
            NotificationFields::parse(&buf),
            Err(DecodeError::MissingTlv {
                tag: tag::AP_CLIENT_COUNT
            })
        );

        let mut buf = BytesMut::new();
        TlvWriter::new(&mut buf)
            .put_u64(tag::SEQUENCE, 1)
            .put_u64(tag::TIMESTAMP_MS, 1)
            .put_bytes(tag::SSID, &[0xff, 0xfe])
            .unwrap();
        assert_eq!(
            NotificationFields::parse(&buf),
            Err(DecodeError::BadValue { tag: tag::SSID })
        );
    }
}
