//! `wlc-sim`: a wireless controller simulator speaking the controller side
//! of NMSP, for tests, demos and benchmarks. Runs many controllers in one
//! process and prints `show nmsp status` the way a controller does.
//!
//! May import the shared modules (`nmsp`, `tls`, `contract`, `clock`);
//! never `connector` or `cloud`.

pub mod ap;
pub mod console;
pub mod controller;
pub mod sent;
pub mod traffic;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use crate::tls::client_auth::AuthList;
pub use ap::{ApSpec, SimAp};
pub use controller::{ControllerSpec, SimController, StatusRow};

/// `show nmsp status` of one controller, as a Catalyst 9800 prints it
/// (shared/NMSP.md): a title, one row per location server that was ever
/// connected, `Active` before the counters and `Transport` last.
pub fn show_nmsp_status(c: &SimController) -> String {
    render_nmsp_status(&c.status())
}

/// The same table from rows, for a controller or a test.
pub fn render_nmsp_status(rows: &BTreeMap<IpAddr, StatusRow>) -> String {
    let mut out = String::from("NMSP Status\n-----------\n\n");
    let _ = writeln!(
        out,
        "{:<40}{:<10}{:<14}{:<14}{:<12}{:<12}Transport",
        "DNA Spaces/CMX IP Address", "Active", "Tx Echo Resp", "Rx Echo Req", "Tx Data", "Rx Data",
    );
    out.push_str(&"-".repeat(122));
    out.push('\n');
    for (ip, r) in rows {
        let _ = writeln!(
            out,
            "{:<40}{:<10}{:<14}{:<14}{:<12}{:<12}TLS",
            ip.to_string(),
            if r.active_sessions > 0 {
                "Active"
            } else {
                "Inactive"
            },
            r.tx_echo_resp,
            r.rx_echo_req,
            r.tx_data,
            r.rx_data,
        );
    }
    out
}

/// Every controller's status, each under a header naming it.
pub fn show_all(controllers: &[Arc<SimController>]) -> String {
    let mut out = String::new();
    for c in controllers {
        let _ = writeln!(
            out,
            "Controller {} ({}), notifications sent: {}",
            c.spec.name,
            c.addr,
            c.generated()
        );
        out.push_str(&show_nmsp_status(c));
        out.push('\n');
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Catalyst 9800 layout of shared/NMSP.md, byte for byte: an
    /// Active IPv4 row and an Inactive IPv6 row.
    #[test]
    fn show_nmsp_status_prints_the_catalyst_9800_layout() {
        let mut rows = BTreeMap::new();
        rows.insert(
            "10.0.0.5".parse().unwrap(),
            StatusRow {
                tx_echo_resp: 14,
                rx_echo_req: 14,
                tx_data: 1595,
                rx_data: 300,
                active_sessions: 1,
                ..StatusRow::default()
            },
        );
        rows.insert(
            "2001:db8::5".parse().unwrap(),
            StatusRow {
                tx_data: 1,
                ..StatusRow::default()
            },
        );
        let expected = "NMSP Status
-----------

DNA Spaces/CMX IP Address               Active    Tx Echo Resp  Rx Echo Req   Tx Data     Rx Data     Transport
--------------------------------------------------------------------------------------------------------------------------
10.0.0.5                                Active    14            14            1595        300         TLS
2001:db8::5                             Inactive  0             0             1           0           TLS
";
        assert_eq!(render_nmsp_status(&rows), expected);
    }
}
