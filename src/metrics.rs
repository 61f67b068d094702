//! What a running hub counts, and how a count is read out: the counters the
//! layers above increment ([`HubCounters`], one per hub; [`NamespaceCounters`],
//! one per namespace, which a socket reaches through its namespace, never by a
//! lookup), the snapshot the API returns ([`Metrics`]) and its Prometheus text.
//!
//! Cheap enough to stay on: every count is one relaxed atomic add, with no lock
//! and no allocation; a broadcast adds its receivers once, not once each. What
//! the structure already knows (sockets, rooms, pending acks) is not counted at
//! all but read when a snapshot is taken. Built without the `metrics` feature,
//! the counters are empty types and every add compiles to nothing (the
//! benchmark's "off", bench/metrics.md).

use std::fmt::Write as _;
#[cfg(feature = "metrics")]
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};

use serde::Serialize;

use crate::reason::DisconnectReason;

/// A monotonic count.
#[derive(Default)]
pub(crate) struct Counter(#[cfg(feature = "metrics")] AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, _n: u64) {
        #[cfg(feature = "metrics")]
        self.0.fetch_add(_n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        #[cfg(feature = "metrics")]
        return self.0.load(Relaxed);
        #[cfg(not(feature = "metrics"))]
        0
    }
}

/// A count that goes up and down (open connections).
#[derive(Default)]
pub(crate) struct Gauge(#[cfg(feature = "metrics")] AtomicI64);

impl Gauge {
    #[inline]
    pub fn add(&self, _n: i64) {
        #[cfg(feature = "metrics")]
        self.0.fetch_add(_n, Relaxed);
    }

    /// Never below zero: a snapshot taken between the two halves of a move
    /// (an upgrade) must not print -1.
    pub fn get(&self) -> u64 {
        #[cfg(feature = "metrics")]
        return self.0.load(Relaxed).max(0) as u64;
        #[cfg(not(feature = "metrics"))]
        0
    }
}

/// How a connection reaches the hub, as the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Carrier {
    Polling = 1,
    WebSocket = 2,
    /// The plain WebSocket endpoint (`raw_path`).
    Raw = 3,
}

impl Carrier {
    const ALL: [Carrier; 3] = [Carrier::Polling, Carrier::WebSocket, Carrier::Raw];

    fn label(self) -> &'static str {
        match self {
            Carrier::Polling => "polling",
            Carrier::WebSocket => "websocket",
            Carrier::Raw => "raw",
        }
    }

    fn index(self) -> usize {
        self as usize - 1
    }
}

