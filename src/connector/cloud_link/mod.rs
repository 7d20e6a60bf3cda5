//! The cloud link: registration, config sync, event delivery from the
//! spool, and heartbeats, kept up while a token is stored. One task runs it;
//! its state is what the dashboard shows (Connected, Retrying with the last
//! error, Unauthorized with the cloud's reason, Not configured).

pub mod client;
pub mod config_sync;
mod delivery;
pub mod enroll;
pub mod spool;
pub mod uplink;

use crate::connector::proxy::{self, ProxySettings};
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::connector::client_privacy;
use crate::connector::stats::{ChannelStats, LinkStatus};
use crate::connector::stored_token::{self, LinkConfig};
use crate::connector::supervisor::Supervisor;
use crate::contract::cloud_api::{Heartbeat, PROTOCOL_VERSION, PeerState};
use crate::db::{Db, DbError};
use crate::nmsp::pseudonym::Privacy;
use client::{ClientError, CloudClient};
use config_sync::Item;
use delivery::{MAX_IN_FLIGHT, deliver};
use enroll::{EnrollError, Enrolled, Introduction};
use uplink::UplinkStats;

/// How long a config long-poll waits at the cloud.
const LONG_POLL: Duration = Duration::from_secs(25);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LinkStatusKind {
    NotConfigured,
    Connecting,
    Connected,
    Retrying,
    Unauthorized,
}

impl LinkStatusKind {
    pub fn label(self) -> &'static str {
        match self {
            LinkStatusKind::NotConfigured => "Not configured",
            LinkStatusKind::Connecting => "Connecting",
            LinkStatusKind::Connected => "Connected",
            LinkStatusKind::Retrying => "Retrying",
            LinkStatusKind::Unauthorized => "Unauthorized",
        }
    }
    pub fn css(self) -> &'static str {
        match self {
            LinkStatusKind::Connected => "status-ok",
            LinkStatusKind::Connecting | LinkStatusKind::Retrying => "status-pending",
            LinkStatusKind::Unauthorized => "status-bad",
            LinkStatusKind::NotConfigured => "status-off",
        }
    }
}

/// The link as pages and APIs show it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub status: LinkStatusKind,
    pub status_label: &'static str,
    pub status_css: &'static str,
    pub last_error: Option<String>,
    /// The HTTP proxy the link goes through, if one is set.
    pub proxy: Option<String>,
    pub last_sync: Option<i64>,
    pub peers: Vec<PeerState>,
    pub group_compatible: bool,
    pub delivered_events: u64,
    pub spool: spool::SpoolTotals,
    /// Events lost because they could not be spooled, by reason.
    pub lost_disk_full: u64,
    pub lost_storage_error: u64,
    /// Events the cloud refused as older than its dedup window.
    pub refused_too_old: u64,
    /// Events the cloud refused as failing its checks.
    pub refused_failed_checks: u64,
    pub last_loss: Option<String>,
    /// Spooling is failing for want of disk space right now.
    pub disk_full: bool,
}

impl LinkView {
    pub fn last_sync_text(&self) -> String {
        self.last_sync
            .map(crate::clock::format_unix)
            .unwrap_or_else(|| "not yet".into())
    }
}

#[derive(Debug, Clone)]
struct LinkState {
    status: LinkStatusKind,
    last_error: Option<String>,
    last_sync: Option<i64>,
    peers: Vec<PeerState>,
    group_compatible: bool,
}

/// Settings of the link.
#[derive(Debug, Clone, Copy)]
pub struct LinkSettings {
    pub source: Option<IpAddr>,
    pub heartbeat: Duration,
}

pub struct CloudLink {
    db: Db,
    who: Introduction,
    settings: LinkSettings,
    state: Mutex<LinkState>,
    /// Bumped when the token is set or removed in this process.
    epoch: watch::Sender<u64>,
    /// A local controller change is waiting in the outbox.
    outbox: Notify,
    pub spooled: Arc<Notify>,
    pub uplink: Arc<UplinkStats>,
    /// Batches the cloud acknowledged whose removal from the spool failed
    /// (a full disk): never sent again, removed as soon as it works.
    acked: Arc<Mutex<std::collections::BTreeSet<i64>>>,
    controllers: Arc<ChannelStats>,
    supervisor: Supervisor,
    /// The tenant's client privacy every link applies; replaced when the
    /// group configuration brings a new setting.
    privacy: Privacy,
}

