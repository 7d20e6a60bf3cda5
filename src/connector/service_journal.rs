//! The service's log for the Logs page, the API and the support bundle:
//! from the system journal when the service runs under systemd (as on
//! the image), so the page keeps what came before a restart, an upgrade
//! or a crash; from the process's own ring (`service_log`) elsewhere, or
//! when the journal cannot be read (the page says which, and why).
//!
//! journalctl's JSON is read back into the ring's lines: our own lines
//! carry their time, level and module in the message (tracing's format),
//! systemd's own lines about the unit keep the journal's priority.

use std::time::Duration;

use serde::Serialize;

use crate::service_log::{self, LogLine, LogQuery, LogSummary};

const UNIT: &str = "spaces-connector";
/// Lines read from the journal at most (about what the ring keeps).
const JOURNAL_LINES: &str = "10000";
const JOURNALCTL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the lines came from.
#[derive(Clone, Debug, Serialize)]
pub struct LogRead {
    pub lines: Vec<LogLine>,
    pub summary: LogSummary,
    /// `journal` or `memory`.
    pub source: &'static str,
    /// Why the journal was not read, where it should have been.
    pub note: Option<String>,
}

/// Under systemd, stderr goes to the journal and systemd says so.
fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// The lines `q` asks for, from the best source here.
pub async fn read(q: &LogQuery) -> LogRead {
    let mut note = None;
    if under_journald() {
        match from_journal(q.after).await {
            Ok(all) => return select(all, q, "journal", None),
            Err(why) => {
                note = Some(format!(
                    "the system journal could not be read ({why}); showing the lines kept in memory since the service started"
                ))
            }
        }
    }
    let ring = service_log::ring();
    LogRead {
        lines: ring.query(q),
        summary: ring.summary(),
        source: "memory",
        note,
    }
}

/// The lines as text, one per line (the download, the support bundle).
pub async fn text(q: &LogQuery) -> String {
    let mut body = String::new();
    for line in read(q).await.lines {
        body.push_str(&line.text());
        body.push('\n');
    }
    body
}

/// The lines as a file to save.
pub async fn download(q: &LogQuery) -> axum::response::Response {
    let name = format!("spaces-connector-log-{}.txt", crate::clock::now_unix());
    crate::portal::download::attachment("text/plain; charset=utf-8", &name, text(q).await)
}

fn select(all: Vec<LogLine>, q: &LogQuery, source: &'static str, note: Option<String>) -> LogRead {
    let summary = LogSummary::of(all.iter(), 0);
    LogRead {
        lines: service_log::filter(all, q),
        summary,
        source,
        note,
    }
}

/// The unit's newest lines; from `after` on (journal microseconds) when
/// a page polls for what follows, so a poll reads seconds, not the day.
async fn from_journal(after: u64) -> Result<Vec<LogLine>, String> {
    let mut cmd = tokio::process::Command::new("journalctl");
    cmd.args([
        "--unit",
        UNIT,
        "--output",
        "json",
        "--no-pager",
        "--lines",
        JOURNAL_LINES,
    ]);
    if after > 0 {
        cmd.arg(format!("--since=@{}", after / 1_000_000));
    }
    let run = cmd.kill_on_drop(true).output();
    let out = tokio::time::timeout(JOURNALCTL_TIMEOUT, run)
        .await
        .map_err(|_| "journalctl did not answer within 5 s".to_string())?
        .map_err(|e| format!("journalctl: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let lines: Vec<LogLine> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(parse_entry)
        .collect();
    if lines.is_empty() && !out.stderr.is_empty() {
        // "No journal files were opened due to insufficient permissions."
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(lines)
}

/// One line of `journalctl --output json`.
fn parse_entry(json: &str) -> Option<LogLine> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let at_us: u64 = v["__REALTIME_TIMESTAMP"].as_str()?.parse().ok()?;
    // A message that is not valid UTF-8 comes as an array of bytes.
    let message = match &v["MESSAGE"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(bytes) => {
            let b: Vec<u8> = bytes
                .iter()
                .filter_map(|x| x.as_u64().map(|n| n as u8))
                .collect();
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => return None,
    };
    let (level, component, text) = match ours(&message) {
        Some(parsed) => parsed,
        None => (
            priority_level(v["PRIORITY"].as_str().unwrap_or("6")),
            if v["_PID"].as_str() == Some("1") {
                "systemd"
            } else {
                "service"
            }
            .to_string(),
            message,
        ),
    };
    Some(LogLine {
        // Microseconds: rising, and unique enough to ask for what follows.
        seq: at_us,
        at_ms: at_us / 1000,
        level,
        component,
        message: text,
    })
}

/// Our own line: `<time> <LEVEL> spaces_connector::<module>: <text>`.
fn ours(message: &str) -> Option<(&'static str, String, String)> {
    let mut parts = message.split_whitespace();
    let _time = parts.next()?;
    let level = match parts.next()? {
        "ERROR" => "ERROR",
        "WARN" => "WARN",
        "INFO" => "INFO",
        "DEBUG" => "DEBUG",
        "TRACE" => "TRACE",
        _ => return None,
    };
    let target = parts.next()?.strip_suffix(':')?;
    let component = target.strip_prefix("spaces_connector::").unwrap_or(target);
    let text = message.split_once(&format!("{target}: ")).map(|(_, t)| t)?;
    Some((level, component.to_string(), text.to_string()))
}

fn priority_level(p: &str) -> &'static str {
    match p {
        "0" | "1" | "2" | "3" => "ERROR",
        "4" => "WARN",
        "7" => "DEBUG",
        _ => "INFO",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_lines_and_systemds_are_read_back() {
        let ours = r#"{"__REALTIME_TIMESTAMP":"1795808950123456","PRIORITY":"6","_PID":"812","MESSAGE":"2026-11-27T19:49:10.123456Z  WARN spaces_connector::portal::session: failed login client=10.0.0.9"}"#;
        let l = parse_entry(ours).unwrap();
        assert_eq!((l.level, l.component.as_str()), ("WARN", "portal::session"));
        assert_eq!(l.message, "failed login client=10.0.0.9");
        assert_eq!((l.seq, l.at_ms), (1795808950123456, 1795808950123));
        let systemd = r#"{"__REALTIME_TIMESTAMP":"1795808951000000","PRIORITY":"6","_PID":"1","MESSAGE":"Stopped spaces-connector.service - Spaces Connector."}"#;
        let l = parse_entry(systemd).unwrap();
        assert_eq!((l.level, l.component.as_str()), ("INFO", "systemd"));
        let banner = r#"{"__REALTIME_TIMESTAMP":"1795808952000000","PRIORITY":"6","_PID":"900","MESSAGE":[83,112,97,99,101,115]}"#;
        assert_eq!(parse_entry(banner).unwrap().message, "Spaces");
        assert!(parse_entry("not json").is_none());
    }
}
