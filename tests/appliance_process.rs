//! The real `spaces-connector` binary: `serve` prints the setup URL, stops
//! cleanly on SIGTERM, and the console commands work on the same state file
//! while it runs.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use spaces_connector::contract::token::{TokenSigner, example_claims};

const BIN: &str = env!("CARGO_BIN_EXE_spaces-connector");

#[tokio::test]
async fn serve_prints_setup_url_and_console_shares_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let Serving {
        mut proc,
        url,
        base,
        http: client,
        ..
    } = serve(dir.path(), "127.0.0.20", 0, 0).await;
    let base = base.as_str();
    assert!(
        url.starts_with("https://127.0.0.20:") && url.ends_with("/setup"),
        "{url}"
    );
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    set_up_at(&client, base, &setup_code_in(dir.path())).await;
    assert!(
        !dir.path().join("setup-code").exists(),
        "a used setup code is gone"
    );

    // Console commands against the live service's state file.
    let (ok, out) = console(
        dir.path(),
        &["controller", "add", "--name", "WLC 1", "--host", "10.0.0.1"],
    );
    assert!(ok, "{out}");
    let (ok, out) = console(
        dir.path(),
        &[
            "controller",
            "add",
            "--name",
            "WLC 2",
            "--host",
            "10.0.0.300",
        ],
    );
    assert!(!ok && out.contains("10.0.0.300"), "{out}");
    let (ok, out) = console(
        dir.path(),
        &["controller", "add", "--name", "wlc 1", "--host", "10.0.0.2"],
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    let (_, out) = console(dir.path(), &["controller", "list"]);
    assert!(out.contains("WLC 1") && out.contains("10.0.0.1"), "{out}");
    let controllers = page(&client, &format!("{base}/controllers")).await;
    assert!(
        controllers.contains("WLC 1"),
        "the web UI sees the console's controller"
    );

    let (signer, _) = TokenSigner::generate();
    let token = signer.issue(example_claims("https://127.0.0.1:9", &"cd".repeat(32)));
    let (ok, out) = console(dir.path(), &["token", "set", &token[..token.len() / 2]]);
    assert!(!ok && out.contains("truncated"), "{out}");
    let (ok, out) = console(dir.path(), &["token", "set", &token]);
    assert!(ok && out.contains("Example Corp"), "{out}");
    let (ok, out) = console(dir.path(), &["status"]);
    assert!(ok, "{out}");
    assert!(out.contains("controllers:     1"), "{out}");
    assert!(out.contains("admin password:  set"), "{out}");
    assert!(out.contains("config auth-list add sha256-lbs-ssc"), "{out}");

    // The cloud proxy at the console: refused field by field, then set,
    // shown without its password, and cleared.
    let (ok, out) = console(dir.path(), &["proxy", "set", "--url", "ftp://proxy:21"]);
    assert!(!ok && out.contains("url:"), "{out}");
    let set = [
        "proxy",
        "set",
        "--url",
        "http://10.0.0.1:3128",
        "--username",
        "svc",
    ];
    let (ok, out) = console(dir.path(), &set);
    assert!(
        ok && out.contains("http://10.0.0.1:3128") && out.contains("svc (no password)"),
        "{out}"
    );
    let (ok, out) = console(dir.path(), &["proxy", "clear"]);
    assert!(ok && out.contains("connects directly"), "{out}");

    // The admin UI certificate at the console.
    let (ok, out) = console(dir.path(), &["web-cert", "show"]);
    assert!(ok && out.contains("(self-signed)"), "{out}");
    let (ok, out) = console(
        dir.path(),
        &["web-cert", "request", "--common-name", "conn.example.test"],
    );
    assert!(ok && out.contains("BEGIN CERTIFICATE REQUEST"), "{out}");
    let missing = dir.path().join("missing.pem");
    let (ok, out) = console(
        dir.path(),
        &["web-cert", "install", "--chain", missing.to_str().unwrap()],
    );
    assert!(!ok && out.contains("cannot read"), "{out}");

    let (ok, out) = console(dir.path(), &["controller", "remove", "WLC 1"]);
    assert!(ok, "{out}");

    // Access points at the console: bad input refused field by field and
    // nothing stored; then allowed, listed, removed.
    let (ok, out) = console(
        dir.path(),
        &["ap", "add", "--name", "", "--key-hash", "xyz"],
    );
    assert!(
        !ok && out.contains("name:") && out.contains("key_hash:"),
        "{out}"
    );
    let (_, out) = console(dir.path(), &["ap", "list"]);
    assert!(out.contains("no access points allowed"), "{out}");
    let hash = "ab".repeat(32);
    let (ok, out) = console(
        dir.path(),
        &["ap", "add", "--name", "Lobby", "--key-hash", &hash],
    );
    assert!(ok && out.contains("allowed access point Lobby"), "{out}");
    let (_, out) = console(dir.path(), &["ap", "list"]);
    assert!(
        out.contains(&hash) && out.contains("this connector"),
        "{out}"
    );
    let aps = page(&client, &format!("{base}/access-points")).await;
    assert!(aps.contains("Lobby"), "the web UI sees the console's AP");
    let (ok, out) = console(dir.path(), &["ap", "remove", &hash]);
    assert!(ok, "{out}");

    // Lost password: reset-admin sends every browser back to setup.
    let (ok, out) = console(dir.path(), &["reset-admin"]);
    assert!(ok);
    // A new setup code, on the console and in the state directory.
    let code = setup_code_in(dir.path());
    assert!(out.contains(&format!("setup code: {code}")), "{out}");
    let r = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(location(&r), "/setup");

    let status = proc.term();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    // The checkpoint at shutdown left no write-ahead log behind.
    let wal = dir.path().join("connector.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn console_refuses_garbage_without_touching_state() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = console(dir.path(), &["token", "set", "not-a-token"]);
    assert!(!ok);
    assert!(out.contains("not a Spaces Connector token"), "{out}");
    let (_, out) = console(dir.path(), &["token", "show"]);
    assert!(out.contains("no token stored"), "{out}");
    let (ok, out) = console(dir.path(), &["controller", "remove", "nothing"]);
    assert!(!ok && out.contains("no controller"), "{out}");
}

/// Runs `serve` on a data directory that must refuse to start; returns the
/// exit status and what it printed.
fn serve_refused(dir: &Path) -> (std::process::ExitStatus, String) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.29:0",
            "--ap-listen",
            "127.0.0.29:0",
        ])
        .env("SPACES_CONNECTOR_LOG", "error")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