impl CloudLink {
    pub fn start(
        db: Db,
        who: Introduction,
        settings: LinkSettings,
        controllers: Arc<ChannelStats>,
        supervisor: Supervisor,
        privacy: Privacy,
        shutdown: CancellationToken,
    ) -> (Arc<CloudLink>, tokio::task::JoinHandle<()>) {
        let link = Arc::new(CloudLink {
            db,
            who,
            settings,
            state: Mutex::new(LinkState {
                status: LinkStatusKind::NotConfigured,
                last_error: None,
                last_sync: None,
                peers: Vec::new(),
                group_compatible: true,
            }),
            epoch: watch::channel(0).0,
            outbox: Notify::new(),
            spooled: Arc::new(Notify::new()),
            uplink: Arc::new(UplinkStats::default()),
            acked: Arc::new(Mutex::new(Default::default())),
            controllers,
            supervisor,
            privacy,
        });
        let task = tokio::spawn(link.clone().run(shutdown));
        (link, task)
    }

    /// Checks, registers and stores a token (web form, API).
    pub async fn enroll(&self, input: &str) -> Result<Enrolled, EnrollError> {
        let done = enroll::enroll(&self.db, &self.who, self.settings.source, input).await?;
        self.epoch.send_modify(|e| *e += 1);
        Ok(done)
    }

    pub async fn remove_token(&self) -> Result<bool, DbError> {
        let removed = enroll::remove(&self.db).await?;
        self.epoch.send_modify(|e| *e += 1);
        Ok(removed)
    }

