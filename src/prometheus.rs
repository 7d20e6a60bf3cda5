//! Prometheus text exposition of the connector's figures, served at
//! `/metrics`. Written from the same snapshot as the pages so the numbers
//! agree everywhere.

use std::fmt::Write;

use crate::stats::ChannelSnapshot;

type Field = fn(&crate::stats::LinkSnapshot) -> f64;
type TotalField = fn(&crate::stats::ChannelTotals) -> f64;

/// Renders every channel in the Prometheus text format (0.0.4): one family
/// per metric, with a `channel` label.
pub fn render(channels: &[(&str, &ChannelSnapshot)]) -> String {
    let mut out = String::new();
    let totals: [(&str, &str, &str, TotalField); 3] = [
        (
            "spaces_channel_messages_total",
            "counter",
            "Data messages received on the channel.",
            |t| t.incoming_messages as f64,
        ),
        (
            "spaces_channel_message_rate",
            "gauge",
            "Data messages per second on the channel (10 s average).",
            |t| t.incoming_rate_per_sec,
        ),
        (
            "spaces_channel_links_active",
            "gauge",
            "Links of the channel that are Active.",
            |t| t.active as f64,
        ),
    ];
    for (name, kind, help, field) in totals {
        let samples: Vec<(String, f64)> = channels
            .iter()
            .map(|(ch, snap)| (format!("channel=\"{ch}\""), field(&snap.totals)))
            .collect();
        metric(&mut out, name, kind, help, &samples);
    }
    let per_link: [(&str, &str, &str, Field); 9] = [
        (
            "spaces_link_messages_total",
            "counter",
            "Data messages received from the link.",
            |l| l.messages as f64,
        ),
        (
            "spaces_link_bytes_in_total",
            "counter",
            "Bytes received from the link.",
            |l| l.bytes_in as f64,
        ),
        (
            "spaces_link_bytes_out_total",
            "counter",
            "Bytes sent to the link.",
            |l| l.bytes_out as f64,
        ),
        (
            "spaces_link_message_rate",
            "gauge",
            "Data messages per second (10 s average).",
            |l| l.rate_per_sec,
        ),
        (
            "spaces_link_up",
            "gauge",
            "1 when the link is Active.",
            |l| f64::from(u8::from(l.status == crate::stats::LinkStatus::Active)),
        ),
        (
            "spaces_link_reconnects_total",
            "counter",
            "Sessions re-established after a loss.",
            |l| l.reconnects as f64,
        ),
        (
            "spaces_link_echo_rtt_seconds",
            "gauge",
            "Last echo round-trip time.",
            |l| l.echo_rtt_ms / 1000.0,
        ),
        (
            "spaces_link_malformed_total",
            "counter",
            "Messages skipped as malformed.",
            |l| l.malformed as f64,
        ),
        (
            "spaces_link_unsupported_total",
            "counter",
            "Messages skipped as of an unsupported type.",
            |l| l.unsupported as f64,
        ),
    ];
    for (name, kind, help, field) in per_link {
        let samples: Vec<(String, f64)> = channels
            .iter()
            .flat_map(|(ch, snap)| {
                snap.links.iter().map(move |l| {
                    (
                        format!(
                            "channel=\"{ch}\",id=\"{}\",name=\"{}\",address=\"{}\"",
                            l.id,
                            escape(&l.name),
                            escape(&l.address)
                        ),
                        field(l),
                    )
                })
            })
            .collect();
        metric(&mut out, name, kind, help, &samples);
    }
    out
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
}

/// Label values escape backslash, quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ChannelStats;

    #[test]
    fn renders_totals_and_escaped_labels() {
        let ch = ChannelStats::default();
        ch.link(3)
            .data_in
            .fetch_add(42, std::sync::atomic::Ordering::Relaxed);
        let snap = ch.snapshot(&[(3, "a\"b".into(), "10.0.0.1:16113".into())]);
        let text = render(&[("controller", &snap)]);
        assert!(text.contains("spaces_channel_messages_total{channel=\"controller\"} 42"));
        assert!(text.contains("name=\"a\\\"b\""));
        assert!(text.contains("# TYPE spaces_link_up gauge"));
    }
}
