//! End-to-end benchmarks: real `wlc-sim`, `spaces-connector` and
//! `spaces-cloud` processes on loopback with TLS on both legs, plus the raw
//! rustls ceiling for the same frames. Prints tables; asserts nothing.
//!
//!   cargo bench --bench e2e -- [a|b|c|d|e|aps|ceiling|store|all]
//!   (or scripts/bench)
//!
//! (a) 1 connector, 10 controllers, rate ramped until drops or p99 > 1 s
//! (b) 200 and 1,000 controllers at a modest rate: RSS and CPU per controller
//! (c) a pair on the same 10 controllers into the embedded store, ramped
//!     to its knee (unique events/s; the cloud receives each twice)
//! (d) reconnect storm: all controllers restart at once, time to all Active
//! (e) the web UI under load (wrk) while events stream
//! (clients) 150,000 distinct clients (15,000 on each of 10 controllers)
//! (aps) 15,000 simulated APs on the AP Channel: RSS, CPU, time for all
//!     to connect after a connector (re)start, the statistics page
//! (ceiling) how far one connector goes: the same frames over raw rustls,
//!     through the connector to a cloud that cannot be the bottleneck
//!     (`spaces-cloud --sink`), and end to end into the embedded store
//!     (`store`: that last path alone)

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const CLOUD_IP: &str = "127.0.0.150";

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Cloud {
    proc: Proc,
    http: reqwest::Client,
    token: String,
    db: PathBuf,
    /// `--sink`: events are counted at `/api/v1/sink`, not stored.
    sink: bool,
    url: String,
    firehose_key: String,
}

async fn start_cloud(tmp: &Path, name: &str) -> Cloud {
    start_cloud_with(tmp, name, &[]).await
}

async fn start_cloud_with(tmp: &Path, name: &str, extra: &[&str]) -> Cloud {
    let dir = tmp.join(name);
    let c = CloudProc::start(&dir, CLOUD_IP, extra).await;
    Cloud {
        proc: c.proc,
        http: c.http,
        token: c.token,
        db: dir.join("cloud.db"),
        sink: extra.contains(&"--sink"),
        url: c.url,
        firehose_key: c.firehose_key,
    }
}

