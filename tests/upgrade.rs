//! Signed upgrades up to the installer's door, with real tools: a release
//! key made by openssl, packages built by dpkg-deb, bundles made and
//! signed by `packaging/make-update-bundle`, and two real connectors of a
//! pair with a real cloud. A bundle signed by another key, an older one
//! and a truncated one are each refused with the reason and stage
//! nothing (API, System page, console); a good one waits while the other
//! member of the pair is down unless the admin says to go on, then is
//! staged for the installer with the controllers Active now, once. The
//! dashboard tells how the installer's last upgrade ended.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A package named and versioned as ours, built by dpkg-deb.
fn deb(dir: &Path, version: &str) -> PathBuf {
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    let root = dir.join(format!("pkg-{version}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: spaces-connector\nVersion: {version}-1\nArchitecture: {arch}\nMaintainer: tests <t@example.invalid>\nDescription: a test package\n"
        ),
    )
    .unwrap();
    // 100 KB that does not compress: a truncated bundle cuts into it.
    std::fs::create_dir_all(root.join("usr/share/spaces-connector")).unwrap();
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect();
    std::fs::write(root.join("usr/share/spaces-connector/payload"), noise).unwrap();
    let out = dir.join(format!("spaces-connector_{version}-1_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&out));
    out
}

fn make_bundle(key: &Path, deb: &Path, out: &Path) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/make-update-bundle");
    run(Command::new(script)
        .arg("--key")
        .arg(key)
        .arg("--deb")
        .arg(deb)
        .arg("--out")
        .arg(out));
    std::fs::read(out).unwrap()
}

fn new_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key));
    key
}

async fn upload(c: &ConnectorProc, bundle: &[u8], peer_down_ok: bool) -> (u16, Value) {
    let r = c
        .http
        .post(c.at(&format!("/api/v1/upgrade?peer_down_ok={peer_down_ok}")))
        .bearer_auth(&c.api)
        .body(bundle.to_vec())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn bad_bundles_are_refused_and_a_good_one_is_staged_once() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let release = new_key(t, "release.pem");
    let stranger = new_key(t, "stranger.pem");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/make-update-bundle");
    let public = run(Command::new(&script)
        .arg("--key")
        .arg(&release)
        .arg("--public-key"));
    let good = make_bundle(&release, &deb(t, "9.0.0"), &t.join("good.scupdate"));
    let foreign = make_bundle(&stranger, &deb(t, "9.0.1"), &t.join("foreign.scupdate"));
    let older = make_bundle(&release, &deb(t, "0.0.1"), &t.join("older.scupdate"));
    let truncated = good[..good.len() * 2 / 3].to_vec();

    let cloud = CloudProc::start(
        &t.join("cloud"),
        "127.0.0.136",
        &["--stale-after-secs", "2", "--down-after-secs", "4"],
    )
    .await;
    let env = [
        ("SPACES_CONNECTOR_MANAGE_UPGRADES", "true"),
        ("SPACES_CONNECTOR_TRUST_RELEASE_KEY", public.as_str()),
    ];
    let a = ConnectorProc::start_env(&t.join("a"), "127.0.0.137", &env).await;
    let mut b = ConnectorProc::start_env(&t.join("b"), "127.0.0.138", &env).await;
    for c in [&a, &b] {
        assert_eq!(c.set_token(&cloud.token).await["registered"], true);
    }

    for (bundle, why) in [
        (&foreign, "signature does not hold"),
        (&older, "not newer than the"),
        (&truncated, "cut short or damaged"),
    ] {
        let (status, body) = upload(&a, bundle, true).await;
        assert_eq!(status, 422, "{body}");
        let said = body["error"]["fields"]["bundle"].as_str().unwrap();
        assert!(said.contains(why), "{said}");
    }
    assert!(!a.dir.join("upgrade").exists(), "nothing staged");
    let refused_page = submit_multipart(&a, &foreign).await;
    assert!(
        refused_page.contains("signature does not hold"),
        "the System page says why"
    );
    let console = Command::new(env!("CARGO_BIN_EXE_spaces-connector"))
        .arg("--data-dir")
        .arg(&a.dir)
        .arg("upgrade")
        .arg(t.join("older.scupdate"))
        .args(["--manage-upgrades", "--trust-release-key", &public])
        .output()
        .unwrap();
    assert!(!console.status.success());
    assert!(String::from_utf8_lossy(&console.stderr).contains("not newer than the"));
    assert!(!a.dir.join("upgrade").exists(), "nothing staged");

    // The other member down: the admin is warned and must say to go on.
    b.kill();
    eventually(20, "the peer seen down", || async {
        let v = a.get_json("/api/v1/upgrade").await;
        (!v["peers_down"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    let (status, body) = upload(&a, &good, false).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["fields"]["peer_down_ok"]
            .as_str()
            .unwrap()
            .contains("not up")
    );
    assert!(!a.dir.join("upgrade").exists());
    let (status, body) = upload(&a, &good, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["to"], "9.0.0");
    assert_eq!(
        a.get_json("/api/v1/upgrade").await["pending"]["to"],
        "9.0.0"
    );
    assert_eq!(
        std::fs::read(a.dir.join("upgrade/bundle.scupdate")).unwrap(),
        good
    );
    let (status, _) = upload(&a, &good, true).await;
    assert_eq!(status, 409, "one upgrade at a time");
    assert!(a.get_text("/api/v1/audit").await.contains("upgrade.start"));

    // What the installer writes when it is done is on the dashboard.
    std::fs::write(
        a.dir.join("upgrade/outcome.json"),
        r#"{"from":"0.1.0","to":"9.0.0","result":"rolled_back","reason":"controller WLC-1 not Active within 60 s","at":1800000000}"#,
    )
    .unwrap();
    let dashboard = page(&a.http, &a.at("/")).await;
    assert!(dashboard.contains(
        "The upgrade to 9.0.0 failed its health check (controller WLC-1 not Active within 60 s)"
    ));
}

/// The System page's upload form, as a browser sends it.
async fn submit_multipart(c: &ConnectorProc, bundle: &[u8]) -> String {
    let csrf = csrf_of(&page(&c.http, &c.at("/system")).await);
    let boundary = "----upgrade-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.scupdate\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bundle);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = c
        .http
        .post(c.at("/system/upgrade"))
        .header(
            http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    r.text().await.unwrap()
}
