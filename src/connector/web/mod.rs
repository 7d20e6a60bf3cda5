//! The connector's admin UI and JSON API: its pages (`pages`), `/api/v1`
//! (`api`), `/metrics`, and how its domain errors read (`errors`), wrapped
//! in the shared portal layers.

mod api;
mod api_settings;
mod errors;
pub mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::connector::appliance::Appliance;
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
    /// The support bundle with the service's live part, as a download
    /// (the System page's button and the API answer the same).
    pub async fn support_bundle(
        &self,
    ) -> Result<axum::response::Response, crate::portal::error::WebError> {
        use crate::connector::support_bundle::{SupportBundle, sessions_table};
        use crate::portal::error::WebError;
        use axum::response::IntoResponse;
        let a = self.appliance.clone();
        let mut b = self
            .appliance
            .db
            .call(move |c| SupportBundle::from_state_file(&a, c))
            .await?;
        b.add_json("cloud-link.json", &self.cloud.view().await?);
        b.add_json("clock.json", &self.clock.now().await);
        let controllers = self.controller_channel().await;
        let aps = self.ap_channel.snapshot();
        b.add_text(
            "controller-sessions.txt",
            sessions_table(&controllers.links),
        );
        b.add_text("ap-sessions.txt", sessions_table(&aps.links));
        b.add_json(
            "statistics.json",
            &serde_json::json!({ "controller_channel": controllers, "ap_channel": aps }),
        );
        let log = crate::connector::service_journal::download(&Default::default()).await;
        b.add_text("logs.txt", log);
        let name = b.name();
        let bytes = tokio::task::spawn_blocking(move || b.finish())
            .await
            .map_err(WebError::internal)?
            .map_err(WebError::internal)?;
        let response = (
            [
                (http::header::CONTENT_TYPE, "application/gzip".to_string()),
                (
                    http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.tar.gz\""),
                ),
            ],
            bytes,
        )
            .into_response();
        // Not a change, but who took the appliance's diagnostics is kept.
        Ok(crate::portal::audit::Audited::new("support_bundle.download", name).on(response))
    }

    /// A backup of the configuration as a download, sealed with
    /// `passphrase` (the System page and the API answer the same).
    pub async fn backup_download(
        &self,
        passphrase: String,
        with_identity: bool,
    ) -> Result<axum::response::Response, crate::portal::error::WebError> {
        use axum::response::IntoResponse;
        let file = self
            .appliance
            .db
            .call(move |c| crate::connector::backup::take(c, &passphrase, with_identity))
            .await?;
        let name = format!(
            "spaces-connector-backup-{}-{}.scbackup",
            self.appliance.hostname,
            crate::clock::now_unix()
        );
        let response = (
            [
                (
                    http::header::CONTENT_TYPE,
                    "application/octet-stream".to_string(),
                ),
                (
                    http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            file,
        )
            .into_response();
        let what = if with_identity {
            "with the appliance's identity"
        } else {
            "without the identity"
        };
        Ok(crate::portal::audit::Audited::new("backup.download", what).on(response))
    }

    /// Restores a backup, all or nothing, then has the service start
    /// again on it (after its answer has gone out).
    pub async fn restore(
        &self,
        file: Vec<u8>,
        passphrase: String,
        how: crate::connector::backup::RestoreAs,
    ) -> Result<crate::connector::backup::Restored, crate::portal::error::WebError> {
        use crate::connector::backup::{self, RestoreError};
        let dir = self.appliance.data_dir.clone();
        let restored = self
            .appliance
            .db
            .call(move |c| {
                let restored = backup::restore(c, &file, &passphrase, how)?;
                if restored.admin_password {
                    // Set up by the restore: the setup code has done its work.
                    crate::portal::auth::setup_code::used(c, &dir)?;
                }
                Ok::<_, RestoreError>(restored)
            })
            .await?;
        tracing::warn!(restored = %restored.summary(), "configuration restored: restarting");
        self.restart.request(std::time::Duration::from_secs(1));
        Ok(restored)
    }

    /// The System page's upgrade card: what runs, how the last upgrade
    /// ended, what waits, and which members of the pair are not up.
    pub async fn upgrade_view(&self) -> crate::connector::upgrade::UpgradeView {
        use crate::connector::upgrade;
        let dir = &self.appliance.data_dir;
        let peers_down = match self.cloud.view().await {
            Ok(link) => link
                .peers
                .iter()
                .filter(|p| p.instance_id != self.appliance.instance_id && p.state != "up")
                .map(|p| format!("{} ({})", p.hostname, p.state))
                .collect(),
            Err(_) => Vec::new(),
        };
        upgrade::UpgradeView {
            version: crate::VERSION,
            managed: self.upgrades.managed,
            trusts_a_key: !self.upgrades.trusted.is_empty(),
            pending: upgrade::pending(dir),
            outcome: upgrade::outcome(dir),
            peers_down,
        }
    }

    /// Checks an uploaded bundle and stages it for the helper, unless a
    /// member of the pair is down and the admin did not say to go on.
    pub async fn submit_upgrade(
        &self,
        bytes: Vec<u8>,
        peer_down_ok: bool,
    ) -> Result<crate::connector::upgrade::UpgradeRequest, crate::portal::error::WebError> {
        use crate::connector::upgrade;
        let view = self.upgrade_view().await;
        if !view.peers_down.is_empty() && !peer_down_ok {
            let mut fields = crate::fields::FieldErrors::default();
            fields.add(
                "peer_down_ok",
                format!(
                    "the other member of the pair is not up ({}): while this one upgrades, nothing reports; tick to go on anyway",
                    view.peers_down.join(", ")
                ),
            );
            return Err(crate::portal::error::WebError::Invalid {
                message: "the upgrade was not started".into(),
                fields,
            });
        }
        let active: Vec<i64> = self
            .controller_channel()
            .await
            .links
            .iter()
            .filter(|l| l.status == crate::nmsp::link_stats::LinkStatus::Active)
            .map(|l| l.id)
            .collect();
        let (dir, trusted, managed) = (
            self.appliance.data_dir.clone(),
            self.upgrades.trusted.clone(),
            self.upgrades.managed,
        );
        let request = tokio::task::spawn_blocking(move || {
            upgrade::submit(&dir, &bytes, &trusted, managed, active)
        })
        .await
        .map_err(crate::portal::error::WebError::internal)??;
        tracing::warn!(from = %request.from, to = %request.to, "upgrade staged for the helper");
        Ok(request)
    }

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
