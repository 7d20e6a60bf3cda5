//! The cloud link end to end: a real `spaces-cloud` and real connectors
//! (in-process, own SQLite files, own loopback addresses, real TLS both
//! ways) with simulated controllers.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use spaces_connector::contract::cloud_api::PROTOCOL_VERSION;
use spaces_connector::contract::token::{TokenSigner, example_claims};
use spaces_connector::sim::{AuthList, SimController};

fn unique_keys(events: &[Value]) -> usize {
    let mut keys: Vec<&str> = events.iter().map(|e| e["key"].as_str().unwrap()).collect();
    keys.sort();
    keys.dedup();
    keys.len()
}

#[tokio::test]
async fn token_registers_config_syncs_and_restart_needs_nothing() {
    let cloud_dir = tempfile::tempdir().unwrap();
    let cloud = TestCloud::start(cloud_dir.path(), "127.0.0.40").await;
    let (group, token) = cloud.create_token("HQ connectors").await;
    assert!(token.starts_with("SCT1."));

    let c = ReadyAppliance::start("127.0.0.41").await;
    let r = paste_token(&c.http, &c.app, &token).await;
    assert_eq!(location(&r), "/token?notice=token-saved");
    let s = c.wait_link("Connected", 10).await;
    assert_eq!(s["token"]["tenant_id"], cloud.tenant_id.as_str());
    let dash = c
        .http
        .get(c.app.at("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dash.contains(&cloud.tenant_id) && dash.contains("Connected"),
        "dashboard shows the tenant and link"
    );

    // A controller added on the connector reaches the group's configuration.
    let auth = AuthList::new([c.app.key_hash()], false);
    let sim = SimController::start(sim_spec(0, auth, 0.0, None))
        .await
        .unwrap();
    c.add("WLC A", &sim).await;
    let addr = format!("{}:{}", sim.addr.ip(), sim.addr.port());
    eventually(10, "controller in the cloud's group config", || async {
        cloud.group_page(&group).await.contains(&addr).then_some(())
    })
    .await;
    let page = cloud.group_page(&group).await;
    assert!(
        page.contains("127.0.0.41"),
        "the cloud lists the connector's address"
    );
    assert!(page.contains(&c.app.instance_id));

    // Restarted, the connector is back without the token being entered again.
    let again = c.restart().await;
    again.wait_link("Connected", 10).await;
    let page = cloud.group_page(&group).await;
    assert_eq!(
        page.matches(&again.app.instance_id).count(),
        1,
        "still one member"
    );
    sim.stop().await;
    again.app.stop().await;
    cloud.shutdown().await;
}

#[tokio::test]
async fn events_reach_the_firehose_exactly_once() {
    let (_dir, cloud, group, token, c) = linked("127.0.0.42", "Branch", "127.0.0.43").await;
    let auth = AuthList::new([c.app.key_hash()], false);
    let a = SimController::start(sim_spec(0, auth.clone(), 300.0, Some(600)))
        .await
        .unwrap();
    let b = SimController::start(sim_spec(1, auth, 300.0, Some(400)))
        .await
        .unwrap();
    c.add("A", &a).await;
    c.add("B", &b).await;
    let events = eventually(20, "1000 events on the firehose", || async {
        let e = cloud.firehose().await;
        (e.len() >= 1000).then_some(e)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events_after = cloud.firehose().await;
    assert_eq!(events_after.len(), 1000, "exactly the simulators' count");
    assert_eq!(a.generated() + b.generated(), 1000);
    assert_eq!(unique_keys(&events), 1000, "each event once");
    // Resumable: after the 400th offset come exactly the other 600.
    let offset = events[399]["offset"].as_i64().unwrap();
    let rest = cloud
        .http
        .get(format!(
            "{}/api/v1/firehose?follow=false&after={offset}",
            cloud.url
        ))
        .bearer_auth(&cloud.firehose_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(rest.lines().count(), 600);
    let page = cloud.group_page(&group).await;
    assert!(page.contains(r#"id="events-unique">1000<"#), "group totals");

    // A member of an older version, which sends gzipped JSON, in the same
    // group: its copies of the same events are duplicates of the compact
    // batches' (one key whichever form carried them), and its new event
    // is stored.
    let older = client_from(&cloud.pin, "127.0.0.92");
    let instance = uuid::Uuid::new_v4().to_string();
    let cred = register_member(&older, &cloud, &token, &instance, PROTOCOL_VERSION).await;
    let mut copies: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({"key": e["key"], "channel": e["channel"], "source": e["source"],
                   "msg_type": e["msg_type"], "body": e["body"], "received_at_ms": 1})
        })
        .collect();
    let source = copies[0]["source"].as_str().unwrap().to_string();
    copies.push(older_json_event(&source, 9_999));
    let ack: Value = json_of(
        older
            .post(format!("{}/api/v1/events", cloud.url))
            .bearer_auth(&cred)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(older_batch("older-1", &copies)),
    )
    .await;
    assert_eq!(
        (ack["new"].as_u64(), ack["duplicates"].as_u64()),
        (Some(1), Some(1000)),
        "{ack}"
    );
    assert_eq!(cloud.firehose().await.len(), 1001);
    // A compact batch that is not one is refused with the reason.
    let r = older
        .post(format!("{}/api/v1/events", cloud.url))
        .bearer_auth(&cred)
        .header(
            "content-type",
            spaces_connector::contract::event_batch::CONTENT_TYPE,
        )
        .body("SCB1\x05")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("the batch ends early"));
    // A foreign firehose key is refused.
    let r = cloud
        .http
        .get(format!("{}/api/v1/firehose", cloud.url))
        .bearer_auth("scfh_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    a.stop().await;
    b.stop().await;
    c.app.stop().await;
    cloud.shutdown().await;
}

#[tokio::test]
async fn cloud_outage_loses_nothing_and_delivers_nothing_twice() {
    let (_dir, cloud, _, _, c) = linked("127.0.0.44", "Outage", "127.0.0.45").await;
    let auth = AuthList::new([c.app.key_hash()], false);
    let sim = SimController::start(sim_spec(0, auth, 400.0, Some(2000)))
        .await
        .unwrap();
    c.add("A", &sim).await;
    eventually(10, "first events delivered", || async {
        (cloud.firehose().await.len() > 100).then_some(())
    })
    .await;

    let stopped = cloud.stop().await;
    let s = c.wait_link("Retrying", 10).await;
    assert!(s["cloud_link"]["last_error"].is_string());
    eventually(10, "events spooled while the cloud is away", || async {
        (c.status().await["cloud_link"]["spool"]["events"].as_i64() > Some(200)).then_some(())
    })
    .await;
    let cloud = stopped.start().await;
    let events = eventually(30, "all 2000 events after the outage", || async {
        let e = cloud.firehose().await;
        (e.len() >= 2000 && sim.generated() == 2000).then_some(e)
    })
    .await;
    assert_eq!(events.len(), 2000);
    assert_eq!(unique_keys(&events), 2000);
    eventually(10, "spool drained", || async {
        let s = c.status().await;
        (s["cloud_link"]["spool"]["events"] == 0 && s["cloud_link"]["status"] == "Connected")
            .then_some(())
    })
    .await;
    assert_eq!(c.status().await["cloud_link"]["spool"]["dropped_events"], 0);
    sim.stop().await;
    c.app.stop().await;
    cloud.shutdown().await;
}

#[tokio::test]
async fn spool_cap_drops_are_counted_and_shown() {
    let cloud_dir = tempfile::tempdir().unwrap();
    let cloud = TestCloud::start(cloud_dir.path(), "127.0.0.46").await;
    let (_, token) = cloud.create_token("Capped").await;
    let _stopped = cloud.stop().await;
    let c = ReadyAppliance::start_with("127.0.0.47", |a| a.spool_cap_bytes = Some(20_000)).await;
    let r = paste_token(&c.http, &c.app, &token).await;
    assert_eq!(
        location(&r),
        "/token?notice=token-pending",
        "stored while the cloud is away"
    );
    let auth = AuthList::new([c.app.key_hash()], false);
    let sim = SimController::start(sim_spec(0, auth, 500.0, Some(3000)))
        .await
        .unwrap();
    c.add("A", &sim).await;
    let s = eventually(20, "drops counted", || async {
        let s = c.status().await;
        (s["cloud_link"]["spool"]["dropped_events"].as_i64() > Some(0)).then_some(s)
    })
    .await;
    assert!(s["cloud_link"]["spool"]["bytes"].as_i64().unwrap() <= 20_000);
    let dash = c
        .http
        .get(c.app.at("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = between(&dash, "id=\"dropped-events\" class=\"error-text\">", "<");
    assert!(shown.parse::<i64>().unwrap() > 0, "shown on the dashboard");
    sim.stop().await;
    c.app.stop().await;
}

#[tokio::test]
async fn tampered_foreign_and_wrong_pin_tokens_are_refused() {
    let cloud_dir = tempfile::tempdir().unwrap();
    let cloud = TestCloud::start(cloud_dir.path(), "127.0.0.48").await;
    let (_, good) = cloud.create_token("Real").await;
    let c = ReadyAppliance::start("127.0.0.49").await;

    // Tampered: one character of the contents changed.
    let mut bytes = good.clone().into_bytes();
    bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let r = paste_token(&c.http, &c.app, &tampered).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("altered") || html.contains("invalid"),
        "precise local error"
    );

    // Foreign: well-formed, aimed at this cloud, but signed by someone else.
    let (other, _) = TokenSigner::generate();
    let foreign = other.issue(example_claims(&cloud.url, &cloud.pin));
    let r = paste_token(&c.http, &c.app, &foreign).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text().await.unwrap().contains("not issued by this cloud"),
        "the cloud's reason is shown"
    );

    // Wrong pin: the URL is this cloud, the pinned key is not its key.
    let wrong_pin = other.issue(example_claims(&cloud.url, &"ab".repeat(32)));
    let r = paste_token(&c.http, &c.app, &wrong_pin).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("is not the cloud that made this token")
    );

    let s = c.status().await;
    assert!(s["token"].is_null(), "nothing stored");
    assert_eq!(s["cloud_link"]["status"], "NotConfigured");
    c.app.stop().await;
    cloud.shutdown().await;
}

/// Registers `instance` with the cloud API, as another connector would;
/// returns its credential.
async fn register_member(
    client: &reqwest::Client,
    cloud: &TestCloud,
    token: &str,
    instance: &str,
    protocol: u32,
) -> String {
    let r: Value = json_of(
        client
            .post(format!("{}/api/v1/register", cloud.url))
            .json(&register_body(token, instance, protocol)),
    )
    .await;
    r["credential"].as_str().unwrap().to_string()
}

/// A cloud with one group, and a connector that holds its token and is
/// linked to it: (the cloud's directory, the cloud, the group id, the
/// token, the connector).
async fn linked(
    cloud_ip: &str,
    group_name: &str,
    app_ip: &str,
) -> (tempfile::TempDir, TestCloud, String, String, ReadyAppliance) {
    let dir = tempfile::tempdir().unwrap();
    let cloud = TestCloud::start(dir.path(), cloud_ip).await;
    let (group, token) = cloud.create_token(group_name).await;
    let c = ReadyAppliance::start(app_ip).await;
    paste_token(&c.http, &c.app, &token).await;
    c.wait_link("Connected", 10).await;
    (dir, cloud, group, token, c)
}

/// A measurement notification, as an older connector's JSON batch carries
/// it (hex key, base64 body).
fn older_json_event(source: &str, seq: u64) -> Value {
    let body = spaces_connector::nmsp::notification::measurement(
        seq,
        spaces_connector::clock::now_ms(),
        [7; 6],
        [8; 6],
        -60,
        1,
    );
    json!({
        "key": hex::encode(spaces_connector::contract::event::dedup_key(source, 15, &body)),
        "channel": "controller", "source": source, "msg_type": 15,
        "body": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body),
        "received_at_ms": 1
    })
}

/// A batch in an older connector's form: gzipped JSON.
fn older_batch(batch_id: &str, events: &[Value]) -> Vec<u8> {
    let json = serde_json::to_vec(&json!({"batch_id": batch_id, "events": events})).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &json).unwrap();
    gz.finish().unwrap()
}