/// Which carrier one connection is counted under, so that its move (an
/// upgrade) and its end each happen once whatever order they race in.
#[derive(Default)]
pub(crate) struct CountedAs(#[cfg(feature = "metrics")] AtomicU8);

/// The counters of one hub, shared by its engine, sessions and adapter.
#[derive(Default)]
pub(crate) struct HubCounters {
    open: [Gauge; 3],
    opened: [Counter; 3],
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
    /// Packets dropped for a full queue (volatile emits, or the `DropNewest` policy).
    pub queue_drops: Counter,
    pub slow_consumer_disconnects: Counter,
    pub cluster_messages_sent: Counter,
    pub cluster_messages_received: Counter,
}

impl HubCounters {
    /// A connection opened on `carrier`.
    pub fn opened(&self, counted: &CountedAs, carrier: Carrier) {
        #[cfg(feature = "metrics")]
        counted.0.store(carrier as u8, Relaxed);
        let _ = counted;
        self.opened[carrier.index()].add(1);
        self.open[carrier.index()].add(1);
    }

    /// A polling connection became a WebSocket (unless it ended first).
    pub fn upgraded(&self, _counted: &CountedAs) {
        #[cfg(feature = "metrics")]
        if _counted.0.compare_exchange(Carrier::Polling as u8, Carrier::WebSocket as u8, Relaxed, Relaxed).is_ok() {
            self.open[Carrier::Polling.index()].add(-1);
            self.open[Carrier::WebSocket.index()].add(1);
        }
    }

    /// A connection ended (counted once, however often it is called).
    pub fn ended(&self, _counted: &CountedAs) {
        #[cfg(feature = "metrics")]
        let was = _counted.0.swap(0, Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(c) = Carrier::ALL.into_iter().find(|c| *c as u8 == was) {
            self.open[c.index()].add(-1);
        }
    }
}

/// Every reason, in the order of the counters of [`NamespaceCounters`].
const REASONS: [DisconnectReason; 8] = [
    DisconnectReason::ClientNamespaceDisconnect,
    DisconnectReason::ServerNamespaceDisconnect,
    DisconnectReason::TransportClose,
    DisconnectReason::TransportError,
    DisconnectReason::PingTimeout,
    DisconnectReason::ParseError,
    DisconnectReason::ForcedClose,
    DisconnectReason::ServerShuttingDown,
];

/// The counters of one namespace.
#[derive(Default)]
pub(crate) struct NamespaceCounters {
    pub connects: Counter,
    /// Connects a guard refused.
    pub connect_refusals: Counter,
    disconnects: [Counter; REASONS.len()],
    /// Event packets from clients (whether or not a handler took them).
    pub events_received: Counter,
    /// Event packets queued for clients: a broadcast counts each receiver.
    pub events_sent: Counter,
}

impl NamespaceCounters {
    pub fn disconnected(&self, reason: DisconnectReason) {
        if let Some(i) = REASONS.iter().position(|r| *r == reason) {
            self.disconnects[i].add(1);
        }
    }

    /// A snapshot of the counters, with what the namespace knows of itself.
    pub fn snapshot(&self, name: &str, now: NamespaceGauges) -> NamespaceMetrics {
        NamespaceMetrics {
            name: name.to_string(),
            sockets: now.sockets,
            rooms: now.rooms,
            pending_acks: now.pending_acks,
            connects: self.connects.get(),
            connect_refusals: self.connect_refusals.get(),
            disconnects: REASONS
                .iter()
                .zip(&self.disconnects)
                .map(|(r, c)| DisconnectCount { reason: r.as_str().to_string(), count: c.get() })
                .collect(),
            events_received: self.events_received.get(),
            events_sent: self.events_sent.get(),
        }
    }
}

/// What a namespace reads off its registry when a snapshot is taken.
pub(crate) struct NamespaceGauges {
    pub sockets: u64,
    pub rooms: u64,
    pub pending_acks: u64,
}

/// Open connections, or connections opened, by how they reach the hub.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ByTransport {
    /// HTTP long-polling (Socket.IO or plain Engine.IO), until it upgrades.
    pub polling: u64,
    /// WebSocket (Socket.IO or plain Engine.IO), opened so or upgraded.
    pub websocket: u64,
    /// The plain WebSocket endpoint (`raw_path`).
    pub raw: u64,
}

/// Disconnects of one reason (the Socket.IO server's reason string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisconnectCount {
    pub reason: String,
    pub count: u64,
}

/// The figures of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceMetrics {
    pub name: String,
    /// Sockets connected now.
    pub sockets: u64,
    /// Rooms with at least one member now (a socket's own id not counted).
    pub rooms: u64,
    /// Emits to clients waiting for the client's ack now.
    pub pending_acks: u64,
    pub connects: u64,
    /// Connects refused by a guard.
    pub connect_refusals: u64,
    /// By reason, every reason listed (0 included).
    pub disconnects: Vec<DisconnectCount>,
    pub events_received: u64,
    /// Event packets queued for clients; a broadcast counts each receiver.
    pub events_sent: u64,
}

/// A snapshot of a hub's metrics (`Hub::metrics`): counters since the hub
/// was created, gauges as of now. The Prometheus names are in
/// [`Metrics::to_prometheus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// Connections open now.
    pub connections: ByTransport,
    /// Connections opened, by the transport they opened on.
    pub connections_opened: ByTransport,
    /// Payload bytes of WebSocket messages and polling bodies from clients.
    pub bytes_received: u64,
    /// Payload bytes of WebSocket messages and polling bodies to clients.
    pub bytes_sent: u64,
    /// Packets dropped for a client's full queue (volatile, or `DropNewest`).
    pub queue_drops: u64,
    /// Connections closed because their queue was full (`Disconnect` policy).
    pub slow_consumer_disconnects: u64,
    /// Messages published to the cluster's Redis.
    pub cluster_messages_sent: u64,
    /// Messages from other nodes of the cluster that this node acted on (not
    /// its own broadcasts coming back, nor broadcasts to rooms it has no member in).
    pub cluster_messages_received: u64,
    /// Sorted by name.
    pub namespaces: Vec<NamespaceMetrics>,
}

