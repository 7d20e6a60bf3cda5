//! The running appliance: opens the state, starts the web server and the
//! housekeeping tasks, and stops them all when the shutdown token fires.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn_limit::Caps;
use crate::connector::ap_channel::ApChannel;
use crate::connector::appliance::Appliance;
use crate::connector::cli::ServeArgs;
use crate::connector::cloud_link::uplink::{self, BatchLimits};
use crate::connector::cloud_link::{CloudLink, LinkSettings};
use crate::connector::controller_session::SessionTiming;
use crate::connector::stats::ChannelStats;
use crate::connector::supervisor::Supervisor;
use crate::connector::web::AppState;
use crate::nmsp::queue::{self, EventQueue};
use crate::portal::Assets;
use crate::portal::auth::sessions::{self, SessionPolicy};
use crate::portal::auth::throttle::LoginThrottle;
use crate::portal::server::WebServer;

/// A started appliance.
pub struct Service {
    pub appliance: Arc<Appliance>,
    /// Where APs connect (the AP Channel).
    pub ap_addr: std::net::SocketAddr,
    pub cloud: Arc<CloudLink>,
    batcher: tokio::task::JoinHandle<()>,
    flush: CancellationToken,
    pub supervisor: Supervisor,
    pub web: WebServer,
    /// The one-time code the setup page asks for, while no admin exists.
    pub setup_code: Option<String>,
    /// Set when the service stopped itself to start again (a restore).
    pub restart: RestartRequest,
    tasks: TaskTracker,
}

/// A request from inside the service to stop and be started again, for a
/// change it cannot take live (a restored configuration, with perhaps
/// another identity). The program exits with [`RESTART_EXIT_CODE`] and
/// systemd starts it again (`Restart=on-failure`).
#[derive(Clone)]
pub struct RestartRequest {
    shutdown: CancellationToken,
    requested: Arc<std::sync::atomic::AtomicBool>,
}

/// EX_TEMPFAIL: stopped to be started again.
pub const RESTART_EXIT_CODE: i32 = 75;

