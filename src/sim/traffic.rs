//! Synthetic but realistic traffic: for a controller, clients with MAC
//! addresses roaming between APs, their RSSI as APs hear them, association
//! info, and AP counters; for a switch, end points on its ports
//! (`wired`). Deterministic for a seed (only the timestamps are real).

use bytes::{BufMut, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::codec::Encoder;

use super::wired::{EndPoint, SwitchPorts};
use crate::clock::now_ms;
use crate::nmsp::notification::{self, BAND_2_4_GHZ, BAND_5_GHZ, BAND_6_GHZ};
use crate::nmsp::{ApCounters, FrameCodec, Message, MessageType};

const SSIDS: [&str; 3] = ["corp", "guest", "iot"];

struct Client {
    mac: [u8; 6],
    ap: usize,
    ssid: usize,
}

struct Ap {
    mac: [u8; 6],
    channel: u8,
    counters: ApCounters,
}

/// What a simulated device sees.
enum World {
    Wireless { clients: Vec<Client>, aps: Vec<Ap> },
    Wired(SwitchPorts),
}

/// One controller's or switch's world and its notification sequence.
pub struct Traffic {
    rng: StdRng,
    world: World,
    /// Per controller, not per session: every connector sees the same.
    sequence: u64,
    /// Bytes of padding per notification (see `with_padding`).
    pad: usize,
    /// The message type of the last frame made.
    last_type: MessageType,
}

/// A tag no receiver knows, so it skips the padding (NMSP.md: unknown tags
/// are skipped).
const PAD_TAG: u16 = 0x7f00;

impl Traffic {
    /// A world of `aps` access points and `clients` clients for controller
    /// number `index`, reproducible from `seed`.
    pub fn new(seed: u64, index: u32, aps: usize, clients: usize) -> Traffic {
        let mut rng = StdRng::seed_from_u64(seed ^ (u64::from(index) << 32));
        let aps: Vec<Ap> = (0..aps.max(1))
            .map(|i| Ap {
                mac: mac(0x00, index, i as u32),
                channel: [1, 6, 11, 36, 40, 44, 149][i % 7],
                counters: ApCounters {
                    client_count: 0,
                    rx_frames: 0,
                    tx_frames: 0,
                    tx_retries: 0,
                },
            })
            .collect();
        let clients = (0..clients.max(1))
            .map(|i| Client {
                mac: mac(0x02, index, i as u32),
                ap: rng.random_range(0..aps.len()),
                ssid: rng.random_range(0..SSIDS.len()),
            })
            .collect();
        Traffic {
            rng,
            world: World::Wireless { clients, aps },
            sequence: 0,
            last_type: MessageType::MeasurementNotification,
            pad: 0,
        }
    }

    /// The wired world of switch number `index` with `ports` access ports.
    pub fn wired(seed: u64, index: u32, ports: usize) -> Traffic {
        Traffic {
            rng: StdRng::seed_from_u64(seed ^ (u64::from(index) << 32) ^ 0x5717),
            world: World::Wired(SwitchPorts::new(index, ports)),
            sequence: 0,
            last_type: MessageType::AttachmentNotification,
            pad: 0,
        }
    }

    /// Every client (or end point) this world may report: MAC, and where
    /// known IP and user name.
    pub fn clients(&self) -> Vec<EndPoint> {
        match &self.world {
            World::Wireless { clients, .. } => clients
                .iter()
                .map(|c| EndPoint {
                    mac: c.mac,
                    ip: None,
                    user: None,
                })
                .collect(),
            World::Wired(ports) => ports.end_points().to_vec(),
        }
    }

    /// Adds `bytes` of random padding to every notification, as an unknown TLV
    /// (capped so a frame stays within 64 KiB).
    pub fn with_padding(mut self, bytes: usize) -> Traffic {
        self.pad = bytes.min(60_000);
        self
    }

    /// The message type of the frame `next_frame` made last.
    pub fn last_type(&self) -> MessageType {
        self.last_type
    }

    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The next notification, encoded once as a whole frame so every
    /// connector receives the very same bytes.
    pub fn next_frame(&mut self) -> Bytes {
        self.sequence += 1;
        let seq = self.sequence;
        let ts = now_ms();
        let (msg_type, body) = match &mut self.world {
            World::Wired(ports) => (
                MessageType::AttachmentNotification,
                ports.next_body(&mut self.rng, seq, ts),
            ),
            World::Wireless { clients, aps } => wireless(&mut self.rng, clients, aps, seq, ts),
        };
        self.last_type = msg_type;
        let body = if self.pad > 0 {
            let mut padded = BytesMut::from(&body[..]);
            padded.put_u16(PAD_TAG);
            padded.put_u16(self.pad as u16);
            // Random bytes, drawn once per frame: every connector still gets
            // the same body, and gzip cannot make the flood vanish.
            let mut fill = vec![0u8; self.pad];
            self.rng.fill(&mut fill[..]);
            padded.extend_from_slice(&fill);
            padded.freeze()
        } else {
            body
        };
        encode(Message::Notification {
            msg_type,
            sequence: seq,
            timestamp_ms: ts,
            body,
        })
    }
}

/// The next wireless notification: an RSSI measurement, an association or
/// an AP's counters.
fn wireless(
    rng: &mut StdRng,
    clients: &mut [Client],
    aps: &mut [Ap],
    seq: u64,
    ts: u64,
) -> (MessageType, Bytes) {
    let pick: u32 = rng.random_range(0..10);
    if pick < 6 {
        let c = rng.random_range(0..clients.len());
        // Clients roam now and then; RSSI follows a plausible range.
        if rng.random_bool(0.05) {
            clients[c].ap = rng.random_range(0..aps.len());
        }
        let ap = &aps[clients[c].ap];
        let rssi = rng.random_range(-88i8..=-35);
        (
            MessageType::MeasurementNotification,
            notification::measurement(seq, ts, clients[c].mac, ap.mac, rssi, ap.channel),
        )
    } else if pick < 9 {
        let c = &clients[rng.random_range(0..clients.len())];
        let ap = &aps[c.ap];
        let band = if ap.channel > 14 {
            BAND_5_GHZ
        } else {
            BAND_2_4_GHZ
        };
        let band = if rng.random_bool(0.05) {
            BAND_6_GHZ
        } else {
            band
        };
        let body = notification::information(seq, ts, c.mac, ap.mac, SSIDS[c.ssid], band)
            .unwrap_or_default();
        (MessageType::InformationNotification, body)
    } else {
        let i = rng.random_range(0..aps.len());
        let on_ap = clients.iter().filter(|c| c.ap == i).count() as u32;
        let step = rng.random_range(100..5000);
        let ap = &mut aps[i];
        ap.counters.client_count = on_ap;
        ap.counters.rx_frames = ap.counters.rx_frames.wrapping_add(step);
        ap.counters.tx_frames = ap.counters.tx_frames.wrapping_add(step * 2);
        ap.counters.tx_retries = ap.counters.tx_retries.wrapping_add(step / 20);
        (
            MessageType::StatisticsNotification,
            notification::statistics(seq, ts, ap.mac, &ap.counters),
        )
    }
}

/// A message as the bytes of one frame.
pub fn encode(msg: Message) -> Bytes {
    let mut buf = BytesMut::new();
    // Messages built here are always within the frame bounds.
    let _ = FrameCodec::new().encode(msg.encode(), &mut buf);
    buf.freeze()
}

fn mac(kind: u8, index: u32, n: u32) -> [u8; 6] {
    let i = index.to_be_bytes();
    let n = n.to_be_bytes();
    [kind, 0x1b, i[3], n[1], n[2], n[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_traffic_apart_from_time() {
        let mut a = Traffic::new(7, 1, 4, 20);
        let mut b = Traffic::new(7, 1, 4, 20);
        for _ in 0..50 {
            let (fa, fb) = (a.next_frame(), b.next_frame());
            assert_eq!(fa[0], fb[0], "same message types");
            assert_eq!(fa.len(), fb.len());
        }
        assert_eq!(a.sequence(), 50);
    }
}
