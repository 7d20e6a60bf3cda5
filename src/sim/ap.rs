//! Simulated access points: each one dials every connector it is given,
//! over TLS with its own certificate, and streams the same BLE telemetry
//! bytes to all of them (the AP Channel of a pair), reconnecting when a
//! connector goes away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::traffic::encode;
use crate::nmsp::{FrameCodec, Message, MessageType, PROTOCOL_VERSION, Service, notification};
use crate::tls::identity::{Identity, IdentityError};
use crate::tls::pin::PinnedKey;

#[derive(Clone)]
pub struct ApSpec {
    pub name: String,
    pub index: u32,
    pub connectors: Vec<SocketAddr>,
    pub rate: f64,
    pub limit: Option<u64>,
    /// Hold telemetry until connected to this many connectors.
    pub wait_for: usize,
    /// Retry a failed connect after exactly this long instead of backing
    /// off: a rogue that hammers the connector, as an attacker would.
    pub hammer: Option<Duration>,
    pub seed: u64,
}

/// A running simulated AP.
pub struct SimAp {
    pub spec: ApSpec,
    pub identity: Arc<Identity>,
    feed: broadcast::Sender<Bytes>,
    generated: AtomicU64,
    connected: AtomicUsize,
    /// Sessions that got through the handshake, in all.
    sessions: AtomicU64,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl SimAp {
    pub fn start(spec: ApSpec) -> Result<Arc<SimAp>, IdentityError> {
        let identity = Arc::new(Identity::generate(&spec.name, vec![spec.name.clone()])?);
        let ap = Arc::new(SimAp {
            identity,
            // Thirty seconds of its own telemetry: a slot each costs
            // memory, and 15,000 APs with 65,536 slots each would not fit.
            feed: broadcast::channel(((spec.rate.max(0.0) * 30.0) as usize).clamp(64, 1 << 16)).0,
            generated: AtomicU64::new(0),
            connected: AtomicUsize::new(0),
            sessions: AtomicU64::new(0),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            spec,
        });
        for &addr in &ap.spec.connectors {
            let me = ap.clone();
            ap.tasks.spawn(async move { me.keep_connected(addr).await });
        }
        let me = ap.clone();
        ap.tasks.spawn(async move { me.generate().await });
        Ok(ap)
    }

    pub fn generated(&self) -> u64 {
        self.generated.load(Relaxed)
    }

    pub fn connected(&self) -> usize {
        self.connected.load(Relaxed)
    }

    pub async fn stop(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Dials `addr` again and again, as an AP does: after a session, at
    /// once (with a little jitter); after failed attempts, backing off
    /// from 0.5 s to 30 s, so that thousands of APs facing a connector
    /// that is away do not storm it (or the machine) with connects.
    async fn keep_connected(&self, addr: SocketAddr) {
        let mut delay = Duration::from_millis(500);
        loop {
            let sessions = self.sessions.load(Relaxed);
            let r = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.stream_to(addr) => r,
            };
            if let Err(e) = r {
                tracing::debug!(ap = %self.spec.name, connector = %addr, "AP link down: {e}");
            }
            if self.sessions.load(Relaxed) != sessions {
                delay = Duration::from_millis(500);
            }
            let jittered = delay.mul_f64(rand::rng().random_range(0.5..1.0));
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(jittered) => {}
            }
            delay = match self.spec.hammer {
                Some(fixed) => fixed,
                None => (delay * 2).min(Duration::from_secs(30)),
            };
        }
    }

    async fn stream_to(&self, addr: SocketAddr) -> Result<(), String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let config = PinnedKey::trust_on_first_use(None)
            .config_builder()
            .with_client_auth_cert(
                vec![self.identity.cert_der().map_err(|e| e.to_string())?],
                self.identity.key_der().map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (rd, mut wr) = tokio::io::split(tls);
        let mut reader = FramedRead::new(rd, FrameCodec::new());
        let hello = Message::Capability {
            protocol_version: PROTOCOL_VERSION,
            services: Service::IOT_BLE,
        };
        wr.write_all(&encode(hello))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match reader.next().await {
                Some(Ok(f)) if f.msg_type == MessageType::CapabilityNotification as u8 => break,
                Some(Ok(_)) => {}
                _ => return Err("connector closed during the handshake".into()),
            }
        }
        let mut feed = self.feed.subscribe();
        self.connected.fetch_add(1, Relaxed);
        self.sessions.fetch_add(1, Relaxed);
        let result = async {
            loop {
                tokio::select! {
                    frame = reader.next() => match frame {
                        Some(Ok(f)) => {
                            if let Ok(Message::EchoRequest { transaction_id }) = Message::decode(&f) {
                                wr.write_all(&encode(Message::EchoResponse { transaction_id })).await.map_err(|e| e.to_string())?;
                            }
                        }
                        _ => return Err("connector closed the connection".to_string()),
                    },
                    item = feed.recv() => match item {
                        Ok(bytes) => wr.write_all(&bytes).await.map_err(|e| e.to_string())?,
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
        }
        .await;
        self.connected.fetch_sub(1, Relaxed);
        result
    }

    /// BLE beacons heard by this AP, at the configured rate.
    async fn generate(&self) {
        let spec = &self.spec;
        while self.connected() < spec.wait_for {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        if spec.rate <= 0.0 {
            return;
        }
        let mut rng = StdRng::seed_from_u64(spec.seed ^ 0xA9 ^ (u64::from(spec.index) << 40));
        let ap_mac = [
            0x00,
            0x3a,
            0x9a,
            0,
            (spec.index >> 8) as u8,
            spec.index as u8,
        ];
        let start = Instant::now();
        let mut seq = 0u64;
        // Woken about once per message (between 10 ms and 1 s): 15,000 APs
        // ticking every 10 ms would be 1.5 million wakeups a second and
        // take the simulator's two cores from the handshakes it drives.
        let period = Duration::from_secs_f64((1.0 / spec.rate.max(1e-3)).clamp(0.01, 1.0));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let due = (start.elapsed().as_secs_f64() * spec.rate) as u64;
            let due = spec.limit.map_or(due, |l| due.min(l));
            while seq < due {
                seq += 1;
                let beacon = [0xc0, 0xbe, 0xac, 0x00, rng.random_range(0..4), rng.random()];
                let rssi = rng.random_range(-95i8..=-40);
                let channel = rng.random_range(37..=39);
                let ts = crate::clock::now_ms();
                let body = notification::measurement(seq, ts, beacon, ap_mac, rssi, channel);
                let frame = encode(Message::Notification {
                    msg_type: MessageType::MeasurementNotification,
                    sequence: seq,
                    timestamp_ms: ts,
                    body,
                });
                let _ = self.feed.send(frame);
                self.generated.fetch_add(1, Relaxed);
            }
            if spec.limit.is_some_and(|l| seq >= l) {
                return;
            }
        }
    }
}