impl RestartRequest {
    /// Stops the service in `after` (long enough for the answer that
    /// says so to reach the browser).
    pub fn request(&self, after: std::time::Duration) {
        self.requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            shutdown.cancel();
        });
    }

    pub fn requested(&self) -> bool {
        self.requested.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Service {
    pub async fn start(
        data_dir: &std::path::Path,
        args: &ServeArgs,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Service> {
        let dir = data_dir.to_path_buf();
        let appliance =
            Arc::new(tokio::task::spawn_blocking(move || Appliance::open(&dir)).await??);
        // Before anything is served: a first boot's admin password means
        // there is no setup page to offer.
        let first_boot = crate::connector::first_boot::import(&appliance.db, data_dir).await?;
        let dir = data_dir.to_path_buf();
        let setup_code = appliance
            .db
            .call(move |c| crate::portal::auth::setup_code::pending(c, &dir))
            .await?;
        let policy = SessionPolicy {
            idle: Duration::from_secs(args.session_idle_secs.max(1)),
            absolute: Duration::from_secs(args.session_max_secs.max(1)),
        };
        let controller_stats = Arc::new(ChannelStats::default());
        let (events_tx, events_rx) =
            EventQueue::new(queue::DEFAULT_TOTAL_BYTES, queue::DEFAULT_SOURCE_BYTES);
        let events_tx = events_tx.with_privacy(appliance.privacy.clone());
        let tasks = TaskTracker::new();
        let timing = SessionTiming {
            echo_interval: Duration::from_millis(args.echo_interval_ms.max(10)),
            dead_after: Duration::from_millis(args.dead_after_ms.max(20)),
            ..SessionTiming::default()
        };
        let (ap_channel, ap_addr) = ApChannel::start(
            args.ap_listen,
            Caps {
                per_address: args.ap_max_per_address.max(1),
                total: args.ap_max_connections.max(1),
            },
            appliance.db.clone(),
            appliance.nmsp.clone(),
            timing,
            events_tx.clone(),
            shutdown.clone(),
            &tasks,
        )
        .await?;
        let supervisor = Supervisor::start(
            args.source_ip,
            appliance.db.clone(),
            appliance.nmsp.clone(),
            timing,
            controller_stats.clone(),
            events_tx,
            shutdown.clone(),
        );
        let (cloud, cloud_task) = CloudLink::start(
            appliance.db.clone(),
            appliance.introduction(args.source_ip),
            LinkSettings {
                source: args.source_ip,
                heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
            },
            controller_stats.clone(),
            supervisor.clone(),
            appliance.privacy.clone(),
            shutdown.clone(),
        );
        if let Some((record, token)) = first_boot {
            tracing::info!(source = %record.source, applied = ?record.applied,
                refused = ?record.refused, "first-boot settings applied");
            if let Some(token) = token {
                tasks.spawn(enroll_first_boot_token(
                    appliance.clone(),
                    cloud.clone(),
                    token,
                ));
            }
        }
        let flush = CancellationToken::new();
        let limits = BatchLimits {
            max_events: 2000,
            max_bytes: uplink::MAX_BATCH_BYTES,
            max_delay: Duration::from_millis(50),
            spool_cap_bytes: args
                .spool_cap_bytes
                .unwrap_or(args.spool_cap_mb.saturating_mul(1 << 20))
                .min(i64::MAX as u64) as i64,
        };
        let batcher = tokio::spawn(uplink::run_batcher(
            appliance.db.clone(),
            events_rx,
            limits,
            cloud.uplink.clone(),
            cloud.spooled.clone(),
            flush.clone(),
        ));
        let restart = RestartRequest {
            shutdown: shutdown.clone(),
            requested: Arc::default(),
        };
        let state = AppState {
            restart: restart.clone(),
            upgrades: crate::connector::web::UpgradePolicy {
                managed: args.upgrades.manage_upgrades,
                trusted: Arc::new(crate::connector::upgrade::trusted_keys(
                    &args.upgrades.trust_release_key,
                )),
            },
            ap_channel: ap_channel.clone(),
            ui_connections: crate::portal::server::ui_limits(),
            cloud: cloud.clone(),
            supervisor: supervisor.clone(),
            controller_stats: controller_stats.clone(),
            appliance: appliance.clone(),
            throttle: Arc::new(LoginThrottle::default()),
            sessions: policy,
            assets: Arc::new(Assets::locate(args.static_dir.as_deref())),
            clock: Arc::default(),
            network: crate::connector::network::NetworkPolicy {
                managed: args.manage_network,
                confirm_secs: args.network_confirm_secs.max(1),
            },
        };
        let web =
            WebServer::start_appliance(state, args.listen, args.redirect_listen, shutdown.clone())?;
        tasks.spawn(purge_sessions(appliance.clone(), policy, shutdown.clone()));
        if args.upgrades.manage_upgrades {
            tasks.spawn(report_health(
                appliance.clone(),
                controller_stats.clone(),
                shutdown.clone(),
            ));
        }
        tasks.spawn(follow_web_cert(appliance.clone(), shutdown.clone()));
        if args.manage_network {
            tasks.spawn(crate::connector::network::confirm::watch(
                appliance.db.clone(),
                appliance.data_dir.clone(),
                shutdown.clone(),
            ));
        }
        tasks.spawn(sample_stats(
            vec![controller_stats, ap_channel.stats.clone()],
            shutdown.clone(),
        ));
        tasks.spawn(async move {
            let _ = cloud_task.await;
        });
        // Once the listeners are up, not before: the dummy hash is a
        // second of CPU on an emulated first boot, and no login can come
        // before the setup page is served.
        tokio::task::spawn_blocking(crate::portal::auth::password::warm_up);
        tasks.close();
        Ok(Service {
            ap_addr,
            cloud,
            batcher,
            flush,
            supervisor,
            appliance,
            web,
            setup_code,
            restart,
            tasks,
        })
    }

    /// The URL an admin opens, with a reachable address in place of 0.0.0.0.
    pub fn url(&self) -> String {
        let addr = self.web.https_addr;
        format!("https://{}:{}/", crate::host::url_host(addr), addr.port())
    }

    /// Waits for the web server and tasks to drain, then leaves the state
    /// file checkpointed.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.web.wait().await?;
        self.supervisor.wait().await;
        // Sessions are closed: spool whatever they queued.
        self.flush.cancel();
        let _ = self.batcher.await;
        self.tasks.wait().await;
        let db = self.appliance.db.clone();
        // A checkpoint that fails (a full disk) loses nothing: the WAL is
        // replayed at the next start. It must not make a clean stop fail.
        if let Err(e) = tokio::task::spawn_blocking(move || db.checkpoint()).await? {
            tracing::warn!(error = %e, "could not checkpoint the state file at shutdown; the WAL keeps it");
        }
        Ok(())
    }
}

async fn purge_sessions(
    appliance: Arc<Appliance>,
    policy: SessionPolicy,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = appliance.db.call(move |c| sessions::purge_expired(c, policy)).await {
                    tracing::warn!(error = %e, "could not purge expired sessions");
                }
            }
        }
    }
}

/// A first boot's token is enrolled like a pasted one, and the outcome
/// recorded with the rest of the first boot.
async fn enroll_first_boot_token(appliance: Arc<Appliance>, cloud: Arc<CloudLink>, token: String) {
    let outcome = cloud
        .enroll(&token)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    if let Err(e) = crate::connector::first_boot::record_token(&appliance.db, outcome).await {
        tracing::error!(error = %e, "cannot record the first-boot token");
    }
}

/// Picks up an admin UI certificate installed at the console (another
/// process): the next connection is served with it.
/// Where upgrades are managed: the service's health, every 2 s, for the
/// installer that waits for it after an upgrade. Written once the web UI
/// is up, so a report means the UI answers.
async fn report_health(
    appliance: Arc<Appliance>,
    controllers: Arc<ChannelStats>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let names = appliance
            .db
            .call(|c| crate::connector::controllers::names(c))
            .await;
        let active = controllers.snapshot_named(names).active_ids();
        let dir = appliance.data_dir.clone();
        let written = tokio::task::spawn_blocking(move || {
            crate::connector::upgrade::write_health(&dir, active)
        })
        .await;
        if let Ok(Err(e)) = written {
            tracing::warn!(error = %e, "could not write the health report the upgrade installer reads");
        }
    }
}

async fn follow_web_cert(appliance: Arc<Appliance>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => match appliance.web_cert.refresh().await {
                Ok(true) => tracing::info!("admin UI certificate changed: serving the new one"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot re-read the admin UI certificate"),
            },
        }
    }
}

/// Turns counters into rates once a second.
async fn sample_stats(channels: Vec<Arc<ChannelStats>>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => channels.iter().for_each(|c| c.sample()),
        }
    }
}
