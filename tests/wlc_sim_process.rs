//! The real `wlc-sim` binary against the real `spaces-connector` binary:
//! three simulated controllers, the connector Active on all of them, and
//! the simulator's `show nmsp status` agreeing with the connector's echo
//! counters, also in the table it prints on exit.

mod common;

use common::*;

#[tokio::test]
async fn wlc_sim_status_matches_the_connectors_counters() {
    let mut sim = SimProc::start(3, &["--allow-any", "--rate", "50", "--seed", "7"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = ConnectorProc::start(dir.path(), "127.0.0.30", 0, 0).await;
    c.add_controllers(&sim, "WLC").await;
    eventually(
        20,
        "all three Active and echo counters equal on both sides",
        || async {
            let stats = c.get_json("/api/v1/stats").await;
            let sims = sim.status().await;
            let links = stats["controller_channel"]["links"].as_array()?;
            let all = links.len() == 3
                && links.iter().all(|l| {
                    let ctrl = sims["controllers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|s| l["address"] == s["address"]);
                    ctrl.map(|s| &s["connectors"]["127.0.0.30"])
                        .is_some_and(|r| {
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

    // One controller's table, exactly as that controller prints it.
    let one = page(
        &c.http,
        &sim.status_url
            .replace("/status.json", "/show/nmsp/status?controller=2"),
    )
    .await;
    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines[..3], ["NMSP Status", "-----------", ""], "{one}");
    assert!(lines[3].starts_with("DNA Spaces/CMX IP Address "), "{one}");
    assert_eq!(lines.len(), 6, "one row, for this connector: {one}");
    assert!(
        lines[5].starts_with("127.0.0.30 ")
            && lines[5].contains(" Active ")
            && lines[5].ends_with(" TLS"),
        "{one}"
    );

    // The counters controllers keep: per message id, connections, services.
    let show = |what: &str| {
        let url = sim
            .status_url
            .replace("/status.json", &format!("/show/nmsp/{what}?controller=1"));
        let http = c.http.clone();
        async move { page(&http, &url).await }
    };
    let conn = show("statistics/connection").await;
    assert!(
        conn.contains("CMX IP Address: 127.0.0.30, Status: Active"),
        "{conn}"
    );
    for row in [
        "1    Echo Request",
        "7    Capability Notification",
        "30   Service Subscribe Request",
        "2    Echo Response",
        "31   Service Subscribe Response",
        "15   Measurement Notification",
    ] {
        assert!(conn.contains(row), "{row}: {conn}");
    }
    let summary = show("statistics/summary").await;
    assert!(
        summary.contains("Number of connections") && summary.contains(": 1\n"),
        "{summary}"
    );
    let subs = show("subscription/detail").await;
    assert!(
        subs.contains("CMX IP address: 127.0.0.30") && subs.contains("Services: "),
        "{subs}"
    );

    // Stop the connector first: the simulator's exit table shows it Inactive
    // with the final counters.
    assert!(c.proc.term().success());
    assert!(sim.proc.term().success());
    let out = sim.proc.lines.lock().unwrap().join("\n");
    assert!(
        out.contains("DNA Spaces/CMX IP Address               Active    Tx Echo Resp"),
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
            .all(|r| r.contains("Inactive") && r.ends_with("TLS")),
        "{out}"
    );
}

/// The demo authorises a connector the way a controller's admin does: the
/// simulator starts with an empty auth list, refuses the connector, and
/// admits it once the AireOS command the connector shows is pasted at the
/// simulator's console.
#[tokio::test]
async fn pasting_the_connectors_aireos_command_at_the_console_admits_it() {
    let mut sim = SimProc::start(1, &["--rate", "10", "--os", "aireos"]).await;
    let dir = tempfile::tempdir().unwrap();
    let c = ConnectorProc::start(dir.path(), "127.0.0.31", 0, 0).await;
    c.add_controllers(&sim, "WLC").await;
    eventually(
        20,
        "the connector refused: not on the auth list",
        || async {
            let s = c.get_json("/api/v1/stats").await;
            (s["controller_channel"]["links"][0]["status"] == "Unauthorized").then_some(())
        },
    )
    .await;
    let identity = c.get_json("/api/v1/identity").await;
    let command = identity["aireos_command"].as_str().unwrap().to_string();
    // The Controllers page shows the same: the MAC, both key hashes and the
    // commands for each controller type.
    let html = page(&c.http, &c.at("/controllers")).await;
    for (id, value) in [
        ("nmsp-mac", &identity["mac"]),
        ("key-hash", &identity["key_hash"]),
        ("key-hash-sha1", &identity["key_hash_sha1"]),
        ("aireos-command", &identity["aireos_command"]),
    ] {
        let value = value.as_str().unwrap();
        assert!(
            html.contains(&format!("id=\"{id}\">{value}<")),
            "{id}: {value}"
        );
    }
    assert_eq!(identity["key_hash_sha1"].as_str().unwrap().len(), 40);
    assert!(
        html.contains("attribute type password"),
        "the Catalyst 9800 commands"
    );
    assert!(
        command.starts_with("config auth-list add sha256-lbs-ssc "),
        "{command}"
    );
    sim.proc.type_line(&command);
    sim.proc.type_line("show auth-list");
    eventually(30, "Active once authorised", || async {
        c.all_active(1).await.then_some(())
    })
    .await;
    let key = command.rsplit(' ').next().unwrap().to_ascii_lowercase();
    sim.proc.line_within(&key, 5).await;
}

/// The connector's link as the Controllers API reports it.
async fn link_status(c: &ConnectorProc) -> String {
    let s = c.get_json("/api/v1/stats").await;
    s["controller_channel"]["links"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Types the connector's Catalyst 9800 lines at the simulator's console.
async fn paste_catalyst_lines(sim: &mut SimProc, c: &ConnectorProc) -> serde_json::Value {
    let identity = c.get_json("/api/v1/identity").await;
    for line in identity["catalyst_command"].as_str().unwrap().lines() {
        sim.proc.type_line(line);
    }
    identity
}

/// A controller as the older ones are (RSA key, TLS 1.2 only) playing a
/// Catalyst 9800: the connector's default RSA identity is admitted by
/// pasting its 9800 lines, the session runs on TLS 1.2 ECDHE-RSA-AES-GCM,
/// and replacing the key is refused without confirmation, then (done at
/// the console, in another process) takes the running service off the
/// controller until the new key is authorised in turn.
#[tokio::test]
async fn a_tls12_rsa_catalyst_admits_the_pasted_lines_and_a_rekey_needs_them_again() {
    let mut sim = SimProc::start(
        1,
        &["--rate", "10", "--key-type", "rsa-2048", "--tls12-only"],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let c = ConnectorProc::start(dir.path(), "127.0.0.113", 0, 0).await;
    c.add_controllers(&sim, "WLC").await;
    eventually(20, "refused: not on the auth list", || async {
        (link_status(&c).await == "Unauthorized").then_some(())
    })
    .await;
    let first = paste_catalyst_lines(&mut sim, &c).await;
    assert_eq!(first["key_type"], "rsa-2048", "the default identity");
    eventually(30, "Active once the 9800 lines are pasted", || async {
        c.all_active(1).await.then_some(())
    })
    .await;
    let status = sim.status().await;
    let tls = status["controllers"][0]["connectors"]["127.0.0.113"]["tls"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        tls.starts_with("TLSv1_2 TLS_ECDHE_RSA_WITH_AES_") && tls.contains("_GCM_SHA"),
        "{tls}"
    );
    println!("negotiated: {tls}");

    // Not confirmed: refused field by field, nothing changed.
    let r = c
        .post_json(
            "/api/v1/identity/rekey",
            serde_json::json!({"key_type": "dsa"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    let fields = body["error"]["fields"].to_string();
    assert!(
        fields.contains("key_type") && fields.contains("confirm"),
        "{body}"
    );
    let (ok, out) = console(
        dir.path(),
        &["identity", "rekey", "--key-type", "ecdsa-p256"],
    );
    assert!(!ok && out.contains("--yes"), "{out}");
    assert_eq!(
        c.get_json("/api/v1/identity").await["key_hash"],
        first["key_hash"]
    );

    let (ok, out) = console(
        dir.path(),
        &["identity", "rekey", "--key-type", "ecdsa-p256", "--yes"],
    );
    assert!(ok && out.contains("ECDSA P-256"), "{out}");
    eventually(20, "the running service took the new key", || async {
        (c.get_json("/api/v1/identity").await["key_type"] == "ecdsa-p256").then_some(())
    })
    .await;
    eventually(20, "refused with the new key", || async {
        (link_status(&c).await == "Unauthorized").then_some(())
    })
    .await;
    let second = paste_catalyst_lines(&mut sim, &c).await;
    assert_ne!(second["key_hash"], first["key_hash"]);
    eventually(
        30,
        "Active again once the new key is authorised",
        || async { c.all_active(1).await.then_some(()) },
    )
    .await;
}
