//! Connection state recovery on one hub, driven as socket.io's own tests
//! drive it: Engine.IO long-polling by hand, a session closed with "1", a
//! new session that claims the old one with `{"pid", "offset"}`.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use wshub::{ConnectRefusal, Hub, Payload, RecoveryConfig, Socket};

fn hub_with(recovery: Option<RecoveryConfig>) -> (Hub, SocketAddr) {
    let hub = Hub::builder().port(0).worker_threads(1).connection_state_recovery(recovery).build().unwrap();
    let addr = hub.start().unwrap();
    (hub, addr)
}

/// An Engine.IO session over polling: its sid.
fn handshake(addr: SocketAddr) -> String {
    let (status, open) = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "");
    assert_eq!(status, 200, "{open}");
    let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    v["sid"].as_str().unwrap().to_string()
}

fn push(addr: SocketAddr, sid: &str, body: &str) {
    assert_eq!(http(addr, "POST", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), body).0, 200);
}

fn poll(addr: SocketAddr, sid: &str) -> Vec<String> {
    let (status, body) = http(addr, "GET", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), "");
    assert_eq!(status, 200, "{body}");
    body.split('\x1e').map(str::to_string).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// Connects to "/", gets an event with its offset, and closes the session
/// ("transport close"): `(sid, pid, offset)`.
fn connect_then_drop(hub: &Hub, addr: SocketAddr) -> (String, String, String) {
    let eio = handshake(addr);
    push(addr, &eio, "40");
    let answer = poll(addr, &eio);
    let connect = json(&answer[0][2..]);
    assert!(connect["pid"].is_string(), "{answer:?}");
    hub.emit("hello", &Payload::empty());
    let got = poll(addr, &eio);
    assert!(got[0].starts_with("42[\"hello\""), "{got:?}");
    let offset = json(&got[0][2..])[1].as_str().unwrap().to_string();
    push(addr, &eio, "1");
    let sid = connect["sid"].as_str().unwrap().to_string();
    let pid = connect["pid"].as_str().unwrap().to_string();
    assert!(wait_for(Duration::from_secs(5), || hub.of("/").sockets().is_empty()));
    (sid, pid, offset)
}