    /// The proxy setting changed here: reconnect through the new one now.
    pub fn proxy_changed(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// A local controller change was queued for the cloud.
    pub fn outbox_changed(&self) {
        self.outbox.notify_one();
    }

    pub async fn view(&self) -> Result<LinkView, DbError> {
        let (spool, proxy) = self
            .db
            .call(|c| Ok::<_, DbError>((spool::totals(c)?, proxy::get(c)?)))
            .await?;
        let s = self.lock().clone();
        Ok(LinkView {
            status: s.status,
            status_label: s.status.label(),
            status_css: s.status.css(),
            last_error: s.last_error,
            proxy: proxy.is_set().then_some(proxy.url),
            last_sync: s.last_sync,
            peers: s.peers,
            group_compatible: s.group_compatible,
            delivered_events: self.uplink.delivered.load(Relaxed),
            spool,
            lost_disk_full: self.uplink.lost_disk_full.load(Relaxed),
            lost_storage_error: self.uplink.lost_storage_error.load(Relaxed),
            refused_too_old: self.uplink.refused_too_old.load(Relaxed),
            refused_failed_checks: self.uplink.refused_failed_checks.load(Relaxed),
            last_loss: self
                .uplink
                .last_loss
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            disk_full: self.uplink.disk_full.load(Relaxed),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, status: LinkStatusKind, error: Option<String>) {
        let mut s = self.lock();
        s.status = status;
        if error.is_some() || status == LinkStatusKind::Connected {
            s.last_error = error;
        }
        if status == LinkStatusKind::NotConfigured {
            s.peers.clear();
        }
    }

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut delays = backoff();
        loop {
            let mut epoch = self.epoch.subscribe();
            let cfg = match self.db.call(|c| stored_token::link_config(c)).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the token");
                    None
                }
            };
            let outcome = match cfg {
                None => {
                    self.set(LinkStatusKind::NotConfigured, None);
                    Err(None)
                }
                Some(cfg) => tokio::select! {
                    r = self.connect(cfg) => r.map_err(Some),
                    _ = epoch.changed() => Ok(()),
                    _ = shutdown.cancelled() => return,
                },
            };
            let wait = match outcome {
                Ok(()) => {
                    delays = backoff();
                    Duration::ZERO
                }
                Err(None) => Duration::from_secs(2),
                Err(Some(e)) => {
                    let status =
                        if matches!(e, ClientError::Refused { .. } | ClientError::WrongKey(_)) {
                            LinkStatusKind::Unauthorized
                        } else {
                            LinkStatusKind::Retrying
                        };
                    tracing::warn!(error = %e, "cloud link: {}", status.label());
                    self.set(status, Some(e.to_string()));
                    delays.next().unwrap_or(Duration::from_secs(30))
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = epoch.changed() => delays = backoff(),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Registers if needed, then keeps the session up until it fails.
    async fn connect(&self, cfg: LinkConfig) -> Result<(), ClientError> {
        let proxy = self
            .db
            .call(|c| proxy::get(c))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let client = CloudClient::new(&cfg.token, self.settings.source, &proxy)?;
        let credential = match cfg.credential {
            Some(c) => c,
            None => {
                self.set(LinkStatusKind::Connecting, None);
                let resp = client.register(&self.who.request(&cfg.token)).await?;
                let (raw, cred) = (cfg.token.raw.clone(), resp.credential.clone());
                self.db
                    .call(move |c| stored_token::set_credential(c, &raw, Some(&cred)))
                    .await
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                resp.credential
            }
        };
        let client = client.with_credential(&credential);
        let result = tokio::select! {
            r = self.config_loop(&client) => r,
            r = self.proxy_watch(&proxy) => r,
            r = self.heartbeat_loop(&client, &cfg.token.raw) => r,
            r = self.sender_loop(&client) => r,
        };
        if let Err(e) = &result
            && e.is_unauthorized()
        {
            // The credential is gone on the cloud's side: register afresh.
            let raw = cfg.token.raw.clone();
            let _ = self
                .db
                .call(move |c| stored_token::set_credential(c, &raw, None))
                .await;
        }
        result
    }

    /// Ends the session when the stored proxy setting differs from the one
    /// it runs through (changed by the console, in another process), so
    /// the link reconnects through the new one.
    async fn proxy_watch(&self, running: &ProxySettings) -> Result<(), ClientError> {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if self
                .db
                .call(|c| proxy::get(c))
                .await
                .is_ok_and(|p| p != *running)
            {
                tracing::info!("cloud proxy setting changed: reconnecting");
                return Ok(());
            }
        }
    }

    async fn config_loop(&self, client: &CloudClient) -> Result<(), ClientError> {
        let mut version: Option<u64> = None;
        loop {
            self.flush_outbox(client).await?;
            let poll = client.config(version, LONG_POLL);
            tokio::pin!(poll);
            let cfg = loop {
                tokio::select! {
                    r = &mut poll => break Some(r?),
                    _ = self.outbox.notified() => break None,
                    // Changes made by the console, in another process.
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {
                        if self.db.call(|c| config_sync::outbox(c)).await.is_ok_and(|o| !o.is_empty()) {
                            break None;
                        }
                    }
                }
            };
            let Some(cfg) = cfg else { continue };
            if version != Some(cfg.version) {
                let v = cfg.version;
                let privacy = cfg.privacy.clone();
                let (changed, privacy_changed) = self
                    .db
                    .call(move |c| {
                        Ok::<_, DbError>((
                            config_sync::apply(c, &cfg)?,
                            client_privacy::store(c, &cfg.privacy)?,
                        ))
                    })
                    .await
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                if changed {
                    self.supervisor.poke();
                }
                if privacy_changed {
                    self.privacy.set(client_privacy::schedule(&privacy));
                    tracing::info!(
                        setting = client_privacy::label(&privacy),
                        generations = ?privacy.epochs,
                        "client privacy updated from the group configuration"
                    );
                }
                version = Some(v);
            }
            let mut s = self.lock();
            s.last_sync = Some(crate::clock::now_unix());
        }
    }

    async fn flush_outbox(&self, client: &CloudClient) -> Result<(), ClientError> {
        let pending = self
            .db
            .call(|c| config_sync::outbox(c))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        for o in pending {
            let r = match (&o.item, o.add) {
                (Item::Controller(c), true) => client.add_controller(c).await.map(drop),
                (Item::Controller(c), false) => {
                    client.remove_controller(&c.host, c.port).await.map(drop)
                }
                (Item::AccessPoint(a), true) => client.add_access_point(a).await.map(drop),
                (Item::AccessPoint(a), false) => {
                    client.remove_access_point(&a.key_hash).await.map(drop)
                }
            };
            match r {
                Ok(()) => {}
                // The cloud will never take this one: do not block the rest.
                Err(ClientError::Refused {
                    status,
                    ref message,
                    ..
                }) if status != 401 => {
                    tracing::warn!(%message, change = ?o.item, "configuration change refused by the cloud");
                }
                Err(e) => return Err(e),
            }
            let id = o.id;
            let _ = self.db.call(move |c| config_sync::sent(c, id)).await;
        }
        Ok(())
    }

    async fn heartbeat_loop(
        &self,
        client: &CloudClient,
        token_raw: &str,
    ) -> Result<(), ClientError> {
        loop {
            let hb = self.heartbeat().await;
            let ack = client.heartbeat(&hb).await?;
            {
                let mut s = self.lock();
                s.peers = ack.peers;
                s.group_compatible = ack.group_compatible;
            }
            self.set(LinkStatusKind::Connected, None);
            // A token replaced or removed from the console (another process).
            let current = self
                .db
                .call(|c| stored_token::link_config(c))
                .await
                .ok()
                .flatten();
            if current.map(|c| c.token.raw) != Some(token_raw.to_string()) {
                return Ok(());
            }
            tokio::time::sleep(self.settings.heartbeat).await;
        }
    }

    async fn heartbeat(&self) -> Heartbeat {
        let names = self
            .db
            .call(|c| crate::connector::controllers::names(c))
            .await;
        let snap = self.controllers.snapshot_named(names);
        let spool = self.db.call(|c| spool::totals(c)).await.unwrap_or_default();
        Heartbeat {
            hostname: self.who.hostname.clone(),
            addresses: self.who.addresses.clone(),
            software_version: crate::VERSION.to_string(),
            protocol_version: PROTOCOL_VERSION,
            controllers_active: snap.totals.active,
            controllers_total: snap.totals.links,
            active_controllers: snap
                .links
                .iter()
                .filter(|l| l.status == LinkStatus::Active)
                .map(|l| l.address.clone())
                .collect(),
            event_rate: snap.totals.incoming_rate_per_sec,
            events_total: snap.totals.incoming_messages,
            spooled_events: spool.events as u64,
            dropped_events: spool.dropped_events as u64,
        }
    }

    /// Sends spooled batches oldest first, a few at a time so the round
    /// trips overlap; each leaves the spool only once the cloud has it.
    /// After a failure the session ends and the next one starts again from
    /// the oldest batch: the cloud ignores a batch id it already has.
    async fn sender_loop(&self, client: &CloudClient) -> Result<(), ClientError> {
        let mut in_flight = tokio::task::JoinSet::new();
        let mut dispatched = 0i64;
        loop {
            self.remove_acked().await;
            while in_flight.len() < MAX_IN_FLIGHT {
                let next = self
                    .db
                    .call(move |c| spool::next_after(c, dispatched))
                    .await
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                let Some(batch) = next else { break };
                dispatched = batch.id;
                if self
                    .acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&batch.id)
                {
                    continue;
                }
                let (client, db, uplink, acked) = (
                    client.clone(),
                    self.db.clone(),
                    self.uplink.clone(),
                    self.acked.clone(),
                );
                in_flight.spawn(deliver(client, db, uplink, acked, batch));
            }
            tokio::select! {
                done = in_flight.join_next(), if !in_flight.is_empty() => match done {
                    Some(Ok(Err(e))) => return Err(e),
                    Some(Err(e)) => return Err(ClientError::Protocol(e.to_string())),
                    _ => {}
                },
                _ = self.spooled.notified(), if in_flight.len() < MAX_IN_FLIGHT => {}
                _ = tokio::time::sleep(Duration::from_secs(1)), if in_flight.is_empty() => {}
            }
        }
    }
}

impl CloudLink {
    /// Retries removing acknowledged batches that could not be removed.
    async fn remove_acked(&self) {
        let pending: Vec<i64> = self
            .acked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        for id in pending {
            if self.db.call(move |c| spool::remove(c, id)).await.is_ok() {
                self.acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            }
        }
    }
}

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build()
}
