//! The connector's own pages, one module per area (login, setup and
//! password come from the shared portal).

mod access_points;
mod backup;
mod controllers;
mod dashboard;
mod logs;
mod network;
mod statistics;
mod system;
mod token;
mod upgrade;

use axum::Router;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(dashboard::routes())
        .merge(token::routes())
        .merge(controllers::routes())
        .merge(system::routes())
        .merge(network::routes())
        .merge(statistics::routes())
        .merge(access_points::routes())
        .merge(logs::routes())
        .merge(backup::routes())
        .merge(upgrade::routes())
}

/// Fixed texts shown after a redirect (`?notice=<key>`), so a URL cannot
/// inject anything into a page.
pub const NOTICES: &[(&str, &str)] = &[
    ("token-saved", "Token saved and registered with the cloud."),
    (
        "token-pending",
        "Token saved. The cloud is not reachable yet; the connector keeps trying (see the dashboard).",
    ),
    (
        "token-removed",
        "Token removed. The connector no longer reports to the cloud.",
    ),
    ("controller-added", "Controller added."),
    ("controller-removed", "Controller removed."),
    ("switch-added", "Switch added."),
    ("switch-removed", "Switch removed."),
    (
        "network-applied",
        "Network settings applied. Open the appliance at its new address and confirm there, or the previous settings come back.",
    ),
    ("network-confirmed", "Network settings confirmed and kept."),
    (
        "csr-made",
        "Signing request made. Have your CA sign it, then paste the certificate chain below.",
    ),
    (
        "cert-installed",
        "Certificate installed: new connections to this page use it.",
    ),
    (
        "cert-self-signed",
        "Back to a self-signed certificate: browsers will warn until you accept it.",
    ),
    (
        "proxy-saved",
        "Proxy setting saved; the cloud link reconnects through it now (see the dashboard).",
    ),
    (
        "rekeyed",
        "New NMSP key made. Every controller must now authorise the new key hash below; until then they refuse this connector.",
    ),
    (
        "ap-added",
        "Access point allowed on every connector of the group.",
    ),
    ("ap-removed", "Access point removed; its link was closed."),
    ("api-token-revoked", "API token revoked."),
    (
        "upgrade-started",
        "Upgrade started: the appliance installs it and restarts; if it is not healthy within 60 s it goes back to this version by itself.",
    ),
    (
        "restored",
        "Backup restored and the appliance restarted with it.",
    ),
    (
        "cert-accepted",
        "New controller certificate accepted; reconnecting.",
    ),
];
