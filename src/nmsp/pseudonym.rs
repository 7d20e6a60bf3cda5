//! Client privacy: a notification body with its client MAC, IP and user
//! name replaced by keyed hashes (HMAC-SHA-256 with the tenant's salt)
//! before the event is spooled or sent. Both members of a group hold the
//! same salt and rewrite the same bytes the same way, so their copies keep
//! one dedup key.
//!
//! The format, [ours] (README "Client privacy"):
//!
//! | field | in the clear | hashed |
//! |---|---|---|
//! | `CLIENT_MAC` | 6 bytes | 6 bytes: HMAC(salt, `"mac" 0x00 value`)[0..6], first byte with the locally administered bit set and the multicast bit clear, so it still reads as a (random) unicast MAC |
//! | `CLIENT_IP` | 4 or 16 bytes | 16 bytes: `0xfd` then HMAC(salt, `"ip" 0x00 value`)[0..15], an IPv6 unique local address that cannot be a real address of the site |
//! | `USER_NAME` | UTF-8 | `anon-` and 24 hex digits: HMAC(salt, `"user" 0x00 value`)[0..12] |
//!
//! A hashed body ends with a `PRIVACY` TLV (u32): the salt's generation, so
//! a consumer knows the values are pseudonyms and which salt made them (a
//! new salt gives new pseudonyms). Every other TLV is kept byte for byte.

use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};
use ring::hmac;

use super::tag;
use super::tlv::{TlvError, TlvReader, TlvWriter};

/// The length of a salt the cloud makes.
pub const SALT_LEN: usize = 32;

/// Rewrites bodies with one salt.
pub struct Pseudonymizer {
    generation: u32,
    key: hmac::Key,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the salt: this may end up in a log line.
        f.debug_struct("Pseudonymizer")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Pseudonymizer {
    pub fn new(generation: u32, salt: &[u8]) -> Pseudonymizer {
        Pseudonymizer {
            generation,
            key: hmac::Key::new(hmac::HMAC_SHA256, salt),
        }
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    fn digest(&self, domain: &str, value: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value);
        ctx.sign()
    }

    /// The pseudonym of a client MAC address.
    pub fn mac(&self, value: &[u8]) -> [u8; 6] {
        let d = self.digest("mac", value);
        let mut out = [0u8; 6];
        out.copy_from_slice(&d.as_ref()[..6]);
        out[0] = (out[0] & 0xfc) | 0x02;
        out
    }

    /// The pseudonym of a client IP address (v4 or v6).
    pub fn ip(&self, value: &[u8]) -> [u8; 16] {
        let d = self.digest("ip", value);
        let mut out = [0u8; 16];
        out[0] = 0xfd;
        out[1..].copy_from_slice(&d.as_ref()[..15]);
        out
    }

    /// The pseudonym of a user name.
    pub fn user(&self, value: &[u8]) -> String {
        let d = self.digest("user", value);
        format!("anon-{}", hex::encode(&d.as_ref()[..12]))
    }

    /// `body` with every client MAC, IP and user name hashed and the
    /// `PRIVACY` TLV appended. An error only for a body whose TLVs do not
    /// parse: such a body must be dropped (and counted), never sent as is.
    pub fn rewrite(&self, body: &[u8]) -> Result<Bytes, TlvError> {
        // Pseudonyms are never longer than 4 + 29 bytes more than their
        // value; the PRIVACY TLV is 8.
        let mut out = BytesMut::with_capacity(body.len() + 48);
        let mut w = TlvWriter::new(&mut out);
        for tlv in TlvReader::new(body) {
            let tlv = tlv?;
            match tlv.tag {
                tag::CLIENT_MAC => w.put_mac(tag::CLIENT_MAC, self.mac(tlv.value)),
                tag::CLIENT_IP => w.put_bytes(tag::CLIENT_IP, &self.ip(tlv.value))?,
                tag::USER_NAME => w.put_str(tag::USER_NAME, &self.user(tlv.value))?,
                // A controller does not send this; a copy of it would make
                // the generation ambiguous.
                tag::PRIVACY => continue,
                other => w.put_bytes(other, tlv.value)?,
            };
        }
        w.put_u32(tag::PRIVACY, self.generation);
        Ok(out.freeze())
    }
}

/// The privacy setting over time: which salt (or none) applies to an event
/// is chosen by the controller's own timestamp in the body, which every
/// member's copy shares, so a change the cloud schedules a little ahead
/// switches both members at the very same event.
#[derive(Debug, Default)]
pub struct PrivacySchedule {
    /// Oldest first; `None` is "off" from that moment.
    epochs: Vec<(u64, Option<Pseudonymizer>)>,
}

impl PrivacySchedule {
    /// Epochs as `(from_ms, generation and salt, or None for off)`, in any
    /// order.
    pub fn new(mut epochs: Vec<(u64, Option<Pseudonymizer>)>) -> PrivacySchedule {
        epochs.sort_by_key(|(from, _)| *from);
        PrivacySchedule { epochs }
    }

    /// Whether any epoch hashes (what the pages show).
    pub fn hashes(&self) -> bool {
        self.epochs.iter().any(|(_, p)| p.is_some())
    }

