//! The connector's admin UI and JSON API: its pages (`pages`), `/api/v1`
//! (`api`, with `api_settings` and `api_operate`), `/metrics`, the
//! operations both share (`operate`), and how its domain errors read
//! (`errors`), wrapped in the shared portal layers.

mod api;
mod api_operate;
mod api_settings;
mod errors;
mod operate;
pub mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::connector::appliance::Appliance;
use crate::contract::controller::DeviceWords;
use crate::portal::auth::sessions::SessionPolicy;
use crate::portal::auth::throttle::LoginThrottle;

use crate::portal::server::WebServer;
use crate::portal::{self, Assets, harden};

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub appliance: Arc<Appliance>,
    pub supervisor: crate::connector::supervisor::Supervisor,
    pub cloud: Arc<crate::connector::cloud_link::CloudLink>,
    pub ap_channel: Arc<crate::connector::ap_channel::ApChannel>,
    /// The admin UI's connection caps and their refusals.
    pub ui_connections: Arc<crate::conn_limit::ConnectionLimits>,
    pub controller_stats: Arc<crate::connector::stats::ChannelStats>,
    pub throttle: Arc<LoginThrottle>,
    pub sessions: SessionPolicy,
    pub assets: Arc<Assets>,
    /// Whether the clock is synchronised, asked of the time service.
    pub clock: Arc<crate::connector::clock_sync::ClockWatch>,
    pub network: crate::connector::network::NetworkPolicy,
    /// Stops the service to be started again (after a restore).
    pub restart: crate::connector::service::RestartRequest,
    /// Whether this machine installs upgrades, and the keys it trusts.
    pub upgrades: UpgradePolicy,
}

/// How this service takes update bundles.
#[derive(Clone)]
pub struct UpgradePolicy {
    pub managed: bool,
    pub trusted: Arc<Vec<crate::connector::upgrade::bundle::ReleaseKey>>,
}

impl AppState {
    /// A controller was added or removed here: sessions follow at once,
    /// and the change is on its way to the cloud.
    pub fn controllers_changed(&self) {
        self.supervisor.poke();
        self.cloud.outbox_changed();
    }

