//! The cloud link through a real HTTP proxy (Debian's tinyproxy, started
//! here with Basic authentication): wrong credentials are named as the
//! proxy's 407, the right ones carry the link (the proxy's log shows the
//! CONNECT to the cloud, so TLS and the cloud pin run end to end through
//! it), and with the proxy gone the dashboard says the proxy is
//! unreachable. Bad settings are refused field by field.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::json;

const TINYPROXY: &str = "/usr/bin/tinyproxy";
const PROXY_IP: &str = "127.0.0.116";

/// tinyproxy on the test's own address, with a user and a log of its own.
struct Tinyproxy {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl Tinyproxy {
    fn start(dir: &Path) -> Tinyproxy {
        let port = std::net::TcpListener::bind((PROXY_IP, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen {PROXY_IP}\nTimeout 30\nMaxClients 20\n\
                 LogFile \"{}\"\nLogLevel Connect\nPidFile \"{}\"\nBasicAuth svc s3cret\n",
                log.display(),
                dir.join("tinyproxy.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new(TINYPROXY)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Tinyproxy {
            child,
            url: format!("http://{PROXY_IP}:{port}"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn set_proxy(c: &ReadyAppliance, body: serde_json::Value) -> reqwest::Response {
    c.http
        .put(c.app.at("/api/v1/settings/proxy"))
        .bearer_auth(&c.api)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn link_error(c: &ReadyAppliance) -> String {
    c.status().await["cloud_link"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_cloud_link_goes_through_the_proxy_and_names_its_failures() {
    if !Path::new(TINYPROXY).exists() {
        println!("SKIPPED: the proxy test needs tinyproxy (apt install tinyproxy)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut proxy = Tinyproxy::start(dir.path());
    let cloud = TestCloud::start(dir.path(), "127.0.0.115").await;
    let (_group, token) = cloud.create_token("Behind a proxy").await;
    let c = ReadyAppliance::start("127.0.0.117").await;

    // Bad settings: refused field by field, nothing stored.
    let r = set_proxy(
        &c,
        json!({"url": "ftp://x", "username": "a:b", "no_proxy": "bad host!"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    let fields = body["error"]["fields"].to_string();
    for f in ["url", "username", "no_proxy"] {
        assert!(fields.contains(f), "{f}: {body}");
    }
    let shown = c.get_json("/api/v1/settings/proxy").await;
    assert_eq!(shown["url"], "", "nothing stored: {shown}");

    // No credentials: the proxy's 407, named as such.
    let r = set_proxy(&c, json!({"url": proxy.url})).await;
    assert_eq!(r.status(), 200);
    paste_token(&c.http, &c.app, &token).await;
    eventually(20, "the proxy's 407 named", || async {
        link_error(&c)
            .await
            .contains("proxy refused: 407")
            .then_some(())
    })
    .await;

    // A wrong password (tinyproxy answers it with 401): still named as
    // the proxy's refusal.
    let r = set_proxy(
        &c,
        json!({"url": proxy.url, "username": "svc", "password": "wrong"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let shown: serde_json::Value = r.json().await.unwrap();
    assert_eq!(shown["password_set"], true);
    assert!(shown.get("password").is_none(), "never shown back: {shown}");
    eventually(20, "the proxy's refusal named", || async {
        let e = link_error(&c).await;
        (e.contains("proxy refused") && !e.contains("407")).then_some(())
    })
    .await;

    // The right password: the link runs through the proxy.
    let r = set_proxy(
        &c,
        json!({"url": proxy.url, "username": "svc", "password": "s3cret"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    c.wait_link("Connected", 30).await;
    let cloud_host = cloud
        .url
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT {cloud_host} HTTP/1.1")),
        "the proxy carried the link to {cloud_host}: {log}"
    );
    let dash = c.page("/").await;
    assert!(
        dash.contains(&format!("id=\"cloud-proxy\">{}<", proxy.url)),
        "the dashboard names the proxy"
    );

    // The proxy gone: the link says the proxy is unreachable.
    proxy.stop();
    eventually(60, "the proxy named as unreachable", || async {
        link_error(&c)
            .await
            .contains("proxy unreachable")
            .then_some(())
    })
    .await;
    assert_eq!(c.status().await["cloud_link"]["status"], "Retrying");
    c.app.stop().await;
    cloud.shutdown().await;
}