#[test]
fn a_damaged_state_file_stops_the_service_and_is_kept_aside() {
    // Empty: before, this silently became a first boot (setup open to all).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("connector.db"), b"").unwrap();
    let (status, out) = serve_refused(dir.path());
    assert!(!status.success(), "a non-zero exit so systemd shows it");
    assert!(out.contains("damaged") && out.contains("empty"), "{out}");
    assert!(!out.contains("/setup"), "no setup page: {out}");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept");
    // And it stays refused on the next start (systemd restarts it).
    let (status, out) = serve_refused(dir.path());
    assert!(
        !status.success() && out.contains("Restore a backup"),
        "{out}"
    );

    // Truncated in the middle of a real state file.
    let dir = tempfile::tempdir().unwrap();
    let (ok, _) = console(
        dir.path(),
        &["controller", "add", "--name", "W", "--host", "10.0.0.1"],
    );
    assert!(ok);
    let db = dir.path().join("connector.db");
    let len = std::fs::metadata(&db).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let (status, out) = serve_refused(dir.path());
    assert!(!status.success(), "{out}");
    assert!(out.contains("damaged"), "{out}");
    // Console commands refuse it too, with the same words.
    let (ok, out) = console(dir.path(), &["controller", "list"]);
    assert!(!ok && out.contains("damaged"), "{out}");
}