#[test]
fn a_client_that_comes_back_gets_its_id_rooms_and_every_packet_it_missed_in_order() {
    let (hub, addr) = hub_with(Some(RecoveryConfig::default()));
    let seen: Arc<Mutex<Vec<Socket>>> = Arc::default();
    let s = seen.clone();
    hub.on_connect(move |socket| {
        if !socket.recovered() {
            socket.join("room1");
        }
        s.lock().unwrap().push(socket);
    });
    let (sid, pid, offset) = connect_then_drop(&hub, addr);
    let first = seen.lock().unwrap()[0].clone();

    hub.emit("hello1", &Payload::empty()); // everyone
    hub.to("room1").emit("hello2", &Payload::one(&2).unwrap()); // its room
    first.emit("hello3", &Payload::empty()).unwrap(); // to it alone, while it is away
    hub.to("room2").emit("not for it", &Payload::empty());
    hub.except("room1").emit("not for it either", &Payload::empty());
    hub.of("/").to_all().volatile().emit("volatile: not kept", &Payload::empty());

    let eio = handshake(addr);
    push(addr, &eio, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    let packets = poll(addr, &eio);
    assert_eq!(packets.len(), 4, "{packets:?}");
    assert!(packets[0].starts_with("42[\"hello1\",\""), "{packets:?}");
    assert!(packets[1].starts_with("42[\"hello2\",2,\""), "{packets:?}");
    assert!(packets[2].starts_with("42[\"hello3\",\""), "{packets:?}");
    assert_eq!(packets[3], format!(r#"40{{"sid":"{sid}","pid":"{pid}"}}"#), "the CONNECT answer comes last");

    let back = seen.lock().unwrap()[1].clone();
    assert!(back.recovered());
    assert_eq!(back.id(), sid);
    let mut rooms = vec!["room1".to_string(), sid.clone()];
    rooms.sort();
    assert_eq!(back.rooms(), rooms);
    // And it goes on like any socket: live events, with offsets.
    hub.to("room1").emit("live", &Payload::empty());
    assert!(poll(addr, &eio)[0].starts_with("42[\"live\",\""));
    hub.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn an_unknown_claim_gets_a_fresh_session_and_recovery_is_off_by_default() {
    let (hub, addr) = hub_with(Some(RecoveryConfig::default()));
    let eio = handshake(addr);
    push(addr, &eio, r#"40{"pid":"foo","offset":"bar"}"#);
    let answer = poll(addr, &eio);
    let connect = json(&answer[0][2..]);
    assert_ne!(connect["sid"], "foo");
    assert!(connect["pid"].is_string() && connect["pid"] != "foo");
    assert!(!hub.of("/").sockets()[0].recovered());
    hub.stop(Duration::from_millis(100)).unwrap();

    let (hub, addr) = hub_with(None);
    let eio = handshake(addr);
    push(addr, &eio, r#"40{"pid":"foo","offset":"1"}"#);
    let answer = poll(addr, &eio);
    assert!(json(&answer[0][2..])["pid"].is_null(), "{answer:?}");
    hub.emit("hello", &Payload::empty());
    assert_eq!(poll(addr, &eio), vec![r#"42["hello"]"#.to_string()], "no offsets when off");
    hub.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn guards_are_skipped_on_recovery_unless_asked_and_a_late_client_starts_afresh() {
    for skip in [true, false] {
        let cfg = RecoveryConfig { skip_guards: skip, ..RecoveryConfig::default() };
        let (hub, addr) = hub_with(Some(cfg));
        let (_, pid, offset) = connect_then_drop(&hub, addr);
        let guarded = Arc::new(Mutex::new(0));
        let g = guarded.clone();
        hub.of("/").guard(move |_| {
            *g.lock().unwrap() += 1;
            Ok(())
        });
        let eio = handshake(addr);
        push(addr, &eio, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
        poll(addr, &eio);
        assert!(hub.of("/").sockets()[0].recovered());
        assert_eq!(*guarded.lock().unwrap(), if skip { 0 } else { 1 }, "skip_guards {skip}");
        hub.stop(Duration::from_millis(100)).unwrap();
    }

    // A guard that refuses still refuses a claim when guards run on recovery.
    let cfg = RecoveryConfig { skip_guards: false, ..RecoveryConfig::default() };
    let (hub, addr) = hub_with(Some(cfg));
    let (_, pid, offset) = connect_then_drop(&hub, addr);
    hub.of("/").guard(|_| Err(ConnectRefusal::new("no")));
    let eio = handshake(addr);
    push(addr, &eio, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    assert!(poll(addr, &eio)[0].starts_with("44{\"message\":\"no\""));
    hub.stop(Duration::from_millis(100)).unwrap();

    // Past max_disconnection_duration: a fresh session, nothing replayed.
    let cfg = RecoveryConfig { max_disconnection_duration: Duration::from_millis(200), ..RecoveryConfig::default() };
    let (hub, addr) = hub_with(Some(cfg));
    let (sid, pid, offset) = connect_then_drop(&hub, addr);
    hub.emit("missed", &Payload::empty());
    std::thread::sleep(Duration::from_millis(400));
    let eio = handshake(addr);
    push(addr, &eio, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    let packets = poll(addr, &eio);
    assert_eq!(packets.len(), 1, "{packets:?}");
    let connect = json(&packets[0][2..]);
    assert_ne!(connect["sid"].as_str().unwrap(), sid);
    assert!(!hub.of("/").sockets()[0].recovered());
    hub.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn leaving_on_purpose_is_not_recoverable() {
    let (hub, addr) = hub_with(Some(RecoveryConfig::default()));
    let eio = handshake(addr);
    push(addr, &eio, "40");
    let connect = json(&poll(addr, &eio)[0][2..]);
    hub.emit("hello", &Payload::empty());
    let offset = json(&poll(addr, &eio)[0][2..])[1].as_str().unwrap().to_string();
    push(addr, &eio, "41"); // the client leaves the namespace
    assert!(wait_for(Duration::from_secs(5), || hub.of("/").sockets().is_empty()));
    let pid = connect["pid"].as_str().unwrap();
    let eio = handshake(addr);
    push(addr, &eio, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    let again = json(&poll(addr, &eio)[0][2..]);
    assert_ne!(again["sid"], connect["sid"]);
    hub.stop(Duration::from_millis(100)).unwrap();
}
