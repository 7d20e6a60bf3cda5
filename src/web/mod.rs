//! The HTTPS admin UI and JSON API.
//!
//! `router` assembles pages, API and assets behind the security layers;
//! `server` runs it over TLS. Handlers stay thin: they parse the request,
//! call the library, and render.

mod api;
mod assets;
pub mod auth;
pub mod error;
pub mod pages;
pub mod portal;
pub mod security;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;

use crate::appliance::Appliance;
use crate::auth::sessions::SessionPolicy;
use crate::auth::throttle::LoginThrottle;

pub use assets::Assets;
pub use error::WebError;

/// Largest request body accepted by default: forms and JSON are small. A
/// route that takes more (the cloud's event batches) sets its own limit.
pub const MAX_BODY: usize = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub appliance: Arc<Appliance>,
    pub supervisor: crate::supervisor::Supervisor,
    pub cloud: Arc<crate::cloud_link::CloudLink>,
    pub ap_channel: Arc<crate::ap_channel::ApChannel>,
    pub controller_stats: Arc<crate::stats::ChannelStats>,
    pub throttle: Arc<LoginThrottle>,
    pub sessions: SessionPolicy,
    pub assets: Arc<Assets>,
}

impl AppState {
    /// A controller was added or removed here: sessions follow at once,
    /// and the change is on its way to the cloud.
    pub fn controllers_changed(&self) {
        self.supervisor.poke();
        self.cloud.outbox_changed();
    }

    /// The Controller Channel's live figures, named from the state file.
    pub async fn controller_channel(
        &self,
    ) -> Result<crate::stats::ChannelSnapshot, crate::db::DbError> {
        let list = self
            .appliance
            .db
            .call(|c| crate::controllers::list(c))
            .await?;
        let names: Vec<(i64, String, String)> = list
            .into_iter()
            .map(|c| (c.id, c.name, format!("{}:{}", c.host, c.port)))
            .collect();
        Ok(self.controller_stats.snapshot(&names))
    }
}

impl portal::Portal for AppState {
    const PRODUCT: &'static str = "Spaces Connector";
    const NAV: &'static [(&'static str, &'static str, &'static str)] = &[
        ("/", "dashboard", "Dashboard"),
        ("/controllers", "controllers", "Controllers"),
        ("/statistics", "statistics", "Statistics"),
        ("/token", "token", "Token"),
        ("/system", "system", "System"),
        ("/password", "password", "Password"),
    ];

    fn db(&self) -> &crate::db::Db {
        &self.appliance.db
    }
    fn session_policy(&self) -> SessionPolicy {
        self.sessions
    }
    fn throttle(&self) -> &LoginThrottle {
        &self.throttle
    }
    fn asset_prefix(&self) -> String {
        self.assets.prefix()
    }
}

/// The connector's whole web application.
pub fn router(state: AppState) -> Router {
    let assets = state.assets.clone();
    let app = Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes())
        .route("/metrics", axum::routing::get(api::metrics));
    harden(app, state, &assets)
}

/// Wraps an application's routes with what every portal shares: login,
/// setup and password pages, the first-boot gate, assets, the security
/// layers and limits.
pub fn harden<S: portal::Portal>(app: Router<S>, state: S, assets: &Assets) -> Router {
    app.merge(pages::session::routes())
        .merge(pages::password::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::setup_gate::<S>,
        ))
        .merge(assets.routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(security::check_origin))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::map_response(security::set_headers))
        .with_state(state)
}
