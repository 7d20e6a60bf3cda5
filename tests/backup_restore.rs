//! Backup and restore with real processes and a real cloud: a backup from
//! the API (with the identity) and one from the console (without); bad
//! input refused field by field with nothing changed; the backup restored
//! on a fresh appliance from beside its setup page (setup code asked) as
//! a new appliance, which stops to start again (exit 75, as systemd
//! restarts it) with the controllers, token and admin password and its
//! own identity; then the identity restored onto that second appliance
//! while the first still runs, which the cloud's clone check refuses
//! with a clear message.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{Value, json};

const PASSPHRASE: &str = "correct backup staple";

/// A `multipart/form-data` body as a browser sends the restore form.
fn multipart(fields: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----spaces-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if *name == "backup" {
            body.extend_from_slice(
                b"; filename=\"a.scbackup\"\r\nContent-Type: application/octet-stream",
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_restore(
    http: &reqwest::Client,
    url: &str,
    fields: &[(&str, &[u8])],
) -> (u16, String) {
    let (kind, body) = multipart(fields);
    let r = http
        .post(url)
        .header(http::header::CONTENT_TYPE, kind)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Waits for the process to stop by itself; its exit code.
async fn exit_code(proc: &mut Proc) -> i32 {
    eventually(15, "the service to stop for its restart", || {
        let done = proc
            .child
            .try_wait()
            .unwrap()
            .map(|s| s.code().unwrap_or(-1));
        async move { done }
    })
    .await
}

#[tokio::test]
async fn a_backup_restores_on_a_fresh_appliance_and_a_live_twin_is_refused_by_the_cloud() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = CloudProc::start(&tmp.path().join("cloud"), "127.0.0.131", &[]).await;
    let a = ConnectorProc::start(&tmp.path().join("a"), "127.0.0.132", 0, 0).await;
    assert_eq!(a.set_token(&cloud.token).await["registered"], true);
    for (name, host) in [("WLC-b1", "127.0.0.134"), ("WLC-b2", "127.0.0.135")] {
        let r = a
            .post_json(
                "/api/v1/controllers",
                json!({"name": name, "host": host, "port": "16113", "kind": "aireos"}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let a_key = a.get_json("/api/v1/status").await["nmsp_key_hash"].clone();

    // Backups: refused field by field, from the API and the console.
    let r = submit(
        &a.http,
        &a.at("/system"),
        &a.at("/system/backup"),
        &[("passphrase", "short"), ("confirm", "short")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 12 characters"));
    let r = a
        .post_json(
            "/api/v1/backup",
            json!({"passphrase": PASSPHRASE, "with_identity": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let with_identity = r.bytes().await.unwrap().to_vec();
    assert!(with_identity.starts_with(b"SPACES-CONNECTOR-BACKUP\n"));
    let plain_path = tmp.path().join("plain.scbackup");
    let mut console = Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
        .arg("--data-dir")
        .arg(&a.dir)
        .args(["backup", "--out"])
        .arg(&plain_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(console.stdin.take().unwrap(), "{PASSPHRASE}").unwrap();
    let out = console.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let without_identity = std::fs::read(&plain_path).unwrap();

    // A fresh appliance offers the restore beside its setup page.
    let b_dir = tmp.path().join("b");
    let mut fresh = serve(&b_dir, "127.0.0.133", 0, 0).await;
    assert!(
        page(&fresh.http, &format!("{}/setup", fresh.base))
            .await
            .contains("/setup/restore")
    );
    let restore_url = format!("{}/setup/restore", fresh.base);
    let csrf = csrf_of(&page(&fresh.http, &restore_url).await);
    let code = setup_code_in(&b_dir);
    let form = |code: &str, passphrase: &str, how: &str, file: &[u8]| {
        vec![
            ("csrf", csrf.as_bytes().to_vec()),
            ("code", code.as_bytes().to_vec()),
            ("passphrase", passphrase.as_bytes().to_vec()),
            ("restore_as", how.as_bytes().to_vec()),
            ("backup", file.to_vec()),
        ]
    };
    let send = |fields: Vec<(&'static str, Vec<u8>)>| {
        let http = fresh.http.clone();
        let url = restore_url.clone();
        async move {
            let borrowed: Vec<(&str, &[u8])> = fields.iter().map(|(n, v)| (*n, &v[..])).collect();
            post_restore(&http, &url, &borrowed).await
        }
    };
    let (status, body) = send(form(
        "WRONG-CODE",
        PASSPHRASE,
        "new_appliance",
        &without_identity,
    ))
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("the setup code is wrong"), "{body}");
    let (status, body) = send(form(
        &code,
        "not the passphrase",
        "new_appliance",
        &without_identity,
    ))
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("passphrase is wrong"), "{body}");
    let (status, body) = send(form(&code, PASSPHRASE, "this_appliance", &without_identity)).await;
    assert_eq!(status, 422);
    assert!(body.contains("holds no identity"), "{body}");
    assert!(
        page(&fresh.http, &format!("{}/setup", fresh.base))
            .await
            .contains("Welcome to Spaces Connector"),
        "nothing was restored"
    );
    let (status, body) = send(form(&code, PASSPHRASE, "new_appliance", &without_identity)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"restored\""), "{body}");
    assert!(body.contains("2 controllers"), "{body}");
    assert_eq!(exit_code(&mut fresh.proc).await, 75);

    // Started again (as systemd does): the admin password, controllers and
    // token are A's; the identity is its own; it registers as a member.
    let b = ConnectorProc::start(&b_dir, "127.0.0.133", 0, 0).await;
    let names: Vec<String> = b
        .get_json("/api/v1/controllers")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["WLC-b1", "WLC-b2"]);
    let s = b.get_json("/api/v1/status").await;
    assert_ne!(s["nmsp_key_hash"], a_key, "a new appliance has its own key");
    eventually(20, "B registered with the cloud", || async {
        let s = b.get_json("/api/v1/status").await;
        (s["cloud_link"]["status"] == "Connected").then_some(())
    })
    .await;
    let audit = b.get_text("/api/v1/audit").await;
    assert!(audit.contains("\"action\":\"restore\""), "{audit}");
    assert!(audit.contains("the setup code's holder"), "{audit}");

    // A's identity onto B while A runs: the cloud refuses the twin.
    let body = json!({
        "backup": base64::engine::general_purpose::STANDARD.encode(&with_identity),
        "passphrase": PASSPHRASE,
        "restore_as": "this_appliance",
    });
    let r = b.post_json("/api/v1/restore", body).await;
    assert_eq!(r.status(), 200);
    let restored: Value = r.json().await.unwrap();
    assert_eq!(restored["identity"], true);
    let mut b = b;
    assert_eq!(exit_code(&mut b.proc).await, 75);
    let b = ConnectorProc::start(&b_dir, "127.0.0.133", 0, 0).await;
    assert_eq!(b.get_json("/api/v1/status").await["nmsp_key_hash"], a_key);
    let why = eventually(20, "the cloud's clone check", || async {
        let s = b.get_json("/api/v1/status").await;
        s["cloud_link"]["last_error"]
            .as_str()
            .filter(|e| e.contains("already registered and reporting from another address"))
            .map(str::to_string)
    })
    .await;
    assert!(why.contains("restored as this appliance"), "{why}");
    // A keeps reporting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        a.get_json("/api/v1/status").await["cloud_link"]["status"],
        "Connected"
    );
}
