//! Memory stays bounded under attack: a controller flooding 60 KB frames
//! and a crowd of rogue APs at once, against a real connector process with
//! a real cloud. The connector's peak RSS stays under its documented
//! ceiling (256 MiB, README) and a legitimate controller's events still
//! reach the cloud, each exactly once. Figures are printed; the assertions
//! are on the ceiling and on exactly-once, not on speed.

mod common;

use common::*;

/// Peak and current resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

const CEILING_KIB: u64 = 256 * 1024;

#[tokio::test]
async fn floods_stay_under_the_memory_ceiling_and_legit_events_arrive_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = CloudProc::start(&tmp.path().join("cloud"), "127.0.0.90", &[]).await;
    let c = ConnectorProc::start(&tmp.path().join("c"), "127.0.0.91", 0, 0).await;
    assert_eq!(c.set_token(&cloud.token).await["registered"], true);
    let status = c.get_json("/api/v1/status").await;
    let key = status["nmsp_key_hash"].as_str().unwrap().to_string();

    let legit = SimProc::start(
        1,
        &[
            "--rate", "400", "--limit", "3000", "--allow", &key, "--seed", "5",
        ],
    )
    .await;
    let flood = SimProc::start(
        1,
        &[
            "--rate",
            "3000",
            "--pad-bytes",
            "60000",
            "--duration",
            "6",
            "--allow",
            &key,
            "--seed",
            "6",
        ],
    )
    .await;
    let rogues = SimProc::start(
        0,
        &[
            "--aps",
            "40",
            "--ap-rate",
            "2000",
            // As attackers do: no backoff.
            "--ap-hammer-ms",
            "500",
            "--connector",
            &c.ap_addr,
            "--duration",
            "8",
        ],
    )
    .await;
    c.add_controllers(&legit, "Legit").await;
    c.add_controllers(&flood, "Flood").await;

    let pid = c.proc.child.id();
    let legit_key = legit.controller_keys[0].clone();
    // The firehose is the cloud's events table; counting there avoids
    // downloading every 60 KB flood event on each poll.
    let db = tmp.path().join("cloud").join("cloud.db");
    let count = |source: &str| {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        conn.query_row(
            "SELECT COUNT(*), COUNT(DISTINCT key) FROM events WHERE source = ?1",
            [source],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .unwrap()
    };
    // What the controller itself counts as sent to this connector, once it
    // has sent all it will (`show nmsp status`, Tx Data; what it made
    // before the connector subscribed is never sent).
    let last_tx = std::cell::Cell::new((-1i64, std::time::Instant::now()));
    let sent = eventually(90, "the legitimate controller done", || async {
        let s = legit.status().await;
        let ctrl = &s["controllers"][0];
        let row = &ctrl["connectors"]["127.0.0.91"];
        if ctrl["generated"] != 3000 || row["lagged"] != 0 {
            return None;
        }
        // Generated is not yet written: the session's queue may still hold
        // some while the connector pushes back on the flood. Done is when
        // Tx Data stops moving (for a second).
        let tx = row["tx_data"].as_i64()?;
        let (before, since) = last_tx.get();
        if tx != before {
            last_tx.set((tx, std::time::Instant::now()));
            return None;
        }
        (since.elapsed() >= std::time::Duration::from_secs(1)).then_some(tx)
    })
    .await;
    let (events, unique) = eventually(120, "every event it sent, in the cloud", || async {
        let (n, unique) = count(&legit_key);
        (n >= sent).then_some((n, unique))
    })
    .await;
    let flooded = count(&flood.controller_keys[0]).0;
    let (hwm, rss) = memory_kib(pid);
    let aps = c.get_json("/api/v1/access-points").await;
    let stats = c.get_json("/api/v1/stats").await;
    let flood_link = stats["controller_channel"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "Flood 1")
        .cloned()
        .unwrap_or_default();
    println!(
        "flood: legitimate controller sent {sent}, the cloud holds {events} ({unique} unique); \
         {} MiB from the flooding controller ({flooded} of its events in the cloud), \
         {} refused AP handshakes, {} dropped unread; \
         connector peak RSS {} MiB (ceiling {} MiB), now {} MiB",
        flood_link["bytes_in"].as_u64().unwrap_or(0) >> 20,
        aps["refused_total"],
        aps["dropped_total"],
        hwm / 1024,
        CEILING_KIB / 1024,
        rss / 1024,
    );
    assert!(
        sent > 2500,
        "the legitimate controller kept sending: {sent}"
    );
    assert_eq!(events, sent, "every legitimate event sent, none twice");
    assert_eq!(unique, sent);
    assert!(
        aps["refused_total"].as_u64() > Some(0),
        "the rogue APs were refused"
    );
    assert_eq!(stats["ap_channel"]["totals"]["incoming_messages"], 0);
    assert!(hwm < CEILING_KIB, "peak RSS {} KiB over the ceiling", hwm);
    drop((legit, flood, rogues));
}