impl HubCounters {
    pub fn snapshot(&self, mut namespaces: Vec<NamespaceMetrics>) -> Metrics {
        let by = |c: [u64; 3]| ByTransport { polling: c[0], websocket: c[1], raw: c[2] };
        namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        Metrics {
            connections: by(self.open.each_ref().map(Gauge::get)),
            connections_opened: by(self.opened.each_ref().map(Counter::get)),
            bytes_received: self.bytes_received.get(),
            bytes_sent: self.bytes_sent.get(),
            queue_drops: self.queue_drops.get(),
            slow_consumer_disconnects: self.slow_consumer_disconnects.get(),
            cluster_messages_sent: self.cluster_messages_sent.get(),
            cluster_messages_received: self.cluster_messages_received.get(),
            namespaces,
        }
    }
}

/// Where the listener's metrics path gets its figures (the hub, which the
/// server layer cannot name).
pub(crate) trait Source: Send + Sync {
    fn metrics(&self) -> Metrics;
}

impl Metrics {
    /// The snapshot as JSON (the C ABI's `wshub_metrics`, the bindings').
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The Prometheus text exposition format (version 0.0.4), every metric
    /// with its HELP and TYPE lines:
    ///
    /// | metric | type | labels |
    /// |---|---|---|
    /// | `wshub_connections` | gauge | `transport` (polling, websocket, raw) |
    /// | `wshub_connections_opened_total` | counter | `transport` |
    /// | `wshub_sockets` | gauge | `namespace` |
    /// | `wshub_rooms` | gauge | `namespace` |
    /// | `wshub_pending_acks` | gauge | `namespace` |
    /// | `wshub_connects_total` | counter | `namespace` |
    /// | `wshub_connect_refusals_total` | counter | `namespace` |
    /// | `wshub_disconnects_total` | counter | `namespace`, `reason` |
    /// | `wshub_events_received_total` | counter | `namespace` |
    /// | `wshub_events_sent_total` | counter | `namespace` |
    /// | `wshub_received_bytes_total`, `wshub_sent_bytes_total` | counter | |
    /// | `wshub_queue_drops_total` | counter | |
    /// | `wshub_slow_consumer_disconnects_total` | counter | |
    /// | `wshub_cluster_messages_sent_total`, `wshub_cluster_messages_received_total` | counter | |
    pub fn to_prometheus(&self) -> String {
        let mut out = Exposition(String::with_capacity(4096));
        for (name, help, by) in [
            ("wshub_connections", "Connections open now, by transport.", &self.connections),
            (
                "wshub_connections_opened_total",
                "Connections opened, by the transport they opened on.",
                &self.connections_opened,
            ),
        ] {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            out.family(name, kind, help);
            for (carrier, v) in Carrier::ALL.iter().zip([by.polling, by.websocket, by.raw]) {
                out.sample(name, &[("transport", carrier.label())], v);
            }
        }
        type PerNamespace = fn(&NamespaceMetrics) -> u64;
        let per_namespace: [(&str, &str, &str, PerNamespace); 7] = [
            ("wshub_sockets", "gauge", "Sockets connected now.", |n| n.sockets),
            ("wshub_rooms", "gauge", "Rooms with members now.", |n| n.rooms),
            ("wshub_pending_acks", "gauge", "Emits waiting for the client's ack now.", |n| n.pending_acks),
            ("wshub_connects_total", "counter", "Sockets that joined the namespace.", |n| n.connects),
            ("wshub_connect_refusals_total", "counter", "Connects refused by a guard.", |n| n.connect_refusals),
            ("wshub_events_received_total", "counter", "Event packets from clients.", |n| n.events_received),
            (
                "wshub_events_sent_total",
                "counter",
                "Event packets queued for clients (a broadcast counts each receiver).",
                |n| n.events_sent,
            ),
        ];
        for (name, kind, help, value) in per_namespace {
            out.family(name, kind, help);
            for ns in &self.namespaces {
                out.sample(name, &[("namespace", &ns.name)], value(ns));
            }
        }
        out.family("wshub_disconnects_total", "counter", "Sockets that left the namespace, by reason.");
        for ns in &self.namespaces {
            for d in &ns.disconnects {
                out.sample("wshub_disconnects_total", &[("namespace", &ns.name), ("reason", &d.reason)], d.count);
            }
        }
        for (name, help, v) in [
            (
                "wshub_received_bytes_total",
                "Payload bytes of WebSocket messages and polling bodies from clients.",
                self.bytes_received,
            ),
            (
                "wshub_sent_bytes_total",
                "Payload bytes of WebSocket messages and polling bodies to clients.",
                self.bytes_sent,
            ),
            ("wshub_queue_drops_total", "Packets dropped for a client's full outbound queue.", self.queue_drops),
            (
                "wshub_slow_consumer_disconnects_total",
                "Connections closed because their outbound queue was full.",
                self.slow_consumer_disconnects,
            ),
            ("wshub_cluster_messages_sent_total", "Messages published to the cluster.", self.cluster_messages_sent),
            (
                "wshub_cluster_messages_received_total",
                "Messages from other nodes of the cluster that this node acted on.",
                self.cluster_messages_received,
            ),
        ] {
            out.family(name, "counter", help);
            out.sample(name, &[], v);
        }
        out.0
    }
}

