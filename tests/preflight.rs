//! The pre-flight check names the step that fails, with its fix, for the
//! faults an installer meets: a port nobody answers on, a controller whose
//! key is not the one pinned, a controller that has not authorised this
//! connector; and passes every step for a healthy controller. Through the
//! API, the Controllers page's "Check" button, and the console.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

async fn check(c: &ConnectorProc, id: i64) -> Value {
    let r = c
        .http
        .post(c.at(&format!("/api/v1/controllers/{id}/check")))
        .bearer_auth(&c.api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn failed_step(check: &Value) -> (String, String) {
    let step = check["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ok"] == false)
        .unwrap_or_else(|| panic!("a failed step: {check}"));
    (
        step["name"].as_str().unwrap().to_string(),
        step["fix"].as_str().unwrap_or_default().to_string(),
    )
}

async fn add(c: &ConnectorProc, name: &str, addr: &str) -> i64 {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let r = c
        .post_json(
            "/api/v1/controllers",
            serde_json::json!({"name": name, "host": host, "port": port}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_check_names_the_failing_step_and_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let c = ConnectorProc::start(dir.path(), "127.0.0.32", 0, 0).await;
    let key = c.get_json("/api/v1/status").await["nmsp_key_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let healthy = SimProc::start(1, &["--rate", "20", "--allow", &key]).await;
    let refusing = SimProc::start(1, &["--rate", "20"]).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };

    // Healthy: every step passes, up to the first notification.
    let ok_id = add(&c, "Healthy", &healthy.controllers[0]).await;
    let ok = check(&c, ok_id).await;
    let names: Vec<&str> = ok["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(ok["passed"], true, "{ok}");
    assert_eq!(
        names,
        [
            "Name resolution",
            "TCP",
            "TLS and the controller's key",
            "Authorisation",
            "Subscription",
            "First data"
        ]
    );

    // Nobody answers on the port.
    let closed_id = add(&c, "Closed", &closed).await;
    let (step, fix) = failed_step(&check(&c, closed_id).await);
    assert_eq!(step, "TCP");
    assert!(fix.contains("Open TCP"), "{fix}");

    // The connector is not on the controller's auth list: the fix is the
    // command to paste.
    let refused_id = add(&c, "Refusing", &refusing.controllers[0]).await;
    let (step, fix) = failed_step(&check(&c, refused_id).await);
    assert_eq!(step, "Authorisation");
    assert!(
        fix.contains("config auth-list add sha256-lbs-ssc") && fix.contains(&key),
        "{fix}"
    );

    // A controller whose key is not the one pinned.
    // (After the live session learned the real key, so it cannot race us.)
    eventually(20, "the healthy controller's key pinned", || async {
        let s = c.get_json("/api/v1/stats").await;
        s["controller_channel"]["links"]
            .as_array()?
            .iter()
            .any(|l| l["name"] == "Healthy" && l["status"] == "Active")
            .then_some(())
    })
    .await;
    let conn = rusqlite::Connection::open(dir.path().join("connector.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute(
        "UPDATE controllers SET cert_pin = ?1 WHERE id = ?2",
        rusqlite::params!["ab".repeat(32), ok_id],
    )
    .unwrap();
    let (step, fix) = failed_step(&check(&c, ok_id).await);
    assert_eq!(step, "TLS and the controller's key");
    assert!(fix.contains("accept its new key"), "{fix}");

    // The page's "Check" button shows the same steps.
    let page = submit(
        &c.http,
        &c.at("/controllers"),
        &c.at(&format!("/controllers/{refused_id}/check")),
        &[],
    )
    .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"check-failed\"") && html.contains("Authorisation failed"),
        "{html}"
    );

    // And the console, with a non-zero exit at the failing step.
    let out = Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["controller", "check", "Closed"])
        .env("SPACES_CONNECTOR_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FAILED TCP"), "{text}");
}