    /// Replaces the NMSP key (an admin's explicit request); every session
    /// restarts with the new key.
    pub async fn rekey(
        &self,
        input: crate::connector::nmsp_identity::RekeyInput,
    ) -> Result<(), crate::portal::error::WebError> {
        use crate::portal::error::WebError;
        let cell = self.appliance.nmsp.clone();
        let made = tokio::task::spawn_blocking(move || cell.rekey(&input))
            .await
            .map_err(WebError::internal)?;
        match made {
            Ok(made) => {
                tracing::warn!(key_type = made.kind.as_str(), key_hash = %made.key_hash,
                    "NMSP key replaced: every controller must authorise the new key hash");
                self.supervisor.poke();
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks and stores the cloud proxy setting; the link reconnects
    /// through it at once.
    pub async fn set_proxy(
        &self,
        input: crate::connector::proxy::ProxyInput,
    ) -> Result<crate::connector::proxy::ProxyView, crate::portal::error::WebError> {
        use crate::connector::proxy;
        let stored: crate::connector::proxy::ProxySettings = self
            .appliance
            .db
            .call(move |c| proxy::set(c, &input))
            .await?;
        tracing::info!(proxy = %stored.url, "cloud proxy set");
        self.cloud.proxy_changed();
        Ok(stored.view())
    }

    pub async fn network_view(
        &self,
    ) -> Result<crate::connector::network::NetworkView, crate::db::DbError> {
        let policy = self.network;
        self.appliance
            .db
            .call(move |c| crate::connector::network::view(c, policy))
            .await
    }

    /// Puts a network change in force, to be confirmed from its new
    /// address; returns where to open the UI.
    pub async fn change_network(
        &self,
        input: crate::connector::network::NetworkInput,
    ) -> Result<Option<String>, crate::portal::error::WebError> {
        let policy = self.network;
        let now = crate::clock::now_unix();
        let open = self
            .appliance
            .db
            .call(move |c| crate::connector::network::change(c, policy, &input, now))
            .await?;
        if let Some(open) = &open {
            tracing::warn!(open = %open, "network settings changed: waiting for confirmation");
        }
        Ok(open)
    }

    /// Confirms the network change from the address this request reached:
    /// the `Host` header (HTTP/1.1) or the URI's authority (HTTP/2, which
    /// browsers use here and which carries no `Host` header).
    pub async fn confirm_network(
        &self,
        headers: &http::HeaderMap,
        uri: &http::Uri,
    ) -> Result<(), crate::portal::error::WebError> {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        self.appliance
            .db
            .call(move |c| crate::connector::network::confirm_from(c, &host))
            .await?;
        tracing::info!("network settings confirmed");
        Ok(())
    }

    /// Runs a change of the admin UI's certificate on the blocking pool
    /// (key generation, parsing), mapping refusals field by field.
    pub async fn web_cert<T: Send + 'static>(
        &self,
        change: impl FnOnce(
            &crate::connector::web_cert::WebCertCell,
        ) -> Result<T, crate::connector::web_cert::WebCertError>
        + Send
        + 'static,
    ) -> Result<T, crate::portal::error::WebError> {
        use crate::portal::error::WebError;
        let cell = self.appliance.web_cert.clone();
        let done = tokio::task::spawn_blocking(move || change(&cell))
            .await
            .map_err(WebError::internal)?;
        Ok(done?)
    }

    /// Runs the pre-flight check of controller `id` (None: no such
    /// controller), offering the command for its type as the fix.
    pub async fn check_controller(
        &self,
        id: i64,
    ) -> Result<
        Option<(
            crate::connector::controllers::Controller,
            crate::connector::preflight::Check,
        )>,
        crate::db::DbError,
    > {
        let Some(c) = self
            .appliance
            .db
            .call(move |c| crate::connector::controllers::get(c, id))
            .await?
        else {
            return Ok(None);
        };
        let (source, timing) = self.supervisor.dialing();
        let check = crate::connector::preflight::run(crate::connector::preflight::Target::of(
            &self.appliance,
            &c,
            source,
            timing,
        ))
        .await;
        Ok(Some((c, check)))
    }

    /// The AP allow-list changed here: the AP Channel applies it at once,
    /// and the change is on its way to the cloud.
    pub fn access_points_changed(&self) {
        self.ap_channel.allow_list_changed();
        self.cloud.outbox_changed();
    }

    /// The Controller Channel's live figures, named from the state file.
    pub async fn controller_channel(&self) -> crate::connector::stats::ChannelSnapshot {
        let names = self
            .appliance
            .db
            .call(|c| crate::connector::controllers::names(c))
            .await;
        self.controller_stats.snapshot_named(names)
    }
}

impl portal::Portal for AppState {
    const PRODUCT: &'static str = "Spaces Connector";
    const NAV: &'static [(&'static str, &'static str, &'static str)] = &[
        ("/", "dashboard", "Dashboard"),
        ("/controllers", "controllers", "Controllers"),
        ("/statistics", "statistics", "Statistics"),
        ("/access-points", "access-points", "Access points"),
        ("/token", "token", "Token"),
        ("/network", "network", "Network"),
        ("/system", "system", "System"),
        ("/logs", "logs", "Logs"),
        ("/password", "password", "Password"),
    ];
    const NOTICES: &'static [(&'static str, &'static str)] = pages::NOTICES;
    const SETUP_RESTORE: Option<&'static str> = Some("/setup/restore");

    /// A wired connector's devices are switches.
    fn nav_relabel(&self) -> Option<(&'static str, &'static str)> {
        let words = self.appliance.words();
        (words == DeviceWords::SWITCHES).then_some(("controllers", words.title))
    }

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

/// Before a page: which network this connector serves, so the page and
/// its navigation name the devices right. A state file that cannot be
/// read leaves the last answer (the page itself shows the fault).
async fn refresh_words(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let _ = state.appliance.refresh_words().await;
    next.run(req).await
}

/// The connector's whole web application.
pub fn router(state: AppState) -> Router {
    let assets = state.assets.clone();
    let pages = pages::routes().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        refresh_words,
    ));
    let app = Router::new()
        .merge(pages)
        .nest("/api/v1", api::routes())
        .route("/metrics", axum::routing::get(api::metrics));
    harden(app, state, &assets)
}

impl WebServer {
    /// Serves the connector's admin UI with its web identity.
    pub fn start_appliance(
        state: AppState,
        https: SocketAddr,
        redirect: Option<SocketAddr>,
        shutdown: CancellationToken,
    ) -> std::io::Result<WebServer> {
        let tls = state
            .appliance
            .web_cert
            .server_config()
            .map_err(std::io::Error::other)?;
        let limits = state.ui_connections.clone();
        WebServer::start(router(state), tls, https, redirect, limits, shutdown)
    }
}