impl Cloud {
    /// Unique events so far and the latency samples (ms) since `after`
    /// (a store's offset; a sink drains its samples at each call).
    async fn delivered(&self, after: i64) -> (i64, Vec<i64>, i64) {
        if !self.sink {
            return cloud_events(&self.db, after);
        }
        let r: Value = self
            .http
            .get(format!("{}/api/v1/sink", self.url))
            .bearer_auth(&self.firehose_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let lat = r["latency_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        (r["events"].as_i64().unwrap(), lat, 0)
    }
}

async fn start_connector(tmp: &Path, name: &str, ip: &str, token: &str) -> ConnectorProc {
    let c = ConnectorProc::start(&tmp.join(name), ip, 0, 0).await;
    c.set_token(token).await;
    c
}

struct Sim {
    proc: Proc,
    status: String,
    addrs: Vec<String>,
}

async fn start_sim(n: u32, rate: f64, listen: &str, cert_dir: &Path) -> Sim {
    start_sim_with(n, rate, listen, cert_dir, &[]).await
}

async fn start_sim_with(n: u32, rate: f64, listen: &str, cert_dir: &Path, extra: &[&str]) -> Sim {
    let proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_wlc-sim"))
            .args([
                "--listen",
                listen,
                "--controllers",
                &n.to_string(),
                "--allow-any",
                "--rate",
                &rate.to_string(),
                "--status-listen",
                "127.0.0.1:0",
                "--echo-timeout-secs",
                "120",
            ])
            .args(extra)
            .arg("--cert-dir")
            .arg(cert_dir),
    );
    // Making a thousand certificates takes a while the first time.
    let status = status_base(&proc, 180).await;
    let mut addrs = Vec::new();
    for i in 1..=n {
        let l = proc.line_with(&format!("wlc-sim-{i} listening on")).await;
        addrs.push(l.split_whitespace().nth(3).unwrap().to_string());
    }
    Sim {
        proc,
        status,
        addrs,
    }
}

/// The base URL of a simulator's status endpoint, once it printed it.
async fn status_base(sim: &Proc, secs: u64) -> String {
    sim.line_within("status on http://", secs)
        .await
        .rsplit(' ')
        .next()
        .unwrap()
        .replace("/show/nmsp/status", "")
}

impl Sim {
    async fn generated(&self, http: &reqwest::Client) -> u64 {
        let s: Value = http
            .get(format!("{}/status.json", self.status))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        s["controllers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["generated"].as_u64().unwrap())
            .sum()
    }
    async fn set_rate(&self, http: &reqwest::Client, rate: f64) {
        http.post(format!("{}/rate/{rate}", self.status))
            .send()
            .await
            .unwrap();
    }
}

async fn add_all(c: &ConnectorProc, addrs: &[String]) {
    for a in addrs {
        let (host, port) = a.rsplit_once(':').unwrap();
        let r = c
            .post_json(
                "/api/v1/controllers",
                json!({"name": format!("wlc-{port}"), "host": host, "port": port}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
}

async fn active(c: &ConnectorProc) -> (usize, usize) {
    let s = c.get_json("/api/v1/stats").await;
    let t = &s["controller_channel"]["totals"];
    (
        t["active"].as_u64().unwrap_or(0) as usize,
        t["links"].as_u64().unwrap_or(0) as usize,
    )
}

async fn wait_active(c: &ConnectorProc, n: usize, secs: u64) -> Duration {
    let t = Instant::now();
    eventually(secs, &format!("{n} controllers Active"), || async {
        (active(c).await.0 >= n).then_some(())
    })
    .await;
    t.elapsed()
}

/// Unique events stored by the cloud, and latencies (ms) of a sample of
/// those after `after` (controller timestamp → cloud ingest).
fn cloud_events(db: &Path, after: i64) -> (i64, Vec<i64>, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let (count, max): (i64, Option<i64>) = conn
        .query_row("SELECT COUNT(*), MAX(offset) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT ingested_at_ms, body FROM events WHERE offset > ?1 AND offset % 7 = 0")
        .unwrap();
    let lat = stmt
        .query_map([after], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .unwrap()
        .filter_map(|r| r.ok())
        .filter_map(|(at, body)| {
            spaces_connector::nmsp::NotificationFields::parse(&body)
                .ok()
                .map(|f| at - f.timestamp_ms as i64)
        })
        .collect();
    (count, lat, max.unwrap_or(0))
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p) as usize]
}

struct Step {
    /// CPU % of the cloud and the simulator over the same window.
    others: (f64, f64),
    offered: f64,
    delivered: f64,
    p50: i64,
    p99: i64,
    max: i64,
    cpu: f64,
    /// The connector's CPU time per delivered event.
    cpu_us_per_event: f64,
    rss_mib: f64,
    drops: i64,
}

async fn measure(cloud: &Cloud, sim: &Sim, c: &ConnectorProc, secs: u64) -> Step {
    let pid = c.proc.child.id();
    let (cloud_pid, sim_pid) = (cloud.proc.child.id(), sim.proc.child.id());
    let (cc0, sc0) = (cpu_secs(cloud_pid), cpu_secs(sim_pid));
    let (u0, _, off0) = cloud.delivered(i64::MAX).await;
    let g0 = sim.generated(&cloud.http).await;
    let cpu0 = cpu_secs(pid);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let dt = t0.elapsed().as_secs_f64();
    let g1 = sim.generated(&cloud.http).await;
    let cpu1 = cpu_secs(pid);
    let (u1, mut lat, _) = cloud.delivered(off0).await;
    let s = c.get_json("/api/v1/status").await;
    Step {
        others: (
            (cpu_secs(cloud_pid) - cc0) / dt * 100.0,
            (cpu_secs(sim_pid) - sc0) / dt * 100.0,
        ),
        offered: (g1 - g0) as f64 / dt,
        delivered: (u1 - u0) as f64 / dt,
        p50: pct(&mut lat, 0.50),
        p99: pct(&mut lat, 0.99),
        max: lat.last().copied().unwrap_or(0),
        cpu: (cpu1 - cpu0) / dt * 100.0,
        cpu_us_per_event: (cpu1 - cpu0) * 1e6 / ((u1 - u0).max(1) as f64),
        rss_mib: status_kb(pid, "VmHWM:") as f64 / 1024.0,
        drops: s["cloud_link"]["spool"]["dropped_events"]
            .as_i64()
            .unwrap_or(0),
    }
}

fn print_step(s: &Step) {
    println!(
        "{:>11.0} {:>12.0} {:>7} {:>7} {:>7} {:>9.0} {:>12.1} {:>6} {:>10.0} {:>8.0} {:>11.2}",
        s.offered,
        s.delivered,
        s.p50,
        s.p99,
        s.max,
        s.cpu,
        s.rss_mib,
        s.drops,
        s.others.0,
        s.others.1,
        s.cpu_us_per_event
    );
}

const HEADER: &str = "  offered/s  delivered/s  p50 ms  p99 ms  max ms  conn CPU%  conn RSS MiB  drops cloud CPU%  sim CPU%  conn µs/ev";

/// Raw ceiling: the same frames over rustls on loopback, decoded, nothing else.
async fn raw_ceiling(secs: u64) -> f64 {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let id =
        spaces_connector::tls::identity::Identity::generate("raw", vec!["raw".into()]).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(
        spaces_connector::tls::identity::crypto_provider(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![id.cert_der().unwrap()], id.key_der().unwrap())
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut traffic = spaces_connector::sim::traffic::Traffic::new(1, 0, 8, 64);
    let mut chunk = Vec::new();
    for _ in 0..4096 {
        chunk.extend_from_slice(&traffic.next_frame());
    }
    let frames_per_chunk = 4096u64;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            if tls.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let cfg = spaces_connector::tls::pin::PinnedKey::client_config(&id.key_hash().unwrap());
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(rustls::pki_types::ServerName::try_from("raw").unwrap(), tcp)
        .await
        .unwrap();
    let mut frames =
        tokio_util::codec::FramedRead::new(tls, spaces_connector::nmsp::FrameCodec::new());
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        if frames.next().await.is_none() {
            break;
        }
        n += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = frames_per_chunk;
    n as f64 / t0.elapsed().as_secs_f64()
}

async fn scenario_a(tmp: &Path) {
    println!("\n(a) 1 connector, 10 controllers: ramp until drops or p99 > 1 s");
    let cloud = start_cloud(tmp, "cloud-a").await;
    let c = start_connector(tmp, "a", "127.0.0.151", &cloud.token).await;
    let sim = start_sim(10, 100.0, "127.0.0.1:0", &tmp.join("certs-a")).await;
    add_all(&c, &sim.addrs).await;
    wait_active(&c, 10, 30).await;
    println!("{HEADER}");
    let mut best = 0.0f64;
    let mut knee = None;
    for per_ctrl in [1_000.0, 3_000.0, 6_000.0, 10_000.0, 20_000.0, 40_000.0] {
        sim.set_rate(&cloud.http, per_ctrl).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = measure(&cloud, &sim, &c, 6).await;
        print_step(&s);
        best = best.max(s.delivered);
        if s.delivered < 0.9 * s.offered || s.p99 > 1000 || s.drops > 0 {
            knee = Some(s.offered);
            break;
        }
    }
    let raw = raw_ceiling(3).await;
    println!(
        "knee: {}",
        knee.map_or("not reached".into(), |k| format!(
            "~{k:.0} events/s offered"
        ))
    );
    println!("best sustained end to end: {best:.0} events/s unique at the cloud");
    println!("raw rustls loopback ceiling, same frames: {raw:.0} frames/s");
    println!("connector/raw ratio: {:.3}", best / raw);
    sim.set_rate(&cloud.http, 0.0).await;
    shutdown(vec![sim.proc, c.proc, cloud.proc]);
}

/// Ramps 10 controllers until the connector's delivery falls behind
/// (under 90 % of the offered rate, p99 over 1 s, or drops); returns the
/// best rate delivered without falling behind, and the connector's CPU per
/// event and latency at 80 % of it.
/// With a pair, `members[0]` is the one whose CPU and memory are shown;
/// every member's spool must drain.
async fn knee_of(
    cloud: &Cloud,
    members: &[&ConnectorProc],
    sim: &Sim,
    steps: &[f64],
) -> (f64, Step) {
    let c = members[0];
    println!("{HEADER}");
    let mut knee = 0.0f64;
    for per_ctrl in steps {
        sim.set_rate(&cloud.http, *per_ctrl).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = measure(cloud, sim, c, 5).await;
        print_step(&s);
        if s.delivered < 0.9 * s.offered || s.p99 > 1000 || s.drops > 0 {
            break;
        }
        knee = knee.max(s.delivered);
    }
    // Let the backlog of the last step drain, then hold 80 % of the knee.
    // Drained means the spool is empty and the cloud's count has stopped
    // moving: past the knee the simulator's own send queues back up too,
    // and their frames would reach the held step seconds late.
    sim.set_rate(&cloud.http, 0.0).await;
    let mut last = -1;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut spooled = 0;
        for m in members {
            let s = m.get_json("/api/v1/status").await;
            spooled += s["spool"]["events"].as_i64().unwrap_or(1);
        }
        let (count, _, _) = cloud.delivered(i64::MAX).await;
        if spooled == 0 && count == last {
            break;
        }
        last = count;
    }
    sim.set_rate(&cloud.http, 0.8 * knee / 10.0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at80 = measure(cloud, sim, c, 6).await;
    sim.set_rate(&cloud.http, 0.0).await;
    (knee, at80)
}

/// `store`: only the path into the embedded store (for profiling the
/// cloud); otherwise all three and their ratios.
async fn scenario_ceiling(tmp: &Path, store_only: bool) {
    println!(
        "\n(ceiling) one connector, 10 controllers, the same frames three ways: raw rustls; to a cloud that only counts (--sink); end to end into the embedded store"
    );
    let raw = raw_ceiling(3).await;
    // Per controller (10 of them): 10,000 to 900,000 events/s in all.
    let steps = [
        1_000.0, 1_500.0, 2_000.0, 2_500.0, 3_000.0, 4_000.0, 6_000.0, 8_000.0, 10_000.0, 12_500.0,
        15_000.0, 17_500.0, 20_000.0, 25_000.0, 30_000.0, 35_000.0, 40_000.0, 45_000.0, 55_000.0,
        70_000.0, 90_000.0,
    ];
    let mut rows = Vec::new();
    let paths = [
        ("connector → sink", &["--sink"][..]),
        ("end to end, embedded store", &[][..]),
    ];
    for (name, extra) in &paths[usize::from(store_only)..] {
        println!("\n{name}");
        let cloud = start_cloud_with(tmp, &format!("cloud-{}", rows.len()), extra).await;
        println!("(cloud pid {})", cloud.proc.child.id());
        let c = start_connector(
            tmp,
            &format!("ceil-{}", rows.len()),
            "127.0.0.156",
            &cloud.token,
        )
        .await;
        let sim = start_sim(
            10,
            0.0,
            "127.0.0.1:0",
            &tmp.join(format!("certs-ceil-{}", rows.len())),
        )
        .await;
        add_all(&c, &sim.addrs).await;
        wait_active(&c, 10, 30).await;
        let (knee, at80) = knee_of(&cloud, &[&c], &sim, &steps).await;
        rows.push((name, knee, at80));
        shutdown(vec![sim.proc, c.proc, cloud.proc]);
    }
    println!(
        "\n{:<28} {:>12} {:>14} {:>9} {:>9}",
        "", "events/s", "conn µs/event", "p50 ms", "p99 ms"
    );
    println!(
        "{:<28} {:>12.0} {:>14} {:>9} {:>9}",
        "raw rustls loopback", raw, "-", "-", "-"
    );
    for (name, knee, s) in &rows {
        println!(
            "{:<28} {:>12.0} {:>14.2} {:>9} {:>9}",
            name, knee, s.cpu_us_per_event, s.p50, s.p99
        );
    }
    println!("(latency and CPU per event at 80 % of each knee)");
    if store_only {
        return;
    }
    let (sink, store) = (rows[0].1, rows[1].1);
    println!(
        "ratios: sink/raw {:.4}, store/raw {:.4}, store/sink {:.2}",
        sink / raw,
        store / raw,
        store / sink
    );
}

/// APs of the simulator connected to a connector, in all.
async fn aps_connected(http: &reqwest::Client, status: &str) -> u64 {
    let s: Value = match http.get(format!("{status}/status.json")).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    s["aps"].as_array().map_or(0, |a| {
        a.iter()
            .map(|ap| ap["connected"].as_u64().unwrap_or(0))
            .sum()
    })
}

async fn scenario_aps(tmp: &Path) {
    const APS: u32 = 15_000;
    println!(
        "\n(aps) {APS} simulated APs on one connector's AP Channel, 0.1 telemetry messages/s each"
    );
    let dir = tmp.join("aps");
    // Production keepalive (the tests' fast echo would be 30,000 echoes/s
    // here), and every AP from one simulator address.
    let env = [
        ("SPACES_CONNECTOR_AP_MAX_PER_ADDRESS", "20000"),
        ("SPACES_CONNECTOR_ECHO_INTERVAL_MS", "15000"),
        ("SPACES_CONNECTOR_DEAD_AFTER_MS", "30000"),
    ];
    // Once to make its state file and learn its ports, then stopped.
    let mut c = ConnectorProc::start_on(&dir, "127.0.0.157", 0, 0, &env).await;
    let https_port: u16 = c.base.rsplit(':').next().unwrap().parse().unwrap();
    let ap_addr = c.ap_addr.clone();
    let ap_port: u16 = ap_addr.rsplit(':').next().unwrap().parse().unwrap();
    c.proc.term();
    // The APs dial a connector that is not there yet.
    let sim = Proc::spawn(Command::new(env!("CARGO_BIN_EXE_wlc-sim")).args([
        "--controllers",
        "0",
        "--aps",
        &APS.to_string(),
        "--connector",
        &ap_addr,
        "--ap-rate",
        "0.1",
        "--status-listen",
        "127.0.0.1:0",
    ]));
    let status = status_base(&sim, 300).await;
    sim.line_within(&format!("ap-{APS} streaming"), 300).await;
    let hashes: Vec<String> = sim
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("ap-") && l.contains("key hash"))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .unwrap()
                .trim_end_matches(')')
                .to_string()
        })
        .collect();
    assert_eq!(hashes.len(), APS as usize);
    // Allowed as the API would, in one transaction while it is stopped.
    {
        let mut db = rusqlite::Connection::open(dir.join("connector.db")).unwrap();
        let tx = db.transaction().unwrap();
        for (i, h) in hashes.iter().enumerate() {
            spaces_connector::connector::access_points::insert(&tx, &format!("AP {i}"), h, "")
                .unwrap();
        }
        tx.commit().unwrap();
    }
    // Plain HTTP to the simulator: the pin never applies.
    let http = client_for("none", Arc::new(reqwest::cookie::Jar::default()));
    let mut c: Option<ConnectorProc> = None;
    for round in ["start", "restart"] {
        if let Some(mut old) = c.take() {
            old.proc.term();
        }
        let t = Instant::now();
        let started = ConnectorProc::start_on(&dir, "127.0.0.157", https_port, ap_port, &env).await;
        let ready = t.elapsed();
        let all = eventually(120, "every AP connected", || async {
            (aps_connected(&http, &status).await >= APS as u64).then(|| t.elapsed())
        })
        .await;
        println!(
            "  connector {round}: serving after {:.1} s; all {APS} APs connected {:.1} s after it was started",
            ready.as_secs_f64(),
            all.as_secs_f64()
        );
        c = Some(started);
    }
    let c = c.unwrap();
    let pid = c.proc.child.id();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu0 = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let cpu = (cpu_secs(pid) - cpu0) / 10.0 * 100.0;
    let mut page_ms = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let r = c.http.get(c.at("/statistics")).send().await.unwrap();
        assert!(r.status().is_success());
        let _ = r.bytes().await.unwrap();
        page_ms.push(t.elapsed().as_millis() as i64);
    }
    println!(
        "  steady: connector RSS {:.1} MiB (peak {:.1}), CPU {cpu:.1} %; statistics page p50 {} ms, max {} ms over 7 loads",
        status_kb(pid, "VmRSS:") as f64 / 1024.0,
        status_kb(pid, "VmHWM:") as f64 / 1024.0,
        pct(&mut page_ms.clone(), 0.5),
        page_ms.iter().max().unwrap()
    );
    shutdown(vec![sim, c.proc]);
}

fn shutdown(procs: Vec<Proc>) {
    for mut p in procs {
        p.term();
    }
}

async fn scenario_b_d(tmp: &Path) {
    let cloud = start_cloud(tmp, "cloud-b").await;
    let c = start_connector(tmp, "b", "127.0.0.152", &cloud.token).await;
    let pid = c.proc.child.id();
    let base_rss = status_kb(pid, "VmRSS:");
    let mut sim_proc = None;
    let mut added = 0usize;
    for n in [200u32, 1000] {
        println!("\n(b) {n} controllers at 5 events/s each");
        if let Some(p) = sim_proc.take() {
            shutdown(vec![p]);
        }
        let sim = start_sim(n, 5.0, "127.0.0.1:21000", &tmp.join("certs-b")).await;
        add_all(&c, &sim.addrs[added..]).await;
        added = sim.addrs.len();
        let took = wait_active(&c, n as usize, 120).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let s = measure(&cloud, &sim, &c, 8).await;
        let rss = status_kb(pid, "VmRSS:") as f64 / 1024.0;
        println!(
            "  all Active after {:.1} s; connector RSS {rss:.1} MiB (peak {:.1}), {:.1} KiB per controller above idle; CPU {:.1}% ({:.3}% per controller); delivered {:.0}/s of {:.0}/s",
            took.as_secs_f64(),
            s.rss_mib,
            (rss * 1024.0 - base_rss as f64) / n as f64,
            s.cpu,
            s.cpu / n as f64,
            s.delivered,
            s.offered
        );
        sim_proc = Some(sim.proc);
    }
    println!("\n(d) reconnect storm: 1,000 controllers restart at once");
    if let Some(mut p) = sim_proc.take() {
        Command::new("kill")
            .args(["-KILL", &p.child.id().to_string()])
            .status()
            .unwrap();
        let _ = p.child.wait();
    }
    eventually(60, "connector notices", || async {
        (active(&c).await.0 < 1000).then_some(())
    })
    .await;
    let t = Instant::now();
    let sim = start_sim(1000, 5.0, "127.0.0.1:21000", &tmp.join("certs-b")).await;
    let back = wait_active(&c, 1000, 180).await;
    println!(
        "  all 1,000 Active again {:.1} s after the controllers came back ({:.1} s including simulator start)",
        back.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    shutdown(vec![sim.proc, c.proc, cloud.proc]);
}

async fn scenario_c(tmp: &Path) {
    println!("\n(c) a pair: two connectors on the same 10 controllers");
    let cloud = start_cloud(tmp, "cloud-c").await;
    let a = start_connector(tmp, "pa", "127.0.0.153", &cloud.token).await;
    let b = start_connector(tmp, "pb", "127.0.0.154", &cloud.token).await;
    let sim = start_sim(10, 100.0, "127.0.0.1:0", &tmp.join("certs-c")).await;
    add_all(&a, &sim.addrs).await;
    wait_active(&a, 10, 30).await;
    wait_active(&b, 10, 30).await;
    // Ramped to the knee; "conn" columns are member A's (B does the same
    // work), "delivered" is unique events: the cloud receives each twice.
    let steps = [
        1_000.0, 3_000.0, 6_000.0, 8_000.0, 10_000.0, 12_500.0, 15_000.0, 17_500.0, 20_000.0,
    ];
    let (knee, at80) = knee_of(&cloud, &[&a, &b], &sim, &steps).await;
    println!(
        "pair knee: {knee:.0} unique events/s (the cloud received {:.0}/s, half of them duplicates it removed); at 80 %: p50 {} ms, p99 {} ms",
        2.0 * knee,
        at80.p50,
        at80.p99
    );
    shutdown(vec![sim.proc, a.proc, b.proc, cloud.proc]);
}

/// 150,000 distinct clients: 10 controllers, each with 15,000 clients in
/// its world, at 8,000 events/s each into the embedded store.
async fn scenario_clients(tmp: &Path) {
    const PER_CONTROLLER: usize = 15_000;
    println!(
        "\n(clients) 10 controllers with {PER_CONTROLLER} clients each (150,000 distinct), 80,000 events/s, into the embedded store"
    );
    let cloud = start_cloud(tmp, "cloud-cl").await;
    let c = start_connector(tmp, "cl", "127.0.0.151", &cloud.token).await;
    let clients = PER_CONTROLLER.to_string();
    let sim = start_sim_with(
        10,
        0.0,
        "127.0.0.1:0",
        &tmp.join("certs-cl"),
        &["--clients", &clients],
    )
    .await;
    add_all(&c, &sim.addrs).await;
    wait_active(&c, 10, 30).await;
    println!("{HEADER}");
    sim.set_rate(&cloud.http, 8_000.0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..2 {
        print_step(&measure(&cloud, &sim, &c, 10).await);
    }
    sim.set_rate(&cloud.http, 0.0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let conn = rusqlite::Connection::open_with_flags(
        &cloud.db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn.prepare("SELECT body FROM events").unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut events = 0u64;
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        events += 1;
        let body: Vec<u8> = r.get(0).unwrap();
        if let Some(mac) = spaces_connector::nmsp::NotificationFields::parse(&body)
            .ok()
            .and_then(|f| f.client_mac)
        {
            seen.insert(mac);
        }
    }
    println!(
        "  {} distinct clients in {events} events stored; connector RSS peak {:.1} MiB",
        seen.len(),
        status_kb(c.proc.child.id(), "VmHWM:") as f64 / 1024.0
    );
    shutdown(vec![sim.proc, c.proc, cloud.proc]);
}

async fn scenario_e(tmp: &Path) {
    println!(
        "\n(e) web UI under load (wrk, 2 threads, 16 connections, 8 s) while 10 controllers stream 10,000 events/s"
    );
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("  wrk is not installed (scripts/bench installs it): skipped");
        return;
    }
    let cloud = start_cloud(tmp, "cloud-e").await;
    let c = start_connector(tmp, "e", "127.0.0.155", &cloud.token).await;
    let sim = start_sim(10, 1000.0, "127.0.0.1:0", &tmp.join("certs-e")).await;
    add_all(&c, &sim.addrs).await;
    wait_active(&c, 10, 30).await;
    for (name, path, auth) in [
        ("login page", "/login", false),
        ("stats API", "/api/v1/stats", true),
    ] {
        let mut cmd = Command::new("wrk");
        cmd.args(["-t2", "-c16", "-d8s", "--latency"]);
        if auth {
            cmd.args(["-H", &format!("Authorization: Bearer {}", c.api)]);
        }
        let out = cmd.arg(c.at(path)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let rps = text
            .lines()
            .find(|l| l.starts_with("Requests/sec"))
            .unwrap_or("Requests/sec: ?");
        let p99 = text
            .lines()
            .find(|l| l.trim_start().starts_with("99%"))
            .unwrap_or("99% ?");
        println!(
            "  {name:<11} {}  p99 {}",
            rps.trim(),
            p99.trim().trim_start_matches("99%").trim()
        );
    }
    shutdown(vec![sim.proc, c.proc, cloud.proc]);
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs this binary too, without `--bench`:
    // benchmarks are not tests, so they only run under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("e2e benchmarks run with `cargo bench --bench e2e` (scripts/bench); skipped here");
        return;
    }
    let which = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "a".into());
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    let tmp = tempfile::tempdir().unwrap();
    if matches!(which.as_str(), "a" | "all") {
        scenario_a(tmp.path()).await;
    }
    if matches!(which.as_str(), "b" | "d" | "all") {
        scenario_b_d(tmp.path()).await;
    }
    if matches!(which.as_str(), "c" | "all") {
        scenario_c(tmp.path()).await;
    }
    if matches!(which.as_str(), "e" | "all") {
        scenario_e(tmp.path()).await;
    }
    if matches!(which.as_str(), "clients" | "all") {
        scenario_clients(tmp.path()).await;
    }
    if matches!(which.as_str(), "aps" | "all") {
        scenario_aps(tmp.path()).await;
    }
    if matches!(which.as_str(), "ceiling" | "store" | "all") {
        scenario_ceiling(tmp.path(), which == "store").await;
    }
}
