//! The admin UI in a real headless Chromium (driven over WebDriver), as a
//! person uses it: first-boot setup, login, a wrong password, pasting a
//! token from a real cloud, adding controllers (with a validation error),
//! watching them turn Active and the rates rise without reloading,
//! deleting one, changing the password, logging out, and an expired
//! session; and a wired connector, whose pages speak of switches. Every page is checked for labelled fields, console errors
//! (CSP violations show up there), mixed content and, on a phone-sized
//! window, horizontal overflow. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/screenshots`.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use spaces_connector::sim::{AuthList, SimController, SimDevice};

/// chromedriver and the Chromium session it drives.
struct Browser {
    driver: Child,
    client: Client,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

/// Chrome's console log (a ChromeDriver extension endpoint).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

impl Browser {
    async fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is installed (scripts/test installs chromium and chromium-driver)",
            );
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), json!(true));
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1366,768",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let client = eventually(20, "chromedriver session", || {
            let caps = caps.clone();
            async move {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
                    .ok()
            }
        })
        .await;
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            driver,
            client,
            shots,
            _profile: profile,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn path(&self) -> String {
        let u = self.client.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Waits for a navigation to land on `path` (with its query).
    async fn wait_path(&self, path: &str) {
        eventually(10, &format!("browser at {path}"), || async {
            (self.path().await == path).then_some(())
        })
        .await;
    }

    async fn fill(&self, css: &str, text: &str) {
        // A page that re-renders between finding the field and typing
        // makes the element stale (seen once in a suite run): find it again.
        for attempt in 0.. {
            let el = self
                .client
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(css))
                .await
                .unwrap();
            let typed = async {
                el.clear().await?;
                el.send_keys(text).await
            }
            .await;
            match typed {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(e))
                    if attempt < 3
                        && e.error == fantoccini::error::ErrorStatus::StaleElementReference => {}
                Err(e) => panic!("typing into {css}: {e}"),
            }
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Saves a screenshot and checks the page: labelled fields, no mixed
    /// content, no console errors so far.
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
        let unlabelled = self
            .js(
                "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                   .map(e => e.name || e.id);",
            )
            .await;
        assert_eq!(
            unlabelled,
            json!([]),
            "{name}: every form field has a label"
        );
        let foreign = self
            .js("return performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(location.origin));")
            .await;
        assert_eq!(
            foreign,
            json!([]),
            "{name}: everything comes from the appliance over HTTPS"
        );
        self.assert_clean_console(name).await;
    }

    async fn assert_clean_console(&self, page: &str) {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        let errors: Vec<String> = log
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            // A form answered with its validation errors (422) or a
            // refused login (401/429) is the page working as designed.
            .filter(|m| {
                !["status of 422", "status of 401", "status of 429"]
                    .iter()
                    .any(|s| m.contains(s))
            })
            .collect();
        assert!(
            errors.is_empty(),
            "{page}: browser console errors (CSP violations included): {errors:#?}"
        );
    }

    /// The first-boot setup page, filled in as an admin does.
    async fn set_up(&self, app: &TestAppliance) {
        self.goto(&app.at("/setup")).await;
        self.fill("#code", &app.setup_code()).await;
        self.fill("#password", PASSWORD).await;
        self.fill("#confirm", PASSWORD).await;
        self.click("form[action='/setup'] button[type=submit]")
            .await;
        self.wait_path("/").await;
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The first controller's message count on the statistics page.
async fn message_count(b: &Browser) -> u64 {
    b.text("tr[data-link-id] [data-field=messages]")
        .await
        .parse()
        .unwrap_or(0)
}

#[tokio::test]
async fn an_admin_sets_up_and_runs_the_appliance_in_a_real_browser() {
    let cloud_dir = tempfile::tempdir().unwrap();
    let cloud = TestCloud::start(cloud_dir.path(), "127.0.0.70").await;
    let (_, token) = cloud.create_token("HQ connectors").await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestAppliance::start_args(dir.path(), test_args("127.0.0.71")).await;
    let auth = AuthList::new([app.key_hash()], false);
    let mut sims = Vec::new();
    for i in 0..3 {
        let mut spec = sim_spec(i, auth.clone(), 40.0, None);
        spec.wait_for = 0;
        spec.echo_timeout = Duration::from_secs(30);
        sims.push(SimController::start(spec).await.unwrap());
    }
    let b = Browser::start().await;

    // First boot: every page leads to setup.
    b.goto(&app.at("/controllers")).await;
    b.wait_path("/setup").await;
    b.shot("01-setup").await;
    b.fill("#code", &app.setup_code()).await;
    b.fill("#password", PASSWORD).await;
    b.fill("#confirm", "something else entirely").await;
    b.click("form[action='/setup'] button[type=submit]").await;
    assert!(b.text("#setup-error").await.contains("do not match"));
    b.fill("#password", PASSWORD).await;
    b.fill("#confirm", PASSWORD).await;
    b.click("form[action='/setup'] button[type=submit]").await;
    b.wait_path("/").await;
    assert!(
        b.text("main").await.contains("No token yet"),
        "empty state says what to do"
    );
    b.shot("02-dashboard-empty").await;

    // Log out, a wrong password, then in with the keyboard alone.
    b.click("form.logout button").await;
    b.wait_path("/login?notice=logged-out").await;
    b.fill("#password", "not the password").await;
    b.click("form[action='/login'] button[type=submit]").await;
    assert_eq!(
        b.text("#login-error").await,
        "⚠ Wrong user name or password.".trim_start_matches("⚠ ")
    );
    b.shot("03-login-wrong-password").await;
    b.fill("#password", &format!("{PASSWORD}\n")).await;
    b.wait_path("/").await;

    // Paste the token made in the cloud.
    b.goto(&app.at("/token")).await;
    b.fill("#token", "SCT1.this-is-not-a-token").await;
    b.click("form[action='/token'] button[type=submit]").await;
    assert!(
        b.text("#token-error").await.contains("truncated")
            || b.text("#token-error").await.contains("token")
    );
    b.fill("#token", &token).await;
    b.click("form[action='/token'] button[type=submit]").await;
    b.wait_path("/token?notice=token-saved").await;
    assert!(b.text("main").await.contains(&cloud.tenant_id));
    b.shot("04-token").await;

    // Controllers: a validation error next to its field, then three good ones.
    b.goto(&app.at("/controllers")).await;
    assert!(
        b.text("main")
            .await
            .contains("config auth-list add sha256-lbs-ssc"),
        "key-hash command on the empty page"
    );
    b.fill("#name", "WLC bad").await;
    b.fill("#host", "10.0.0.300").await;
    b.click("form[action='/controllers'] button[type=submit]")
        .await;
    assert!(b.text("#host-error").await.contains("10.0.0.300"));
    assert_eq!(
        b.js("return document.querySelector('#host').value").await,
        json!("10.0.0.300"),
        "input kept"
    );
    b.shot("05-controller-validation").await;
    for (i, sim) in sims.iter().enumerate() {
        b.fill("#name", &format!("WLC {}", i + 1)).await;
        b.fill("#host", "127.0.0.1").await;
        b.fill("#port", &sim.addr.port().to_string()).await;
        b.click("form[action='/controllers'] button[type=submit]")
            .await;
        b.wait_path("/controllers?notice=controller-added").await;
    }
    eventually(15, "three Active on the controllers page", || async {
        b.goto(&app.at("/controllers")).await;
        (b.text("table").await.matches("Active").count() == 3).then_some(())
    })
    .await;
    b.shot("06-controllers").await;

    // Statistics update in place: the count rises while the page stays.
    b.goto(&app.at("/statistics")).await;
    b.js("window.__stayed = true; return null;").await;
    let first = message_count(&b).await;
    eventually(15, "message count rising without reload", || async {
        (message_count(&b).await > first + 50).then_some(())
    })
    .await;
    assert_eq!(
        b.js("return window.__stayed === true").await,
        json!(true),
        "no reload happened"
    );
    let rate: f64 = b
        .text("tr[data-link-id] [data-field=rate_per_sec]")
        .await
        .parse()
        .unwrap();
    assert!(rate > 0.0, "rate shown");
    b.shot("07-statistics").await;
    b.click("tr[data-link-id] a").await;
    eventually(10, "chart drawn", || async {
        let pts = b
            .js("return document.querySelector('[data-chart-line]').getAttribute('points')")
            .await;
        pts.as_str()
            .is_some_and(|p| p.split(' ').count() > 2)
            .then_some(())
    })
    .await;
    b.shot("08-controller-detail").await;

    // Delete one, after a confirmation page.
    b.goto(&app.at("/controllers")).await;
    b.click("a[aria-label='Delete WLC 2']").await;
    assert!(b.text("main").await.contains("Delete WLC 2"));
    b.shot("09-delete-confirmation").await;
    b.click("form.actions button[type=submit]").await;
    b.wait_path("/controllers?notice=controller-removed").await;
    assert!(!b.text("table").await.contains("WLC 2"));

    // Change the password; the dashboard at phone size.
    b.goto(&app.at("/password")).await;
    b.fill("#current", PASSWORD).await;
    b.fill("#password", "an even better password").await;
    b.fill("#confirm", "an even better password").await;
    b.click("form[action='/password'] button[type=submit]")
        .await;
    b.wait_path("/?notice=password-changed").await;
    b.shot("10-dashboard").await;
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto(&app.at("/")).await;
    let overflow = b
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "no horizontal scrolling on a phone: {overflow}"
    );
    b.shot("11-dashboard-phone").await;
    b.goto(&app.at("/statistics")).await;
    b.shot("12-statistics-phone").await;
    b.client.set_window_size(1366, 768).await.unwrap();
    b.goto(&app.at("/system")).await;
    b.shot("13-system").await;

    b.click("form.logout button").await;
    b.wait_path("/login?notice=logged-out").await;
    b.shot("14-logged-out").await;
    b.close().await;
    for s in &sims {
        s.stop().await;
    }
    app.stop().await;
    cloud.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_sends_the_browser_to_login() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = test_args("127.0.0.72");
    args.session_idle_secs = 2;
    let app = TestAppliance::start_args(dir.path(), args).await;
    let b = Browser::start().await;
    b.set_up(&app).await;
    // A page without live figures, so nothing keeps the session alive.
    b.goto(&app.at("/password")).await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    b.click("nav a[href='/controllers']").await;
    b.wait_path("/login?notice=expired").await;
    assert!(b.text("main").await.contains("Your session has ended"));
    b.shot("15-session-expired").await;
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_wired_connector_speaks_of_switches_in_a_real_browser() {
    let cloud_dir = tempfile::tempdir().unwrap();
    let cloud = TestCloud::start(cloud_dir.path(), "127.0.0.146").await;
    let (_, token) = cloud.create_token_kind("Campus switches", "wired").await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestAppliance::start_args(dir.path(), test_args("127.0.0.147")).await;
    let mut spec = sim_spec(0, AuthList::new([app.key_hash()], false), 20.0, None);
    spec.device = SimDevice::Switch { ports: 8 };
    spec.wait_for = 0;
    spec.echo_timeout = Duration::from_secs(30);
    let switch = SimController::start(spec).await.unwrap();
    let b = Browser::start().await;
    b.set_up(&app).await;
    b.goto(&app.at("/token")).await;
    b.fill("#token", &token).await;
    b.click("form[action='/token'] button[type=submit]").await;
    b.wait_path("/token?notice=token-saved").await;

    // The navigation, the page and its form are about switches.
    assert!(b.text("nav").await.contains("Switches"));
    assert!(!b.text("nav").await.contains("Controllers"));
    b.goto(&app.at("/controllers")).await;
    assert_eq!(b.text("h1").await, "Switches");
    assert_eq!(
        b.js("return [...document.querySelectorAll('#kind option')].map(o => o.textContent)")
            .await,
        json!(["Catalyst switch"]),
        "a wired connector offers switches only"
    );
    assert!(b.text("#identity").await.contains("Catalyst switch"));
    b.fill("#name", "Access 1").await;
    b.fill("#host", "127.0.0.1").await;
    b.fill("#port", &switch.addr.port().to_string()).await;
    b.click("form[action='/controllers'] button[type=submit]")
        .await;
    b.wait_path("/controllers?notice=switch-added").await;
    assert!(b.text("main").await.contains("Switch added."));
    eventually(15, "the switch Active", || async {
        b.goto(&app.at("/controllers")).await;
        b.text("table").await.contains("Active").then_some(())
    })
    .await;
    b.shot("16-switches").await;
    b.goto(&app.at("/")).await;
    let dash = b.text("main").await;
    assert!(
        dash.contains("Switch Channel") && dash.contains("Active switches"),
        "{dash}"
    );
    b.shot("17-wired-dashboard").await;
    // Every value of the Cloud card inside its card (a long label once
    // pushed them under the next one).
    let inside = b
        .js("const d = document.querySelector('#tenant-id').closest('dd'); const c = d.closest('.card').getBoundingClientRect(); const r = d.getBoundingClientRect(); return r.right <= c.right + 1 && r.left >= c.left;")
        .await;
    assert_eq!(inside, json!(true), "the tenant id shows in its card");
    b.goto(&app.at("/statistics")).await;
    assert!(b.text("main").await.contains("Switch Channel"));
    eventually(15, "wired events counted", || async {
        (message_count(&b).await > 5).then_some(())
    })
    .await;
    b.shot("18-wired-statistics").await;
    b.assert_clean_console("wired pages").await;
    b.close().await;
    switch.stop().await;
    app.stop().await;
    cloud.shutdown().await;
}