/// A Prometheus text being written.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"");
                escape_label(&mut self.0, v);
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped
/// (a namespace name is the application's, and may hold any of them).
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn a_connection_that_upgrades_and_ends_is_counted_once_under_each() {
        let hub = HubCounters::default();
        let (a, b) = (CountedAs::default(), CountedAs::default());
        hub.opened(&a, Carrier::Polling);
        hub.opened(&b, Carrier::Raw);
        hub.upgraded(&a);
        hub.upgraded(&a); // a second move changes nothing
        let m = hub.snapshot(Vec::new());
        assert_eq!(m.connections, ByTransport { polling: 0, websocket: 1, raw: 1 });
        assert_eq!(m.connections_opened, ByTransport { polling: 1, websocket: 0, raw: 1 });
        hub.ended(&a);
        hub.ended(&a);
        hub.upgraded(&a); // an upgrade after the end does not bring it back
        assert_eq!(hub.snapshot(Vec::new()).connections, ByTransport { polling: 0, websocket: 0, raw: 1 });
    }

    #[test]
    fn prometheus_text_has_help_type_and_escaped_labels() {
        let ns = NamespaceCounters::default();
        ns.events_sent.add(3);
        ns.disconnected(DisconnectReason::PingTimeout);
        let gauges = NamespaceGauges { sockets: 2, rooms: 1, pending_acks: 0 };
        let m = HubCounters::default().snapshot(vec![ns.snapshot("/a\"b\\c\nd", gauges)]);
        let text = m.to_prometheus();
        assert!(text.contains("# HELP wshub_events_sent_total "), "{text}");
        assert!(text.contains("# TYPE wshub_events_sent_total counter\n"), "{text}");
        assert!(text.contains("wshub_events_sent_total{namespace=\"/a\\\"b\\\\c\\nd\"} 3\n"), "{text}");
        assert!(text.contains("wshub_disconnects_total{namespace=\"/a\\\"b\\\\c\\nd\",reason=\"ping timeout\"} 1\n"));
        assert!(text.contains("wshub_sockets{namespace=\"/a\\\"b\\\\c\\nd\"} 2\n"));
        assert!(text.contains("wshub_connections{transport=\"raw\"} 0\n"));
        assert!(text.contains("# TYPE wshub_sent_bytes_total counter\nwshub_sent_bytes_total 0\n"));
    }
}
