//! The controller's `show` commands, as its console prints them.
//! `show nmsp status` follows the Catalyst 9800 layout of shared/NMSP.md
//! byte for byte. The statistics and subscription commands print the
//! counters controllers keep (per message id, connections, disconnections,
//! unsupported messages, subscribed services), in a layout of our own:
//! the controllers' exact layouts for these are not published.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

use super::controller::{SimController, StatusRow};
use crate::nmsp::MessageType;

/// A `show` command a controller answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    NmspStatus,
    StatisticsSummary,
    StatisticsConnection,
    SubscriptionDetail,
}

impl Show {
    /// The command from its words (`show nmsp ...`), or its HTTP path.
    pub fn parse(words: &[&str]) -> Option<Show> {
        match words {
            ["show", "nmsp", "status"] => Some(Show::NmspStatus),
            ["show", "nmsp", "statistics", "summary"] => Some(Show::StatisticsSummary),
            ["show", "nmsp", "statistics", "connection"] => Some(Show::StatisticsConnection),
            ["show", "nmsp", "subscription", "detail"] => Some(Show::SubscriptionDetail),
            _ => None,
        }
    }

    pub fn render(self, c: &SimController) -> String {
        let rows = c.status();
        match self {
            Show::NmspStatus => render_nmsp_status(&rows),
            Show::StatisticsSummary => render_summary(&rows),
            Show::StatisticsConnection => render_connections(&rows),
            Show::SubscriptionDetail => render_subscriptions(&rows),
        }
    }
}

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

/// Every controller's answer to `show`, each under a header naming it.
pub fn show_all(controllers: &[Arc<SimController>], show: Show) -> String {
    let mut out = String::new();
    for c in controllers {
        let _ = writeln!(
            out,
            "Controller {} ({}), notifications sent: {}",
            c.spec.name,
            c.addr,
            c.generated()
        );
        out.push_str(&show.render(c));
        out.push('\n');
    }
    out
}

/// `show nmsp statistics summary`: the controller's totals.
fn render_summary(rows: &BTreeMap<IpAddr, StatusRow>) -> String {
    let sum = |f: fn(&StatusRow) -> u64| rows.values().map(f).sum::<u64>();
    let mut out = String::from("NMSP Global Counters\n\n");
    for (name, value) in [
        ("Number of connections", sum(|r| r.sessions)),
        ("Number of disconnections", sum(|r| r.disconnections)),
        ("Unsupported messages received", sum(|r| r.unsupported)),
        ("Rx Data Frames", sum(|r| r.rx_data)),
        ("Tx Data Frames", sum(|r| r.tx_data)),
        ("Rx Echo Requests", sum(|r| r.rx_echo_req)),
        ("Tx Echo Responses", sum(|r| r.tx_echo_resp)),
    ] {
        let _ = writeln!(out, "{name:<40}: {value}");
    }
    out
}

/// `show nmsp statistics connection`: per location server, its counters
/// and messages by id.
fn render_connections(rows: &BTreeMap<IpAddr, StatusRow>) -> String {
    let mut out = String::from("NMSP Connection Counters\n");
    for (ip, r) in rows {
        let state = if r.active_sessions > 0 {
            "Active"
        } else {
            "Inactive"
        };
        let _ = writeln!(out, "\nCMX IP Address: {ip}, Status: {state}");
        let _ = writeln!(
            out,
            "  Connections: {}  Disconnections: {}  Unsupported messages: {}",
            r.sessions, r.disconnections, r.unsupported
        );
        for (title, by_id) in [("Rx", &r.rx_by_id), ("Tx", &r.tx_by_id)] {
            let _ = writeln!(out, "  {title} message counters:");
            let _ = writeln!(out, "    {:<4} {:<30} Count", "ID", "Name");
            for (id, n) in by_id {
                let name = MessageType::from_u8(*id).map_or("unknown", MessageType::name);
                let _ = writeln!(out, "    {id:<4} {name:<30} {n}");
            }
        }
    }
    out
}

/// `show nmsp subscription detail`: the services each location server
/// subscribed to.
fn render_subscriptions(rows: &BTreeMap<IpAddr, StatusRow>) -> String {
    let mut out = String::from("CMX/DNA Spaces subscriptions\n");
    for (ip, r) in rows {
        let _ = writeln!(out, "\nCMX IP address: {ip}");
        let services = if r.services.is_empty() {
            "none".to_string()
        } else {
            r.services.join(", ")
        };
        let _ = writeln!(out, "  Services: {services}");
    }
    out
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
