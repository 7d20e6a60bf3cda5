//! `spaces-cloud`: the reference cloud the connectors talk to. It issues
//! tokens, registers connectors into groups, distributes each group's
//! configuration, ingests events with de-duplication across a group's
//! members, serves the firehose of unique events, and shows it all on an
//! admin dashboard.
//!
//! May import the shared modules (`contract`, `nmsp`, `tls`, `portal`,
//! `db`, `clock`, `fields`, `host`); never `connector` or `sim`.

pub mod api;
pub mod gaps;
pub mod group_config;
pub mod ingest;
pub mod pages;
pub mod privacy;
pub mod registry;
pub mod schema;
pub mod sink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use rusqlite::OptionalExtension;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::contract::token::{TokenError, TokenSigner};
use crate::db::{Db, DbError};
use crate::portal::Assets;
use crate::portal::Portal;
use crate::portal::auth::sessions::SessionPolicy;
use crate::portal::auth::throttle::LoginThrottle;
use crate::portal::error::WebError;
use crate::portal::server::WebServer;
use crate::tls::identity::{self, Identity, KeyKind, Purpose};
use registry::Liveness;

/// Errors of the cloud's domain layer.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("{0}")]
    Invalid(String),
    #[error("token refused: {0}")]
    Token(TokenError),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<CloudError> for WebError {
    fn from(e: CloudError) -> Self {
        match e {
            CloudError::Invalid(m) => WebError::BadRequest(m),
            CloudError::Token(_) | CloudError::Unauthorized(_) => WebError::Refused(e.to_string()),
            CloudError::Conflict(m) => WebError::Conflict(m),
            CloudError::NotFound => WebError::NotFound,
            CloudError::Db(d) => d.into(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct CloudArgs {
    /// How long after a client privacy change it takes effect, by the
    /// controllers' clocks: every connector of the tenant has the new
    /// setting before the first event it applies to, so the two copies of
    /// an event are hashed alike.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub privacy_lead_ms: u64,
    /// Benchmark mode: event batches are checked, acknowledged and
    /// counted, and nothing is stored (no firehose); counts at
    /// `GET /api/v1/sink`. Never for production.
    #[arg(long)]
    pub sink: bool,
    /// Directory of the cloud's state file (cloud.db).
    #[arg(long, env = "SPACES_CLOUD_DATA_DIR", default_value = "./cloud-data")]
    pub data_dir: PathBuf,
    /// HTTPS address of the API and dashboard.
    #[arg(long, env = "SPACES_CLOUD_LISTEN", default_value = "0.0.0.0:9443")]
    pub listen: SocketAddr,
    /// The URL connectors use to reach this cloud (goes into tokens);
    /// defaults to https://<listen address>.
    #[arg(long, env = "SPACES_CLOUD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds without a heartbeat before a connector is "stale".
    #[arg(long, default_value_t = 10)]
    pub stale_after_secs: i64,
    /// Seconds without a heartbeat before a connector is "down".
    #[arg(long, default_value_t = 30)]
    pub down_after_secs: i64,
    /// Hours an event key is remembered for de-duplication (and kept for
    /// the firehose); long enough for a connector's spool replay.
    #[arg(long, default_value_t = 24)]
    pub dedup_window_hours: i64,
    /// The same window in seconds, overriding the hours (tests).
    #[arg(long, hide = true)]
    pub dedup_window_secs: Option<i64>,
    #[arg(long, env = "SPACES_CLOUD_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
}

/// Shared by the cloud's handlers.
#[derive(Clone)]
pub struct CloudState {
    pub db: Db,
    pub signer: Arc<TokenSigner>,
    pub url: Arc<str>,
    pub pin: Arc<str>,
    pub liveness: Liveness,
    /// How long event keys are kept for de-duplication.
    pub dedup_window_secs: i64,
    pub throttle: Arc<LoginThrottle>,
    pub sessions: SessionPolicy,
    pub assets: Arc<Assets>,
    /// Bumped whenever a group's configuration changes (long polls wait).
    pub config_changed: Arc<watch::Sender<u64>>,
    /// Bumped after every ingest (firehose followers wait).
    pub ingested: Arc<watch::Sender<u64>>,
    /// See [`CloudArgs::privacy_lead_ms`].
    pub privacy_lead_ms: u64,
    /// Set in the `--sink` benchmark mode.
    pub sink: Option<Arc<sink::Sink>>,
}

impl Portal for CloudState {
    const PRODUCT: &'static str = "Spaces Cloud";
    const NAV: &'static [(&'static str, &'static str, &'static str)] = &[
        ("/", "tenants", "Tenants"),
        ("/password", "password", "Password"),
    ];
    const NOTICES: &'static [(&'static str, &'static str)] = &[];

    fn db(&self) -> &Db {
        &self.db
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

/// A running cloud.
pub struct CloudService {
    pub state: CloudState,
    pub web: WebServer,
    /// The one-time code the setup page asks for, while no admin exists.
    pub setup_code: Option<String>,
    purge: tokio::task::JoinHandle<()>,
    publish_gaps: tokio::task::JoinHandle<()>,
}

const SIGNING_KEY: &str = "token_signing_key";

impl CloudService {
    pub async fn start(
        args: &CloudArgs,
        shutdown: CancellationToken,
    ) -> anyhow::Result<CloudService> {
        // Anchor the steady clock now, before any duration is judged.
        let _ = crate::clock::steady_now_ms();
        let dir = args.data_dir.clone();
        let (db, web_id, signer) = tokio::task::spawn_blocking(move || open(&dir)).await??;
        let dir = args.data_dir.clone();
        let setup_code = db
            .call(move |c| crate::portal::auth::setup_code::pending(c, &dir))
            .await?;
        let tls = web_id.server_config()?;
        let pin: Arc<str> = web_id.key_hash()?.into();
        // Bind first so the URL in tokens names the real port.
        let listener = std::net::TcpListener::bind(args.listen)?;
        let bound = listener.local_addr()?;
        drop(listener);
        let url: Arc<str> = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("https://{bound}"))
            .trim_end_matches('/')
            .into();
        let state = CloudState {
            db,
            signer: Arc::new(signer),
            url,
            pin,
            liveness: Liveness::new(args.stale_after_secs.max(1), args.down_after_secs.max(2)),
            dedup_window_secs: args
                .dedup_window_secs
                .unwrap_or(args.dedup_window_hours.saturating_mul(3600))
                .max(1),
            throttle: Arc::new(LoginThrottle::default()),
            sessions: SessionPolicy::default(),
            assets: Arc::new(Assets::locate(args.static_dir.as_deref())),
            config_changed: Arc::new(watch::channel(0).0),
            ingested: Arc::new(watch::channel(0).0),
            privacy_lead_ms: args.privacy_lead_ms,
            sink: args.sink.then(Arc::default),
        };
        let app = crate::portal::harden(
            pages::routes().merge(api::routes()),
            state.clone(),
            &state.assets.clone(),
        );
        let limits = crate::portal::server::ui_limits();
        let web = WebServer::start(app, tls, bound, None, limits, shutdown.clone())?;
        let purge = tokio::spawn(purge_loop(
            state.db.clone(),
            Duration::from_secs(state.dedup_window_secs.max(1) as u64),
            shutdown.clone(),
        ));
        let publish_gaps = tokio::spawn(publish_gaps_loop(
            state.db.clone(),
            state.ingested.clone(),
            shutdown,
        ));
        Ok(CloudService {
            state,
            web,
            setup_code,
            purge,
            publish_gaps,
        })
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        self.web.wait().await?;
        let _ = self.purge.await;
        let _ = self.publish_gaps.await;
        let db = self.state.db.clone();
        tokio::task::spawn_blocking(move || db.checkpoint()).await??;
        Ok(())
    }
}

fn open(dir: &std::path::Path) -> anyhow::Result<(Db, Identity, TokenSigner)> {
    let db = Db::open_in(dir, "cloud.db", schema::migrate)?;
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let (id, signer) = db.call_blocking(|c| -> anyhow::Result<_> {
        let mut names = vec![host.clone(), "localhost".into(), "127.0.0.1".into()];
        names.extend(crate::host::local_addresses());
        let id =
            identity::load_or_create(c, Purpose::Web, KeyKind::EcdsaP256, "spaces-cloud", names)?;
        let stored: Option<String> = c
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [SIGNING_KEY],
                |r| r.get(0),
            )
            .optional()
            .map_err(DbError::from)?;
        let signer = match stored {
            Some(b64) => TokenSigner::from_pkcs8(&B64.decode(b64)?).map_err(anyhow::Error::msg)?,
            None => {
                let (signer, pkcs8) = TokenSigner::generate();
                c.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                    [SIGNING_KEY, &B64.encode(pkcs8)],
                )
                .map_err(DbError::from)?;
                signer
            }
        };
        Ok((id, signer))
    })?;
    Ok((db, id, signer))
}

/// Puts gaps on the firehose once their grace period is over, and wakes
/// the firehose's followers when it did.
async fn publish_gaps_loop(db: Db, ingested: Arc<watch::Sender<u64>>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = crate::clock::steady_now_ms() as i64;
        match db.call(move |c| gaps::publish_due(c, now)).await {
            Ok(0) => {}
            Ok(_) => ingested.send_modify(|v| *v += 1),
            Err(e) => tracing::warn!(error = %e, "cannot publish gaps"),
        }
    }
}

/// Purges by ingest order: a mark of the newest rows is taken every
/// minute, and what was stored at a mark taken a window ago (as the
/// monotonic clock measures it) goes. A step of the wall clock changes
/// nothing here. After a restart nothing is purged until a window has
/// passed again: the error is on the side of keeping.
async fn purge_loop(db: Db, window: Duration, shutdown: CancellationToken) {
    let every = Duration::from_secs(60).min(window);
    let mut tick = tokio::time::interval(every);
    let mut marks: std::collections::VecDeque<(tokio::time::Instant, ingest::Mark)> =
        Default::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match db.call(|c| ingest::mark(c)).await {
            Ok(m) => marks.push_back((tokio::time::Instant::now(), m)),
            Err(e) => tracing::warn!(error = %e, "cannot mark the event store"),
        }
        let mut due = None;
        while marks.front().is_some_and(|(at, _)| at.elapsed() >= window) {
            due = marks.pop_front().map(|(_, m)| m);
        }
        if let Some(mark) = due
            && let Err(e) = db.call(move |c| ingest::purge(c, mark)).await
        {
            tracing::warn!(error = %e, "purge failed");
        }
    }
}
