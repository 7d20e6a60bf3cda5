//! Test harness: real appliances (in-process or as the real binary) on
//! loopback over real TLS, and a cookie-keeping HTTPS client that trusts
//! exactly the appliance's pinned key.
#![allow(dead_code, unused_imports)]

mod cloud;
mod process;

pub use cloud::*;
pub use process::*;

use std::path::Path;
use std::sync::Arc;

use spaces_connector::connector::cli::ServeArgs;
use spaces_connector::connector::service::Service;
use spaces_connector::sim::SimController;
use spaces_connector::tls::pin::PinnedKey;
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
            pin: service.appliance.web_cert.identity().key_hash().unwrap(),
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
            .call_blocking(|c| {
                use spaces_connector::portal::auth::api_tokens::{Scope, create};
                create(c, "tests", Scope::Admin)
            })
            .unwrap()
            .0
    }

    /// The setup code the appliance made at start (panics once set up).
    pub fn setup_code(&self) -> String {
        self.service.setup_code.clone().expect("not set up yet")
    }

    /// The plain-HTTP redirect listener, when one was asked for.
    pub fn redirect_addr(&self) -> Option<std::net::SocketAddr> {
        self.service.web.redirect_addr
    }

    /// Where APs connect (the AP Channel).
    pub fn ap_addr(&self) -> std::net::SocketAddr {
        self.service.ap_addr
    }

    /// The connector's NMSP key hash, for controllers' auth lists.
    pub fn key_hash(&self) -> String {
        self.service.appliance.nmsp.current().key_hash.clone()
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

/// A fresh appliance on `ip` with its state in a new temporary directory.
pub async fn fresh(ip: &str) -> (tempfile::TempDir, TestAppliance, reqwest::Client) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestAppliance::start(dir.path(), ip).await;
    let c = app.client();
    (dir, app, c)
}

/// A simulated controller on 127.0.0.1 (any port) with a fresh identity,
/// holding its notifications until one connector has subscribed.
pub fn sim_spec(
    index: u32,
    auth: Arc<spaces_connector::sim::AuthList>,
    rate: f64,
    limit: Option<u64>,
) -> spaces_connector::sim::ControllerSpec {
    spaces_connector::sim::ControllerSpec {
        device: spaces_connector::sim::SimDevice::Controller,
        name: format!("wlc-{index}"),
        addr: "127.0.0.1:0".parse().unwrap(),
        identity: Arc::new(
            spaces_connector::tls::identity::Identity::generate("wlc", vec!["wlc".into()]).unwrap(),
        ),
        auth,
        rate,
        limit,
        wait_for: 1,
        seed: 42,
        index,
        echo_timeout: std::time::Duration::from_secs(5),
        pad_bytes: 0,
        tls12_only: false,
        clients: 64,
    }
}

