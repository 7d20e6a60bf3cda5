//! One simulated controller: a TLS listener that admits connectors on its
//! auth list, answers their capability exchange, subscriptions and echoes,
//! and streams the same notification bytes to every subscribed connector.
//! It can restart: drop every session and its listener, stay away for an
//! outage, then listen again with its notification sequence carrying on.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::sent::SentSet;
use super::traffic::{Traffic, encode};
use crate::nmsp::{FrameCodec, Message, MessageType, PROTOCOL_VERSION, Service};
use crate::tls::client_auth::AuthList;
use crate::tls::identity::{Identity, crypto_provider};

/// What a simulated device plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimDevice {
    /// A wireless controller: clients, APs, RSSI, associations, counters.
    Controller,
    /// A Catalyst switch with this many access ports: wired attachments.
    Switch { ports: usize },
}

impl SimDevice {
    pub fn kind(self) -> &'static str {
        match self {
            SimDevice::Controller => "controller",
            SimDevice::Switch { .. } => "switch",
        }
    }

    /// What it offers a connector: a switch its attachments, a controller
    /// everything else.
    pub fn services(self) -> Service {
        match self {
            SimDevice::Controller => {
                Service::from_bits(Service::ALL.bits() & !Service::ATTACHMENT.bits())
            }
            SimDevice::Switch { .. } => Service::ATTACHMENT,
        }
    }
}

/// Settings of one simulated controller or switch.
#[derive(Clone)]
pub struct ControllerSpec {
    /// A controller or a switch.
    pub device: SimDevice,
    pub name: String,
    pub addr: SocketAddr,
    pub identity: Arc<Identity>,
    pub auth: Arc<AuthList>,
    /// Notifications per second.
    pub rate: f64,
    /// Stop after this many notifications.
    pub limit: Option<u64>,
    /// Hold notifications until this many connectors have subscribed.
    pub wait_for: usize,
    pub seed: u64,
    pub index: u32,
    /// A connector that sent no echo for this long is closed (NMSP.md).
    pub echo_timeout: Duration,
    /// Bytes of padding added to every notification (an unknown TLV that
    /// receivers skip): to play a controller that floods large frames.
    pub pad_bytes: usize,
    /// Accept TLS 1.2 only, as controllers without TLS 1.3 do.
    pub tls12_only: bool,
    /// Clients in a controller's world (switches have their ports).
    pub clients: usize,
}

/// `show nmsp status`: one row per location server address.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct StatusRow {
    pub tx_echo_resp: u64,
    pub rx_echo_req: u64,
    pub tx_data: u64,
    pub rx_data: u64,
    /// Notifications a slow connector missed.
    pub lagged: u64,
    pub sessions: u64,
    pub active_sessions: u64,
    /// Sessions this controller closed because no echo request came.
    pub echo_timeouts: u64,
    /// Sessions that ended.
    pub disconnections: u64,
    /// Frames received that were not a message this controller knows.
    pub unsupported: u64,
    /// Messages received and sent, by message id (NMSP.md's public ids).
    pub rx_by_id: BTreeMap<u8, u64>,
    pub tx_by_id: BTreeMap<u8, u64>,
    /// The services this connector's last subscription was granted.
    pub services: Vec<&'static str>,
    /// What its last TLS handshake agreed (version and cipher suite).
    pub tls: String,
}

#[derive(Clone)]
enum Feed {
    /// A notification: its sequence number, message id and frame.
    Data(u64, u8, Bytes),
    Raw(Bytes),
}

