//! The admin UI's `server_stats`: the hub's counts, and what changed since the
//! last one as the package's "aggregated events" (the dashboard's charts),
//! both read off the metrics (src/metrics.rs), so the UI costs the
//! per-message path nothing more.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::hub::Namespaces;
use crate::metrics::{HubCounters, Metrics};
use crate::socketio::payload::Payload;

/// The totals the last aggregation saw.
#[derive(Default, Clone, Copy)]
struct Totals {
    connections: u64,
    disconnections: u64,
    packets_in: u64,
    packets_out: u64,
    bytes_in: u64,
    bytes_out: u64,
}

impl Totals {
    fn of(m: &Metrics) -> Totals {
        let opened = m.connections_opened.polling + m.connections_opened.websocket + m.connections_opened.raw;
        let open = m.connections.polling + m.connections.websocket + m.connections.raw;
        Totals {
            connections: opened,
            disconnections: opened.saturating_sub(open),
            packets_in: m.namespaces.iter().map(|n| n.events_received).sum(),
            packets_out: m.namespaces.iter().map(|n| n.events_sent).sum(),
            bytes_in: m.bytes_received,
            bytes_out: m.bytes_sent,
        }
    }
}

pub(super) struct Stats {
    counters: Arc<HubCounters>,
    started: Instant,
    hostname: String,
    previous: Mutex<Totals>,
}

impl Stats {
    pub fn new(counters: Arc<HubCounters>) -> Stats {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "wshub".into());
        Stats { counters, started: Instant::now(), hostname, previous: Mutex::default() }
    }

    /// The arguments of one `server_stats`; with `aggregate`, the changes
    /// since the last aggregation go with it (a UI that just connected gets
    /// the figures without taking the others' changes).
    pub fn server_stats(&self, namespaces: &Namespaces, aggregate: bool) -> Payload {
        let m = namespaces.metrics(&self.counters);
        let events = if aggregate { self.aggregated_events(&m) } else { Vec::new() };
        let stats = json!({
            "serverId": self.hostname,
            "hostname": self.hostname,
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "clientsCount": m.connections.polling + m.connections.websocket + m.connections.raw,
            "pollingClientsCount": m.connections.polling,
            "aggregatedEvents": events,
            "namespaces": m.namespaces.iter().map(|n| json!({ "name": n.name, "socketsCount": n.sockets })).collect::<Vec<_>>(),
        });
        Payload::from_json(json!([stats]).to_string()).unwrap_or_default()
    }

    fn aggregated_events(&self, m: &Metrics) -> Vec<Value> {
        let now = Totals::of(m);
        let before = std::mem::replace(&mut *self.previous.lock(), now);
        let second = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() * 1000).unwrap_or(0);
        [
            ("rawConnection", now.connections - before.connections),
            ("rawDisconnection", now.disconnections.saturating_sub(before.disconnections)),
            ("packetsIn", now.packets_in - before.packets_in),
            ("packetsOut", now.packets_out - before.packets_out),
            ("bytesIn", now.bytes_in - before.bytes_in),
            ("bytesOut", now.bytes_out - before.bytes_out),
        ]
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(kind, count)| json!({ "timestamp": second, "type": kind, "count": count }))
        .collect()
    }
}

/// `2026-12-07T11:29:34.123Z`: what a JavaScript `Date` becomes in JSON.
pub(super) fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, secs) = ((d.as_secs() / 86_400) as i64, d.as_secs() % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::iso8601;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_read_as_javascript_writes_them() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:59.250Z, a leap day.
        assert_eq!(iso8601(UNIX_EPOCH + Duration::from_millis(1_709_251_199_250)), "2024-02-29T23:59:59.250Z");
        assert_eq!(iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
    }
}
