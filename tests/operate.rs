//! Operating the appliance, on a real `spaces-connector` process with a
//! real cloud: the audit trail names who changed what and from where (the
//! web session, an API token, the console), keeps failed logins and not
//! refused input; the Logs page and API show the service's own log,
//! filtered; and no secret of the appliance (passwords, the connector
//! token and the cloud's credential, API tokens, a session cookie, the
//! proxy password, private keys) appears in its whole log, the log
//! download, the audit trail or a support bundle (from the API, the
//! System page and the console), whose files are all there.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::{Value, json};

const PROXY_PASSWORD: &str = "proxy-pass-Zq81";
const WRONG_PASSWORD: &str = "wrong-guess-Xv27";

/// A support bundle's files by name (without the top folder).
fn unpack(gz: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let name = path.split_once('/').unwrap().1.to_string();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            (name, text)
        })
        .collect()
}

/// A console command on the appliance's state file; what it printed.
fn console(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    String::from_utf8(out.stdout).unwrap()
}

fn entries_with<'a>(audit: &'a [Value], action: &str) -> Vec<&'a Value> {
    audit.iter().filter(|e| e["action"] == action).collect()
}

#[tokio::test]
async fn changes_are_audited_and_no_secret_reaches_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = CloudProc::start(&tmp.path().join("cloud"), "127.0.0.124", &[]).await;
    // The tenant hashes client identities: its salt is a secret too.
    cloud.set_privacy("hash").await;
    let log_path = tmp.path().join("connector.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let dir = tmp.path().join("connector");
    // Our own code at its most verbose; the libraries at info.
    let c = ConnectorProc::start_logging(
        &dir,
        "127.0.0.125",
        "spaces_connector=trace,info",
        Stdio::from(log),
    )
    .await;

    // A stranger's wrong password, and another browser's good login.
    let stranger = client_for(&c.pin, Default::default());
    assert_eq!(
        log_in_at(&stranger, &c.base, WRONG_PASSWORD).await.status(),
        401
    );
    let other = client_for(&c.pin, Default::default());
    let r = log_in_at(&other, &c.base, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let session_cookie = r
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-sc_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a session cookie");

    // Changes through the API token.
    assert_eq!(c.set_token(&cloud.token).await["registered"], true);
    eventually(20, "the tenant's privacy setting here", || async {
        (c.get_json("/api/v1/status").await["privacy"] == "hashed").then_some(())
    })
    .await;
    let r = c
        .post_json(
            "/api/v1/controllers",
            json!({"name": "WLC-audit", "host": "127.0.0.126", "port": "16113", "kind": "aireos"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = c
        .post_json(
            "/api/v1/controllers",
            json!({"name": "", "host": "not a host", "port": "0", "kind": "aireos"}),
        )
        .await;
    assert_eq!(r.status(), 422, "refused input");
    let r = c
        .http
        .put(c.at("/api/v1/settings/proxy"))
        .bearer_auth(&c.api)
        .json(
            &json!({"url": "http://127.0.0.127:3128", "username": "squid",
                      "password": PROXY_PASSWORD, "no_proxy": ""}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A change at the console, on the same state file.
    console(
        &dir,
        &[
            "controller",
            "add",
            "--name",
            "WLC-console",
            "--host",
            "127.0.0.128",
        ],
    );

    let audit: Vec<Value> = serde_json::from_value(c.get_json("/api/v1/audit").await).unwrap();
    let setup = entries_with(&audit, "setup");
    assert_eq!(setup.len(), 1, "{audit:?}");
    assert_eq!(setup[0]["actor"], "admin");
    assert_eq!(setup[0]["source"], "127.0.0.1");
    let failed = entries_with(&audit, "login.failed");
    assert_eq!(failed.len(), 1, "{audit:?}");
    assert_eq!(failed[0]["actor"], "admin");
    assert_eq!(entries_with(&audit, "login").len(), 1, "{audit:?}");
    let made = entries_with(&audit, "api_token.create");
    assert!(
        made[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin (session "),
        "{made:?}"
    );
    assert_eq!(made[0]["detail"], "tests (admin)");
    let token = entries_with(&audit, "token.set");
    assert_eq!(token[0]["actor"], "API token \"tests\"");
    let added = entries_with(&audit, "controller.add");
    assert_eq!(added.len(), 2, "the refused one is not a change: {added:?}");
    assert_eq!(added[0]["actor"], "console", "newest first");
    assert_eq!(added[0]["source"], "local");
    assert!(
        added[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("WLC-console at 127.0.0.128:16113")
    );
    assert_eq!(added[1]["actor"], "API token \"tests\"");
    assert_eq!(
        added[1]["detail"],
        "WLC-audit at 127.0.0.126:16113 (AireOS WLC)"
    );
    let proxy = entries_with(&audit, "proxy.set");
    assert_eq!(
        proxy[0]["detail"],
        "cloud link through http://127.0.0.127:3128"
    );

    // Shown on the System page and at the console.
    let system = page(&c.http, &c.at("/system")).await;
    assert!(system.contains("id=\"audit-trail\""));
    assert!(system.contains("WLC-audit at 127.0.0.126:16113"));
    let printed = console(&dir, &["audit", "--limit", "2"]);
    assert_eq!(printed.lines().count(), 2, "{printed}");
    assert!(
        printed.contains("console  from local  controller.add  WLC-console"),
        "{printed}"
    );

    // The Logs page and API: the service's own lines, filtered.
    let warn: Value = c.get_json("/api/v1/logs?level=warn").await;
    assert_eq!(warn["source"], "memory", "no journal here: {warn}");
    let lines = warn["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["message"].as_str().unwrap().contains("failed login")),
        "{warn}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["level"] == "WARN" || l["level"] == "ERROR")
    );
    let session: Value = c.get_json("/api/v1/logs?component=portal::session").await;
    let lines = session["lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["component"] == "portal::session"));
    let after = lines.last().unwrap()["seq"].as_u64().unwrap();
    let later: Value = c
        .get_json(&format!(
            "/api/v1/logs?component=portal::session&after={after}"
        ))
        .await;
    assert_eq!(
        later["lines"].as_array().unwrap().len(),
        0,
        "only what follows"
    );
    let logs_page = page(&c.http, &c.at("/logs?level=warn")).await;
    assert!(logs_page.contains("failed login"));
    assert!(logs_page.contains("data-live=\"logs\""));
    let download = c.get("/api/v1/logs/download").await;
    assert!(
        download.headers()[http::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"spaces-connector-log-")
    );
    let download = download.text().await.unwrap();

    // The support bundle: from the API, the System page and the console.
    let r = c.get("/api/v1/support-bundle").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[http::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .ends_with(".tar.gz\"")
    );
    let bundle = unpack(&r.bytes().await.unwrap());
    for name in [
        "README.txt",
        "version.txt",
        "status.json",
        "controllers.json",
        "access-points.json",
        "network.json",
        "proxy.json",
        "identity.json",
        "web-certificate.json",
        "api-tokens.json",
        "audit.json",
        "cloud-link.json",
        "clock.json",
        "controller-sessions.txt",
        "ap-sessions.txt",
        "statistics.json",
        "logs.txt",
    ] {
        assert!(
            bundle.contains_key(name),
            "{name} in the bundle: {:?}",
            bundle.keys()
        );
    }
    assert!(bundle["version.txt"].starts_with("Spaces Connector "));
    assert!(bundle["controllers.json"].contains("WLC-audit"));
    assert!(bundle["controller-sessions.txt"].contains("WLC-audit"));
    assert!(bundle["logs.txt"].contains("failed login"));
    assert!(bundle["proxy.json"].contains("\"password_set\": true"));
    assert!(bundle["api-tokens.json"].contains("\"tests\""));
    let r = c
        .http
        .get(c.at("/system/support-bundle"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let from_page = unpack(&r.bytes().await.unwrap());
    assert!(from_page["audit.json"].contains("support_bundle.download"));
    let console_bundle = tmp.path().join("console-bundle.tar.gz");
    console(
        &dir,
        &["support-bundle", "--out", console_bundle.to_str().unwrap()],
    );
    let from_console = unpack(&std::fs::read(&console_bundle).unwrap());
    assert!(from_console.contains_key("journal.txt"));
    assert!(from_console["controllers.json"].contains("WLC-console"));
    let audit_text = c.get_text("/api/v1/audit").await;
    let downloads = audit_text.matches("support_bundle.download").count();
    assert_eq!(
        downloads, 2,
        "the API's and the page's downloads are audited"
    );

    // Every secret of this appliance, against everything written.
    let state = rusqlite::Connection::open(dir.join("connector.db")).unwrap();
    let credential: String = state
        .query_row("SELECT credential FROM cloud_token", [], |r| r.get(0))
        .unwrap();
    let mut secrets: Vec<(String, String)> = [
        ("admin password", PASSWORD.to_string()),
        ("mistyped password", WRONG_PASSWORD.to_string()),
        ("API token", c.api.clone()),
        ("connector token", cloud.token.clone()),
        ("cloud credential", credential),
        ("session cookie", session_cookie),
        ("proxy password", PROXY_PASSWORD.to_string()),
    ]
    .map(|(what, secret)| (what.to_string(), secret))
    .into();
    let privacy: String = state
        .query_row(
            "SELECT value FROM settings WHERE key = 'client_privacy'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let privacy: Value = serde_json::from_str(&privacy).unwrap();
    for epoch in privacy["epochs"].as_array().unwrap() {
        secrets.push((
            "client privacy salt".into(),
            epoch["salt"].as_str().unwrap().to_string(),
        ));
    }
    assert!(secrets.iter().any(|(w, _)| w == "client privacy salt"));
    let keys: Vec<(String, String)> = state
        .prepare("SELECT purpose, key_pem FROM tls_identity")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(keys.len() >= 2, "the web and NMSP keys");
    for (purpose, pem) in keys {
        // Any line of the key's body would give it away.
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            secrets.push((format!("{purpose} private key"), line.to_string()));
        }
    }
    let mut c = c;
    c.proc.term();
    let log = std::fs::read_to_string(&log_path).unwrap();
    for written in [
        "admin password set",
        "failed login",
        "controller session ended",
        "cloud proxy set",
        "client privacy updated",
    ] {
        assert!(
            log.contains(written),
            "the whole run is in the log: {written}\n{log}"
        );
    }
    assert!(
        !log.contains('\x1b'),
        "no terminal colours in a log file:\n{log}"
    );
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what} is a real secret");
        for (name, text) in [
            ("log", &log),
            ("log download", &download),
            ("audit trail", &audit_text),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "the {what} appears in the {name}"
            );
        }
    }
    println!(
        "{} secrets checked against {} log lines, the download, the audit trail and {} bundle files",
        secrets.len(),
        log.lines().count(),
        bundle.len() + from_console.len()
    );
}
