//! `/metrics`: the connector's figures in the OpenMetrics text format,
//! encoded by `prometheus-client` from the same snapshot the pages show, so
//! the numbers agree everywhere. A registry is filled per scrape: the live
//! counters are the channels' atomics, not metric objects.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::connector::stats::{ChannelSnapshot, ChannelTotals, LinkSnapshot, LinkStatus};

/// The `Content-Type` of what [`render`] returns.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// Every fault the connector counts, for `/metrics` as for the dashboard.
#[derive(Debug, Default)]
pub struct Faults {
    /// Events lost, by reason (`spool_cap`, `disk_full`, `storage_error`).
    pub events_lost: Vec<(&'static str, u64)>,
    /// Events waiting in the spool.
    pub spooled: u64,
    /// AP handshakes refused (not on the allow-list, no key).
    pub ap_refused: u64,
    /// AP connections closed unread from penalised addresses or over caps.
    pub ap_dropped: u64,
    /// Admin UI connections closed at once, over a cap.
    pub ui_refused: u64,
    /// Times the state file could not be read or written.
    pub state_file_faults: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LinkLabels {
    channel: String,
    id: String,
    name: String,
    address: String,
}

/// A figure read from a snapshot: a counter (monotonic, integral) or a gauge.
enum Figure<T> {
    Counter(fn(&T) -> u64),
    Gauge(fn(&T) -> f64),
}

/// Per-channel totals. Counter names lose their `_total`: the encoder adds it.
const TOTALS: [(&str, &str, Figure<ChannelTotals>); 3] = [
    (
        "spaces_channel_messages",
        "Data messages received on the channel.",
        Figure::Counter(|t| t.incoming_messages),
    ),
    (
        "spaces_channel_message_rate",
        "Data messages per second on the channel (10 s average).",
        Figure::Gauge(|t| t.incoming_rate_per_sec),
    ),
    (
        "spaces_channel_links_active",
        "Links of the channel that are Active.",
        Figure::Gauge(|t| t.active as f64),
    ),
];

const PER_LINK: [(&str, &str, Figure<LinkSnapshot>); 10] = [
    (
        "spaces_link_messages",
        "Data messages received from the link.",
        Figure::Counter(|l| l.messages),
    ),
    (
        "spaces_link_bytes_in",
        "Bytes received from the link.",
        Figure::Counter(|l| l.bytes_in),
    ),
    (
        "spaces_link_bytes_out",
        "Bytes sent to the link.",
        Figure::Counter(|l| l.bytes_out),
    ),
    (
        "spaces_link_message_rate",
        "Data messages per second (10 s average).",
        Figure::Gauge(|l| l.rate_per_sec),
    ),
    (
        "spaces_link_up",
        "1 when the link is Active.",
        Figure::Gauge(|l| f64::from(u8::from(l.status == LinkStatus::Active))),
    ),
    (
        "spaces_link_reconnects",
        "Sessions re-established after a loss.",
        Figure::Counter(|l| l.reconnects),
    ),
    (
        "spaces_link_echo_rtt_seconds",
        "Last echo round-trip time.",
        Figure::Gauge(|l| l.echo_rtt_ms / 1000.0),
    ),
    (
        "spaces_link_malformed",
        "Messages skipped as malformed.",
        Figure::Counter(|l| l.malformed),
    ),
    (
        "spaces_link_missed",
        "Data messages missed: gaps in the source's sequence.",
        Figure::Counter(|l| l.missed),
    ),
    (
        "spaces_link_unsupported",
        "Messages skipped as of an unsupported type.",
        Figure::Counter(|l| l.unsupported),
    ),
];

/// Registers one metric family filled with `(labels, item)` pairs.
fn register<L, T>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    figure: &Figure<T>,
    items: &[(L, &T)],
) where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    match figure {
        Figure::Counter(read) => {
            let family = Family::<L, Counter>::default();
            for (labels, item) in items {
                family.get_or_create(labels).inc_by(read(item));
            }
            registry.register(name, help, family);
        }
        Figure::Gauge(read) => {
            let family = Family::<L, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
            for (labels, item) in items {
                family.get_or_create(labels).set(read(item));
            }
            registry.register(name, help, family);
        }
    }
}

/// Renders every channel: channel totals with a `channel` label, and each
/// link with `channel`, `id`, `name` and `address`.
pub fn render(channels: &[(&str, &ChannelSnapshot)], faults: &Faults) -> String {
    let mut registry = Registry::default();
    let lost = Family::<ReasonLabels, Counter>::default();
    for (reason, n) in &faults.events_lost {
        lost.get_or_create(&ReasonLabels {
            reason: reason.to_string(),
        })
        .inc_by(*n);
    }
    registry.register(
        "spaces_events_lost",
        "Events that could not be kept, by reason.",
        lost,
    );
    let gauge = |v: u64| {
        let g = Gauge::<i64>::default();
        g.set(v.min(i64::MAX as u64) as i64);
        g
    };
    let counter = |v: u64| {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        c
    };
    registry.register(
        "spaces_spool_events",
        "Events waiting in the spool for the cloud.",
        gauge(faults.spooled),
    );
    registry.register(
        "spaces_ap_refused",
        "AP Channel handshakes refused (not on the allow-list, or no key).",
        counter(faults.ap_refused),
    );
    registry.register(
        "spaces_ui_connections_refused",
        "Admin UI connections closed at once: over the per-address or total cap.",
        counter(faults.ui_refused),
    );
    registry.register(
        "spaces_state_file_faults",
        "Times the state file could not be read or written (damage, I/O error, disk full).",
        counter(faults.state_file_faults),
    );
    registry.register(
        "spaces_ap_dropped",
        "AP Channel connections closed unread (penalised address or over a cap).",
        counter(faults.ap_dropped),
    );
    let totals: Vec<(ChannelLabels, &ChannelTotals)> = channels
        .iter()
        .map(|(ch, snap)| {
            let labels = ChannelLabels {
                channel: ch.to_string(),
            };
            (labels, &snap.totals)
        })
        .collect();
    for (name, help, figure) in &TOTALS {
        register(&mut registry, name, help, figure, &totals);
    }
    let links: Vec<(LinkLabels, &LinkSnapshot)> = channels
        .iter()
        .flat_map(|(ch, snap)| {
            snap.links.iter().map(move |l| {
                let labels = LinkLabels {
                    channel: ch.to_string(),
                    id: l.id.to_string(),
                    name: l.name.clone(),
                    address: l.address.clone(),
                };
                (labels, l)
            })
        })
        .collect();
    for (name, help, figure) in &PER_LINK {
        register(&mut registry, name, help, figure, &links);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::stats::ChannelStats;

    #[test]
    fn renders_totals_and_escaped_labels() {
        let ch = ChannelStats::default();
        ch.link(3)
            .data_in
            .fetch_add(42, std::sync::atomic::Ordering::Relaxed);
        let snap = ch.snapshot(&[(3, "a\"b".into(), "10.0.0.1:16113".into())]);
        let faults = Faults {
            events_lost: vec![("disk_full", 7)],
            ..Faults::default()
        };
        let text = render(&[("controller", &snap)], &faults);
        assert!(
            text.contains("spaces_events_lost_total{reason=\"disk_full\"} 7"),
            "{text}"
        );
        assert!(text.contains("spaces_channel_messages_total{channel=\"controller\"} 42"));
        assert!(text.contains("name=\"a\\\"b\""), "{text}");
        assert!(text.contains("# TYPE spaces_link_up gauge"));
        assert!(text.ends_with("# EOF\n"));
    }
}
