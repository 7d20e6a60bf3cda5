//! The appliance's network settings with commit-confirm, on an in-process
//! appliance started as the image starts it (`--manage-network`), with a
//! two-second window: bad input refused field by field; a change handed
//! to the helper at once and rolled back when nobody confirms it from the
//! new address; a confirmed one kept; the helper (the real binary, as
//! root runs it) rendering the hand-off for networkd, timesyncd and the
//! host name. Without `--manage-network` the page shows the host's
//! network read-only and a change is refused.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn handed(c: &ReadyAppliance) -> serde_json::Value {
    let path = c.data_dir().join("network.json");
    serde_json::from_slice(&std::fs::read(path).unwrap_or_default()).unwrap_or_default()
}

async fn put(c: &ReadyAppliance, body: serde_json::Value) -> reqwest::Response {
    c.http
        .put(c.app.at("/api/v1/settings/network"))
        .bearer_auth(&c.api)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn static_50() -> serde_json::Value {
    json!({"hostname": "conn-1", "mode": "static", "address": "10.0.2.50/24",
           "gateway": "10.0.2.2", "dns": "10.0.2.3", "ntp": "10.0.2.2"})
}

#[tokio::test]
async fn a_change_rolls_back_unless_confirmed_and_the_helper_renders_it() {
    let c = ReadyAppliance::start_with("127.0.0.121", |a| {
        a.manage_network = true;
        a.network_confirm_secs = 2;
    })
    .await;
    // A fresh image applies its own defaults (DHCP): nothing is handed to
    // the helper, whose every hand-off reloads the network. The watch
    // looks each second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !c.data_dir().join("network.json").exists(),
        "the defaults handed over: {}",
        handed(&c)
    );

    let r = put(&c, json!({"hostname": "bad_name", "mode": "static", "address": "10.0.2.50", "gateway": "10.9.9.9"})).await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    for f in ["hostname", "address", "dns"] {
        assert!(body["error"]["fields"][f].is_string(), "{f}: {body}");
    }
    assert_eq!(
        c.get_json("/api/v1/settings/network").await["settings"]["mode"],
        "dhcp"
    );

    // Not confirmed: in force, handed over, then rolled back.
    let r = put(&c, static_50()).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["pending"]["open"], "https://10.0.2.50/network", "{v}");
    eventually(5, "the new settings handed over", || async {
        (handed(&c)["address"] == "10.0.2.50/24").then_some(())
    })
    .await;
    let page = c.page("/network").await;
    assert!(
        page.contains("id=\"open-url\">https://10.0.2.50/network<"),
        "{page}"
    );
    // Confirming from the old address proves nothing: refused.
    let r = c
        .http
        .post(c.app.at("/api/v1/settings/network/confirm"))
        .bearer_auth(&c.api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    eventually(10, "rolled back to DHCP", || async {
        (handed(&c)["mode"] == "dhcp").then_some(())
    })
    .await;
    let v = c.get_json("/api/v1/settings/network").await;
    assert!(
        v["pending"].is_null() && v["settings"]["mode"] == "dhcp",
        "{v}"
    );
    assert_eq!(v["rolled_back"], 1, "the rollback is counted: {v}");
    assert!(
        c.page("/network")
            .await
            .contains("id=\"network-rolled-back\""),
        "and shown"
    );

    // Confirmed (here at the console, on the same state file): kept.
    assert_eq!(put(&c, static_50()).await.status(), 200);
    let (ok, out) = console(c.data_dir(), &["network", "confirm"]);
    assert!(ok, "{out}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        handed(&c)["address"],
        "10.0.2.50/24",
        "kept past the window"
    );

    // The helper renders the hand-off (under a root of its own here).
    let root = tempfile::tempdir().unwrap();
    let from = c.data_dir().join("network.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
        .args(["network", "apply", "--from"])
        .arg(&from)
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let network = std::fs::read_to_string(
        root.path()
            .join("etc/systemd/network/10-spaces-connector.network"),
    )
    .unwrap();
    assert!(
        network.contains("Address=10.0.2.50/24\n") && network.contains("Gateway=10.0.2.2\n"),
        "{network}"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("etc/hostname")).unwrap(),
        "conn-1\n"
    );
    c.app.stop().await;
}

#[tokio::test]
async fn outside_the_image_the_hosts_network_is_shown_read_only() {
    let c = ReadyAppliance::start("127.0.0.122").await;
    let page = c.page("/network").await;
    assert!(page.contains("id=\"host-network\""), "{page}");
    assert!(!page.contains("action=\"/network\""), "no form");
    let r = put(&c, static_50()).await;
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outside its appliance image"),
        "{body}"
    );
    assert!(
        !c.data_dir().join("network.json").exists(),
        "nothing handed over"
    );
    c.app.stop().await;
}
