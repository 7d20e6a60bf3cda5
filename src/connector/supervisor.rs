//! The supervisor: one task per configured controller, started when a
//! controller appears in the state file, stopped when it goes, restarted
//! at once after a session that was up and with jittered exponential
//! backoff only on repeated failure (`reconnect`), all
//! cancelled at shutdown.
//!
//! It reconciles against the state file rather than taking commands, so a
//! controller added by the web form, the API, the console or (later) the
//! cloud is picked up the same way: `poke` for at once, a slow poll for
//! changes made by another process.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::connector::reconnect::Reconnect;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connector::controller_session::{ControllerSession, SessionError, SessionTiming};
use crate::connector::controllers::{self, Controller};
use crate::connector::nmsp_identity::NmspIdentityCell;
use crate::connector::stats::{ChannelStats, LinkStatus};
use crate::db::Db;
use crate::nmsp::queue::EventQueue;

/// How often the state file is re-read for changes made elsewhere.
const POLL: Duration = Duration::from_secs(2);

struct Running {
    /// What the task was started with; a change restarts it.
    target: (String, u16, bool),
    /// The controller key it was started trusting. A different stored key
    /// (an admin accepted a new one) restarts it too: a list read just
    /// before the acceptance must not leave a task on the old key. None
    /// (first contact) learns the key itself, so a key appearing is not a
    /// change.
    pin: Option<String>,
    cancel: CancellationToken,
}

impl Running {
    fn matches(&self, c: &Controller) -> bool {
        let pin_kept = match (&self.pin, &c.cert_pin) {
            (Some(started), Some(stored)) => started == stored,
            _ => true,
        };
        self.target == (c.host.clone(), c.port, c.enabled) && pin_kept
    }
}

struct Inner {
    source: Option<std::net::IpAddr>,
    db: Db,
    identity: Arc<NmspIdentityCell>,
    /// The key hash running sessions were started with; a re-key restarts
    /// them all.
    started_with: Mutex<String>,
    timing: SessionTiming,
    stats: Arc<ChannelStats>,
    events: EventQueue,
    running: Mutex<HashMap<i64, Running>>,
    poke: Notify,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// Handle to the supervisor; cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Supervisor {
    /// Starts the supervisor; it stops when `shutdown` fires.
    pub fn start(
        source: Option<std::net::IpAddr>,
        db: Db,
        identity: Arc<NmspIdentityCell>,
        timing: SessionTiming,
        stats: Arc<ChannelStats>,
        events: EventQueue,
        shutdown: CancellationToken,
    ) -> Supervisor {
        let sup = Supervisor {
            inner: Arc::new(Inner {
                source,
                db,
                started_with: Mutex::new(identity.current().key_hash.clone()),
                identity,
                timing,
                stats,
                events,
                running: Mutex::new(HashMap::new()),
                poke: Notify::new(),
                tasks: TaskTracker::new(),
                shutdown,
            }),
        };
        let me = sup.clone();
        sup.inner
            .tasks
            .spawn(async move { me.reconcile_loop().await });
        sup
    }

    /// Re-reads the configuration now (after a change made in-process).
    pub fn poke(&self) {
        self.inner.poke.notify_one();
    }

    /// The local address sessions dial from and their timing, for a
    /// pre-flight check that must dial the same way.
    pub fn dialing(&self) -> (Option<std::net::IpAddr>, SessionTiming) {
        (self.inner.source, self.inner.timing)
    }

    /// Restarts one controller's session (after its new key was accepted).
    pub fn restart(&self, id: i64) {
        if let Some(r) = self.running().remove(&id) {
            r.cancel.cancel();
        }
        self.poke();
    }

