//! One NMSP session from the connector to one controller (NMSP.md
//! "Session"): TCP connect, TLS with the connector's client identity and
//! the controller's pinned key, capability exchange, subscription, then the
//! read loop with echo keepalive and dead-peer detection.
//!
//! Every data notification becomes an `Event` on a bounded channel. When
//! that channel is full the session stops reading (TCP pushes back on the
//! controller) but keeps its echo timer, and does not count the time it was
//! not reading against the controller's liveness.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::event::{Channel, Event};
use crate::identity::Identity;
use crate::nmsp::{
    DecodeError, FrameCodec, FrameError, Message, MessageType, PROTOCOL_VERSION, Service,
};
use crate::stats::LinkStats;
use crate::tls_pin::PinnedKey;

/// Timers of a session; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct SessionTiming {
    pub connect: Duration,
    pub handshake: Duration,
    pub echo_interval: Duration,
    /// A controller silent this long is dead.
    pub dead_after: Duration,
}

impl Default for SessionTiming {
    fn default() -> Self {
        SessionTiming {
            connect: Duration::from_secs(5),
            handshake: Duration::from_secs(10),
            echo_interval: Duration::from_secs(15),
            dead_after: Duration::from_secs(30),
        }
    }
}

/// What the connector asks every controller for.
pub const WANTED: Service = Service::ALL;

/// Why a session ended (other than by cancellation).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("connect to {addr} failed: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error(
        "the controller refused this connector: its key hash is not on the controller's auth list ({0})"
    )]
    Unauthorized(String),
    #[error(
        "the controller's certificate changed (new key {observed}); accept it on the controllers page"
    )]
    CertChanged { observed: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("no answer from the controller for {0:?}: declared dead")]
    PeerDead(Duration),
    #[error("the controller closed the connection")]
    Closed,
    #[error("connection lost: {0}")]
    Io(String),
    #[error("the connector is shutting down")]
    Shutdown,
}

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
    pub events: mpsc::Sender<Event>,
    pub cancel: CancellationToken,
}

