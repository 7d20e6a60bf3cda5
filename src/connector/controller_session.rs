//! One NMSP session from the connector to one controller (NMSP.md
//! "Session"): TCP connect, TLS with the connector's client identity and
//! the controller's pinned key, capability exchange, subscription, then the
//! shared read loop of `nmsp_link` (echo keepalive, dead-peer detection,
//! every data notification forwarded as an event).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::connector::stats::LinkStats;
use crate::contract::event::Channel;
use crate::nmsp::link::{NmspLink, refused_by_peer};
pub use crate::nmsp::link::{SessionError, SessionTiming};
use crate::nmsp::queue::SourceQueue;
use crate::nmsp::{Message, PROTOCOL_VERSION, Service};
use crate::tls::identity::Identity;
use crate::tls::pin::PinnedKey;

/// What the connector asks every controller for.
pub const WANTED: Service = Service::ALL;

/// What a session needs.
pub struct ControllerSession {
    /// Local address to connect from, if set.
    pub source: Option<std::net::IpAddr>,
    pub host: String,
    pub port: u16,
    /// The controller's accepted key hash; `None` until first contact.
    pub pin: Option<String>,
    pub identity: Arc<Identity>,
    pub timing: SessionTiming,
    pub stats: Arc<LinkStats>,
    pub events: SourceQueue,
    pub cancel: CancellationToken,
}

pub(crate) type Conn = NmspLink<TlsStream<TcpStream>>;

/// How a session that got as far as TLS knows its controller.
pub struct Connected {
    /// The controller's key hash, as seen in this handshake.
    pub key_hash: String,
}

impl ControllerSession {
    /// Runs until cancelled (`Ok`) or until the session fails. `on_connected`
    /// is called once the controller's key is verified (to store a pin
    /// learned on first use).
    pub async fn run(self, on_connected: impl FnOnce(&Connected)) -> Result<(), SessionError> {
        let cancel = self.cancel.clone();
        tokio::select! {
            _ = cancel.cancelled() => Ok(()),
            r = self.run_inner(on_connected) => r,
        }
    }

    async fn run_inner(&self, on_connected: impl FnOnce(&Connected)) -> Result<(), SessionError> {
        let Secured {
            mut conn, key_hash, ..
        } = self.connect().await?;
        on_connected(&Connected {
            key_hash: key_hash.clone(),
        });
        timeout(self.timing.handshake, self.handshake(&mut conn))
            .await
            .map_err(|_| SessionError::Timeout("NMSP handshake"))??;
        self.stats.set_active();
        conn.pump(
            Channel::Controller,
            key_hash.into(),
            self.timing,
            &self.events,
        )
        .await
    }

    async fn connect(&self) -> Result<Secured, SessionError> {
        let addr = resolve(&self.host, self.port).await?;
        let tcp = self.tcp_to(addr).await?;
        self.tls(tcp).await
    }

    /// TCP to the controller's resolved address, within the connect time.
    pub(crate) async fn tcp_to(&self, addr: SocketAddr) -> Result<TcpStream, SessionError> {
        let tcp = timeout(self.timing.connect, connect_from(self.source, addr))
            .await
            .map_err(|_| SessionError::Timeout("TCP connect"))?
            .map_err(|source| SessionError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// TLS over `tcp` with this connector's identity, checking the
    /// controller's key against the pin. TLS 1.3 or, for controllers
    /// without it, TLS 1.2 with ECDHE and AES-GCM or ChaCha20 (RSA or
    /// ECDSA keys): rustls offers no other suites.
    pub(crate) async fn tls(&self, tcp: TcpStream) -> Result<Secured, SessionError> {
        let verifier = PinnedKey::trust_on_first_use(self.pin.as_deref());
        let config = verifier
            .clone()
            .config_builder()
            .with_client_auth_cert(
                vec![
                    self.identity
                        .cert_der()
                        .map_err(|e| SessionError::Tls(e.to_string()))?,
                ],
                self.identity
                    .key_der()
                    .map_err(|e| SessionError::Tls(e.to_string()))?,
            )
            .map_err(|e| SessionError::Tls(e.to_string()))?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| SessionError::Resolve(self.host.clone()))?;
        let tls = timeout(
            self.timing.handshake,
            TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await
        .map_err(|_| SessionError::Timeout("TLS handshake"))?;
        let observed = verifier.observed();
        let tls = tls.map_err(|e| classify_tls(e, self.pin.as_deref(), observed.as_deref()))?;
        let key_hash = observed.ok_or_else(|| SessionError::Tls("no server certificate".into()))?;
        let negotiated = crate::tls::negotiated(tls.get_ref().1);
        Ok(Secured {
            conn: NmspLink::new(tls, self.stats.clone()),
            key_hash,
            negotiated,
        })
    }

    async fn handshake(&self, conn: &mut Conn) -> Result<(), SessionError> {
        capabilities(conn).await?;
        subscribe(conn).await.map(|_| ())
    }
}

/// A controller link after the TLS handshake.
pub(crate) struct Secured {
    pub conn: Conn,
    /// SHA-256 of the controller's key.
    pub key_hash: String,
    /// What the handshake agreed, e.g. `TLSv1_2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    pub negotiated: String,
}

/// Both sides' Capability Notifications: the connector's, then the
/// controller's answer (with TLS 1.3 a controller refuses our key here, at
/// the first message, rather than in the handshake).
pub(crate) async fn capabilities(conn: &mut Conn) -> Result<(), SessionError> {
    conn.send(Message::Capability {
        protocol_version: PROTOCOL_VERSION,
        services: WANTED,
    })
    .await?;
    loop {
        if let Some(Message::Capability { .. }) = conn.next_message().await? {
            return Ok(());
        }
    }
}

/// The Service Subscribe Request and its response: the services granted.
pub(crate) async fn subscribe(conn: &mut Conn) -> Result<Service, SessionError> {
    conn.send(Message::SubscribeRequest {
        transaction_id: 1,
        services: WANTED,
    })
    .await?;
    loop {
        if let Some(Message::SubscribeResponse {
            transaction_id: 1,
            accepted,
        }) = conn.next_message().await?
        {
            return Ok(accepted);
        }
    }
}

async fn connect_from(
    source: Option<std::net::IpAddr>,
    addr: SocketAddr,
) -> std::io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

pub(crate) async fn resolve(host: &str, port: u16) -> Result<SocketAddr, SessionError> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| SessionError::Resolve(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| SessionError::Resolve(host.to_string()))
}

/// Names a failed TLS handshake: a changed controller key, a refusal of
/// our key by the controller, or a plain TLS error.
fn classify_tls(e: std::io::Error, pin: Option<&str>, observed: Option<&str>) -> SessionError {
    if let (Some(pin), Some(seen)) = (pin, observed)
        && !pin.eq_ignore_ascii_case(seen)
    {
        return SessionError::CertChanged {
            observed: seen.to_string(),
        };
    }
    if refused_by_peer(&e) {
        SessionError::Unauthorized(e.to_string())
    } else {
        SessionError::Tls(e.to_string())
    }
}
