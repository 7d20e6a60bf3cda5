//! The real `wlc-sim` binary against the real `spaces-connector` binary:
//! three simulated controllers, the connector Active on all of them, and
//! the simulator's `show nmsp status` agreeing with the connector's echo
//! counters, also in the table it prints on exit.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn wlc_sim_status_matches_the_connectors_counters() {
    let mut sim = Proc::spawn(Command::new(env!("CARGO_BIN_EXE_wlc-sim")).args([
        "--listen",
        "127.0.0.1:0",
        "--controllers",
        "3",
        "--allow-any",
        "--rate",
        "50",
        "--status-listen",
        "127.0.0.1:0",
        "--seed",
        "7",
    ]));
    let dir = tempfile::tempdir().unwrap();
    let mut connector = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "serve",
                "--listen",
                "127.0.0.30:0",
                "--source-ip",
                "127.0.0.30",
            ])
            .env("SPACES_CONNECTOR_ECHO_INTERVAL_MS", "200")
            .env("SPACES_CONNECTOR_LOG", "warn"),
    );
    let url_line = connector.line_with("Open https://").await;
    let base = url_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches("/setup")
        .to_string();
    let status_line = sim.line_with("status on http://").await;
    let status_url = status_line
        .rsplit(' ')
        .next()
        .unwrap()
        .replace("/show/nmsp/status", "/status.json");
    let mut addrs = Vec::new();
    for i in 1..=3 {
        let l = sim.line_with(&format!("wlc-sim-{i} listening on")).await;
        addrs.push(l.split_whitespace().nth(3).unwrap().to_string());
    }

    let pin = spaces_connector::appliance::Appliance::open(dir.path())
        .unwrap()
        .web_identity
        .key_hash()
        .unwrap();
    let app = AppAt { base };
    let c = client_for(&pin, Arc::new(reqwest::cookie::Jar::default()));
    let html = c
        .get(app.at("/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(app.at("/setup"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let token = {
        let html = c
            .get(app.at("/system"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let page = c
            .post(app.at("/system/api-tokens"))
            .form(&[("csrf", csrf_of(&html).as_str()), ("name", "t")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let start = page.find("scapi_").unwrap();
        page[start..start + page[start..].find('<').unwrap()].to_string()
    };
    for (i, addr) in addrs.iter().enumerate() {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let r = c
            .post(app.at("/api/v1/controllers"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("WLC {i}"), "host": host, "port": port}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let plain = c.clone();
    eventually(
        20,
        "all three Active and echo counters equal on both sides",
        || async {
            let stats: Value = c
                .get(app.at("/api/v1/stats"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let sims: Value = plain
                .get(&status_url)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let links = stats["controller_channel"]["links"].as_array()?;
            let all = links.len() == 3
                && links.iter().all(|l| {
                    let ctrl = sims["controllers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|s| l["address"] == s["address"]);
                    let row = ctrl.map(|s| &s["connectors"]["127.0.0.30"]);
                    row.is_some_and(|r| {
                        l["status"] == "Active"
                            && r["active"] == true
                            && r["rx_echo_req"].as_u64() > Some(2)
                            && l["echo_requests_sent"] == r["rx_echo_req"]
                            && l["echo_responses_received"] == r["tx_echo_resp"]
                    })
                });
            all.then_some(())
        },
    )
    .await;

    // Stop the connector first: the simulator's exit table shows it Inactive
    // with the final counters.
    assert!(connector.term().success());
    assert!(sim.term().success());
    let out = sim.lines.lock().unwrap().join("\n");
    assert!(
        out.contains("MSE IP Address   Tx Echo Resp  Rx Echo Req"),
        "{out}"
    );
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("127.0.0.30"))
        .collect();
    assert!(rows.len() >= 3, "{out}");
    assert!(
        rows.iter()
            .rev()
            .take(3)
            .all(|r| r.contains("TLS") && r.ends_with("Inactive")),
        "{out}"
    );
}

struct AppAt {
    base: String,
}

impl AppAt {
    fn at(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}