type Conn = Framed<TlsStream<TcpStream>, FrameCodec>;

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
        let (mut conn, key_hash) = self.connect().await?;
        on_connected(&Connected {
            key_hash: key_hash.clone(),
        });
        timeout(self.timing.handshake, self.handshake(&mut conn))
            .await
            .map_err(|_| SessionError::Timeout("NMSP handshake"))??;
        self.stats.set_active();
        self.read_loop(conn, key_hash.into()).await
    }

    async fn connect(&self) -> Result<(Conn, String), SessionError> {
        let addr = resolve(&self.host, self.port).await?;
        let tcp = timeout(self.timing.connect, connect_from(self.source, addr))
            .await
            .map_err(|_| SessionError::Timeout("TCP connect"))?
            .map_err(|source| SessionError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
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
        Ok((Framed::new(tls, FrameCodec::new()), key_hash))
    }

    async fn handshake(&self, conn: &mut Conn) -> Result<(), SessionError> {
        self.send(
            conn,
            Message::Capability {
                protocol_version: PROTOCOL_VERSION,
                services: WANTED,
            },
        )
        .await?;
        let mut subscribed = false;
        loop {
            match self.next_message(conn).await? {
                Some(Message::Capability { .. }) if !subscribed => {
                    subscribed = true;
                    self.send(
                        conn,
                        Message::SubscribeRequest {
                            transaction_id: 1,
                            services: WANTED,
                        },
                    )
                    .await?;
                }
                Some(Message::SubscribeResponse {
                    transaction_id: 1, ..
                }) if subscribed => return Ok(()),
                _ => {}
            }
        }
    }

    async fn read_loop(&self, mut conn: Conn, source: Arc<str>) -> Result<(), SessionError> {
        let timing = self.timing;
        let mut tick = tokio::time::interval(timing.echo_interval.min(timing.dead_after / 2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();
        let mut last_echo = Instant::now();
        let mut echo_id: u32 = 0;
        let mut echo_sent_at: Option<(u32, Instant)> = None;
        let mut pending: Option<Event> = None;
        loop {
            tokio::select! {
                permit = self.events.reserve(), if pending.is_some() => {
                    let permit = permit.map_err(|_| SessionError::Shutdown)?;
                    if let Some(e) = pending.take() {
                        permit.send(e);
                    }
                    // Time spent waiting on our own queue is not the
                    // controller's silence.
                    last_rx = Instant::now();
                }
                _ = tick.tick() => {
                    if pending.is_none() && last_rx.elapsed() >= timing.dead_after {
                        return Err(SessionError::PeerDead(timing.dead_after));
                    }
                    if last_echo.elapsed() >= timing.echo_interval {
                        echo_id = echo_id.wrapping_add(1);
                        self.send(&mut conn, Message::EchoRequest { transaction_id: echo_id }).await?;
                        self.stats.echo_requests_sent.fetch_add(1, Relaxed);
                        echo_sent_at = Some((echo_id, Instant::now()));
                        last_echo = Instant::now();
                    }
                }
                msg = self.next_message(&mut conn), if pending.is_none() => {
                    last_rx = Instant::now();
                    match msg? {
                        Some(Message::EchoResponse { transaction_id }) => {
                            self.stats.echo_responses_received.fetch_add(1, Relaxed);
                            if let Some((id, at)) = echo_sent_at
                                && id == transaction_id
                            {
                                self.stats.echo_rtt_us.store(at.elapsed().as_micros() as u64, Relaxed);
                                echo_sent_at = None;
                            }
                        }
                        Some(Message::EchoRequest { transaction_id }) => {
                            self.send(&mut conn, Message::EchoResponse { transaction_id }).await?;
                        }
                        Some(Message::Notification { msg_type, body, .. }) => {
                            self.stats.data_in.fetch_add(1, Relaxed);
                            let event = Event::new(Channel::Controller, source.clone(), msg_type as u8, body);
                            match self.events.try_send(event) {
                                Ok(()) => {}
                                Err(mpsc::error::TrySendError::Full(e)) => pending = Some(e),
                                Err(mpsc::error::TrySendError::Closed(_)) => return Err(SessionError::Shutdown),
                            }
                        }
                        Some(_) | None => {}
                    }
                }
            }
        }
    }

    /// The next frame as a message: `None` for a frame that was counted and
    /// skipped (unknown type, malformed body); an error when the stream
    /// itself is broken or closed.
    async fn next_message(&self, conn: &mut Conn) -> Result<Option<Message>, SessionError> {
        let frame = match conn.next().await {
            Some(Ok(f)) => f,
            Some(Err(FrameError::Io(e))) if refused_by_peer(&e) => {
                return Err(SessionError::Unauthorized(e.to_string()));
            }
            Some(Err(FrameError::Io(e))) => return Err(SessionError::Io(e.to_string())),
            Some(Err(e)) => return Err(SessionError::Protocol(e.to_string())),
            None => return Err(SessionError::Closed),
        };
        self.stats
            .received(frame.msg_type, crate::nmsp::HEADER_LEN + frame.body.len());
        match Message::decode(&frame) {
            Ok(m) => Ok(Some(m)),
            Err(DecodeError::UnsupportedType(t)) => {
                self.stats.unsupported.fetch_add(1, Relaxed);
                self.stats
                    .note_error(format!("skipped a message of unsupported type {t}"));
                Ok(None)
            }
            Err(e) => {
                self.stats.malformed.fetch_add(1, Relaxed);
                let kind = MessageType::from_u8(frame.msg_type)
                    .map(|m| m.name().to_string())
                    .unwrap_or_default();
                self.stats
                    .note_error(format!("skipped a malformed {kind} message: {e}"));
                Ok(None)
            }
        }
    }

    async fn send(&self, conn: &mut Conn, msg: Message) -> Result<(), SessionError> {
        let frame = msg.encode();
        let len = crate::nmsp::HEADER_LEN + frame.body.len();
        conn.send(frame).await.map_err(|e| match e {
            FrameError::Io(e) => SessionError::Io(e.to_string()),
            other => SessionError::Protocol(other.to_string()),
        })?;
        self.stats.sent(len);
        Ok(())
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

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, SessionError> {
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

/// True when the controller's TLS stack refused our certificate. With TLS
/// 1.3 that alert arrives after our side of the handshake is done, so reads
/// check for it too.
fn refused_by_peer(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::AlertReceived(
                    rustls::AlertDescription::AccessDenied
                        | rustls::AlertDescription::BadCertificate
                        | rustls::AlertDescription::CertificateUnknown
                        | rustls::AlertDescription::UnknownCA
                )
            )
        })
}
