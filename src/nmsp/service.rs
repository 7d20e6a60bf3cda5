//! The set of NMSP services a side offers, wants or accepts, as a u32
//! bitmask (a hand-written stand-in for the `bitflags` crate).

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// Unknown bits are kept, not dropped: a newer controller's offer must
/// survive a round trip through an older connector unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Service(u32);

impl Service {
    pub const RSSI: Service = Service(1);
    pub const CLIENT_INFO: Service = Service(2);
    pub const AP_INFO: Service = Service(4);
    pub const STATISTICS: Service = Service(8);
    pub const IOT_BLE: Service = Service(16);
    /// A switch's wired attachments (link up/down of end points).
    pub const ATTACHMENT: Service = Service(32);

    /// Every service this codec has a name for.
    pub const ALL: Service = Service(63);

    const NAMED: [(Service, &'static str); 6] = [
        (Service::RSSI, "rssi"),
        (Service::CLIENT_INFO, "client-info"),
        (Service::AP_INFO, "ap-info"),
        (Service::STATISTICS, "statistics"),
        (Service::IOT_BLE, "iot-ble"),
        (Service::ATTACHMENT, "attachment"),
    ];

    pub const fn empty() -> Self {
        Service(0)
    }

    pub const fn from_bits(bits: u32) -> Self {
        Service(bits)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: Service) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Service) -> Self {
        Service(self.0 | other.0)
    }

    pub const fn intersection(self, other: Service) -> Self {
        Service(self.0 & other.0)
    }

    /// Names of the known bits that are set, for logs and the UI.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMED
            .iter()
            .filter(|(s, _)| self.contains(*s))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl BitOr for Service {
    type Output = Service;
    fn bitor(self, rhs: Service) -> Service {
        self.union(rhs)
    }
}

impl BitOrAssign for Service {
    fn bitor_assign(&mut self, rhs: Service) {
        *self = self.union(rhs);
    }
}

impl BitAnd for Service {
    type Output = Service;
    fn bitand(self, rhs: Service) -> Service {
        self.intersection(rhs)
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Service({:#x} {:?})", self.0, self.names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let s = Service::RSSI | Service::STATISTICS;
        assert_eq!(s.bits(), 9);
        assert!(s.contains(Service::RSSI));
        assert!(!s.contains(Service::RSSI | Service::AP_INFO));
        assert_eq!(s & Service::ALL, s);
        assert_eq!(s.names(), vec!["rssi", "statistics"]);
        assert!(Service::empty().is_empty());
        let mut t = Service::empty();
        t |= Service::IOT_BLE;
        assert_eq!(t, Service::from_bits(16));
    }

    #[test]
    fn unknown_bits_are_kept() {
        let s = Service::from_bits(0x8000_0001);
        assert_eq!(s.bits(), 0x8000_0001);
        assert_eq!(s.names(), vec!["rssi"]);
    }
}
