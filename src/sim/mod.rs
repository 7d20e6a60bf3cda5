//! `wlc-sim`: a wireless controller (and Catalyst switch) simulator
//! speaking the device side of NMSP, for tests, demos and benchmarks. Runs
//! many controllers and switches in one process and prints `show nmsp
//! status` the way a controller does.
//!
//! May import the shared modules (`nmsp`, `tls`, `contract`, `clock`);
//! never `connector` or `cloud`.

pub mod ap;
pub mod console;
pub mod controller;
pub mod sent;
pub mod show;
pub mod traffic;
pub mod wired;

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

pub use crate::tls::client_auth::AuthList;
pub use ap::{ApSpec, SimAp};
pub use controller::{ControllerSpec, SimController, SimDevice, StatusRow};
pub use show::{Show, render_nmsp_status, show_all, show_nmsp_status};

/// The simulated APs: how many connectors each streams to, and how much.
pub fn show_aps(aps: &[Arc<SimAp>]) -> String {
    let mut out = String::new();
    if aps.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{:<12} {:>10}  {:>10}", "AP", "Connectors", "Sent");
    for ap in aps {
        let _ = writeln!(
            out,
            "{:<12} {:>10}  {:>10}",
            ap.spec.name,
            ap.connected(),
            ap.generated()
        );
    }
    out
}

/// The JSON form of the same, for scripts and tests.
pub fn status_json(controllers: &[Arc<SimController>], aps: &[Arc<SimAp>]) -> serde_json::Value {
    let aps: Vec<serde_json::Value> = aps
        .iter()
        .map(|ap| {
            serde_json::json!({
                "name": ap.spec.name,
                "key_hash": ap.identity.key_hash().unwrap_or_default(),
                "connected": ap.connected(),
                "generated": ap.generated(),
            })
        })
        .collect();
    let controllers = serde_json::Value::Array(
        controllers
            .iter()
            .map(|c| {
                let rows: serde_json::Map<String, serde_json::Value> = c
                    .status()
                    .into_iter()
                    .map(|(ip, r)| {
                        let mut v = serde_json::to_value(&r).unwrap_or_default();
                        v["active"] = serde_json::Value::Bool(r.active_sessions > 0);
                        (ip.to_string(), v)
                    })
                    .collect();
                serde_json::json!({
                    "name": c.spec.name,
                    "kind": c.spec.device.kind(),
                    "clients": c.clients(),
                    "address": c.addr.to_string(),
                    "key_hash": c.spec.identity.key_hash().unwrap_or_default(),
                    "generated": c.generated(),
                    "sent": c.sent(),
                    "restarts": c.restarts(),
                    "connectors": rows,
                })
            })
            .collect(),
    );
    serde_json::json!({ "controllers": controllers, "aps": aps })
}

/// The address of controller `i` when `n` run from `base`: consecutive
/// ports on one address, or with `spread_ips` consecutive IPv4 addresses
/// on one port.
pub fn controller_addr(base: SocketAddr, i: u32, spread_ips: bool) -> SocketAddr {
    match (spread_ips, base) {
        (true, SocketAddr::V4(v4)) => {
            let ip = u32::from(*v4.ip()).wrapping_add(i);
            SocketAddr::from((std::net::Ipv4Addr::from(ip), v4.port()))
        }
        _ if base.port() == 0 => base,
        _ => SocketAddr::new(base.ip(), base.port().wrapping_add(i as u16)),
    }
}
