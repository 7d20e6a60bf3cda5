//! The AP Channel: access points stream IoT/BLE telemetry straight to the
//! connector over their own TLS connections to its AP port. Each AP is
//! known by its certificate key hash (the same for every connector of a
//! pair, so their copies dedup in the cloud); its link runs the same NMSP
//! loop as a controller session, with events on the AP channel.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connector::stats::{ChannelSnapshot, ChannelStats, LinkStatus};
use crate::contract::event::Channel;
use crate::nmsp::link::{NmspLink, SessionError, SessionTiming};
use crate::nmsp::queue::{EventQueue, SourceQueue};
use crate::nmsp::{FrameCodec, Message, PROTOCOL_VERSION, Service};
use crate::tls::client_auth::AuthList;
use crate::tls::identity::{Identity, crypto_provider};
use crate::tls::pin::cert_spki_sha256;

/// The largest frame body an AP may send: BLE/IoT reports are small, and
/// a lower bound than a controller's 64 KiB bounds what a rogue AP can make
/// the connector buffer.
pub const AP_MAX_BODY: usize = 8 * 1024;

struct KnownAp {
    id: i64,
    ip: String,
}

/// The APs seen since start, and their figures.
pub struct ApChannel {
    pub stats: Arc<ChannelStats>,
    known: Mutex<BTreeMap<String, KnownAp>>,
}

impl ApChannel {
    /// Listens on `addr` with the connector's identity; returns the channel
    /// and the bound address.
    pub async fn start(
        addr: SocketAddr,
        identity: &Identity,
        timing: SessionTiming,
        events: EventQueue,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> std::io::Result<(Arc<ApChannel>, SocketAddr)> {
        let config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_client_cert_verifier(AuthList::new(Vec::new(), true))
            .with_single_cert(
                vec![identity.cert_der().map_err(std::io::Error::other)?],
                identity.key_der().map_err(std::io::Error::other)?,
            )
            .map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen for APs on {addr}: {e}"))
        })?;
        let bound = listener.local_addr()?;
        let channel = Arc::new(ApChannel {
            stats: Arc::new(ChannelStats::default()),
            known: Mutex::new(BTreeMap::new()),
        });
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
                let (me, acceptor, events, stop) = (
                    me.clone(),
                    acceptor.clone(),
                    events.for_source(),
                    shutdown.clone(),
                );
                inner.spawn(async move {
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

    fn register(&self, hash: &str, ip: String) -> i64 {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let next = known.len() as i64 + 1;
        let ap = known.entry(hash.to_string()).or_insert(KnownAp {
            id: next,
            ip: ip.clone(),
        });
        ap.ip = ip;
        ap.id
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
            .and_then(|c| cert_spki_sha256(c).ok())
            .ok_or_else(|| SessionError::Tls("the AP presented no certificate".into()))?;
        let id = self.register(&hash, peer.ip().to_string());
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
        let result = link.pump(Channel::Ap, hash.into(), timing, &events).await;
        let reason = result.as_ref().err().map(|e| e.to_string());
        stats.set_down(LinkStatus::Disconnected, reason, None);
        result
    }
}
