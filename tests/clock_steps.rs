//! Steps of the cloud's wall clock change none of its judgements. The real
//! `spaces-cloud` runs under libfaketime (its wall clock read from a file
//! the test rewrites; the monotonic clock left alone) while a pair streams
//! a controller's events: a step of +25 h must not make live events "older
//! than the dedup window", and a step of −1 h must not keep a killed
//! member up. Skipped with a printed reason where libfaketime is missing
//! (`apt install faketime`; `scripts/test` installs it).

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use common::*;
use serde_json::Value;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

fn events(lines: &[Value]) -> usize {
    lines.iter().filter(|l| l.get("gap").is_none()).count()
}

#[tokio::test]
async fn steps_of_the_cloud_clock_neither_refuse_live_events_nor_keep_the_dead_up() {
    if !std::path::Path::new(LIBFAKETIME).exists() {
        println!("SKIPPED: clock steps need libfaketime ({LIBFAKETIME}; apt install faketime)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "+0\n").unwrap();
    let step = |offset: &str| std::fs::write(&clock, format!("{offset}\n")).unwrap();
    let cloud = CloudProc::start_with_env(
        &tmp.path().join("cloud"),
        "127.0.0.110",
        &["--stale-after-secs", "2", "--down-after-secs", "4"],
        &[
            ("LD_PRELOAD", OsStr::new(LIBFAKETIME)),
            ("FAKETIME_TIMESTAMP_FILE", clock.as_os_str()),
            ("FAKETIME_CACHE_DURATION", OsStr::new("1")),
            ("FAKETIME_DONT_FAKE_MONOTONIC", OsStr::new("1")),
        ],
    )
    .await;
    let a = ConnectorProc::start(&tmp.path().join("a"), "127.0.0.111", 0, 0).await;
    let mut b = ConnectorProc::start(&tmp.path().join("b"), "127.0.0.112", 0, 0).await;
    let mut allow = vec!["--rate", "200", "--wait-for", "2"];
    let mut keys = Vec::new();
    for c in [&a, &b] {
        assert_eq!(c.set_token(&cloud.token).await["registered"], true);
        let s = c.get_json("/api/v1/status").await;
        keys.push((
            s["nmsp_key_hash"].as_str().unwrap().to_string(),
            s["instance_id"].as_str().unwrap().to_string(),
        ));
    }
    for (key, _) in &keys {
        allow.extend(["--allow", key.as_str()]);
    }
    let sim = SimProc::start(1, &allow).await;
    a.add_controllers(&sim, "WLC").await;
    let count = || async { events(&firehose(&cloud.http, &cloud.url, &cloud.firehose_key).await) };
    eventually(30, "events flowing", || async {
        (count().await > 200).then_some(())
    })
    .await;

    // The cloud's clock jumps 25 hours ahead: live events are still live.
    step("+90000");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = count().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = count().await;
    let refused: u64 = [&a, &b]
        .iter()
        .map(|c| async move {
            c.get_json("/api/v1/status").await["cloud_link"]["refused_too_old"]
                .as_u64()
                .unwrap()
        })
        .collect::<futures_util::future::JoinAll<_>>()
        .await
        .iter()
        .sum();
    println!(
        "after +25 h: {} new events in 3 s, {refused} refused as too old",
        after - before
    );
    assert!(
        after - before > 300,
        "events still accepted: {before} → {after}"
    );
    assert_eq!(refused, 0, "nothing refused as older than the window");

    // Now an hour behind the real time; B dies: it is down all the same.
    step("-3600");
    tokio::time::sleep(Duration::from_secs(2)).await;
    b.kill();
    let b_id = keys[1].1.clone();
    eventually(20, "A sees B down, as the cloud judged it", || async {
        let s = a.get_json("/api/v1/status").await;
        (peer_state(&s, &b_id).as_deref() == Some("down")).then_some(())
    })
    .await;
    drop(sim);
}
