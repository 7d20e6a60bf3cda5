//! The AP Channel: access points stream IoT/BLE telemetry straight to the
//! connector over their own TLS connections to its AP port. Each AP is
//! known by its certificate key hash (the same for every connector of a
//! pair, so their copies dedup in the cloud); only APs on the allow-list
//! are served (`ap_admission`), and their links run the same NMSP loop as
//! a controller session, with events on the AP channel. The port is
//! bounded in connections per address and in total, and handshakes in time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn_limit::{Caps, ConnectionLimits};
use crate::connector::access_points;
use crate::connector::ap_admission::Admission;
use crate::connector::nmsp_identity::NmspIdentityCell;
use crate::connector::stats::{ChannelSnapshot, ChannelStats, LinkStatus};
use crate::contract::event::Channel;
use crate::db::Db;
use crate::nmsp::link::{NmspLink, SessionError, SessionTiming};
use crate::nmsp::queue::{EventQueue, SourceQueue};
use crate::nmsp::{FrameCodec, Message, PROTOCOL_VERSION, Service};
use crate::tls::client_auth::AuthList;
use crate::tls::identity::crypto_provider;
use crate::tls::pin::cert_spki_sha256;

/// The largest frame body an AP may send: BLE/IoT reports are small, and
/// a lower bound than a controller's 64 KiB bounds what a rogue AP can make
/// the connector buffer.
pub const AP_MAX_BODY: usize = 8 * 1024;

/// How often the allow-list is re-read from the state file (changes made
/// here or synced from the group are also applied at once via `changed`).
const RELOAD_EVERY: Duration = Duration::from_secs(2);

struct KnownAp {
    id: i64,
    ip: String,
    /// Closes the AP's link when it is taken off the allow-list.
    cut: CancellationToken,
}

/// The allowed APs seen since start, their figures, and who was refused.
pub struct ApChannel {
    pub stats: Arc<ChannelStats>,
    pub admission: Admission,
    pub connections: Arc<ConnectionLimits>,
    known: Mutex<BTreeMap<String, KnownAp>>,
    changed: tokio::sync::Notify,
}

impl ApChannel {
    /// Listens on `addr` with the connector's identity; returns the channel
    /// and the bound address.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        addr: SocketAddr,
        caps: Caps,
        db: Db,
        identity: Arc<NmspIdentityCell>,
        timing: SessionTiming,
        events: EventQueue,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> std::io::Result<(Arc<ApChannel>, SocketAddr)> {
        let config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_client_cert_verifier(AuthList::new(Vec::new(), true))
            .with_cert_resolver(identity);
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen for APs on {addr}: {e}"))
        })?;
        let bound = listener.local_addr()?;
        let channel = Arc::new(ApChannel {
            stats: Arc::new(ChannelStats::default()),
            admission: Admission::default(),
            connections: ConnectionLimits::new(caps),
            known: Mutex::new(BTreeMap::new()),
            changed: tokio::sync::Notify::new(),
        });
        channel.reload(&db).await;
        tasks.spawn(channel.clone().reload_loop(db, shutdown.clone()));
        let me = channel.clone();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let inner = tasks.clone();
        tasks.spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(_) => continue,
                    },
                };
                // Caps and penalties first: a refused connection costs no
                // TLS work and no task.
                let Some(slot) = me.connections.admit(peer.ip()) else {
                    continue;
                };
                if !me.admission.may_try(peer.ip()) {
                    continue;
                }
                let (me, acceptor, events, stop) = (
                    me.clone(),
                    acceptor.clone(),
                    events.for_source(),
                    shutdown.clone(),
                );
                inner.spawn(async move {
                    let _slot = slot;
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        r = me.serve(tcp, peer, acceptor, timing, events) => if let Err(e) = r {
                            tracing::info!(ap = %peer, "AP link ended: {e}");
                        },
                    }
                });
            }
        });
        Ok((channel, bound))
    }

    /// The allow-list changed here: apply it at once.
    pub fn allow_list_changed(&self) {
        self.changed.notify_one();
    }

    async fn reload_loop(self: Arc<Self>, db: Db, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(RELOAD_EVERY) => {}
            }
            self.reload(&db).await;
        }
    }

    /// Re-reads the allow-list; links of APs taken off it are closed.
    async fn reload(&self, db: &Db) {
        match db.call(|c| access_points::allowed(c)).await {
            Ok(now) => {
                let gone = self.admission.set_allowed(now);
                let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
                for hash in gone {
                    if let Some(ap) = known.get(&hash) {
                        ap.cut.cancel();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the AP allow-list"),
        }
    }

    /// Figures of every AP seen, for pages and APIs.
    pub fn snapshot(&self) -> ChannelSnapshot {
        let names: Vec<(i64, String, String)> = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(hash, ap)| (ap.id, format!("AP {}", &hash[..12]), ap.ip.clone()))
            .collect();
        self.stats.snapshot(&names)
    }

    /// Notes an allowed AP (the table is bounded by the allow-list);
    /// returns its id and the token that closes its link.
    fn register(&self, hash: &str, ip: String) -> (i64, CancellationToken) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let next = known.len() as i64 + 1;
        let ap = known.entry(hash.to_string()).or_insert(KnownAp {
            id: next,
            ip: ip.clone(),
            cut: CancellationToken::new(),
        });
        if ap.cut.is_cancelled() {
            ap.cut = CancellationToken::new();
        }
        ap.ip = ip;
        (ap.id, ap.cut.clone())
    }

    async fn serve(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        acceptor: TlsAcceptor,
        timing: SessionTiming,
        events: SourceQueue,
    ) -> Result<(), SessionError> {
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(timing.handshake, acceptor.accept(tcp))
            .await
            .map_err(|_| SessionError::Timeout("AP TLS handshake"))?
            .map_err(|e| SessionError::Tls(e.to_string()))?;
        let hash = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| cert_spki_sha256(c).ok());
        // Refused before a single frame is read.
        let Some(hash) = hash else {
            self.admission
                .refuse(peer.ip(), None, "presented no certificate");
            return Err(SessionError::Protocol(
                "the AP presented no certificate".into(),
            ));
        };
        if !self.admission.is_allowed(&hash) {
            self.admission
                .refuse(peer.ip(), Some(hash.clone()), "not on the allow-list");
            let mut tls = tls;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
            return Err(SessionError::Protocol(format!(
                "AP key {hash} is not on the allow-list"
            )));
        }
        let (id, cut) = self.register(&hash, peer.ip().to_string());
        let stats = self.stats.link(id);
        let mut link =
            NmspLink::with_codec(tls, stats.clone(), FrameCodec::with_max_body(AP_MAX_BODY));
        let hello = tokio::time::timeout(timing.handshake, async {
            loop {
                if let Some(Message::Capability { .. }) = link.next_message().await? {
                    return Ok::<_, SessionError>(());
                }
            }
        })
        .await
        .map_err(|_| SessionError::Timeout("AP handshake"))?;
        hello?;
        link.send(Message::Capability {
            protocol_version: PROTOCOL_VERSION,
            services: Service::IOT_BLE,
        })
        .await?;
        stats.set_active();
        let result = tokio::select! {
            r = link.pump(Channel::Ap, hash.into(), timing, &events) => r,
            _ = cut.cancelled() => Err(SessionError::Protocol(
                "the AP was taken off the allow-list".into(),
            )),
        };
        let reason = result.as_ref().err().map(|e| e.to_string());
        stats.set_down(LinkStatus::Disconnected, reason, None);
        result
    }
}