/// Damage that appears while the service runs (here: the controllers
/// table's page overwritten under it) is a fault shown where it is met —
/// the page says the state file failed (503, not 500), `/metrics` counts
/// it, and the figures keep naming the controllers last read instead of
/// turning into "no controllers".
#[tokio::test]
async fn damage_met_while_running_is_shown_as_a_state_file_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let c = ConnectorProc::start(tmp.path(), "127.0.0.109", 0, 0).await;
    for (name, host) in [("North", "10.9.0.1"), ("South", "10.9.0.2")] {
        let r = c
            .post_json(
                "/api/v1/controllers",
                serde_json::json!({"name": name, "host": host, "port": 16113}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let links = |s: serde_json::Value| s["controller_channel"]["links"].as_array().unwrap().len();
    assert_eq!(links(c.get_json("/api/v1/stats").await), 2);

    // Move everything into the main file, then overwrite the table's page.
    let db = tmp.path().join("connector.db");
    let (root, page_size): (i64, i64) = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        (
            conn.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'controllers'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
            conn.query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap(),
        )
    };
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(((root - 1) * page_size) as u64))
            .unwrap();
        f.write_all(&vec![0xA5; page_size as usize]).unwrap();
        f.sync_all().unwrap();
    }

    let r = c.http.get(c.at("/controllers")).send().await.unwrap();
    assert_eq!(r.status(), 503, "a fault below the page is not a 500");
    let body = r.text().await.unwrap();
    assert!(body.contains("state file"), "{body}");
    assert!(body.contains("restore a backup"), "{body}");
    let api = c.get("/api/v1/controllers").await;
    assert_eq!(api.status(), 503);
    let err: serde_json::Value = api.json().await.unwrap();
    assert_eq!(err["error"]["code"], "state_file_fault", "{err}");

    let metrics = c.get_text("/metrics").await;
    let faults: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("spaces_state_file_faults_total "))
        .expect("the fault counter")
        .trim()
        .parse()
        .unwrap();
    assert!(faults >= 2, "{faults}");
    assert_eq!(
        links(c.get_json("/api/v1/stats").await),
        2,
        "the links keep the names read last"
    );
}

/// Headless first boot through the real binary, as the image runs it: the
/// root step (`first-boot`) checks a config drive's file and hands it
/// over; the service applies it once at start, before serving, so the
/// admin password from the file is the one to log in with (no setup page);
/// what was refused (a bad proxy, a malformed token) is named on the
/// System page.
#[tokio::test]
async fn a_config_drive_sets_the_admin_password_and_says_what_it_refused() {
    let drive = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        let mut child = Command::new(BIN)
            .arg("hash-password")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let file = drive.path().join("spaces-connector.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "network": {"hostname": "conn-7", "mode": "dhcp"},
            "proxy": {"url": "ftp://nope"},
            "admin_password_hash": hash,
            "token": "not-a-token"
        })
        .to_string(),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["first-boot", "--from"])
        .arg(&file)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["--source", "config drive (CIDATA)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // Logs in with the file's password: ConnectorProc::start asserts it.
    let c = ConnectorProc::start(dir.path(), "127.0.0.123", 0, 0).await;
    let page = eventually(10, "the token's outcome recorded", || async {
        let p = c.get_text("/system").await;
        p.contains("token:").then_some(p)
    })
    .await;
    assert!(
        page.contains("id=\"first-boot-applied\">network, admin password<"),
        "{page}"
    );
    assert!(page.contains("config drive (CIDATA)"));
    let refused = page.split("id=\"first-boot-refused\">").nth(1).unwrap();
    assert!(
        refused.contains("proxy:") && refused.contains("token:"),
        "{refused}"
    );
    assert!(
        !dir.path().join("first-boot.json").exists(),
        "applied once, then gone"
    );
}
