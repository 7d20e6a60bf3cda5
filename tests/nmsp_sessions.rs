//! NMSP sessions end to end: a real appliance (in-process, its own SQLite
//! file, its own loopback address) against simulated controllers over real
//! TLS, checked through the connector's API and the controllers' status.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use spaces_connector::sim::{AuthList, SimController};
use spaces_connector::tls::identity::Identity;

fn row(c: &SimController, ip: std::net::IpAddr) -> spaces_connector::sim::StatusRow {
    c.status().get(&ip).cloned().unwrap_or_default()
}

#[tokio::test]
async fn three_controllers_active_and_counts_agree_exactly() {
    let rig = ReadyAppliance::start("127.0.0.21").await;
    let auth = AuthList::new([rig.app.key_hash()], false);
    let mut sims = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let sim = SimController::start(sim_spec(i, auth.clone(), 400.0, Some(500)))
            .await
            .unwrap();
        ids.push(rig.add(&format!("WLC {i}"), &sim).await);
        sims.push(sim);
    }
    for id in &ids {
        rig.wait_status(*id, "Active", 10).await;
    }
    for (sim, id) in sims.iter().zip(&ids) {
        let l = eventually(20, "all 500 notifications", || async {
            let l = rig.link(*id).await;
            (l["messages"] == 500).then_some(l)
        })
        .await;
        assert_eq!(sim.generated(), 500);
        assert_eq!(
            row(sim, rig.ip).tx_data,
            500,
            "controller sent what the connector counted"
        );
        assert_eq!(l["malformed"], 0);
        assert!(l["connected_at"].is_i64());
    }
    let totals: Value = json_of(
        rig.http
            .get(rig.app.at("/api/v1/stats"))
            .bearer_auth(&rig.api),
    )
    .await;
    assert_eq!(
        totals["controller_channel"]["totals"]["incoming_messages"],
        1500
    );
    assert_eq!(totals["controller_channel"]["totals"]["active"], 3);

    // `show nmsp status` agrees with the connector's echo counters.
    for (sim, id) in sims.iter().zip(&ids) {
        eventually(10, "echo counters agree", || async {
            let l = rig.link(*id).await;
            let r = row(sim, rig.ip);
            let agree = r.rx_echo_req > 0
                && l["echo_requests_sent"] == r.rx_echo_req
                && l["echo_responses_received"] == r.tx_echo_resp;
            agree.then_some(())
        })
        .await;
        let text = spaces_connector::sim::show_nmsp_status(sim);
        assert!(
            text.contains("127.0.0.21") && text.contains("TLS") && text.contains("Active"),
            "{text}"
        );
    }
    let metrics = rig
        .http
        .get(rig.app.at("/metrics"))
        .bearer_auth(&rig.api)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("spaces_channel_messages_total{channel=\"controller\"} 1500"),
        "{metrics}"
    );
    // The figures come in pages; totals cover the whole channel.
    let page = rig.get_json("/api/v1/stats?offset=1&limit=1").await;
    let ch = &page["controller_channel"];
    assert_eq!(ch["links"].as_array().unwrap().len(), 1);
    assert_eq!(ch["totals"]["links"], 3);
    assert_eq!(ch["totals"]["incoming_messages"], 1500);
    // A strict OpenMetrics parser reads the whole exposition.
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(&metrics)
        .unwrap_or_else(|e| panic!("/metrics is not valid OpenMetrics: {e:?}\n{metrics}"));
    for family in [
        "spaces_channel_messages",
        "spaces_link_up",
        "spaces_link_reconnects",
    ] {
        assert!(parsed.families.contains_key(family), "{family} missing");
    }
    assert_eq!(
        rig.app
            .client()
            .get(rig.app.at("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for s in &sims {
        s.stop().await;
    }
    rig.app.stop().await;
}

#[tokio::test]
async fn restarted_controller_goes_backoff_then_active() {
    let rig = ReadyAppliance::start("127.0.0.22").await;
    let auth = AuthList::new([rig.app.key_hash()], false);
    let mut s = sim_spec(0, auth, 50.0, None);
    s.wait_for = 0;
    let sim = SimController::start(s.clone()).await.unwrap();
    let id = rig.add("WLC", &sim).await;
    rig.wait_status(id, "Active", 10).await;
    sim.stop().await;
    let l = rig.wait_status(id, "Backoff", 10).await;
    assert!(
        l["last_error"].is_string() && l["next_retry_at"].is_i64(),
        "{l}"
    );
    // Same address, same certificate: the controller came back.
    s.addr = sim.addr;
    let sim = SimController::start(s).await.unwrap();
    let l = rig.wait_status(id, "Active", 15).await;
    assert_eq!(l["reconnects"], 1);
    sim.stop().await;
    rig.app.stop().await;
}

#[tokio::test]
async fn connector_not_on_auth_list_is_unauthorized_and_refused() {
    let rig = ReadyAppliance::start("127.0.0.23").await;
    let auth = AuthList::new(Vec::<String>::new(), false);
    let sim = SimController::start(sim_spec(0, auth.clone(), 10.0, None))
        .await
        .unwrap();
    let id = rig.add("WLC", &sim).await;
    let l = rig.wait_status(id, "Unauthorized", 10).await;
    assert!(
        l["last_error"].as_str().unwrap().contains("auth list"),
        "{l}"
    );
    assert!(
        auth.refused.lock().unwrap().contains(&rig.app.key_hash()),
        "refused on the controller"
    );
    assert!(
        sim.status()
            .get(&rig.ip)
            .is_none_or(|r| r.active_sessions == 0)
    );
    // Once the admin adds the hash on the controller, the connector gets in.
    auth.allow(&rig.app.key_hash());
    rig.wait_status(id, "Active", 40).await;
    sim.stop().await;
    rig.app.stop().await;
}

#[tokio::test]
async fn changed_controller_certificate_stops_until_accepted() {
    let rig = ReadyAppliance::start("127.0.0.24").await;
    let auth = AuthList::new([rig.app.key_hash()], false);
    let mut s = sim_spec(0, auth, 10.0, None);
    s.wait_for = 0;
    let sim = SimController::start(s.clone()).await.unwrap();
    let id = rig.add("WLC", &sim).await;
    rig.wait_status(id, "Active", 10).await;
    sim.stop().await;
    s.addr = sim.addr;
    s.identity = Arc::new(Identity::generate("impostor", vec!["wlc".into()]).unwrap());
    let new_hash = s.identity.key_hash().unwrap();
    let sim = SimController::start(s).await.unwrap();
    let l = rig.wait_status(id, "CertChanged", 15).await;
    assert!(l["last_error"].as_str().unwrap().contains(&new_hash), "{l}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        rig.link(id).await["status"],
        "CertChanged",
        "stays down until accepted"
    );
    let r = rig
        .http
        .post(rig.app.at(&format!("/api/v1/controllers/{id}/accept-cert")))
        .bearer_auth(&rig.api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    rig.wait_status(id, "Active", 10).await;
    sim.stop().await;
    rig.app.stop().await;
}

#[tokio::test]
async fn controller_that_stops_answering_is_declared_dead() {
    let rig = ReadyAppliance::start("127.0.0.25").await;
    let auth = AuthList::new([rig.app.key_hash()], false);
    let mut s = sim_spec(0, auth, 0.0, None);
    s.wait_for = 0;
    let sim = SimController::start(s).await.unwrap();
    let id = rig.add("WLC", &sim).await;
    rig.wait_status(id, "Active", 10).await;
    sim.mute_echo
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let l = rig.wait_sessions_ended(id, 1, 10).await;
    assert!(
        l["last_error"].as_str().unwrap().contains("declared dead"),
        "{l}"
    );
    sim.mute_echo
        .store(false, std::sync::atomic::Ordering::Relaxed);
    rig.wait_status(id, "Active", 15).await;
    sim.stop().await;
    rig.app.stop().await;
}

#[tokio::test]
async fn malformed_frames_are_skipped_or_close_only_their_session() {
    let rig = ReadyAppliance::start("127.0.0.26").await;
    let auth = AuthList::new([rig.app.key_hash()], false);
    let bad = SimController::start(sim_spec(0, auth.clone(), 20.0, None))
        .await
        .unwrap();
    let good = SimController::start(sim_spec(1, auth, 20.0, None))
        .await
        .unwrap();
    let bad_id = rig.add("Bad", &bad).await;
    let good_id = rig.add("Good", &good).await;
    rig.wait_status(bad_id, "Active", 10).await;
    rig.wait_status(good_id, "Active", 10).await;

    // An unknown message type: counted and skipped, session stays up.
    bad.inject_raw(Bytes::from_static(&[99, 0, 0, 2, 0xde, 0xad]));
    eventually(5, "unsupported counted", || async {
        (rig.link(bad_id).await["unsupported"] == 1).then_some(())
    })
    .await;
    // A notification whose TLV runs past the body: skipped as malformed.
    bad.inject_raw(Bytes::from_static(&[15, 0, 0, 6, 0, 2, 0, 40, 1, 2]));
    let l = eventually(5, "malformed counted", || async {
        let l = rig.link(bad_id).await;
        (l["malformed"] == 1).then_some(l)
    })
    .await;
    assert_eq!(l["status"], "Active");
    assert!(
        l["last_error"].as_str().unwrap().contains("malformed"),
        "{l}"
    );

    // Unknown flags: the stream can no longer be trusted; the session closes.
    bad.inject_raw(Bytes::from_static(&[15, 0x80, 0, 0]));
    let l = rig.wait_sessions_ended(bad_id, 1, 5).await;
    assert!(l["last_error"].as_str().unwrap().contains("flags"), "{l}");
    rig.wait_status(bad_id, "Active", 15).await;

    // A frame claiming 65,535 bytes that never come: the session stalls on
    // one bounded frame, then the dead-peer timer ends it.
    bad.inject_raw(Bytes::from_static(&[
        15, 0, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]));
    let l = rig.wait_sessions_ended(bad_id, 2, 5).await;
    assert!(l["last_error"].as_str().unwrap().contains("dead"), "{l}");
    rig.wait_status(bad_id, "Active", 15).await;

    // Random bytes.
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    bad.inject_raw(Bytes::from(noise));
    rig.wait_sessions_ended(bad_id, 3, 5).await;

    let g = rig.link(good_id).await;
    assert_eq!(g["status"], "Active", "the other session is unaffected");
    assert_eq!(g["reconnects"], 0);
    assert_eq!(g["malformed"], 0);
    bad.stop().await;
    good.stop().await;
    rig.app.stop().await;
}

#[tokio::test]
async fn removing_a_controller_in_the_ui_ends_its_session_at_once() {
    let rig = ReadyAppliance::start("127.0.0.27").await;
    let auth = AuthList::new([rig.app.key_hash()], false);
    let sim = SimController::start(sim_spec(0, auth, 10.0, None))
        .await
        .unwrap();
    let r = add_controller(
        &rig.http,
        &rig.app,
        "WLC",
        "127.0.0.1",
        &sim.addr.port().to_string(),
    )
    .await;
    assert_eq!(r.status(), 303);
    let id = rig.links().await[0]["id"].as_i64().unwrap();
    rig.wait_status(id, "Active", 10).await;
    assert_eq!(row(&sim, rig.ip).active_sessions, 1);

    let page = rig
        .http
        .get(rig.app.at(&format!("/controllers/{id}/delete")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = rig
        .http
        .post(rig.app.at(&format!("/controllers/{id}/delete")))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    eventually(2, "session closed on the controller", || async {
        (row(&sim, rig.ip).active_sessions == 0).then_some(())
    })
    .await;
    assert!(spaces_connector::sim::show_nmsp_status(&sim).contains("Inactive"));
    sim.stop().await;
    rig.app.stop().await;
}

#[tokio::test]
async fn echoes_go_out_on_time_under_load() {
    // The connector echoes every 200 ms (test timing); this controller
    // closes a session that sent no echo for 2 × that. A timer that only
    // checked "200 ms elapsed?" at each tick drifted towards 400 ms and
    // got sessions closed under load.
    let rig = ReadyAppliance::start("127.0.0.28").await;
    let auth = AuthList::new([rig.app.key_hash()], false);
    let mut spec = sim_spec(0, auth, 2000.0, None);
    spec.wait_for = 0;
    spec.echo_timeout = Duration::from_millis(400);
    let sim = SimController::start(spec).await.unwrap();
    let id = rig.add("WLC", &sim).await;
    rig.wait_status(id, "Active", 10).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let link = rig.link(id).await;
    let r = row(&sim, rig.ip);
    assert!(link["messages"].as_u64() > Some(2000), "under load: {link}");
    assert!(r.rx_echo_req >= 15, "echoes: {}", r.rx_echo_req);
    assert_eq!(r.sessions, 1, "no session was closed for a late echo");
    assert_eq!(link["reconnects"], 0);
    sim.stop().await;
    rig.app.stop().await;
}