    /// The pseudonymizer for an event stamped `timestamp_ms`: the latest
    /// epoch that began at or before it. Before the first epoch, the first
    /// one applies: a setting never has a gap in which clear data passes.
    pub fn at(&self, timestamp_ms: u64) -> Option<&Pseudonymizer> {
        let idx = self
            .epochs
            .iter()
            .rposition(|(from, _)| *from <= timestamp_ms)
            .unwrap_or(0);
        self.epochs.get(idx).and_then(|(_, p)| p.as_ref())
    }

    /// The body to forward for a notification stamped `timestamp_ms`:
    /// itself while privacy is off; `None` for a body that cannot be
    /// rewritten, which must then be dropped.
    pub fn apply(&self, timestamp_ms: u64, body: Bytes) -> Option<Bytes> {
        match self.at(timestamp_ms) {
            None => Some(body),
            Some(p) => p.rewrite(&body).ok(),
        }
    }
}

/// The schedule in force, shared by every link of a connector and
/// replaced as a whole when the group's configuration changes.
#[derive(Clone, Debug, Default)]
pub struct Privacy(Arc<RwLock<Arc<PrivacySchedule>>>);

impl Privacy {
    pub fn current(&self) -> Arc<PrivacySchedule> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, schedule: PrivacySchedule) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(schedule);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmsp::NotificationFields;
    use crate::nmsp::notification::{self, AttachState, Attachment};

    const CLIENT: [u8; 6] = [0x02, 0x1b, 0, 0, 0, 0x07];
    const AP: [u8; 6] = [0x00, 0x1b, 0, 0, 0, 0x01];

    fn wired() -> Bytes {
        notification::attachment(&Attachment {
            sequence: 3,
            timestamp_ms: 1_700_000_000_000,
            state: AttachState::New,
            client_mac: CLIENT,
            client_ip: Some("10.20.0.7".parse().unwrap()),
            user_name: Some("alice@example.test".into()),
            port: "GigabitEthernet1/0/7".into(),
            vlan: 20,
            serial: "FOC2401X0AB".into(),
            udi: "PID:C9300-48P,VID:V02,SN:FOC2401X0AB".into(),
        })
        .unwrap()
    }

    #[test]
    fn every_client_field_is_hashed_the_rest_kept() {
        let p = Pseudonymizer::new(4, b"tenant salt");
        let out = p.rewrite(&wired()).unwrap();
        let f = NotificationFields::parse(&out).unwrap();
        let mac = f.client_mac.unwrap();
        assert_ne!(mac, CLIENT);
        assert_eq!(mac[0] & 0x03, 0x02, "locally administered unicast");
        let ip = f.client_ip.unwrap();
        assert!(matches!(ip, std::net::IpAddr::V6(v6) if v6.octets()[0] == 0xfd));
        let user = f.user_name.unwrap();
        assert!(user.starts_with("anon-") && user.len() == 29, "{user}");
        assert_eq!(f.privacy_generation, Some(4));
        // What is not a client's stays as it was.
        assert_eq!((f.sequence, f.vlan), (3, Some(20)));
        assert_eq!(f.switch_port.as_deref(), Some("GigabitEthernet1/0/7"));
        assert_eq!(f.switch_serial.as_deref(), Some("FOC2401X0AB"));
        for clear in [&CLIENT[..], &[10, 20, 0, 7][..], b"alice"] {
            assert!(!out.windows(clear.len()).any(|w| w == clear));
        }
    }

    #[test]
    fn same_salt_same_bytes_other_salt_other_pseudonyms() {
        let body = notification::measurement(9, 9, CLIENT, AP, -60, 36);
        let a = Pseudonymizer::new(1, b"salt").rewrite(&body).unwrap();
        let b = Pseudonymizer::new(1, b"salt").rewrite(&body).unwrap();
        assert_eq!(a, b, "both members make the same body, so one dedup key");
        let c = Pseudonymizer::new(2, b"pepper").rewrite(&body).unwrap();
        let (fa, fc) = (
            NotificationFields::parse(&a).unwrap(),
            NotificationFields::parse(&c).unwrap(),
        );
        assert_ne!(fa.client_mac, fc.client_mac);
        assert_eq!(fa.ap_mac, Some(AP), "an AP is not a client");
    }

    #[test]
    fn a_broken_body_is_refused_not_passed() {
        let mut body = wired().to_vec();
        body.truncate(body.len() - 3);
        assert!(Pseudonymizer::new(1, b"s").rewrite(&body).is_err());
    }

    #[test]
    fn the_epoch_is_chosen_by_the_event_timestamp() {
        let s = PrivacySchedule::new(vec![
            (2_000, None),
            (1_000, Some(Pseudonymizer::new(1, b"a"))),
            (3_000, Some(Pseudonymizer::new(2, b"b"))),
        ]);
        assert_eq!(s.at(500).map(Pseudonymizer::generation), Some(1));
        assert_eq!(s.at(1_999).map(Pseudonymizer::generation), Some(1));
        assert!(s.at(2_000).is_none(), "off from 2,000");
        assert_eq!(s.at(3_000).map(Pseudonymizer::generation), Some(2));
        assert!(PrivacySchedule::default().at(5).is_none());
        assert!(s.hashes());
    }
}
