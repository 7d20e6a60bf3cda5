//! Test harness: real appliances (in-process or as the real binary) on
//! loopback over real TLS, and a cookie-keeping HTTPS client that trusts
//! exactly the appliance's pinned key.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use spaces_connector::cli::ServeArgs;
use spaces_connector::service::Service;
use spaces_connector::tls_pin::PinnedKey;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery";

/// An appliance served in-process on `ip:0`.
pub struct TestAppliance {
    pub url: String,
    pub pin: String,
    pub instance_id: String,
    shutdown: CancellationToken,
    service: Service,
}

impl TestAppliance {
    pub async fn start(dir: &Path, ip: &str) -> TestAppliance {
        TestAppliance::start_with(dir, ip, 30 * 60).await
    }

    pub async fn start_with(dir: &Path, ip: &str, idle_secs: u64) -> TestAppliance {
        let mut args = test_args(ip);
        args.session_idle_secs = idle_secs;
        TestAppliance::start_args(dir, args).await
    }

    pub async fn start_args(dir: &Path, args: ServeArgs) -> TestAppliance {
        let shutdown = CancellationToken::new();
        let service = Service::start(dir, &args, shutdown.clone()).await.unwrap();
        TestAppliance {
            url: format!("https://{}", service.web.https_addr),
            pin: service.appliance.web_identity.key_hash().unwrap(),
            instance_id: service.appliance.instance_id.clone(),
            shutdown,
            service,
        }
    }

    /// A bearer token made directly in the state file.
    pub fn api_token(&self) -> String {
        self.service
            .appliance
            .db
            .call_blocking(|c| spaces_connector::auth::api_tokens::create(c, "tests"))
            .unwrap()
            .0
    }

    /// The connector's NMSP key hash, for controllers' auth lists.
    pub fn key_hash(&self) -> String {
        self.service.appliance.nmsp_key_hash.clone()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.service.wait().await.unwrap();
    }

    pub fn client(&self) -> reqwest::Client {
        client_for(&self.pin, Arc::new(reqwest::cookie::Jar::default()))
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }
}

