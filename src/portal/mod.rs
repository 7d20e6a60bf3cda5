//! The web pieces both UIs share (the connector's admin UI and the cloud's
//! dashboard): the admin account, sessions, API tokens and login
//! throttling (`auth`), request-side authentication and CSRF (`guard`),
//! setup, login and password pages, the page layout, the one web error
//! type, static assets, the security layers and the HTTPS server.
//!
//! An application implements [`Portal`] and wraps its routes with
//! [`harden`]. May import `db`, `fields`, `clock`, `host` and `conn_limit`;
//! never a program.

pub mod assets;
pub mod audit;
pub mod auth;
pub mod download;
pub mod error;
pub mod guard;
pub mod layout;
pub mod password;
pub mod security;
pub mod server;
pub mod session;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;

use crate::db::Db;
use auth::sessions::SessionPolicy;
use auth::throttle::LoginThrottle;

pub use assets::Assets;
pub use error::WebError;

/// Largest request body accepted by default: forms and JSON are small. A
/// route that takes more (the cloud's event batches) sets its own limit.
pub const MAX_BODY: usize = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the shared pieces need from an application.
pub trait Portal: Clone + Send + Sync + 'static {
    /// Product name shown in titles and the header.
    const PRODUCT: &'static str;
    /// Navigation entries: (href, key, label).
    const NAV: &'static [(&'static str, &'static str, &'static str)];
    /// Fixed notices its pages show after a redirect: (`?notice=` key, text).
    const NOTICES: &'static [(&'static str, &'static str)];
    /// Where the setup page offers to restore a backup instead, if the
    /// application can.
    const SETUP_RESTORE: Option<&'static str> = None;

    /// The state file holding the admin, sessions and API tokens.
    fn db(&self) -> &Db;
    fn session_policy(&self) -> SessionPolicy;
    fn throttle(&self) -> &LoginThrottle;
    /// URL prefix of the CSS and JS.
    fn asset_prefix(&self) -> String;
    /// A navigation entry named otherwise now, by the application's
    /// state: (key, label), e.g. a wired connector's "Switches".
    fn nav_relabel(&self) -> Option<(&'static str, &'static str)> {
        None
    }
}

/// Wraps an application's routes with what every portal shares: login,
/// setup and password pages, the first-boot gate, assets, the security
/// layers and limits.
pub fn harden<S: Portal>(app: Router<S>, state: S, assets: &Assets) -> Router {
    let app = app
        .merge(session::routes())
        .merge(password::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::setup_gate::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record_changes::<S>,
        ))
        .merge(assets.routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(layout::not_found)
        .layer(security::cross_site_refusal())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CompressionLayer::new());
    security::with_headers(app).with_state(state)
}