/// A running simulated controller.
pub struct SimController {
    pub spec: ControllerSpec,
    pub addr: SocketAddr,
    rows: Mutex<BTreeMap<IpAddr, StatusRow>>,
    feed: broadcast::Sender<Feed>,
    generated: AtomicU64,
    /// Notifications written to at least one connector.
    sent: Mutex<SentSet>,
    /// Notifications per second (f64 bits), changeable while running.
    rate: AtomicU64,
    subscribed: AtomicUsize,
    /// While set, echo requests go unanswered (a hung controller).
    pub mute_echo: AtomicBool,
    /// Set while restarting: no listener, no sessions, nothing produced.
    down: AtomicBool,
    restarts: AtomicU64,
    /// The current life of the listener and its sessions; a restart
    /// cancels it (a child of `cancel`, so stopping ends it too).
    life: Mutex<(CancellationToken, Duration)>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl SimController {
    /// Binds and starts serving.
    pub async fn start(spec: ControllerSpec) -> std::io::Result<Arc<SimController>> {
        let listener = TcpListener::bind(spec.addr).await?;
        let addr = listener.local_addr()?;
        let versions: &[&rustls::SupportedProtocolVersion] = if spec.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(versions)
            .map_err(std::io::Error::other)?
            .with_client_cert_verifier(spec.auth.clone())
            .with_single_cert(
                vec![spec.identity.cert_der().map_err(std::io::Error::other)?],
                spec.identity.key_der().map_err(std::io::Error::other)?,
            )
            .map_err(std::io::Error::other)?;
        let (feed, _) = broadcast::channel(1 << 16);
        let cancel = CancellationToken::new();
        let ctrl = Arc::new(SimController {
            rate: AtomicU64::new(spec.rate.to_bits()),
            spec,
            addr,
            rows: Mutex::new(BTreeMap::new()),
            feed,
            generated: AtomicU64::new(0),
            sent: Mutex::new(SentSet::default()),
            subscribed: AtomicUsize::new(0),
            mute_echo: AtomicBool::new(false),
            down: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
            life: Mutex::new((cancel.child_token(), Duration::ZERO)),
            cancel,
            tasks: TaskTracker::new(),
        });
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let me = ctrl.clone();
        ctrl.tasks
            .spawn(async move { me.accept_loop(listener, acceptor).await });
        let me = ctrl.clone();
        ctrl.tasks.spawn(async move { me.generate().await });
        Ok(ctrl)
    }

    /// Stops listening and closes every session (a controller going down).
    pub async fn stop(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Restarts like a controller's NMSP service: every session and the
    /// listener go at once, nothing is produced for `outage`, then it
    /// listens again on the same address.
    pub fn restart(&self, outage: Duration) {
        let mut life = self.life.lock().unwrap_or_else(|p| p.into_inner());
        self.down.store(true, Relaxed);
        self.restarts.fetch_add(1, Relaxed);
        let old = std::mem::replace(&mut *life, (self.cancel.child_token(), outage));
        old.0.cancel();
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Relaxed)
    }

    fn life(&self) -> (CancellationToken, Duration) {
        self.life.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Relaxed))
    }

    /// Changes the notification rate of a running controller.
    pub fn set_rate(&self, per_sec: f64) {
        self.rate.store(per_sec.max(0.0).to_bits(), Relaxed);
    }

    /// Every client or end point this device may report (its world is
    /// deterministic), for tests that look for them where they must not be.
    pub fn clients(&self) -> Vec<super::wired::EndPoint> {
        world(&self.spec).clients()
    }

    /// Notifications produced so far.
    pub fn generated(&self) -> u64 {
        self.generated.load(Relaxed)
    }

    /// Notifications written to at least one connector: what a pair can
    /// deliver, the rest having been produced while no session was up.
    pub fn sent(&self) -> u64 {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).count()
    }

    /// Rows of `show nmsp status`, by connector address.
    pub fn status(&self) -> BTreeMap<IpAddr, StatusRow> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends raw bytes to every subscribed connector (tests of bad input).
    pub fn inject_raw(&self, bytes: Bytes) {
        let _ = self.feed.send(Feed::Raw(bytes));
    }

    /// Counts a received frame: by its message id, or as unsupported.
    fn received(&self, ip: IpAddr, msg: &Option<Message>) {
        self.row(ip, |r| match msg {
            Some(m) => *r.rx_by_id.entry(m.msg_type() as u8).or_default() += 1,
            None => r.unsupported += 1,
        });
    }

    fn transmitted(&self, ip: IpAddr, id: u8) {
        self.row(ip, |r| *r.tx_by_id.entry(id).or_default() += 1);
    }

    fn row(&self, ip: IpAddr, f: impl FnOnce(&mut StatusRow)) {
        f(self
            .rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(ip)
            .or_default());
    }

    async fn accept_loop(self: Arc<Self>, first: TcpListener, acceptor: TlsAcceptor) {
        let mut listener = Some(first);
        loop {
            let (life, _) = self.life();
            let listener = match listener.take() {
                Some(l) => l,
                None => loop {
                    match TcpListener::bind(self.addr).await {
                        Ok(l) => break l,
                        Err(e) => {
                            tracing::warn!(error = %e, "listening again failed; retrying");
                            tokio::select! {
                                _ = self.cancel.cancelled() => return,
                                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                            }
                        }
                    }
                },
            };
            self.down.store(false, Relaxed);
            self.serve_life(&listener, &acceptor, &life).await;
            drop(listener);
            if self.cancel.is_cancelled() {
                return;
            }
            let (_, outage) = self.life();
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(outage) => {}
            }
        }
    }

    /// Accepts connectors until this life ends; their sessions end with it.
    async fn serve_life(
        self: &Arc<Self>,
        listener: &TcpListener,
        acceptor: &TlsAcceptor,
        life: &CancellationToken,
    ) {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = life.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let me = self.clone();
            let acceptor = acceptor.clone();
            let life = life.clone();
            self.tasks.spawn(async move {
                tokio::select! {
                    _ = life.cancelled() => {}
                    r = me.serve(tcp, peer, acceptor) => if let Err(e) = r {
                        tracing::info!(controller = %me.spec.name, connector = %peer, "session ended: {e}");
                    }
                }
            });
        }
    }

    async fn serve(
        self: &Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        acceptor: TlsAcceptor,
    ) -> Result<(), String> {
        let _ = tcp.set_nodelay(true);
        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
            Err(_) => return Err("TLS handshake timed out".into()),
            Ok(Err(e)) => {
                let refused = self
                    .spec
                    .auth
                    .refused
                    .lock()
                    .map(|r| r.last().cloned())
                    .ok()
                    .flatten();
                let reason = match refused {
                    Some(hash) => format!("refused: key hash {hash} is not on the auth list"),
                    None => format!("TLS failed: {e}"),
                };
                tracing::warn!(controller = %self.spec.name, connector = %peer, "{reason}");
                return Err(reason);
            }
            Ok(Ok(tls)) => tls,
        };
        let ip = peer.ip();
        let negotiated = crate::tls::negotiated(tls.get_ref().1);
        self.row(ip, |r| {
            r.sessions += 1;
            r.active_sessions += 1;
            r.tls = negotiated;
        });
        // Counted down on drop: a restart drops this future mid-session.
        scopeguard::defer! {
            self.row(ip, |r| {
                r.active_sessions = r.active_sessions.saturating_sub(1);
                r.disconnections += 1;
            });
        }
        self.session(tls, ip).await
    }

    async fn session(&self, tls: TlsStream<TcpStream>, ip: IpAddr) -> Result<(), String> {
        let (rd, mut wr) = tokio::io::split(tls);
        let mut reader = FramedRead::new(rd, FrameCodec::new());
        // Handshake: capability, then subscription.
        let accepted = loop {
            let msg = next(&mut reader).await?;
            self.received(ip, &msg);
            self.row(ip, |r| r.rx_data += 1);
            match msg {
                Some(Message::Capability { .. }) => {
                    let cap = Message::Capability {
                        protocol_version: PROTOCOL_VERSION,
                        services: self.spec.device.services(),
                    };
                    write(&mut wr, &encode(cap)).await?;
                    self.transmitted(ip, MessageType::CapabilityNotification as u8);
                }
                Some(Message::SubscribeRequest {
                    transaction_id,
                    services,
                }) => {
                    let accepted = services.intersection(self.spec.device.services());
                    let resp = Message::SubscribeResponse {
                        transaction_id,
                        accepted,
                    };
                    write(&mut wr, &encode(resp)).await?;
                    self.transmitted(ip, MessageType::ServiceSubscribeResponse as u8);
                    self.row(ip, |r| r.services = accepted.names());
                    break accepted;
                }
                _ => {}
            }
        };
        tracing::info!(controller = %self.spec.name, connector = %ip, services = ?accepted.names(), "connector subscribed");
        let mut feed = self.feed.subscribe();
        self.subscribed.fetch_add(1, Relaxed);
        scopeguard::defer! {
            self.subscribed.fetch_sub(1, Relaxed);
        }
        let result = self.stream(&mut reader, &mut wr, &mut feed, ip).await;
        let _ = wr.shutdown().await;
        result
    }

    async fn stream(
        &self,
        reader: &mut FramedRead<tokio::io::ReadHalf<TlsStream<TcpStream>>, FrameCodec>,
        wr: &mut WriteHalf<TlsStream<TcpStream>>,
        feed: &mut broadcast::Receiver<Feed>,
        ip: IpAddr,
    ) -> Result<(), String> {
        let mut last_echo = Instant::now();
        let mut tick = tokio::time::interval(self.spec.echo_timeout / 4);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                _ = tick.tick() => {
                    if last_echo.elapsed() >= self.spec.echo_timeout {
                        self.row(ip, |r| r.echo_timeouts += 1);
                        return Err(format!("no echo request for {:?}: closing", self.spec.echo_timeout));
                    }
                }
                msg = next(reader) => match msg.inspect(|m| self.received(ip, m))? {
                    Some(Message::EchoRequest { transaction_id }) => {
                        last_echo = Instant::now();
                        self.row(ip, |r| r.rx_echo_req += 1);
                        if !self.mute_echo.load(Relaxed) {
                            write(wr, &encode(Message::EchoResponse { transaction_id })).await?;
                            self.row(ip, |r| r.tx_echo_resp += 1);
                            self.transmitted(ip, MessageType::EchoResponse as u8);
                        }
                    }
                    _ => self.row(ip, |r| r.rx_data += 1),
                },
                item = feed.recv() => {
                    if !self.send_queued(wr, feed, item, ip).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Writes `first` and whatever else is already queued (up to 64 KiB)
    /// in one write: one system call for many frames, as a controller's
    /// own stack sends under load (a write per frame made the simulator
    /// the benchmarks' bottleneck). Frames count as sent once written.
    /// False when the feed has closed.
    async fn send_queued(
        &self,
        wr: &mut WriteHalf<TlsStream<TcpStream>>,
        feed: &mut broadcast::Receiver<Feed>,
        first: Result<Feed, broadcast::error::RecvError>,
        ip: IpAddr,
    ) -> Result<bool, String> {
        use broadcast::error::{RecvError, TryRecvError};
        const MAX_WRITE: usize = 64 << 10;
        let mut out = Vec::new();
        let mut data = Vec::new();
        let mut open = true;
        let mut item = Some(first);
        while let Some(it) = item.take() {
            match it {
                Ok(Feed::Data(seq, id, bytes)) => {
                    out.extend_from_slice(&bytes);
                    data.push((seq, id));
                }
                Ok(Feed::Raw(bytes)) => out.extend_from_slice(&bytes),
                Err(RecvError::Lagged(n)) => self.row(ip, |r| r.lagged += n),
                Err(RecvError::Closed) => open = false,
            }
            if open && out.len() < MAX_WRITE {
                item = match feed.try_recv() {
                    Ok(f) => Some(Ok(f)),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                    Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                };
            }
        }
        if !out.is_empty() {
            write(wr, &out).await?;
            // Sent means handed to the kernel, not left in the TLS buffer.
            wr.flush().await.map_err(|e| e.to_string())?;
        }
        if !data.is_empty() {
            let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            for (seq, _) in &data {
                sent.insert(*seq);
            }
            drop(sent);
            self.row(ip, |r| {
                r.tx_data += data.len() as u64;
                for (_, id) in &data {
                    *r.tx_by_id.entry(*id).or_default() += 1;
                }
            });
        }
        Ok(open)
    }

    /// Produces notifications at the configured rate.
    async fn generate(self: Arc<Self>) {
        let spec = &self.spec;
        let mut traffic = world(spec).with_padding(spec.pad_bytes);
        while self.subscribed.load(Relaxed) < spec.wait_for {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        let mut last = Instant::now();
        let mut budget = 0.0f64;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            // The rate may change while running (benchmarks ramp it).
            let now = Instant::now();
            if !self.down.load(Relaxed) {
                budget += self.rate() * (now - last).as_secs_f64();
            }
            last = now;
            let mut due = budget.floor() as u64;
            budget -= due as f64;
            if let Some(limit) = spec.limit {
                due = due.min(limit.saturating_sub(traffic.sequence()));
            }
            for _ in 0..due {
                let frame = traffic.next_frame();
                let id = traffic.last_type() as u8;
                let _ = self.feed.send(Feed::Data(traffic.sequence(), id, frame));
            }
            self.generated.fetch_add(due, Relaxed);
            if spec.limit.is_some_and(|l| traffic.sequence() >= l) {
                return;
            }
        }
    }
}

/// The world a device of `spec` reports on.
fn world(spec: &ControllerSpec) -> Traffic {
    match spec.device {
        SimDevice::Controller => Traffic::new(spec.seed, spec.index, 8, spec.clients),
        SimDevice::Switch { ports } => Traffic::wired(spec.seed, spec.index, ports),
    }
}

async fn next(
    reader: &mut FramedRead<tokio::io::ReadHalf<TlsStream<TcpStream>>, FrameCodec>,
) -> Result<Option<Message>, String> {
    match reader.next().await {
        None => Err("connector closed the connection".into()),
        Some(Err(e)) => Err(e.to_string()),
        Some(Ok(frame)) => Ok(Message::decode(&frame).ok()),
    }
}

async fn write(wr: &mut WriteHalf<TlsStream<TcpStream>>, bytes: &[u8]) -> Result<(), String> {
    wr.write_all(bytes).await.map_err(|e| e.to_string())
}
