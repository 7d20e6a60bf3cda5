//! Real processes for tests: any child with its output collected (`Proc`),
//! a `spaces-connector serve` set up through its pages, and a
//! `spaces-cloud` with a tenant and a token.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::*;

/// A child process whose stdout lines are collected as they come.
pub struct Proc {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

/// A test that fails must not leave its processes running.
impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc::spawn_logging(cmd, Stdio::null())
    }

    /// Like [`Proc::spawn`], its standard error (the log) going to `log`.
    pub fn spawn_logging(cmd: &mut Command, log: Stdio) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Proc { child, lines }
    }

    /// Types a line at the process's console (its standard input).
    pub fn type_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("stdin is piped");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    pub async fn line_with(&self, needle: &str) -> String {
        self.line_within(needle, 10).await
    }

    /// Waits up to `secs` for a line containing `needle`.
    pub async fn line_within(&self, needle: &str, secs: u64) -> String {
        eventually(secs, needle, || async {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
                .cloned()
        })
        .await
    }

    pub fn term(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

/// A `spaces-connector serve` process on its own loopback address.
pub struct ConnectorProc {
    pub proc: Proc,
    pub dir: std::path::PathBuf,
    pub ip: String,
    pub base: String,
    pub ap_addr: String,
    pub http: reqwest::Client,
    pub api: String,
    /// The key hash of its web certificate.
    pub pin: String,
}

/// A `spaces-connector serve` just started on `ip` (ports as given, 0 for
/// any: never a product default), before anything is set up.
pub struct Serving {
    pub proc: Proc,
    /// The URL it printed to open (`…/setup` on first boot).
    pub url: String,
    pub base: String,
    pub ap_addr: String,
    /// A client that trusts this connector's web certificate.
    pub http: reqwest::Client,
    /// That certificate's key hash.
    pub pin: String,
}

pub async fn serve(dir: &Path, ip: &str, https_port: u16, ap_port: u16) -> Serving {
    serve_logging(dir, ip, https_port, ap_port, "warn", Stdio::null(), &[]).await
}

/// [`serve`] with the log at `filter` (`SPACES_CONNECTOR_LOG`) written to
/// `log`, and more of its options in `env`.
pub async fn serve_logging(
    dir: &Path,
    ip: &str,
    https_port: u16,
    ap_port: u16,
    filter: &str,
    log: Stdio,
    env: &[(&str, &str)],
) -> Serving {
    let proc = Proc::spawn_logging(
        Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
            .arg("--data-dir")
            .arg(dir)
            .args([
                "serve",
                "--listen",
                &format!("{ip}:{https_port}"),
                "--source-ip",
                ip,
            ])
            .args([
                "--ap-listen",
                &format!("{ip}:{ap_port}"),
                "--heartbeat-secs",
                "1",
            ])
            .env("SPACES_CONNECTOR_ECHO_INTERVAL_MS", "500")
            .env("SPACES_CONNECTOR_DEAD_AFTER_MS", "3000")
            .env("SPACES_CONNECTOR_LOG", filter)
            // The log is the process's own here, even if the tests run under systemd.
            .env_remove("JOURNAL_STREAM")
            .envs(env.iter().copied()),
        log,
    );
    let open = proc.line_with("Open https://").await;
    let url = open.split_whitespace().nth(1).unwrap().to_string();
    let base = url
        .trim_end_matches("/setup")
        .trim_end_matches('/')
        .to_string();
    let ap_addr = proc
        .line_with("AP channel on")
        .await
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let pin = spaces_connector::connector::appliance::Appliance::open(dir)
        .unwrap()
        .web_cert
        .identity()
        .key_hash()
        .unwrap();
    let http = client_for(&pin, Arc::new(reqwest::cookie::Jar::default()));
    Serving {
        proc,
        url,
        base,
        ap_addr,
        http,
        pin,
    }
}

impl ConnectorProc {
    /// Starts the connector (see [`serve`]), then sets its admin password
    /// and makes an API token, unless already set up.
    pub async fn start(dir: &Path, ip: &str, https_port: u16, ap_port: u16) -> ConnectorProc {
        ConnectorProc::ready(serve(dir, ip, https_port, ap_port).await, dir, ip).await
    }

    /// [`ConnectorProc::start`] on any ports, its log at `filter` written
    /// to `log`.
    pub async fn start_logging(dir: &Path, ip: &str, filter: &str, log: Stdio) -> ConnectorProc {
        let serving = serve_logging(dir, ip, 0, 0, filter, log, &[]).await;
        ConnectorProc::ready(serving, dir, ip).await
    }

    /// [`ConnectorProc::start`] on any ports with more options in `env`.
    pub async fn start_env(dir: &Path, ip: &str, env: &[(&str, &str)]) -> ConnectorProc {
        ConnectorProc::start_on(dir, ip, 0, 0, env).await
    }

    /// [`ConnectorProc::start`] on the given ports (0: any) with more
    /// options in `env`.
    pub async fn start_on(
        dir: &Path,
        ip: &str,
        https_port: u16,
        ap_port: u16,
        env: &[(&str, &str)],
    ) -> ConnectorProc {
        let serving = serve_logging(dir, ip, https_port, ap_port, "warn", Stdio::null(), env).await;
        ConnectorProc::ready(serving, dir, ip).await
    }

    async fn ready(serving: Serving, dir: &Path, ip: &str) -> ConnectorProc {
        let Serving {
            proc,
            url,
            base,
            ap_addr,
            http,
            pin,
        } = serving;
        if url.ends_with("/setup") {
            set_up_at(&http, &base, &setup_code_in(dir)).await;
        } else {
            let r = log_in_at(&http, &base, PASSWORD).await;
            assert_eq!(r.status(), 303, "login after restart");
        }
        let api = api_token_at(&http, &base).await;
        ConnectorProc {
            proc,
            dir: dir.to_path_buf(),
            ip: ip.to_string(),
            base,
            ap_addr,
            http,
            api,
            pin,
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET` a path with the API token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.at(path))
            .bearer_auth(&self.api)
            .send()
            .await
            .unwrap()
    }

    /// `GET` a path with the API token, as text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.at(path))
            .bearer_auth(&self.api)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Enters a token through the API; returns the answer (200 expected).
    pub async fn set_token(&self, token: &str) -> serde_json::Value {
        let r = self
            .http
            .put(self.at("/api/v1/token"))
            .bearer_auth(&self.api)
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "token accepted");
        r.json().await.unwrap()
    }

    pub fn kill(&mut self) {
        Command::new("kill")
            .args(["-KILL", &self.proc.child.id().to_string()])
            .status()
            .unwrap();
        let _ = self.proc.child.wait();
    }
}

/// A `spaces-cloud` process, set up with an admin, a tenant and one token.
pub struct CloudProc {
    pub proc: Proc,
    pub url: String,
    pub http: reqwest::Client,
    pub tenant: String,
    pub firehose_key: String,
    pub group: String,
    pub token: String,
}

impl CloudProc {
    pub async fn start(dir: &Path, ip: &str, extra: &[&str]) -> CloudProc {
        CloudProc::start_with_env(dir, ip, extra, &[]).await
    }

    /// Like [`start`](Self::start), its one token for a `kind` network
    /// ("wireless" or "wired").
    pub async fn start_kind(dir: &Path, ip: &str, extra: &[&str], kind: &str) -> CloudProc {
        CloudProc::start_full(dir, ip, extra, &[], kind).await
    }

    /// Sets the tenant's client privacy ("hash" or "off") on its page.
    pub async fn set_privacy(&self, mode: &str) {
        let tenant = format!("{}/tenants/{}", self.url, self.tenant);
        let r = submit(
            &self.http,
            &tenant,
            &format!("{tenant}/privacy"),
            &[("mode", mode)],
        )
        .await;
        assert_eq!(r.status(), 303, "privacy set to {mode}");
    }

    /// The page of the group the token is for.
    pub async fn group_page(&self) -> String {
        page(&self.http, &format!("{}/groups/{}", self.url, self.group)).await
    }

    /// `GET /api/v1/gaps` with the firehose key: the first group's sources
    /// and what each is missing (empty if the answer is not there yet).
    pub async fn gap_sources(&self) -> Vec<serde_json::Value> {
        let answer = self
            .http
            .get(format!("{}/api/v1/gaps", self.url))
            .bearer_auth(&self.firehose_key)
            .send()
            .await;
        let g: serde_json::Value = match answer {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        g["groups"][0]["sources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Like [`start`](Self::start), with more environment (a preloaded
    /// library that steps its clock).
    pub async fn start_with_env(
        dir: &Path,
        ip: &str,
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> CloudProc {
        CloudProc::start_full(dir, ip, extra, env, "wireless").await
    }

    async fn start_full(
        dir: &Path,
        ip: &str,
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
        kind: &str,
    ) -> CloudProc {
        let proc = Proc::spawn(
            Command::new(env!("CARGO_BIN_EXE_spaces-cloud"))
                .arg("--data-dir")
                .arg(dir)
                .args(["--listen", &format!("{ip}:0")])
                .args(extra)
                .env("SPACES_CLOUD_LOG", "warn")
                .envs(env.iter().copied()),
        );
        let open = proc.line_with("Open https://").await;
        let url = open
            .split_whitespace()
            .nth(1)
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        let pin = proc
            .line_with("Cloud key pin:")
            .await
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string();
        let http = client_for(&pin, Arc::new(reqwest::cookie::Jar::default()));
        set_up_at(&http, &url, &setup_code_in(dir)).await;
        let (tenant, firehose_key) = create_tenant(&http, &url).await;
        let (group, token) = create_token_kind(&http, &url, &tenant, "HQ pair", kind).await;
        CloudProc {
            proc,
            url,
            http,
            tenant,
            firehose_key,
            group,
            token,
        }
    }
}

/// A `wlc-sim` process with `n` controllers on 127.0.0.1 (port 0 each) and
/// its status endpoint, plus whatever `extra` options a test adds.
pub struct SimProc {
    pub proc: Proc,
    /// `host:port` of each controller, in order.
    pub controllers: Vec<String>,
    /// `host:port` of each switch, in order.
    pub switches: Vec<String>,
    /// Key hash of each controller (the `source` of its events), in order.
    pub controller_keys: Vec<String>,
    /// The JSON form of `show nmsp status` for every controller.
    pub status_url: String,
    /// Key hash of each simulated AP (`--aps N`), in order.
    pub aps: Vec<String>,
    /// For the plain-HTTP status and control endpoint.
    http: reqwest::Client,
}

impl SimProc {
    pub async fn start(n: usize, extra: &[&str]) -> SimProc {
        SimProc::start_devices(n, 0, extra).await
    }

    /// `n` wireless controllers and `n_switches` Catalyst switches (give
    /// `--ports` in `extra`).
    pub async fn start_devices(n: usize, n_switches: usize, extra: &[&str]) -> SimProc {
        let proc = Proc::spawn(
            Command::new(env!("CARGO_BIN_EXE_wlc-sim"))
                .args(["--listen", "127.0.0.1:0", "--controllers", &n.to_string()])
                .args(["--switches", &n_switches.to_string()])
                .args(["--status-listen", "127.0.0.1:0"])
                .args(extra),
        );
        let status_url = proc
            .line_with("status on http://")
            .await
            .rsplit(' ')
            .next()
            .unwrap()
            .replace("/show/nmsp/status", "/status.json");
        let (mut controllers, mut controller_keys) = (Vec::new(), Vec::new());
        for i in 1..=n {
            let line = proc.line_with(&format!("wlc-sim-{i} listening on")).await;
            controllers.push(line.split_whitespace().nth(3).unwrap().to_string());
            let key = line.rsplit(' ').next().unwrap().trim_end_matches(')');
            controller_keys.push(key.to_string());
        }
        let mut switches = Vec::new();
        for i in 1..=n_switches {
            let line = proc
                .line_with(&format!("switch-sim-{i} listening on"))
                .await;
            switches.push(line.split_whitespace().nth(3).unwrap().to_string());
        }
        let mut aps = Vec::new();
        let n_aps = extra
            .windows(2)
            .find(|w| w[0] == "--aps")
            .map_or(0, |w| w[1].parse().unwrap());
        for i in 1..=n_aps {
            let line = proc.line_with(&format!("ap-{i} streaming")).await;
            aps.push(
                line.rsplit(' ')
                    .next()
                    .unwrap()
                    .trim_end_matches(')')
                    .to_string(),
            );
        }
        SimProc {
            proc,
            controllers,
            switches,
            controller_keys,
            status_url,
            aps,
            // Plain HTTP: the TLS settings (a pin for no key) never apply.
            http: client_for("none", Arc::new(reqwest::cookie::Jar::default())),
        }
    }
}

impl SimProc {
    /// `status.json`: every controller's generated count, restarts and
    /// per-connector rows.
    pub async fn status(&self) -> serde_json::Value {
        super::json_of(self.http.get(&self.status_url)).await
    }

    /// Notifications controller `i` (0-based) produced so far.
    pub async fn generated(&self, i: usize) -> u64 {
        self.status().await["controllers"][i]["generated"]
            .as_u64()
            .unwrap()
    }

    /// POSTs to the simulator's control endpoint (`/rate/R`, `/restart/N`).
    pub async fn control(&self, path: &str) {
        let url = self.status_url.replace("/status.json", path);
        let r = self.http.post(&url).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
    }
}

/// The state this connector shows for peer `instance` ("up", "down"…).
pub fn peer_state(status: &serde_json::Value, instance: &str) -> Option<String> {
    status["cloud_link"]["peers"]
        .as_array()?
        .iter()
        .find(|p| p["instance_id"] == instance)
        .and_then(|p| p["state"].as_str().map(str::to_string))
}

impl ConnectorProc {
    /// Allows every simulated AP of `sim` through the API, as "AP 1"….
    pub async fn allow_aps(&self, sim: &SimProc) {
        for (i, hash) in sim.aps.iter().enumerate() {
            let r = self
                .post_json(
                    "/api/v1/access-points",
                    serde_json::json!({"name": format!("AP {}", i + 1), "key_hash": hash}),
                )
                .await;
            assert_eq!(r.status(), 201, "AP {hash} allowed");
        }
    }

    /// Whether exactly `n` controller sessions exist and all are Active.
    pub async fn all_active(&self, n: usize) -> bool {
        let s = self.get_json("/api/v1/stats").await;
        let links = s["controller_channel"]["links"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        links.len() == n && links.iter().all(|l| l["status"] == "Active")
    }

    /// Adds every controller of `sim` through the API, named `prefix 1`,
    /// `prefix 2`….
    pub async fn add_controllers(&self, sim: &SimProc, prefix: &str) {
        self.add_devices("/api/v1/controllers", &sim.controllers, prefix)
            .await;
    }

    /// Adds every switch of `sim` (to a wired connector) the same way.
    pub async fn add_switches(&self, sim: &SimProc, prefix: &str) {
        self.add_devices("/api/v1/switches", &sim.switches, prefix)
            .await;
    }

    async fn add_devices(&self, api: &str, addrs: &[String], prefix: &str) {
        for (i, addr) in addrs.iter().enumerate() {
            let (host, port) = addr.rsplit_once(':').unwrap();
            let r = self
                .post_json(
                    api,
                    serde_json::json!({"name": format!("{prefix} {}", i + 1), "host": host, "port": port}),
                )
                .await;
            assert_eq!(r.status(), 201, "{addr} added");
        }
    }
}

/// Runs a console command of the connector binary on `dir`: did it
/// succeed, and what it printed (stdout then stderr).
pub fn console(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("SPACES_CONNECTOR_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