/// Serve settings for tests: on `ip`, NMSP from `ip`, fast echo timers.
pub fn test_args(ip: &str) -> ServeArgs {
    ServeArgs {
        listen: format!("{ip}:0").parse().unwrap(),
        redirect_listen: None,
        static_dir: None,
        source_ip: Some(ip.parse().unwrap()),
        ap_listen: format!("{ip}:0").parse().unwrap(),
        heartbeat_secs: 1,
        spool_cap_mb: 256,
        spool_cap_bytes: None,
        echo_interval_ms: 200,
        dead_after_ms: 1000,
        session_idle_secs: 30 * 60,
        session_max_secs: 12 * 60 * 60,
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after
/// `secs` seconds naming `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for: {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An HTTPS client that trusts only the key `pin`, keeps cookies in `jar`
/// and does not follow redirects (tests look at them).
pub fn client_for(pin: &str, jar: Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(PinnedKey::client_config(pin))
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// GETs `path` and returns its CSRF token.
pub async fn csrf(c: &reqwest::Client, app: &TestAppliance, path: &str) -> String {
    let html = c
        .get(app.at(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_of(&html)
}

/// Sets the admin password at first boot; the client is then logged in.
pub async fn set_up(c: &reqwest::Client, app: &TestAppliance) {
    let token = csrf(c, app, "/setup").await;
    let r = c
        .post(app.at("/setup"))
        .form(&[
            ("csrf", token.as_str()),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "setup should succeed");
    assert_eq!(location(&r), "/");
}

pub async fn log_in(c: &reqwest::Client, app: &TestAppliance, password: &str) -> reqwest::Response {
    let token = csrf(c, app, "/login").await;
    c.post(app.at("/login"))
        .form(&[
            ("csrf", token.as_str()),
            ("username", "admin"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Posts the add-controller form.
pub async fn add_controller(
    c: &reqwest::Client,
    app: &TestAppliance,
    name: &str,
    host: &str,
    port: &str,
) -> reqwest::Response {
    let token = csrf(c, app, "/controllers").await;
    c.post(app.at("/controllers"))
        .form(&[
            ("csrf", token.as_str()),
            ("name", name),
            ("host", host),
            ("port", port),
            ("kind", "aireos"),
        ])
        .send()
        .await
        .unwrap()
}

/// Creates an API token through the system page and returns it.
pub async fn api_token(c: &reqwest::Client, app: &TestAppliance) -> String {
    let token = csrf(c, app, "/system").await;
    let html = c
        .post(app.at("/system/api-tokens"))
        .form(&[("csrf", token.as_str()), ("name", "tests")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "id=\"new-api-token\">";
    let start = html.find(marker).expect("token shown once") + marker.len();
    html[start..start + html[start..].find('<').unwrap()].to_string()
}

pub async fn controller_count(c: &reqwest::Client, app: &TestAppliance, api: &str) -> usize {
    let list: Vec<serde_json::Value> = c
        .get(app.at("/api/v1/controllers"))
        .bearer_auth(api)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.len()
}

/// A reference cloud served in-process, set up with an admin and a tenant.
pub struct TestCloud {
    pub url: String,
    pub pin: String,
    pub http: reqwest::Client,
    pub tenant_id: String,
    pub firehose_key: String,
    pub args: spaces_connector::cloud::CloudArgs,
    shutdown: CancellationToken,
    service: spaces_connector::cloud::CloudService,
}

impl TestCloud {
    pub async fn start(dir: &Path, ip: &str) -> TestCloud {
        let args = spaces_connector::cloud::CloudArgs {
            data_dir: dir.to_path_buf(),
            listen: format!("{ip}:0").parse().unwrap(),
            public_url: None,
            stale_after_secs: 3,
            down_after_secs: 5,
            dedup_window_hours: 24,
            static_dir: None,
        };
        let mut cloud = TestCloud::run(args).await;
        set_up_at(&cloud.http, &cloud.url).await;
        (cloud.tenant_id, cloud.firehose_key) = create_tenant(&cloud.http, &cloud.url).await;
        cloud
    }

    /// Starts (or restarts) the cloud with `args` on its state file.
    pub async fn run(args: spaces_connector::cloud::CloudArgs) -> TestCloud {
        let shutdown = CancellationToken::new();
        let service = spaces_connector::cloud::CloudService::start(&args, shutdown.clone())
            .await
            .unwrap();
        let url = service.state.url.to_string();
        let pin = service.state.pin.to_string();
        let mut args = args;
        // A restart keeps the port, so tokens stay valid.
        args.listen = service.web.https_addr;
        TestCloud {
            http: client_for(&pin, Arc::new(reqwest::cookie::Jar::default())),
            url,
            pin,
            tenant_id: String::new(),
            firehose_key: String::new(),
            args,
            shutdown,
            service,
        }
    }

    /// "Create a new token" for `name`; returns (group id, token).
    pub async fn create_token(&self, name: &str) -> (String, String) {
        create_token(&self.http, &self.url, &self.tenant_id, name).await
    }

    pub async fn group_page(&self, group_id: &str) -> String {
        self.http
            .get(format!("{}/groups/{group_id}", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Every event on the tenant's firehose, from the start, without waiting.
    pub async fn firehose(&self) -> Vec<serde_json::Value> {
        firehose(&self.http, &self.url, &self.firehose_key).await
    }

    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.service.wait().await.unwrap();
    }

    /// Stops the cloud; `StoppedCloud::start` brings it back on the same
    /// port and state file.
    pub async fn stop(self) -> StoppedCloud {
        let kept = StoppedCloud {
            args: self.args.clone(),
            http: self.http.clone(),
            tenant_id: self.tenant_id.clone(),
            firehose_key: self.firehose_key.clone(),
        };
        self.shutdown().await;
        kept
    }
}

pub struct StoppedCloud {
    args: spaces_connector::cloud::CloudArgs,
    http: reqwest::Client,
    tenant_id: String,
    firehose_key: String,
}

impl StoppedCloud {
    pub async fn start(self) -> TestCloud {
        let mut c = TestCloud::run(self.args).await;
        c.http = self.http;
        c.tenant_id = self.tenant_id;
        c.firehose_key = self.firehose_key;
        c
    }
}

/// Creates the tenant "Example Corp" on a cloud whose admin is logged in
/// on `http`; returns (tenant id, firehose key).
pub async fn create_tenant(http: &reqwest::Client, url: &str) -> (String, String) {
    let html = http
        .get(format!("{url}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = http
        .post(format!("{url}/tenants"))
        .form(&[("csrf", csrf_of(&html).as_str()), ("name", "Example Corp")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (
        between(&page, "href=\"/tenants/", "\""),
        between(&page, "id=\"firehose-key\">", "<"),
    )
}

/// "Create a new token" for connector `name`; returns (group id, token).
pub async fn create_token(
    http: &reqwest::Client,
    url: &str,
    tenant_id: &str,
    name: &str,
) -> (String, String) {
    let page = format!("{url}/tenants/{tenant_id}");
    let html = http.get(&page).send().await.unwrap().text().await.unwrap();
    let r = http
        .post(format!("{page}/groups"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("name", name),
            ("kind", "wireless"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let group_id = location(&r).trim_start_matches("/groups/").to_string();
    let html = http
        .get(format!("{url}/groups/{group_id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = between(&html, "aria-label=\"Connector token\">", "<");
    (group_id, token)
}

/// Every event on a tenant's firehose, from the start, without waiting.
pub async fn firehose(http: &reqwest::Client, url: &str, key: &str) -> Vec<serde_json::Value> {
    let body = http
        .get(format!("{url}/api/v1/firehose?follow=false"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The text between `start` and the next `end` in `html`.
pub fn between(html: &str, start: &str, end: &str) -> String {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in page"))
        + start.len();
    html[i..i + html[i..].find(end).unwrap()].to_string()
}

/// First-boot setup at a portal's base URL.
pub async fn set_up_at(c: &reqwest::Client, base: &str) {
    let html = c
        .get(format!("{base}/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/setup"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "setup should succeed");
}

/// Pastes a token on the connector's token page.
pub async fn paste_token(
    c: &reqwest::Client,
    app: &TestAppliance,
    token: &str,
) -> reqwest::Response {
    let csrf = csrf(c, app, "/token").await;
    c.post(app.at("/token"))
        .form(&[("csrf", csrf.as_str()), ("token", token)])
        .send()
        .await
        .unwrap()
}

/// A child process whose stdout lines are collected as they come.
pub struct Proc {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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
}

impl ConnectorProc {
    /// Starts the connector on `ip` (ports as given, 0 for any), then sets
    /// its admin password and makes an API token, unless already set up.
    pub async fn start(dir: &Path, ip: &str, https_port: u16, ap_port: u16) -> ConnectorProc {
        let proc = Proc::spawn(
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
                .env("SPACES_CONNECTOR_LOG", "warn"),
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
        let pin = spaces_connector::appliance::Appliance::open(dir)
            .unwrap()
            .web_identity
            .key_hash()
            .unwrap();
        let http = client_for(&pin, Arc::new(reqwest::cookie::Jar::default()));
        if url.ends_with("/setup") {
            set_up_at(&http, &base).await;
        } else {
            let html = http
                .get(format!("{base}/login"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let r = http
                .post(format!("{base}/login"))
                .form(&[
                    ("csrf", csrf_of(&html).as_str()),
                    ("username", "admin"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "login after restart");
        }
        let html = http
            .get(format!("{base}/system"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let page = http
            .post(format!("{base}/system/api-tokens"))
            .form(&[("csrf", csrf_of(&html).as_str()), ("name", "tests")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let api = between(&page, "id=\"new-api-token\">", "<");
        ConnectorProc {
            proc,
            dir: dir.to_path_buf(),
            ip: ip.to_string(),
            base,
            ap_addr,
            http,
            api,
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.http
            .get(self.at(path))
            .bearer_auth(&self.api)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
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
        let proc = Proc::spawn(
            Command::new(env!("CARGO_BIN_EXE_spaces-cloud"))
                .arg("--data-dir")
                .arg(dir)
                .args(["--listen", &format!("{ip}:0")])
                .args(extra)
                .env("SPACES_CLOUD_LOG", "warn"),
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
        set_up_at(&http, &url).await;
        let (tenant, firehose_key) = create_tenant(&http, &url).await;
        let (group, token) = create_token(&http, &url, &tenant, "HQ pair").await;
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
