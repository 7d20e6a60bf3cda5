//! Caps on accepted connections, per client address and in total, shared by
//! every listener that faces the network (the admin UI, the AP Channel): a
//! client holding many idle connections cannot exhaust file descriptors or
//! lock others out. A connection holds a [`Slot`] for as long as it lives.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// The caps of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_address: usize,
    pub total: usize,
}

/// Counts open connections by client address.
#[derive(Debug)]
pub struct ConnectionLimits {
    caps: Caps,
    open: Mutex<HashMap<IpAddr, usize>>,
    /// Connections closed at once because a cap was reached.
    pub refused: AtomicU64,
}

/// One open connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    pub fn new(caps: Caps) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            caps,
            open: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        })
    }

    /// A place for a new connection from `ip`, or `None` (counted) when
    /// that address or the listener is at its cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(&ip).copied().unwrap_or(0);
        if mine >= self.caps.per_address || total >= self.caps.total {
            self.refused.fetch_add(1, Relaxed);
            return None;
        }
        *open.entry(ip).or_insert(0) += 1;
        Some(Slot {
            limits: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total() {
        let l = ConnectionLimits::new(Caps {
            per_address: 2,
            total: 3,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert!(l.admit(a).is_none(), "third from one address");
        let _b1 = l.admit(b).unwrap();
        assert!(l.admit(b).is_none(), "listener full");
        drop(a1);
        assert!(l.admit(b).is_some(), "a place came free");
        assert_eq!(l.refused.load(Relaxed), 2);
    }
}
