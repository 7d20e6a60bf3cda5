//! The seed's feature end to end with real processes on loopback: one
//! `spaces-cloud`, two `spaces-connector`s on their own addresses with the
//! same token, and `wlc-sim` running three controllers and two APs. One
//! connector is killed with SIGKILL mid-stream; the firehose must still
//! hold every event the simulators sent, exactly once.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn pair_survives_sigkill_with_no_gap_and_no_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = CloudProc::start(
        &tmp.path().join("cloud"),
        "127.0.0.60",
        &["--stale-after-secs", "2", "--down-after-secs", "4"],
    )
    .await;
    let (cloud_url, firehose_key, group, token) = (
        cloud.url.clone(),
        cloud.firehose_key.clone(),
        cloud.group.clone(),
        cloud.token.clone(),
    );
    let mut a = ConnectorProc::start(&tmp.path().join("a"), "127.0.0.61", 0, 0).await;
    let b = ConnectorProc::start(&tmp.path().join("b"), "127.0.0.62", 0, 0).await;
    for c in [&a, &b] {
        assert_eq!(c.set_token(&token).await["registered"], true);
    }
    let (sa, sb) = (
        a.get_json("/api/v1/status").await,
        b.get_json("/api/v1/status").await,
    );
    assert_eq!(
        sa["token"]["tenant_id"], sb["token"]["tenant_id"],
        "same tenant on both"
    );
    let a_id = sa["instance_id"].as_str().unwrap().to_string();

    let sim = SimProc::start(
        3,
        &[
            "--rate",
            "100",
            "--limit",
            "1200",
            "--wait-for",
            "2",
            "--aps",
            "2",
            "--connector",
            &a.ap_addr,
            "--connector",
            &b.ap_addr,
            "--allow",
            sa["nmsp_key_hash"].as_str().unwrap(),
            "--allow",
            sb["nmsp_key_hash"].as_str().unwrap(),
        ],
    )
    .await;
    let status_url = sim.status_url.clone();
    // Controllers are added on A only; the group's configuration brings them to B.
    a.add_controllers(&sim, "WLC").await;
    // So are the APs allowed on the AP Channel.
    a.allow_aps(&sim).await;
    eventually(
        20,
        "both connectors Active on all three controllers",
        || async { (a.all_active(3).await && b.all_active(3).await).then_some(()) },
    )
    .await;
    // B shows who added each controller: A, as the cloud recorded it.
    let on_b = b.get_json("/api/v1/controllers").await;
    for c in on_b.as_array().unwrap() {
        assert!(
            c["added_by"].as_str().unwrap().contains(&a_id[..8]),
            "attributed to A: {c}"
        );
    }
    let cloud_page = cloud
        .http
        .get(format!("{cloud_url}/groups/{group}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cloud_page.contains("127.0.0.61") && cloud_page.contains("127.0.0.62"),
        "cloud lists both IPs"
    );

    eventually(20, "events flowing", || async {
        (firehose(&cloud.http, &cloud_url, &firehose_key).await.len() > 300).then_some(())
    })
    .await;
    a.kill();
    eventually(20, "B sees A down", || async {
        let s = b.get_json("/api/v1/status").await;
        (peer_state(&s, &a_id).as_deref() == Some("down")).then_some(())
    })
    .await;
    let dash = b
        .http
        .get(b.at("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dash.contains(&format!("data-peer=\"{a_id}\"")) && dash.contains(">down<"),
        "B's dashboard shows A down"
    );

    // A comes back on its own addresses, with nothing re-entered.
    let https_port: u16 = a.base.rsplit(':').next().unwrap().parse().unwrap();
    let ap_port: u16 = a.ap_addr.rsplit(':').next().unwrap().parse().unwrap();
    let a_dir = a.dir.clone();
    let a = ConnectorProc::start(&a_dir, "127.0.0.61", https_port, ap_port).await;
    eventually(20, "A Active on every controller again", || async {
        a.all_active(3).await.then_some(())
    })
    .await;
    eventually(20, "B sees A up again", || async {
        let s = b.get_json("/api/v1/status").await;
        (peer_state(&s, &a_id).as_deref() == Some("up")).then_some(())
    })
    .await;

    // Every event the simulators sent is on the firehose, once.
    let plain = b.http.clone();
    let sent = eventually(40, "simulators done", || async {
        let s: Value = plain
            .get(&status_url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let ctrl: u64 = s["controllers"]
            .as_array()?
            .iter()
            .map(|c| c["generated"].as_u64().unwrap())
            .sum();
        let aps: u64 = s["aps"]
            .as_array()?
            .iter()
            .map(|c| c["generated"].as_u64().unwrap())
            .sum();
        (ctrl == 3 * 1200 && aps == 2 * 1200).then_some(ctrl + aps)
    })
    .await;
    let events = eventually(40, "firehose complete", || async {
        let e = firehose(&cloud.http, &cloud_url, &firehose_key).await;
        (e.len() as u64 >= sent).then_some(e)
    })
    .await;
    let mut keys: Vec<&str> = events.iter().map(|e| e["key"].as_str().unwrap()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(events.len() as u64, sent, "no loss, no duplicate");
    assert_eq!(keys.len() as u64, sent);
    assert!(
        events.iter().any(|e| e["channel"] == "ap"),
        "AP channel events included"
    );

    // The controllers list both connectors as separate TLS rows.
    let s: Value = json_of(plain.get(&status_url)).await;
    for c in s["controllers"].as_array().unwrap() {
        for ip in ["127.0.0.61", "127.0.0.62"] {
            assert!(c["connectors"][ip].is_object(), "{ip} on {}", c["name"]);
        }
    }
    let cloud_page = cloud
        .http
        .get(format!("{cloud_url}/groups/{group}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cloud_page.contains(r#"id="members-up">2 of 2<"#),
        "group healthy again"
    );

    let mut sim = sim;
    let mut cloud_proc = cloud.proc;
    let (mut a, mut b) = (a, b);
    assert!(sim.proc.term().success());
    assert!(a.proc.term().success());
    assert!(b.proc.term().success());
    assert!(cloud_proc.term().success());
}