    /// Waits until every session task has ended (after shutdown).
    pub async fn wait(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn reconcile_loop(self) {
        loop {
            self.follow_rekey().await;
            match self.inner.db.call(|c| controllers::list(c)).await {
                Ok(list) => self.reconcile(list),
                Err(e) => tracing::warn!(error = %e, "cannot read controllers"),
            }
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => break,
                _ = self.inner.poke.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        for (_, r) in self.running().drain() {
            r.cancel.cancel();
        }
    }

    /// Restarts every session when the NMSP key changed (here or, seen in
    /// the state file, by a console command), so none keeps the old key.
    async fn follow_rekey(&self) {
        if let Err(e) = self.inner.identity.refresh().await {
            tracing::warn!(error = %e, "cannot re-read the NMSP identity");
        }
        let now = self.inner.identity.current().key_hash.clone();
        let mut started = self
            .inner
            .started_with
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *started != now {
            tracing::info!(key_hash = %now, "NMSP key changed: restarting every controller session");
            for (_, r) in self.running().drain() {
                r.cancel.cancel();
            }
            *started = now;
        }
    }

    fn reconcile(&self, list: Vec<Controller>) {
        let mut running = self.running();
        let wanted: HashMap<i64, &Controller> = list.iter().map(|c| (c.id, c)).collect();
        running.retain(|id, r| {
            let keep = wanted.get(id).is_some_and(|c| r.matches(c));
            if !keep {
                r.cancel.cancel();
                if !wanted.contains_key(id) {
                    self.inner.stats.remove(*id);
                }
            }
            keep
        });
        for c in list {
            if running.contains_key(&c.id) || self.inner.shutdown.is_cancelled() {
                continue;
            }
            let cancel = self.inner.shutdown.child_token();
            running.insert(
                c.id,
                Running {
                    target: (c.host.clone(), c.port, c.enabled),
                    pin: c.cert_pin.clone(),
                    cancel: cancel.clone(),
                },
            );
            let inner = self.inner.clone();
            self.inner
                .tasks
                .spawn(async move { supervise(inner, c, cancel).await });
        }
    }
}

/// Keeps one controller's session up until `cancel`.
async fn supervise(inner: Arc<Inner>, controller: Controller, cancel: CancellationToken) {
    let stats = inner.stats.link(controller.id);
    if !controller.enabled {
        stats.set_down(LinkStatus::Disabled, None, None);
        return;
    }
    let mut delays = Reconnect::default();
    let mut pin = controller.cert_pin.clone();
    loop {
        stats.set_down(LinkStatus::Connecting, None, None);
        let session = ControllerSession {
            source: inner.source,
            host: controller.host.clone(),
            port: controller.port,
            pin: pin.clone(),
            identity: Arc::new(inner.identity.current().identity.clone()),
            timing: inner.timing,
            stats: stats.clone(),
            events: inner.events.for_source(),
            cancel: cancel.clone(),
        };
        let db = inner.db.clone();
        let id = controller.id;
        let first_use = pin.is_none();
        let mut learned = None;
        let result = session
            .run(|c| {
                if first_use {
                    learned = Some(c.key_hash.clone());
                }
            })
            .await;
        if let Some(key) = learned.take() {
            pin = Some(key.clone());
            let _ = db.call(move |c| controllers::learn_pin(c, id, &key)).await;
        }
        let err = match result {
            Ok(()) => return,
            Err(e) => e,
        };
        let was_active = stats.status() == LinkStatus::Active;
        if was_active {
            stats.reconnects.fetch_add(1, Relaxed);
        }
        tracing::warn!(controller = %controller.name, error = %err, "controller session ended");
        let status = match &err {
            SessionError::CertChanged { observed } => {
                let key = observed.clone();
                let _ = db
                    .call(move |c| controllers::set_pending_pin(c, id, &key))
                    .await;
                stats.set_down(LinkStatus::CertChanged, Some(err.to_string()), None);
                // Stays down until an admin accepts the key (`restart`).
                cancel.cancelled().await;
                return;
            }
            SessionError::Shutdown => return,
            SessionError::Unauthorized(_) => LinkStatus::Unauthorized,
            _ => LinkStatus::Backoff,
        };
        let delay = delays.next_delay(was_active);
        let retry_at = crate::clock::now_unix() + delay.as_secs() as i64;
        stats.set_down(status, Some(err.to_string()), Some(retry_at));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
