//! The running appliance: opens the state, starts the web server and the
//! housekeeping tasks, and stops them all when the shutdown token fires.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::appliance::Appliance;
use crate::auth::sessions::{self, SessionPolicy};
use crate::auth::throttle::LoginThrottle;
use crate::cli::ServeArgs;
use crate::web::server::WebServer;
use crate::web::{AppState, Assets};

/// A started appliance.
pub struct Service {
    pub appliance: Arc<Appliance>,
    pub web: WebServer,
    tasks: TaskTracker,
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
        tokio::task::spawn_blocking(crate::auth::password::warm_up);
        let policy = SessionPolicy {
            idle: Duration::from_secs(args.session_idle_secs.max(1)),
            absolute: Duration::from_secs(args.session_max_secs.max(1)),
        };
        let state = AppState {
            appliance: appliance.clone(),
            throttle: Arc::new(LoginThrottle::default()),
            sessions: policy,
            assets: Arc::new(Assets::locate(args.static_dir.as_deref())),
        };
        let web = WebServer::start(state, args.listen, args.redirect_listen, shutdown.clone())?;
        let tasks = TaskTracker::new();
        tasks.spawn(purge_sessions(appliance.clone(), policy, shutdown));
        tasks.close();
        Ok(Service {
            appliance,
            web,
            tasks,
        })
    }

    /// The URL an admin opens, with a reachable address in place of 0.0.0.0.
    pub fn url(&self) -> String {
        let addr = self.web.https_addr;
        let host = if addr.ip().is_unspecified() {
            crate::appliance::local_addresses()
                .into_iter()
                .find(|a| !a.contains(':'))
                .unwrap_or_else(|| "127.0.0.1".into())
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        format!("https://{host}:{}/", addr.port())
    }

    /// Waits for the web server and tasks to drain, then leaves the state
    /// file checkpointed.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.web.wait().await?;
        self.tasks.wait().await;
        let db = self.appliance.db.clone();
        tokio::task::spawn_blocking(move || db.checkpoint()).await??;
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
