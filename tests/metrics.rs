//! The hub's metrics: `Hub::metrics()` and the Prometheus text on
//! `metrics_path`, counted exactly while WebSocket, polling and raw clients
//! connect, chat and leave; the path refused without the token or from an
//! address not allowed.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{connect, http, raw_http, read_text, status_of, wait_for};
use tungstenite::Message;
use wshub::{ConnectRefusal, Hub, Metrics, NamespaceMetrics};

const TOKEN: &str = "scrape-secret";

fn hub(allow: &[IpAddr]) -> (Hub, SocketAddr) {
    let hub = Hub::builder().port(0).metrics_path("/metrics", Some(TOKEN), allow).build().unwrap();
    hub.on("chat", |ev| {
        ev.socket().broadcast().emit("chat", ev.args());
    });
    hub.on("message", |ev| {
        ev.socket().emit("message", ev.args()).ok();
    });
    hub.of("/private").guard(|_| Err(ConnectRefusal::new("no")));
    let addr = hub.start().unwrap();
    (hub, addr)
}

fn ns<'a>(m: &'a Metrics, name: &str) -> &'a NamespaceMetrics {
    m.namespaces.iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no namespace {name} in {m:?}"))
}

fn disconnects(n: &NamespaceMetrics, reason: &str) -> u64 {
    n.disconnects.iter().find(|d| d.reason == reason).map(|d| d.count).unwrap()
}

fn scrape(addr: SocketAddr, auth: Option<&str>) -> (u16, String) {
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    let resp = raw_http(addr, req.as_bytes());
    (status_of(&resp), resp)
}