impl TestAppliance {
    /// Adds a simulated controller through the API; returns its id.
    pub async fn add_sim(
        &self,
        http: &reqwest::Client,
        api: &str,
        name: &str,
        sim: &spaces_connector::sim::SimController,
    ) -> i64 {
        let body = serde_json::json!({"name": name, "host": sim.addr.ip().to_string(), "port": sim.addr.port()});
        let r = http
            .post(self.at("/api/v1/controllers"))
            .bearer_auth(api)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json::<serde_json::Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
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
        ap_max_per_address: 16,
        ap_max_connections: 1000,
        manage_network: false,
        upgrades: Default::default(),
        network_confirm_secs: 120,
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
        .pool_idle_timeout(spaces_connector::portal::server::CLIENT_POOL_IDLE)
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Like [`client_for`], with its own cookie jar, connecting from the local
/// address `source` (another "client machine" on loopback).
pub fn client_from(pin: &str, source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(PinnedKey::client_config(pin))
        .pool_idle_timeout(spaces_connector::portal::server::CLIENT_POOL_IDLE)
        .cookie_store(true)
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
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

/// The body of a page.
pub async fn page(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

/// Does what a browser does with a form: opens `page_url`, then posts
/// `fields` with that page's CSRF token to `action`.
pub async fn submit(
    c: &reqwest::Client,
    page_url: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = csrf_of(&page(c, page_url).await);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    c.post(action).form(&form).send().await.unwrap()
}

/// GETs `path` and returns its CSRF token.
pub async fn csrf(c: &reqwest::Client, app: &TestAppliance, path: &str) -> String {
    csrf_of(&page(c, &app.at(path)).await)
}

/// The setup code an appliance (or cloud) keeps in its state directory.
pub fn setup_code_in(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("setup-code"))
        .expect("a setup code waits in the state directory")
        .trim()
        .to_string()
}

/// Sets the admin password at first boot; the client is then logged in.
pub async fn set_up(c: &reqwest::Client, app: &TestAppliance) {
    set_up_at(c, &app.url, &app.setup_code()).await;
}

pub async fn log_in(c: &reqwest::Client, app: &TestAppliance, password: &str) -> reqwest::Response {
    log_in_at(c, &app.url, password).await
}

/// Logs in as admin at a portal's base URL.
pub async fn log_in_at(c: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    let (login, fields) = (
        format!("{base}/login"),
        [("username", "admin"), ("password", password)],
    );
    submit(c, &login, &login, &fields).await
}

/// Posts the add-controller form.
pub async fn add_controller(
    c: &reqwest::Client,
    app: &TestAppliance,
    name: &str,
    host: &str,
    port: &str,
) -> reqwest::Response {
    let url = app.at("/controllers");
    let fields = [
        ("name", name),
        ("host", host),
        ("port", port),
        ("kind", "aireos"),
    ];
    submit(c, &url, &url, &fields).await
}

/// Creates an API token through the system page and returns it.
pub async fn api_token(c: &reqwest::Client, app: &TestAppliance) -> String {
    api_token_at(c, &app.url).await
}

/// Creates an API token on a connector's system page (base URL) and
/// returns it, as shown that once.
pub async fn api_token_at(c: &reqwest::Client, base: &str) -> String {
    let r = submit(
        c,
        &format!("{base}/system"),
        &format!("{base}/system/api-tokens"),
        &[("name", "tests"), ("scope", "admin")],
    )
    .await;
    between(&r.text().await.unwrap(), "id=\"new-api-token\">", "<")
}

/// Sends `request` and reads the answer as JSON (any status).
pub async fn json_of<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().json().await.unwrap()
}

pub async fn controller_count(c: &reqwest::Client, app: &TestAppliance, api: &str) -> usize {
    let list: Vec<serde_json::Value> =
        json_of(c.get(app.at("/api/v1/controllers")).bearer_auth(api)).await;
    list.len()
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
pub async fn set_up_at(c: &reqwest::Client, base: &str, code: &str) {
    let url = format!("{base}/setup");
    let r = submit(
        c,
        &url,
        &url,
        &[
            ("code", code),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "setup should succeed");
    assert_eq!(location(&r), "/");
}

/// Pastes a token on the connector's token page.
pub async fn paste_token(
    c: &reqwest::Client,
    app: &TestAppliance,
    token: &str,
) -> reqwest::Response {
    let url = app.at("/token");
    submit(c, &url, &url, &[("token", token)]).await
}

/// An in-process appliance on its own loopback address, set up (admin
/// password, API token) and ready for API calls: what most tests start with.
pub struct ReadyAppliance {
    _dir: tempfile::TempDir,
    pub app: TestAppliance,
    pub http: reqwest::Client,
    pub api: String,
    pub ip: std::net::IpAddr,
}

impl ReadyAppliance {
    /// Its state directory (for console commands on the same state file).
    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    pub async fn start(ip: &str) -> ReadyAppliance {
        ReadyAppliance::start_with(ip, |_| {}).await
    }

    /// Starts with options changed by `tweak` (a spool cap, say).
    pub async fn start_with(ip: &str, tweak: impl FnOnce(&mut ServeArgs)) -> ReadyAppliance {
        let dir = tempfile::tempdir().unwrap();
        let mut args = test_args(ip);
        tweak(&mut args);
        let app = TestAppliance::start_args(dir.path(), args).await;
        let http = app.client();
        set_up(&http, &app).await;
        let api = app.api_token();
        ReadyAppliance {
            _dir: dir,
            app,
            http,
            api,
            ip: ip.parse().unwrap(),
        }
    }

    /// Stops and starts it again on the same state file and address (with
    /// the default test options); the API token is a new one.
    pub async fn restart(self) -> ReadyAppliance {
        let ReadyAppliance { _dir, app, ip, .. } = self;
        app.stop().await;
        let app = TestAppliance::start_args(_dir.path(), test_args(&ip.to_string())).await;
        let http = app.client();
        let api = app.api_token();
        ReadyAppliance {
            _dir,
            app,
            http,
            api,
            ip,
        }
    }

    /// A page of this appliance, as the logged-in browser gets it.
    pub async fn page(&self, path: &str) -> String {
        page(&self.http, &self.app.at(path)).await
    }

    /// `GET` an API path with the bearer token, as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `GET` an API path with the bearer token, as text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.app.at(path))
            .bearer_auth(&self.api)
            .send()
            .await
            .unwrap()
    }

    /// Adds a simulated controller through the API; returns its id.
    pub async fn add(&self, name: &str, c: &SimController) -> i64 {
        self.app.add_sim(&self.http, &self.api, name, c).await
    }

    pub async fn status(&self) -> serde_json::Value {
        self.get_json("/api/v1/status").await
    }

    /// Waits until the cloud link shows `state`, returning the status.
    pub async fn wait_link(&self, state: &str, secs: u64) -> serde_json::Value {
        eventually(secs, &format!("cloud link {state}"), || async {
            let s = self.status().await;
            (s["cloud_link"]["status"] == state).then_some(s)
        })
        .await
    }

    /// The Controller Channel's links as `/api/v1/stats` shows them.
    pub async fn links(&self) -> Vec<serde_json::Value> {
        let v = self.get_json("/api/v1/stats").await;
        v["controller_channel"]["links"].as_array().unwrap().clone()
    }

    pub async fn link(&self, id: i64) -> serde_json::Value {
        self.links()
            .await
            .into_iter()
            .find(|l| l["id"] == id)
            .unwrap()
    }

    /// Waits until controller `id`'s session has ended `n` times in all (a
    /// session that was up is redialled within half a second, so its
    /// Backoff status may be too brief to see); returns its figures, whose
    /// `last_error` says why the last one ended.
    pub async fn wait_sessions_ended(&self, id: i64, n: u64, secs: u64) -> serde_json::Value {
        eventually(
            secs,
            &format!("controller {id}: {n} sessions ended"),
            || async {
                let l = self.link(id).await;
                (l["reconnects"].as_u64() >= Some(n)).then_some(l)
            },
        )
        .await
    }

    /// Waits until controller `id` shows `status`, returning its figures.
    pub async fn wait_status(&self, id: i64, status: &str, secs: u64) -> serde_json::Value {
        eventually(secs, &format!("controller {id} {status}"), || async {
            let l = self.link(id).await;
            (l["status"] == status).then_some(l)
        })
        .await
    }
}