/// A client speaking the cloud API directly from `ip`, as another
/// connector would.
fn register_body(token: &str, instance: &str, protocol: u32) -> Value {
    json!({
        "token": token, "instance_id": instance, "hostname": "other", "addresses": ["127.0.0.99"],
        "software_version": "9.9.9", "protocol_version": protocol,
        "member_key": "k".repeat(43)
    })
}

#[tokio::test]
async fn same_instance_from_elsewhere_is_refused_and_incompatible_members_are_flagged() {
    let (_dir, cloud, group, token, c) = linked("127.0.0.50", "Pair", "127.0.0.51").await;

    // A clone of this connector (same instance id) at another address.
    let clone = client_from(&cloud.pin, "127.0.0.52");
    let r = clone
        .post(format!("{}/api/v1/register", cloud.url))
        .json(&register_body(&token, &c.app.instance_id, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("another connector"), "{e}");
    assert!(
        !message.contains("127.0.0.51"),
        "the member's address stays private: {e}"
    );

    // A member on another protocol version joins the group.
    let newer = client_from(&cloud.pin, "127.0.0.53");
    let other_id = uuid::Uuid::new_v4().to_string();
    let cred = register_member(&newer, &cloud, &token, &other_id, PROTOCOL_VERSION + 1).await;
    let hb = json!({
        "hostname": "other", "addresses": [], "software_version": "9.9.9", "protocol_version": PROTOCOL_VERSION + 1,
        "controllers_active": 0, "controllers_total": 0, "active_controllers": [], "event_rate": 0.0,
        "events_total": 0, "spooled_events": 0, "dropped_events": 0
    });
    let ack: Value = json_of(
        newer
            .post(format!("{}/api/v1/heartbeat", cloud.url))
            .bearer_auth(&cred)
            .json(&hb),
    )
    .await;
    assert_eq!(ack["group_compatible"], false);
    let s = eventually(10, "connector flags the incompatible peer", || async {
        let s = c.status().await;
        (s["cloud_link"]["group_compatible"] == false).then_some(s)
    })
    .await;
    let peers = s["cloud_link"]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert!(
        peers
            .iter()
            .any(|p| p["instance_id"] == other_id.as_str() && p["compatible"] == false)
    );
    let dash = c
        .http
        .get(c.app.at("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dash.contains(&format!("incompatible protocol {}", PROTOCOL_VERSION + 1)),
        "shown on the connector"
    );
    assert!(
        cloud.group_page(&group).await.contains("incompatible"),
        "shown on the cloud"
    );
    c.app.stop().await;
    cloud.shutdown().await;
}

/// An upgrade finds the spool as the older version wrote it (gzipped JSON
/// batches): they are sent as they are, and the cloud takes them. An event
/// altered on disk since fails the cloud's checks: it is refused and
/// counted on both ends.
#[tokio::test]
async fn a_spool_an_older_version_wrote_is_delivered_after_the_upgrade() {
    let (_dir, cloud, group, _, c) = linked("127.0.0.93", "Upgraded", "127.0.0.94").await;

    let source = "ab".repeat(32);
    let mut events: Vec<Value> = (1..=4).map(|seq| older_json_event(&source, seq)).collect();
    events[3]["key"] = json!("00".repeat(32));
    let payload = older_batch("spooled-before", &events);
    let mut db = rusqlite::Connection::open(c.data_dir().join("connector.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    spaces_connector::connector::cloud_link::spool::append(
        &mut db,
        "spooled-before",
        3,
        &payload,
        i64::MAX,
    )
    .unwrap();
    let status = eventually(10, "the older batch delivered", || async {
        let s = c.get_json("/api/v1/status").await;
        (s["spool"]["events"] == 0).then_some(s)
    })
    .await;
    let firehose = cloud.firehose().await;
    assert_eq!(firehose.len(), 3);
    assert!(firehose.iter().all(|e| e["source"] == source.as_str()));
    assert_eq!(status["cloud_link"]["refused_failed_checks"], 1, "{status}");
    assert!(
        c.get_text("/metrics")
            .await
            .contains("spaces_events_lost_total{reason=\"failed_cloud_checks\"} 1")
    );
    assert!(
        c.page("/")
            .await
            .contains(r#"id="refused-failed-checks" class="error-text">1<"#)
    );
    assert!(
        cloud
            .group_page(&group)
            .await
            .contains(r#"id="events-failed-checks">1<"#)
    );
    c.app.stop().await;
    cloud.shutdown().await;
}
