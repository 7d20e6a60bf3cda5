//! Wired groups and client privacy end to end, with real processes on
//! loopback: `spaces-cloud`, `spaces-connector`s and `wlc-sim` playing
//! Catalyst switches (and, for privacy, a wireless controller and an AP).

mod common;

use base64::Engine;
use common::*;
use serde_json::Value;

/// Sums `generated` over every simulated controller or switch of `sim`,
/// once each has produced `each`.
async fn all_generated(sim: &SimProc, devices: usize, each: u64) -> u64 {
    eventually(60, "simulators done", || async {
        let s = sim.status().await;
        let rows = s["controllers"].as_array()?.clone();
        let done =
            rows.len() == devices && rows.iter().all(|c| c["generated"].as_u64() == Some(each));
        done.then(|| rows.iter().map(|c| c["generated"].as_u64().unwrap()).sum())
    })
    .await
}

#[tokio::test]
async fn a_wired_pair_streams_every_switch_event_exactly_once_through_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = CloudProc::start_kind(
        &tmp.path().join("cloud"),
        "127.0.0.139",
        &["--stale-after-secs", "2", "--down-after-secs", "4"],
        "wired",
    )
    .await;
    let mut a = ConnectorProc::start(&tmp.path().join("a"), "127.0.0.140", 0, 0).await;
    let b = ConnectorProc::start(&tmp.path().join("b"), "127.0.0.141", 0, 0).await;
    for c in [&a, &b] {
        assert_eq!(c.set_token(&cloud.token).await["registered"], true);
    }
    let (sa, sb) = (
        a.get_json("/api/v1/status").await,
        b.get_json("/api/v1/status").await,
    );
    assert_eq!(sa["network"], "wired");
    assert_eq!(sa["devices"], "switches");
    let a_id = sa["instance_id"].as_str().unwrap().to_string();

    let sim = SimProc::start_devices(
        0,
        3,
        &[
            "--ports",
            "24",
            "--rate",
            "100",
            "--limit",
            "1200",
            "--wait-for",
            "2",
            "--allow",
            sa["nmsp_key_hash"].as_str().unwrap(),
            "--allow",
            sb["nmsp_key_hash"].as_str().unwrap(),
        ],
    )
    .await;
    // A wired connector refuses a wireless controller, with the reason,
    // and stores nothing.
    let (host, port) = sim.switches[0].rsplit_once(':').unwrap();
    let refused = a
        .post_json(
            "/api/v1/controllers",
            serde_json::json!({"name": "WLC", "host": host, "port": port, "kind": "aireos"}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let why = refused.text().await.unwrap();
    assert!(why.contains("wired") && why.contains("switch"), "{why}");
    assert_eq!(
        a.get_json("/api/v1/switches")
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Switches are added on A only; the group's configuration brings them to B.
    a.add_switches(&sim, "Access switch").await;
    eventually(
        20,
        "both connectors Active on all three switches",
        || async { (a.all_active(3).await && b.all_active(3).await).then_some(()) },
    )
    .await;
    let cloud_page = cloud.group_page().await;
    for shown in [
        "Wired",
        "Switches",
        "Access switch 1",
        "127.0.0.140",
        "127.0.0.141",
    ] {
        assert!(cloud_page.contains(shown), "cloud group page shows {shown}");
    }

    eventually(20, "wired events flowing", || async {
        (firehose(&cloud.http, &cloud.url, &cloud.firehose_key)
            .await
            .len()
            > 300)
            .then_some(())
    })
    .await;
    a.kill();
    eventually(20, "B sees A down", || async {
        let s = b.get_json("/api/v1/status").await;
        (peer_state(&s, &a_id).as_deref() == Some("down")).then_some(())
    })
    .await;
    let https_port: u16 = a.base.rsplit(':').next().unwrap().parse().unwrap();
    let ap_port: u16 = a.ap_addr.rsplit(':').next().unwrap().parse().unwrap();
    let a_dir = a.dir.clone();
    let a = ConnectorProc::start(&a_dir, "127.0.0.140", https_port, ap_port).await;
    eventually(20, "A Active on every switch again", || async {
        a.all_active(3).await.then_some(())
    })
    .await;

    let sent = all_generated(&sim, 3, 1200).await;
    let events = eventually(40, "firehose complete", || async {
        let e = firehose(&cloud.http, &cloud.url, &cloud.firehose_key).await;
        (e.len() as u64 >= sent).then_some(e)
    })
    .await;
    let mut keys: Vec<&str> = events.iter().map(|e| e["key"].as_str().unwrap()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(events.len() as u64, sent, "no loss, no duplicate");
    assert_eq!(keys.len() as u64, sent);
    assert!(
        events.iter().all(|e| e["msg_type"] == 40),
        "every event is a wired Attachment Notification"
    );
    // Both members on every switch's `show nmsp status`.
    let s = sim.status().await;
    for c in s["controllers"].as_array().unwrap() {
        assert_eq!(c["kind"], "switch");
        for ip in ["127.0.0.140", "127.0.0.141"] {
            assert!(c["connectors"][ip].is_object(), "{ip} on {}", c["name"]);
        }
    }
}

/// Every way a client identity could be written: the bytes in a body and
/// the text forms a careless store would use.
fn forms(client: &Value) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mac: Vec<u8> = client["mac"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    // In binary, as a body's CLIENT_MAC TLV carries it: the simulator's
    // MACs are mostly zero bytes, which SQLite's pages hold by chance.
    let mut tlv = vec![0x00, 0x10, 0x00, 0x06];
    tlv.extend(&mac);
    out.push(tlv);
    out.push(hex::encode(&mac).into_bytes());
    let colons: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    out.push(colons.join(":").into_bytes());
    if let Some(ip) = client["ip"].as_str() {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        out.push(ip.to_string().into_bytes());
        // Likewise the CLIENT_IP TLV: four bytes alone would turn up by
        // chance in megabytes of keys and hashes.
        let octets = match ip {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let mut tlv = vec![0x00, 0x31, 0x00, octets.len() as u8];
        tlv.extend(octets);
        out.push(tlv);
    }
    if let Some(user) = client["user"].as_str() {
        out.push(user.as_bytes().to_vec());
    }
    out
}

/// The first of `needles` found in `haystack`, in one pass: candidates
/// are looked up by their first two bytes (state files are megabytes).
fn find_any(haystack: &[u8], needles: &[Vec<u8>]) -> Option<String> {
    let mut by_prefix: std::collections::HashMap<[u8; 2], Vec<&[u8]>> = Default::default();
    for n in needles.iter().filter(|n| n.len() >= 2) {
        by_prefix.entry([n[0], n[1]]).or_default().push(n);
    }
    for i in 0..haystack.len().saturating_sub(1) {
        if let Some(candidates) = by_prefix.get(&[haystack[i], haystack[i + 1]])
            && let Some(n) = candidates.iter().find(|n| haystack[i..].starts_with(n))
        {
            return Some(format!(
                "{} (hex {})",
                String::from_utf8_lossy(n),
                hex::encode(n)
            ));
        }
    }
    None
}

#[tokio::test]
async fn with_privacy_on_no_client_identity_reaches_the_cloud_and_copies_still_dedup() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud_dir = tmp.path().join("cloud");
    // The change takes effect at once: nothing streams yet.
    let cloud = CloudProc::start_kind(
        &cloud_dir,
        "127.0.0.142",
        &["--privacy-lead-ms", "0"],
        "wired",
    )
    .await;
    cloud.set_privacy("hash").await;
    let tenant = format!("{}/tenants/{}", cloud.url, cloud.tenant);
    let page = page(&cloud.http, &tenant).await;
    assert!(
        page.contains("id=\"privacy-mode\">Hashed"),
        "tenant page shows it"
    );
    let audit = page
        .split("id=\"audit\"")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        audit.contains("client privacy"),
        "the change is audited: {audit}"
    );
    // A wireless group of the same tenant gets the same setting.
    let tenant_id = cloud.tenant.clone();
    let (_, wireless_token) = create_token(&cloud.http, &cloud.url, &tenant_id, "Branch").await;

    let a = ConnectorProc::start(&tmp.path().join("a"), "127.0.0.143", 0, 0).await;
    let b = ConnectorProc::start(&tmp.path().join("b"), "127.0.0.144", 0, 0).await;
    let w = ConnectorProc::start(&tmp.path().join("w"), "127.0.0.145", 0, 0).await;
    for (c, t) in [
        (&a, &cloud.token),
        (&b, &cloud.token),
        (&w, &wireless_token),
    ] {
        assert_eq!(c.set_token(t).await["registered"], true);
    }
    eventually(20, "every member has the privacy setting", || async {
        let mut on = true;
        for c in [&a, &b, &w] {
            on &= c.get_json("/api/v1/status").await["privacy"] == "hashed";
        }
        on.then_some(())
    })
    .await;
    let mut hashes = Vec::new();
    for c in [&a, &b, &w] {
        let s = c.get_json("/api/v1/status").await;
        hashes.push(s["nmsp_key_hash"].as_str().unwrap().to_string());
    }
    let [ha, hb, hw] = [&hashes[0], &hashes[1], &hashes[2]];
    let switches = SimProc::start_devices(
        0,
        2,
        &[
            "--ports",
            "8",
            "--rate",
            "100",
            "--limit",
            "300",
            "--wait-for",
            "2",
            "--allow",
            ha,
            "--allow",
            hb,
        ],
    )
    .await;
    let wlc = SimProc::start_devices(
        1,
        0,
        &[
            "--rate",
            "100",
            "--limit",
            "300",
            "--wait-for",
            "1",
            "--aps",
            "1",
            "--connector",
            &w.ap_addr,
            "--allow",
            hw,
        ],
    )
    .await;
    a.add_switches(&switches, "Switch").await;
    w.add_controllers(&wlc, "WLC").await;
    w.allow_aps(&wlc).await;
    eventually(20, "sessions Active", || async {
        (a.all_active(2).await && b.all_active(2).await && w.all_active(1).await).then_some(())
    })
    .await;
    // Everything the simulators made arrives, once, though the wired pair
    // sent each of its events twice.
    let sent = all_generated(&switches, 2, 300).await + all_generated(&wlc, 1, 300).await + 300; // and the AP's telemetry
    let events = eventually(40, "firehose complete", || async {
        let e = firehose(&cloud.http, &cloud.url, &cloud.firehose_key).await;
        (e.len() as u64 >= sent).then_some(e)
    })
    .await;
    assert_eq!(
        events.len() as u64,
        sent,
        "the members' copies de-duplicated to one"
    );
    let group = cloud.group_page().await;
    assert_eq!(
        between(&group, "id=\"events-duplicates\">", "<"),
        "600",
        "each wired event came from both members"
    );

    // No client MAC, IP or user name anywhere in the firehose or the
    // cloud's state file; every body says which salt hashed it.
    let mut needles = Vec::new();
    for sim in [&switches, &wlc] {
        for device in sim.status().await["controllers"].as_array().unwrap() {
            for client in device["clients"].as_array().unwrap() {
                needles.extend(forms(client));
            }
        }
    }
    assert!(needles.len() > 100, "the simulators' clients are known");
    for e in &events {
        let body = base64::engine::general_purpose::STANDARD
            .decode(e["body"].as_str().unwrap())
            .unwrap();
        if let Some(found) = find_any(&body, &needles) {
            panic!("a client identity in the firehose: {found}");
        }
        if let Some(found) = find_any(e.to_string().as_bytes(), &needles) {
            panic!("a client identity in a firehose line: {found}");
        }
        // The PRIVACY TLV (0x0040, 4 bytes) closes every body.
        assert_eq!(&body[body.len() - 8..body.len() - 4], b"\x00\x40\x00\x04");
    }
    // A connector too old to hash (protocol 1) may join, but what it
    // sends is refused, with the reason, rather than stored in the clear.
    let old: Value = json_of(cloud
        .http
        .post(format!("{}/api/v1/register", cloud.url))
        .json(&serde_json::json!({
            "token": cloud.token, "instance_id": uuid::Uuid::new_v4().to_string(), "hostname": "old",
            "addresses": [], "software_version": "0.0.9", "protocol_version": 1,
            "member_key": "k".repeat(43)
        }))).await;
    let batch = serde_json::json!({"batch_id": "old-1", "events": [{
        "key": "00".repeat(32), "channel": "controller", "source": "ab", "msg_type": 40,
        "body": "AAIACAAAAAAAAAAB", "received_at_ms": 1
    }]});
    let r = cloud
        .http
        .post(format!("{}/api/v1/events", cloud.url))
        .bearer_auth(
            old["credential"]
                .as_str()
                .expect("an old connector registers"),
        )
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("in the clear"));

    // The state file and its write-ahead log, whatever is checkpointed.
    for entry in std::fs::read_dir(&cloud_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if let Some(found) = find_any(&bytes, &needles) {
                panic!("a client identity in {}: {found}", path.display());
            }
        }
    }
}
