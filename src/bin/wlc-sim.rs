//! `wlc-sim`: simulated wireless controllers (and, with `--switches`,
//! Catalyst switches reporting wired end points) speaking NMSP over TLS.
//!
//! Prints `show nmsp status` when asked (type it on standard input, after
//! `controller N` for one controller's table; send SIGUSR1; or GET
//! /show/nmsp/status[?controller=N] on `--status-listen`) and on exit.
//! Also GET /show/nmsp/statistics/summary, .../statistics/connection and
//! .../subscription/detail (the counters controllers keep, in a layout of
//! our own: the controllers' layouts for these are not published).
//! On `--status-listen`, POST /rate/R changes the rate and
//! POST /restart/N?outage_ms=M restarts controller N.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use clap::Parser;
use spaces_connector::sim::{
    self, ApSpec, AuthList, ControllerSpec, SimAp, SimController, SimDevice,
};
use spaces_connector::tls::identity::{Identity, KeyKind};
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};

/// Prints to stdout, ignoring a closed pipe: losing the status table must
/// not take the simulated controllers down.
macro_rules! say {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout(), $($t)*); }};
}
macro_rules! say_raw {
    ($($t:tt)*) => {{ let _ = write!(std::io::stdout(), $($t)*); let _ = std::io::stdout().flush(); }};
}

#[derive(Parser)]
#[command(
    name = "wlc-sim",
    version,
    about = "Simulated wireless controllers and Catalyst switches (NMSP over TLS)"
)]
struct Args {
    /// Address of the first controller; the others, then the switches,
    /// follow on consecutive ports (or addresses, with --spread-ips).
    #[arg(long, default_value = "127.0.0.1:16113")]
    listen: SocketAddr,
    /// Number of controllers to run (default: 1, or 0 with --switches).
    #[arg(long)]
    controllers: Option<u32>,
    /// Number of Catalyst switches to run: their end points plug in and
    /// out (wired Attachment Notifications), with the same auth list,
    /// `show nmsp status`, --seed, --limit and --wait-for.
    #[arg(long, default_value_t = 0)]
    switches: u32,
    /// Access ports per switch.
    #[arg(long, default_value_t = 24)]
    ports: usize,
    /// Put controllers on consecutive IPv4 addresses, same port.
    #[arg(long)]
    spread_ips: bool,
    /// A connector key hash on the auth list (repeatable).
    #[arg(long = "allow", value_name = "HASH")]
    allow: Vec<String>,
    /// Admit any connector (demos).
    #[arg(long)]
    allow_any: bool,
    /// Notifications per second, per controller.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Stop each controller after this many notifications.
    #[arg(long)]
    limit: Option<u64>,
    /// Hold notifications until this many connectors subscribed to each.
    #[arg(long, default_value_t = 0)]
    wait_for: usize,
    /// Seed of the synthetic traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Plain-HTTP address serving /show/nmsp/status and /status.json.
    #[arg(long)]
    status_listen: Option<SocketAddr>,
    /// Keep the controllers' certificates here across restarts.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Close a connector that sent no echo request for this long.
    #[arg(long, default_value_t = 30)]
    echo_timeout_secs: u64,
    /// Number of simulated APs streaming BLE telemetry to the connectors.
    #[arg(long, default_value_t = 0)]
    aps: u32,
    /// A connector's AP Channel address that every AP streams to
    /// (repeatable: give both members of a pair).
    #[arg(long = "connector", value_name = "ADDR")]
    connectors: Vec<SocketAddr>,
    /// Telemetry messages per second, per AP (default: --rate).
    #[arg(long)]
    ap_rate: Option<f64>,
    /// APs retry a refused or failed connection every this many
    /// milliseconds instead of backing off (0.5 s doubling to 30 s): rogue
    /// APs hammering a connector.
    #[arg(long, value_name = "MS")]
    ap_hammer_ms: Option<u64>,
    /// Clients in each controller's world (distinct MACs across
    /// controllers): 15,000 on each of 10 controllers is 150,000 clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Pad every notification with this many bytes (an unknown TLV that a
    /// connector skips), up to 60,000: a controller flooding large frames.
    #[arg(long, default_value_t = 0)]
    pad_bytes: usize,
    /// Exit after this many seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Restart a controller every this many seconds (in turn: 1, 2, ...):
    /// its sessions and listener go, and it is away for --restart-outage-ms.
    #[arg(long, value_name = "SECS")]
    restart_every: Option<f64>,
    /// Stop restarting after this many restarts.
    #[arg(long, value_name = "N")]
    restarts: Option<u64>,
    /// How long a restarting controller is away, in milliseconds.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    restart_outage_ms: u64,
    /// The controller software the console plays, where the two differ:
    /// the commands that change the auth list (aireos: `config auth-list
    /// add sha256-lbs-ssc <MAC> <hash>`; iosxe, a Catalyst 9800: `username
    /// <mac> mac aaa attribute list ...`). `show nmsp status` prints the
    /// Catalyst 9800 layout under both: AireOS's layout is not publicly
    /// documented, so it is not invented here; the statistics and
    /// subscription layouts are this simulator's own under both.
    #[arg(long, value_enum, default_value = "iosxe")]
    os: sim::console::Os,
    /// The controllers' key: rsa-2048 (as real controllers have) or
    /// ecdsa-p256. Kept keys (--cert-dir) keep their type.
    #[arg(long, default_value = "ecdsa-p256", value_parser = key_kind)]
    key_type: KeyKind,
    /// Accept TLS 1.2 only (ECDHE with AES-GCM or ChaCha20), as controllers
    /// without TLS 1.3 do.
    #[arg(long)]
    tls12_only: bool,
}