#[test]
fn clients_that_connect_chat_and_leave_are_counted_exactly() {
    let (hub, addr) = hub(&[]);
    let (mut a, _) = connect(addr);
    let (mut b, _) = connect(addr);
    let (_sid, _polling) = common::polling_connect(addr);
    let (mut raw, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    // Its echo says the raw client is a socket of "/" before the chats begin.
    raw.send(Message::text("hi")).unwrap();
    assert_eq!(raw.read().unwrap(), Message::text("hi"));
    // A connect refused by the guard of /private.
    a.send(Message::text("40/private,")).unwrap();
    assert!(read_text(&mut a).starts_with("44/private,"));

    // Two chats from a, each broadcast to b, the polling client and the raw one.
    for i in 0..2 {
        a.send(Message::text(format!("42[\"chat\",{i}]"))).unwrap();
        assert_eq!(read_text(&mut b), format!("42[\"chat\",{i}]"));
    }

    // A broadcast adds its receivers once they are all queued: b may read before that.
    assert!(wait_for(Duration::from_secs(5), || ns(&hub.metrics(), "/").events_sent == 7));
    let m = hub.metrics();
    assert_eq!((m.connections.websocket, m.connections.polling, m.connections.raw), (2, 1, 1), "{m:?}");
    assert_eq!((m.connections_opened.websocket, m.connections_opened.polling), (2, 1));
    let main = ns(&m, "/");
    assert_eq!(main.sockets, 4);
    assert_eq!(main.connects, 4);
    assert_eq!(main.events_received, 3); // the raw message and two chats
    assert_eq!(main.events_sent, 7); // 1 echo, 2 × 3 broadcast receivers (never more)
    assert_eq!(ns(&m, "/private").connect_refusals, 1);
    assert!(m.bytes_received > 0 && m.bytes_sent > 0);

    // b leaves its namespace, a closes its transport.
    b.send(Message::text("41")).unwrap();
    a.close(None).unwrap();
    assert!(wait_for(Duration::from_secs(5), || hub.metrics().connections.websocket == 1));
    assert!(wait_for(Duration::from_secs(5), || disconnects(ns(&hub.metrics(), "/"), "transport close") == 1));
    let main = ns(&hub.metrics(), "/").clone();
    assert_eq!(disconnects(&main, "client namespace disconnect"), 1);
    assert_eq!(main.sockets, 2);

    // The same figures in the Prometheus text.
    let (status, text) = scrape(addr, Some(&format!("Bearer {TOKEN}")));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Content-Type: text/plain; version=0.0.4"), "{text}");
    for line in [
        "# TYPE wshub_events_sent_total counter",
        "wshub_events_sent_total{namespace=\"/\"} 7",
        "wshub_connect_refusals_total{namespace=\"/private\"} 1",
        "wshub_disconnects_total{namespace=\"/\",reason=\"client namespace disconnect\"} 1",
        "wshub_connections{transport=\"raw\"} 1",
        "wshub_sockets{namespace=\"/\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    }
    hub.stop(Duration::from_secs(1)).unwrap();
    let m = hub.metrics();
    assert_eq!((m.connections.websocket, m.connections.polling, m.connections.raw), (0, 0, 0), "{m:?}");
    assert_eq!(disconnects(ns(&m, "/"), "server shutting down"), 2);
}

#[test]
fn the_metrics_path_wants_the_token() {
    let (hub, addr) = hub(&[]);
    let (status, resp) = scrape(addr, None);
    assert_eq!(status, 401, "{resp}");
    assert!(resp.contains("WWW-Authenticate: Bearer"), "{resp}");
    assert_eq!(scrape(addr, Some("Bearer wrong")).0, 401);
    assert_eq!(scrape(addr, Some(TOKEN)).0, 401); // not as a bearer token
    assert_eq!(http(addr, "POST", "/metrics", "").0, 401);
    assert_eq!(scrape(addr, Some(&format!("Bearer {TOKEN}"))).0, 200);
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn an_address_not_allowed_is_refused_even_with_the_token() {
    let (hub, addr) = hub(&[IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7))]);
    assert_eq!(scrape(addr, Some(&format!("Bearer {TOKEN}"))).0, 403);
    hub.stop(Duration::from_secs(1)).unwrap();
    let (hub, addr) = hub_allowing_loopback_only();
    assert_eq!(scrape(addr, None).0, 200);
    hub.stop(Duration::from_secs(1)).unwrap();
}

fn hub_allowing_loopback_only() -> (Hub, SocketAddr) {
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let hub = Hub::builder().port(0).metrics_path("/metrics", None, &loopback).build().unwrap();
    let addr = hub.start().unwrap();
    (hub, addr)
}

#[test]
fn a_metrics_path_open_to_all_is_a_configuration_error() {
    let err = Hub::builder().metrics_path("/metrics", None, &[]).build().err().expect("refused");
    assert!(err.to_string().contains("metrics_token or metrics_allow"), "{err}");
    let err = Hub::builder().metrics_path("/socket.io/m", Some("t"), &[]).build().err().expect("refused");
    assert!(err.to_string().contains("outside path"), "{err}");
}

#[test]
fn without_a_metrics_path_nothing_is_served() {
    let hub = Hub::builder().port(0).build().unwrap();
    let addr = hub.start().unwrap();
    assert_eq!(scrape(addr, Some(&format!("Bearer {TOKEN}"))).0, 404);
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn a_full_queue_counts_a_drop_or_a_slow_consumer() {
    for (drop_newest, want_slow) in [(true, 0), (false, 1)] {
        let policy =
            if drop_newest { wshub::SlowConsumerPolicy::DropNewest } else { wshub::SlowConsumerPolicy::Disconnect };
        let hub = Hub::builder().port(0).max_queued_frames(1).slow_consumer(policy).build().unwrap();
        let addr = hub.start().unwrap();
        let (_a, id) = connect(addr);
        let socket = hub.of("/").socket(&id).unwrap();
        // From this thread, not the connection's: nothing drains the queue in between.
        // The client reads nothing: once the socket's buffers are full, the queue is.
        let big = wshub::Payload::one(&"x".repeat(100_000)).unwrap();
        for _ in 0..512 {
            let _ = socket.emit("fill", &big); // fails once the socket is gone: that is the point
        }
        let m = hub.metrics();
        assert_eq!(m.queue_drops > 0, drop_newest, "{m:?}");
        assert_eq!(m.slow_consumer_disconnects, want_slow, "{m:?}");
        hub.stop(Duration::from_secs(1)).unwrap();
    }
}

#[test]
fn pending_acks_and_rooms_are_read_off_the_hub() {
    let hub = Hub::builder().port(0).build().unwrap();
    let addr = hub.start().unwrap();
    let (mut a, id) = connect(addr);
    let socket = hub.of("/").socket(&id).unwrap();
    socket.join("lobby");
    socket.join("news");
    let args = wshub::Payload::one(&1).unwrap();
    socket.emit_with_ack_callback("ask", &args, Duration::from_secs(30), |_| {});
    socket.emit_with_ack_callback("ask", &args, Duration::from_secs(30), |_| {});
    let m = hub.metrics();
    assert_eq!((ns(&m, "/").pending_acks, ns(&m, "/").rooms), (2, 2), "{m:?}");
    // The client answers the first ask.
    let ask = read_text(&mut a);
    let ack_id: u64 = ask[2..].split('[').next().unwrap().parse().unwrap();
    a.send(Message::text(format!("43{ack_id}[true]"))).unwrap();
    assert!(wait_for(Duration::from_secs(5), || ns(&hub.metrics(), "/").pending_acks == 1));
    hub.stop(Duration::from_secs(1)).unwrap();
}
