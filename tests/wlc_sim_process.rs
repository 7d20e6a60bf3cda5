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
    let mut sim = SimProc::start(1, &["--rate", "10"]).await;
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