fn key_kind(s: &str) -> Result<KeyKind, String> {
    KeyKind::parse(s).ok_or_else(|| "rsa-2048 or ecdsa-p256".to_string())
}

#[derive(serde::Deserialize)]
struct ShowQuery {
    /// One controller's table only (counted from 1), as that controller
    /// prints it.
    controller: Option<String>,
}

#[derive(serde::Deserialize)]
struct RestartQuery {
    outage_ms: Option<u64>,
}

fn identity(dir: Option<&Path>, i: u32, kind: KeyKind) -> anyhow::Result<Identity> {
    let name = format!("wlc-sim-{}", i + 1);
    let Some(dir) = dir else {
        return Ok(Identity::generate_with(kind, &name, vec![name.clone()])?);
    };
    std::fs::create_dir_all(dir)?;
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    if cert.exists() && key.exists() {
        return Ok(Identity {
            cert_pem: std::fs::read_to_string(cert)?,
            key_pem: std::fs::read_to_string(key)?,
        });
    }
    let id = Identity::generate_with(kind, &name, vec![name.clone()])?;
    std::fs::write(cert, &id.cert_pem)?;
    std::fs::write(key, &id.key_pem)?;
    Ok(id)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WLC_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.allow.is_empty() && !args.allow_any {
        let paste = match args.os {
            sim::console::Os::Aireos => "config auth-list add sha256-lbs-ssc <MAC> <key hash>",
            sim::console::Os::Iosxe => {
                "the connector's Catalyst 9800 lines (username <mac> mac aaa attribute list ...)"
            }
        };
        eprintln!(
            "note: the auth list is empty; connectors will be refused (use --allow HASH or --allow-any, or type: {paste})"
        );
    }
    let auth = AuthList::new(args.allow.clone(), args.allow_any);
    let n_controllers = args
        .controllers
        .unwrap_or(if args.switches > 0 { 0 } else { 1 });
    let mut controllers = Vec::new();
    for i in 0..n_controllers + args.switches {
        let (device, name, index) = if i < n_controllers {
            (SimDevice::Controller, format!("wlc-sim-{}", i + 1), i)
        } else {
            let j = i - n_controllers;
            let ports = args.ports.clamp(1, 480);
            (
                SimDevice::Switch { ports },
                format!("switch-sim-{}", j + 1),
                j,
            )
        };
        let spec = ControllerSpec {
            device,
            name,
            addr: sim::controller_addr(args.listen, i, args.spread_ips),
            identity: Arc::new(identity(args.cert_dir.as_deref(), i, args.key_type)?),
            auth: auth.clone(),
            rate: args.rate,
            limit: args.limit,
            wait_for: args.wait_for,
            seed: args.seed,
            index,
            echo_timeout: Duration::from_secs(args.echo_timeout_secs.max(1)),
            pad_bytes: args.pad_bytes,
            tls12_only: args.tls12_only,
            clients: args.clients,
        };
        let c = SimController::start(spec.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", spec.addr))?;
        say!(
            "{} listening on {} (key hash {})",
            c.spec.name,
            c.addr,
            c.spec.identity.key_hash()?
        );
        controllers.push(c);
    }
    if args.aps > 0 && args.connectors.is_empty() {
        anyhow::bail!(
            "--aps needs at least one --connector ADDR (a connector's AP channel address)"
        );
    }
    let mut aps = Vec::new();
    for i in 0..args.aps {
        let ap = SimAp::start(ApSpec {
            name: format!("ap-{}", i + 1),
            index: i,
            connectors: args.connectors.clone(),
            rate: args.ap_rate.unwrap_or(args.rate),
            hammer: args.ap_hammer_ms.map(Duration::from_millis),
            limit: args.limit,
            wait_for: args.wait_for.min(args.connectors.len()),
            seed: args.seed,
        })?;
        say!(
            "{} streaming to {} connector(s) (key hash {})",
            ap.spec.name,
            args.connectors.len(),
            ap.identity.key_hash()?
        );
        aps.push(ap);
    }
    let aps = Arc::new(aps);
    let controllers = Arc::new(controllers);
    if let Some(addr) = args.status_listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        say!(
            "status on http://{}/show/nmsp/status",
            listener.local_addr()?
        );
        let (text, json, ap_json, rated, restarted) = (
            controllers.clone(),
            controllers.clone(),
            aps.clone(),
            controllers.clone(),
            controllers.clone(),
        );
        let app = Router::new()
            .route(
                "/show/{*command}",
                get(
                    move |axum::extract::Path(command): axum::extract::Path<String>,
                          axum::extract::Query(q): axum::extract::Query<ShowQuery>| async move {
                        use axum::http::StatusCode;
                        let mut words = vec!["show"];
                        words.extend(command.split('/').filter(|w| !w.is_empty()));
                        let Some(show) = sim::Show::parse(&words) else {
                            return (StatusCode::NOT_FOUND, format!("unknown command: {}\n", words.join(" ")));
                        };
                        match q.controller {
                            None => (StatusCode::OK, sim::show_all(&text, show)),
                            Some(n) => match sim::console::pick(&n, text.len()) {
                                Some(i) => (StatusCode::OK, show.render(&text[i])),
                                None => (StatusCode::NOT_FOUND, format!("no controller {n}\n")),
                            },
                        }
                    },
                ),
            )
            .route(
                "/rate/{per_sec}",
                axum::routing::post(
                    move |axum::extract::Path(r): axum::extract::Path<f64>| async move {
                        rated.iter().for_each(|c| c.set_rate(r));
                        format!("rate {r}/s per controller\n")
                    },
                ),
            )
            .route(
                "/restart/{n}",
                axum::routing::post(
                    move |axum::extract::Path(n): axum::extract::Path<usize>,
                          axum::extract::Query(q): axum::extract::Query<RestartQuery>| async move {
                        match n.checked_sub(1).and_then(|i| restarted.get(i)) {
                            Some(c) => {
                                c.restart(Duration::from_millis(q.outage_ms.unwrap_or(200)));
                                (axum::http::StatusCode::OK, format!("{} restarting\n", c.spec.name))
                            }
                            None => (axum::http::StatusCode::NOT_FOUND, format!("no controller {n}\n")),
                        }
                    },
                ),
            )
            .route(
                "/status.json",
                get(move || async move { axum::Json(sim::status_json(&json, &ap_json)) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut console = sim::console::Console::new(auth.clone(), args.os);
    let deadline = tokio::time::sleep(Duration::from_secs(args.duration.unwrap_or(u64::MAX / 4)));
    tokio::pin!(deadline);
    let every = args
        .restart_every
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64);
    let mut restart_tick =
        every.map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
    let mut restarted = 0u64;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tick(&mut restart_tick), if args.restarts.is_none_or(|n| restarted < n) && !controllers.is_empty() => {
                let c = &controllers[(restarted % controllers.len() as u64) as usize];
                c.restart(Duration::from_millis(args.restart_outage_ms));
                restarted += 1;
                say!("{} restarting (away {} ms)", c.spec.name, args.restart_outage_ms);
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = usr1.recv() => say_raw!("{}", sim::show_all(&controllers, sim::Show::NmspStatus)),
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(l)) => say_raw!("{}", console.run(&l, &controllers)),
                _ => stdin_open = false,
            },
        }
    }
    for c in controllers.iter() {
        c.stop().await;
    }
    for ap in aps.iter() {
        ap.stop().await;
    }
    say_raw!(
        "{}{}",
        sim::show_all(&controllers, sim::Show::NmspStatus),
        sim::show_aps(&aps)
    );
    Ok(())
}

/// The next tick, or never without an interval.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
