//! Gaps are found and reported exactly: both members of a pair are killed
//! for an overlapping window while a controller keeps sending; the cloud
//! reports, per source, exactly the events that reached neither member, on
//! its API, its group page and as gap records in the firehose.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn the_cloud_reports_exactly_what_no_member_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = CloudProc::start(&tmp.path().join("cloud"), "127.0.0.100", &[]).await;
    let mut a = ConnectorProc::start(&tmp.path().join("a"), "127.0.0.101", 0, 0).await;
    let mut b = ConnectorProc::start(&tmp.path().join("b"), "127.0.0.102", 0, 0).await;
    for c in [&a, &b] {
        assert_eq!(c.set_token(&cloud.token).await["registered"], true);
    }
    let keys: Vec<String> = [&a, &b]
        .iter()
        .map(|c| {
            let c = *c;
            async move {
                c.get_json("/api/v1/status").await["nmsp_key_hash"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        })
        .collect::<futures_util::future::JoinAll<_>>()
        .await;
    let sim = SimProc::start(
        1,
        &[
            "--rate",
            "200",
            "--limit",
            "3000",
            "--wait-for",
            "2",
            "--allow",
            &keys[0],
            "--allow",
            &keys[1],
        ],
    )
    .await;
    a.add_controllers(&sim, "WLC").await;
    let source = sim.controller_keys[0].clone();
    let generated = |status_url: String, http: reqwest::Client| async move {
        let s: Value = http.get(&status_url).send().await.ok()?.json().await.ok()?;
        s["controllers"][0]["generated"].as_u64()
    };
    eventually(20, "the controller streaming to both", || async {
        (generated(sim.status_url.clone(), cloud.http.clone()).await? > 200).then_some(())
    })
    .await;

    // Both members down together for about two seconds.
    let (a_dir, b_dir) = (a.dir.clone(), b.dir.clone());
    let (a_https, a_ap) = ports(&a);
    let (b_https, b_ap) = ports(&b);
    a.kill();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    b.kill();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let b = ConnectorProc::start(&b_dir, "127.0.0.102", b_https, b_ap).await;
    let a = ConnectorProc::start(&a_dir, "127.0.0.101", a_https, a_ap).await;
    let _ = (&a, &b);

    eventually(60, "the controller done", || async {
        (generated(sim.status_url.clone(), cloud.http.clone()).await? == 3000).then_some(())
    })
    .await;
    let unique = eventually(60, "the firehose settled", || async {
        let events = firehose(&cloud.http, &cloud.url, &cloud.firehose_key).await;
        let n = events
            .iter()
            .filter(|e| e["source"] == source.as_str())
            .count() as i64;
        let spooled: i64 = [&a, &b]
            .iter()
            .map(|c| async move { c.get_json("/api/v1/status").await["spool"]["events"].as_i64() })
            .collect::<futures_util::future::JoinAll<_>>()
            .await
            .into_iter()
            .map(|s| s.unwrap_or(1))
            .sum();
        (spooled == 0 && n > 0).then_some(n)
    })
    .await;
    let expected_missing = 3000 - unique;
    assert!(
        expected_missing > 0,
        "the window lost events: {unique} of 3000"
    );
    // Past the grace period the cloud reports the gap, exactly.
    let reported = eventually(30, "the gap reported", || async {
        let src = cloud
            .gap_sources()
            .await
            .into_iter()
            .find(|s| s["source"] == source.as_str())?;
        src["missing"].as_i64()
    })
    .await;
    println!("gap: {expected_missing} events reached no member; the cloud reports {reported}");
    assert_eq!(reported, expected_missing);
    // The firehose carries the same gaps as records, in its order.
    let records = eventually(10, "gap records on the firehose", || async {
        let lines = firehose(&cloud.http, &cloud.url, &cloud.firehose_key).await;
        let gaps: Vec<Value> = lines
            .into_iter()
            .filter(|l| l["gap"]["source"] == source.as_str())
            .collect();
        let missing: i64 = gaps
            .iter()
            .filter_map(|g| g["gap"]["missing"].as_i64())
            .sum();
        (missing == reported).then_some(gaps)
    })
    .await;
    for g in &records {
        let gap = &g["gap"];
        assert_eq!(
            gap["last_sequence"].as_i64().unwrap() - gap["first_sequence"].as_i64().unwrap() + 1,
            gap["missing"].as_i64().unwrap(),
            "{g}"
        );
    }
    let page = page(
        &cloud.http,
        &format!("{}/groups/{}", cloud.url, cloud.group),
    )
    .await;
    assert!(
        page.contains(&format!("data-source=\"{source}\">{reported}<")),
        "group page"
    );
    drop(sim);
}

fn ports(c: &ConnectorProc) -> (u16, u16) {
    (
        c.base.rsplit(':').next().unwrap().parse().unwrap(),
        c.ap_addr.rsplit(':').next().unwrap().parse().unwrap(),
    )
}
