//! A simulated Catalyst switch's wired world: end points plugging into and
//! out of its access ports, as the switch's NMSP location service reports
//! them (link up: state new; link down: state delete) with MAC, IP, 802.1X
//! user name where the port authenticates one, port, VLAN and the switch's
//! serial number and UDI. Deterministic for a seed, like the wireless one.

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use rand::Rng;
use rand::rngs::StdRng;

use crate::nmsp::notification::{self, AttachState, Attachment};

/// One end point a switch may see: a PC, a phone, a printer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndPoint {
    pub mac: [u8; 6],
    /// Unknown for a wireless client (the controller reports none).
    pub ip: Option<IpAddr>,
    /// Set for end points that authenticate with 802.1X (the rest are
    /// admitted by MAC).
    pub user: Option<String>,
}

/// A switch's ports and who is on them.
pub struct SwitchPorts {
    serial: String,
    udi: String,
    /// The end point on each port, if any (index = port - 1).
    ports: Vec<Option<usize>>,
    end_points: Vec<EndPoint>,
    /// Whether each end point is plugged in somewhere now.
    attached: Vec<bool>,
}

const VLANS: [u16; 3] = [10, 20, 30];

impl SwitchPorts {
    /// Switch number `index` with `ports` access ports; twice as many end
    /// points as ports come and go.
    pub fn new(index: u32, ports: usize) -> SwitchPorts {
        let ports = ports.clamp(1, 480);
        let serial = format!("FOC{:04}X{:03}", 2400 + index % 100, index);
        let end_points = (0..ports * 2)
            .map(|i| {
                let n = i as u32;
                let [_, a, b, c] = n.to_be_bytes();
                EndPoint {
                    mac: [0x06, 0x1c, index as u8, a, b, c],
                    ip: Some(IpAddr::V4(Ipv4Addr::new(
                        10,
                        100 + (index % 100) as u8,
                        b,
                        c,
                    ))),
                    user: (i % 3 != 2).then(|| format!("user{index}-{i}@example.test")),
                }
            })
            .collect();
        SwitchPorts {
            udi: format!("PID:C9300-48P,VID:V02,SN:{serial}"),
            serial,
            ports: vec![None; ports],
            attached: vec![false; ports * 2],
            end_points,
        }
    }

    /// Every end point this switch may ever report (for tests that look
    /// for them where they must not be).
    pub fn end_points(&self) -> &[EndPoint] {
        &self.end_points
    }

    /// The next link up or link down, as an Attachment Notification body.
    pub fn next_body(&mut self, rng: &mut StdRng, sequence: u64, timestamp_ms: u64) -> Bytes {
        let port = rng.random_range(0..self.ports.len());
        let (state, who) = match self.ports[port] {
            Some(who) => {
                self.ports[port] = None;
                self.attached[who] = false;
                (AttachState::Delete, who)
            }
            None => {
                // Someone not plugged in anywhere comes to this port.
                let start = rng.random_range(0..self.end_points.len());
                let who = (0..self.end_points.len())
                    .map(|k| (start + k) % self.end_points.len())
                    .find(|&k| !self.attached[k])
                    .unwrap_or(start);
                self.ports[port] = Some(who);
                self.attached[who] = true;
                (AttachState::New, who)
            }
        };
        let e = &self.end_points[who];
        notification::attachment(&Attachment {
            sequence,
            timestamp_ms,
            state,
            client_mac: e.mac,
            client_ip: e.ip,
            user_name: e.user.clone(),
            port: format!("GigabitEthernet1/0/{}", port + 1),
            vlan: VLANS[port % VLANS.len()],
            serial: self.serial.clone(),
            udi: self.udi.clone(),
        })
        // Our own names are far below the TLV limit.
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmsp::NotificationFields;
    use rand::SeedableRng;

    #[test]
    fn a_port_goes_up_then_down_with_the_same_end_point() {
        let mut s = SwitchPorts::new(2, 1);
        let mut rng = StdRng::seed_from_u64(1);
        let up = NotificationFields::parse(&s.next_body(&mut rng, 1, 10)).unwrap();
        let down = NotificationFields::parse(&s.next_body(&mut rng, 2, 11)).unwrap();
        assert_eq!(up.attach_state, Some(AttachState::New as u8));
        assert_eq!(down.attach_state, Some(AttachState::Delete as u8));
        assert_eq!(up.client_mac, down.client_mac);
        assert_eq!(up.switch_port.as_deref(), Some("GigabitEthernet1/0/1"));
        assert!(up.switch_udi.unwrap().ends_with(&up.switch_serial.unwrap()));
        let known: Vec<[u8; 6]> = s.end_points().iter().map(|e| e.mac).collect();
        assert!(known.contains(&up.client_mac.unwrap()));
    }
}
