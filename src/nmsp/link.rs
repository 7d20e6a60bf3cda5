//! One NMSP link over any byte stream, as both the controller sessions
//! (connector dials the controller) and the AP channel (APs dial the
//! connector) run it: framed messages, counters, echo keepalive, dead-peer
//! detection, and data notifications forwarded as events.
//!
//! When its share of the event queue is full the link stops reading (TCP
//! pushes back on the peer) but keeps its echo timer, and does not count
//! the time it was not reading against the peer's liveness.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::link_stats::LinkStats;
use super::queue::{self, SourceQueue};
use crate::contract::event::{Channel, Event};
use crate::nmsp::{DecodeError, FrameCodec, FrameError, Message, MessageType};

/// Frames handled in one wakeup of a link, at most: enough to spread the
/// per-wakeup costs, few enough that echo and liveness timers stay prompt.
const MAX_BURST: usize = 64;

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

/// A framed NMSP connection and the counters it feeds.
pub struct NmspLink<S> {
    conn: Framed<S, FrameCodec>,
    stats: Arc<LinkStats>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> NmspLink<S> {
    pub fn new(stream: S, stats: Arc<LinkStats>) -> NmspLink<S> {
        NmspLink::with_codec(stream, stats, FrameCodec::new())
    }

    /// A link whose frames are limited by `codec` (the AP channel takes
    /// smaller ones than a controller may send).
    pub fn with_codec(stream: S, stats: Arc<LinkStats>, codec: FrameCodec) -> NmspLink<S> {
        NmspLink {
            conn: Framed::new(stream, codec),
            stats,
        }
    }

    /// The read loop: answers echoes, sends its own every
    /// `timing.echo_interval` whatever the traffic, declares the peer dead
    /// after `timing.dead_after` of silence, and forwards every data
    /// notification as an event of `channel` from `source`.
    pub async fn pump(
        mut self,
        channel: Channel,
        source: Arc<str>,
        timing: SessionTiming,
        events: &SourceQueue,
    ) -> Result<(), SessionError> {
        // Echo on a fixed schedule: a timer that only checked "elapsed >=
        // interval" at each tick drifted towards twice the interval, which
        // is a controller's timeout.
        let mut echo =
            tokio::time::interval_at(Instant::now() + timing.echo_interval, timing.echo_interval);
        echo.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut liveness = tokio::time::interval(timing.dead_after / 4);
        liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();
        let mut echo_id: u32 = 0;
        let mut echo_sent_at: Option<(u32, Instant)> = None;
        let mut pending: Option<Event> = None;
        loop {
            tokio::select! {
                charge = events.reserve(pending.as_ref().map_or(0, queue::cost)), if pending.is_some() => {
                    if let Some(e) = pending.take() {
                        events.send(e, charge).map_err(|_| SessionError::Shutdown)?;
                    }
                    // Time spent waiting on our own queue is not the
                    // controller's silence.
                    last_rx = Instant::now();
                }
                _ = liveness.tick() => {
                    if pending.is_none() && last_rx.elapsed() >= timing.dead_after {
                        return Err(SessionError::PeerDead(timing.dead_after));
                    }
                }
                _ = echo.tick() => {
                    echo_id = echo_id.wrapping_add(1);
                    self.send(Message::EchoRequest { transaction_id: echo_id }).await?;
                    self.stats.echo_requests_sent.fetch_add(1, Relaxed);
                    echo_sent_at = Some((echo_id, Instant::now()));
                }
                msg = self.next_message(), if pending.is_none() => {
                    last_rx = Instant::now();
                    // Every frame one read brought is handled in this
                    // wakeup (up to a bound, so the timers get their turn):
                    // one clock reading and one look at the privacy
                    // schedule per burst rather than per frame.
                    let received_at_ms = crate::clock::now_ms();
                    let privacy = events.privacy.current();
                    let mut next = Some(msg);
                    let mut burst = 0;
                    while let Some(msg) = next.take() {
                        burst += 1;
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
                                self.send(Message::EchoResponse { transaction_id }).await?;
                            }
                            Some(Message::Notification { msg_type, body, sequence, timestamp_ms }) => {
                                self.stats.data_in.fetch_add(1, Relaxed);
                                self.stats.saw_sequence(sequence);
                                // With client privacy on, nothing leaves this
                                // point with a client's MAC, IP or user name.
                                match privacy.apply(timestamp_ms, body) {
                                    None => {
                                        self.stats.malformed.fetch_add(1, Relaxed);
                                        self.stats.note_error(
                                            "dropped a notification whose client fields could not be hashed".into(),
                                        );
                                    }
                                    Some(body) => {
                                        let event = Event::received_at(channel, source.clone(), msg_type as u8, body, received_at_ms);
                                        match events.try_push(event) {
                                            Ok(()) => {}
                                            Err((e, None)) => {
                                                // Our share of the queue is full: stop
                                                // reading until the uplink catches up.
                                                self.stats.paused.fetch_add(1, Relaxed);
                                                pending = Some(e);
                                            }
                                            Err((_, Some(_))) => return Err(SessionError::Shutdown),
                                        }
                                    }
                                }
                            }
                            Some(_) | None => {}
                        }
                        if pending.is_none() && burst < MAX_BURST {
                            // Only what can be read without waiting.
                            next = self.next_message().now_or_never();
                        }
                    }
                }
            }
        }
    }

    /// The next frame as a message: `None` for a frame that was counted and
    /// skipped (unknown type, malformed body); an error when the stream
    /// itself is broken or closed.
    pub async fn next_message(&mut self) -> Result<Option<Message>, SessionError> {
        let frame = match self.conn.next().await {
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

    pub async fn send(&mut self, msg: Message) -> Result<(), SessionError> {
        let frame = msg.encode();
        let len = crate::nmsp::HEADER_LEN + frame.body.len();
        self.conn.send(frame).await.map_err(|e| match e {
            FrameError::Io(e) => SessionError::Io(e.to_string()),
            other => SessionError::Protocol(other.to_string()),
        })?;
        self.stats.sent(len);
        Ok(())
    }
}

/// True when the controller's TLS stack refused our certificate. With TLS
/// 1.3 that alert arrives after our side of the handshake is done, so reads
/// check for it too.
pub fn refused_by_peer(e: &std::io::Error) -> bool {
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
