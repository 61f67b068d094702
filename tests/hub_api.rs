//! The Rust API driven by a plain Engine.IO-over-WebSocket client: lifecycle,
//! emits from other threads, acks with timeouts, guards and limits.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{polling_connect, read_text, read_to_close, tcp, wait_for, Client};
use tungstenite::Message;
use wshub::{AckError, ConnectRefusal, DisconnectReason, Hub, Payload};

fn hub() -> Hub {
    Hub::builder().port(0).worker_threads(1).build().unwrap()
}

/// Opens an Engine.IO WebSocket session and joins `ns`; returns the client
/// and its socket id.
fn connect(addr: SocketAddr, ns: &str, auth: &str) -> (Client, Result<String, String>) {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    tcp(&mut ws).set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let open = read_text(&mut ws);
    assert!(open.starts_with("0{\"sid\""), "{open}");
    let prefix = if ns == "/" { String::new() } else { format!("{ns},") };
    ws.send(Message::text(format!("40{prefix}{auth}"))).unwrap();
    let answer = read_text(&mut ws);
    let body = &answer[2 + prefix.len()..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let result = if answer.starts_with("40") {
        Ok(v["sid"].as_str().unwrap().to_string())
    } else {
        Err(v["message"].as_str().unwrap().to_string())
    };
    (ws, result)
}

#[test]
fn emits_from_another_thread_reach_the_client_in_order() {
    let hub = hub();
    let addr = hub.start().unwrap();
    let (mut ws, id) = connect(addr, "/", "");
    let id = id.unwrap();
    let h = hub.clone();
    std::thread::spawn(move || {
        let s = h.of("/").socket(&id).unwrap();
        for i in 0..100 {
            s.emit("n", &Payload::one(&i).unwrap()).unwrap();
        }
    })
    .join()
    .unwrap();
    for i in 0..100 {
        assert_eq!(read_text(&mut ws), format!("42[\"n\",{i}]"));
    }
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn stop_closes_clients_runs_disconnect_handlers_and_can_restart() {
    let hub = hub();
    let reasons = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let r = reasons.clone();
    hub.on_disconnect(move |_, reason| r.lock().push(reason));
    let addr = hub.start().unwrap();
    let (mut ws, id) = connect(addr, "/", "");
    id.unwrap();
    hub.stop(Duration::from_millis(500)).unwrap();
    assert!(!hub.is_running());
    assert_eq!(*reasons.lock(), vec![DisconnectReason::ServerShuttingDown]);
    // The client sees its connection end.
    let ended = loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => break true,
            Ok(_) => continue,
        }
    };
    assert!(ended);
    // The same hub starts again, on a fresh port, with its handlers.
    let addr2 = hub.start().unwrap();
    let (_ws2, id2) = connect(addr2, "/", "");
    assert!(id2.is_ok());
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn emit_with_ack_resolves_with_the_answer_or_times_out() {
    let hub = hub();
    let addr = hub.start().unwrap();
    let (mut ws, id) = connect(addr, "/", "");
    let socket = hub.of("/").socket(&id.unwrap()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    socket
        .emit_with_ack_callback("q", &Payload::one(&1).unwrap(), Duration::from_secs(5), move |r| tx.send(r).unwrap());
    let asked = read_text(&mut ws);
    assert_eq!(asked, "421[\"q\",1]");
    ws.send(Message::text("431[\"yes\",{\"n\":2}]")).unwrap();
    let answer = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(answer.json(), "[\"yes\",{\"n\":2}]");
    socket.emit_with_ack_callback("q", &Payload::empty(), Duration::from_millis(100), move |r| tx2.send(r).unwrap());
    assert_eq!(read_text(&mut ws), "422[\"q\"]");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Err(AckError::Timeout));
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn a_guard_refuses_with_its_message_and_others_still_connect() {
    let hub = hub();
    hub.of("/admin").guard(
        |req| {
            if req.auth.contains("\"ok\"") {
                Ok(())
            } else {
                Err(ConnectRefusal::new("go away"))
            }
        },
    );
    let addr = hub.start().unwrap();
    let (_a, refused) = connect(addr, "/admin", "{\"token\":\"no\"}");
    assert_eq!(refused, Err("go away".to_string()));
    let (_b, accepted) = connect(addr, "/admin", "{\"token\":\"ok\"}");
    assert!(accepted.is_ok());
    let (_c, unknown) = connect(addr, "/nope", "");
    assert_eq!(unknown, Err("Invalid namespace".to_string()));
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn stop_from_a_handler_is_refused_instead_of_deadlocking() {
    let hub = hub();
    let (tx, rx) = mpsc::channel();
    let h = hub.clone();
    hub.on("stop", move |_| tx.send(h.stop(Duration::ZERO).map_err(|e| e.to_string())).unwrap());
    let addr = hub.start().unwrap();
    let (mut ws, _) = connect(addr, "/", "");
    ws.send(Message::text("42[\"stop\"]")).unwrap();
    let res = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(res.unwrap_err().contains("hub's own threads"));
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn an_oversized_message_closes_only_that_connection() {
    let hub = Hub::builder().port(0).worker_threads(1).max_payload(1000).build().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    hub.on("hit", move |ev| {
        c.fetch_add(1, Ordering::SeqCst);
        ev.ack(&Payload::empty()).unwrap();
    });
    let addr = hub.start().unwrap();
    let (mut bad, _) = connect(addr, "/", "");
    let (mut good, _) = connect(addr, "/", "");
    let big = format!("42[\"hit\",\"{}\"]", "x".repeat(2000));
    let _ = bad.send(Message::text(big));
    let closed = loop {
        match bad.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Err(_) => break None,
            Ok(_) => {}
        }
    };
    assert_eq!(closed, Some(1009));
    good.send(Message::text("421[\"hit\"]")).unwrap();
    assert_eq!(read_text(&mut good), "431[]");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn invalid_configs_are_refused_with_a_reason() {
    for builder in [
        Hub::builder().path("socket.io"),
        Hub::builder().ping_interval(Duration::ZERO),
        Hub::builder().transports(false, false),
        Hub::builder().raw_path(Some("/socket.io/raw")),
    ] {
        let err = builder.build().err().expect("must be refused");
        assert!(err.to_string().starts_with("invalid configuration"), "{err}");
    }
}

#[test]
fn starting_twice_is_an_error_and_a_taken_port_is_reported() {
    let hub = hub();
    let addr = hub.start().unwrap();
    assert!(matches!(hub.start(), Err(wshub::Error::AlreadyRunning)));
    let other = Hub::builder().bind(addr).build().unwrap();
    assert!(matches!(other.start(), Err(wshub::Error::Io(_))));
    hub.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn stop_with_many_clients_connected_detaches_every_socket() {
    for _ in 0..3 {
        let hub = hub();
        let disconnects = Arc::new(AtomicUsize::new(0));
        let d = disconnects.clone();
        hub.on_disconnect(move |_, _| {
            d.fetch_add(1, Ordering::SeqCst);
        });
        let addr = hub.start().unwrap();
        let clients: Vec<_> = (0..20).map(|_| connect(addr, "/", "")).collect();
        assert_eq!(hub.of("/").sockets().len(), 20);
        hub.stop(Duration::ZERO).unwrap();
        // Every socket left the registry and its handler ran, however far
        // the sessions' own cleanup got before the runtime ended.
        assert!(hub.of("/").sockets().is_empty());
        assert!(hub.of("/").rooms().is_empty());
        assert_eq!(disconnects.load(Ordering::SeqCst), 20);
        drop(clients);
    }
}

mod limits {
    use super::*;
    use common::raw_http;
    use std::io::Write;

    #[test]
    fn a_client_that_trickles_its_headers_gets_408_and_others_are_served() {
        let hub = Hub::builder().port(0).worker_threads(1).http_timeout(Duration::from_millis(300)).build().unwrap();
        let addr = hub.start().unwrap();
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = std::time::Instant::now();
        let trickle = std::thread::spawn(move || {
            for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1" {
                if slow.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(40));
            }
            read_to_close(&mut slow)
        });
        // Meanwhile a normal client is served at once.
        let (_ws, id) = connect(addr, "/", "");
        assert!(id.is_ok());
        let answer = trickle.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        hub.stop(Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn a_packet_announcing_too_many_attachments_closes_that_connection() {
        let hub = Hub::builder().port(0).worker_threads(1).max_attachments(2).build().unwrap();
        let addr = hub.start().unwrap();
        let (mut bad, _) = connect(addr, "/", "");
        let (mut good, _) = connect(addr, "/", "");
        bad.send(Message::text("453-[\"x\",{\"_placeholder\":true,\"num\":0}]")).unwrap();
        let code = loop {
            match bad.read() {
                Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
                Err(_) => break None,
                Ok(_) => {}
            }
        };
        // A Socket.IO protocol violation is a "forced close" (as from the reference
        // server): a normal WebSocket close, not a WebSocket protocol error (1002).
        assert_eq!(code, Some(1000));
        good.send(Message::text("421[\"nobody-listens\"]")).unwrap();
        good.send(Message::text("2probe")).unwrap(); // any answer proves it is alive
        assert_eq!(read_text(&mut good), "3probe");
        hub.stop(Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn joining_more_namespaces_than_allowed_is_refused_with_a_reason() {
        let hub = Hub::builder().port(0).worker_threads(1).max_namespaces_per_connection(1).build().unwrap();
        hub.of("/second");
        let addr = hub.start().unwrap();
        let (mut ws, id) = connect(addr, "/", "");
        assert!(id.is_ok());
        ws.send(Message::text("40/second,")).unwrap();
        assert_eq!(read_text(&mut ws), "44/second,{\"message\":\"too many namespaces on this connection\"}");
        hub.stop(Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn connections_over_the_per_address_limit_are_closed_at_accept() {
        third_connection_is_closed_at_accept(Hub::builder().max_connections_per_ip(2));
    }

    #[test]
    fn connections_over_the_server_wide_limit_are_closed_at_accept() {
        third_connection_is_closed_at_accept(Hub::builder().max_connections(2));
    }

    /// With a limit of 2 connections, a third is closed without an answer,
    /// and a slot freed by a closed connection is usable again.
    fn third_connection_is_closed_at_accept(builder: wshub::HubBuilder) {
        let hub = builder.port(0).worker_threads(1).build().unwrap();
        let addr = hub.start().unwrap();
        let (_a, a) = connect(addr, "/", "");
        let (b_ws, b) = connect(addr, "/", "");
        assert!(a.is_ok() && b.is_ok());
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(raw_http(addr, request), "", "the third connection is closed without an answer");
        drop(b_ws);
        std::thread::sleep(Duration::from_millis(200));
        let (_c, c) = connect(addr, "/", "");
        assert!(c.is_ok(), "a slot freed by a closed connection is usable again");
        hub.stop(Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn emits_with_an_ack_past_max_pending_acks_fail_at_once_and_send_nothing() {
        let hub = Hub::builder().port(0).worker_threads(1).max_pending_acks(2).build().unwrap();
        let addr = hub.start().unwrap();
        let (mut ws, id) = connect(addr, "/", "");
        let socket = hub.of("/").socket(&id.unwrap()).unwrap();
        let (tx, rx) = mpsc::channel();
        let ask = |timeout_ms: u64| {
            let tx = tx.clone();
            socket.emit_with_ack_callback("q", &Payload::empty(), Duration::from_millis(timeout_ms), move |r| {
                let _ = tx.send(r); // the two long waits end with the hub, after the test
            });
        };
        ask(300); // never answered: times out
        ask(60_000);
        ask(60_000); // the third while two wait: refused at once
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Err(AckError::TooManyPending));
        assert_eq!(read_text(&mut ws), "421[\"q\"]");
        assert_eq!(read_text(&mut ws), "422[\"q\"]");
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Err(AckError::Timeout));
        ask(60_000); // a slot freed by the timeout is usable again
        assert_eq!(read_text(&mut ws), "424[\"q\"]", "the refused emit sent nothing (its id is skipped)");
        ws.send(Message::text("434[\"ok\"]")).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap().json(), "[\"ok\"]");
        hub.stop(Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn a_client_that_stops_reading_is_dropped_once_its_queue_passes_the_byte_bound() {
        let hub = Hub::builder().port(0).worker_threads(1).max_queued_bytes(1 << 20).build().unwrap();
        let reasons = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let r = reasons.clone();
        hub.on_disconnect(move |s, reason| r.lock().push((s.id().to_string(), reason)));
        let addr = hub.start().unwrap();
        let (_slow, slow_id) = connect(addr, "/", ""); // never read from again
        let slow_id = slow_id.unwrap();
        let (mut good, _) = connect(addr, "/", "");
        let slow = hub.of("/").socket(&slow_id).unwrap();
        let big = Payload::one(&"x".repeat(100_000)).unwrap();
        // Up to 200 MB at a reader that reads nothing: the byte bound cuts it off.
        let sent = (0..2000).take_while(|_| slow.emit("big", &big).is_ok()).count();
        assert!(sent < 2000, "the queue kept growing: {sent} frames accepted");
        wait_for(Duration::from_secs(5), || !reasons.lock().is_empty());
        assert_eq!(*reasons.lock(), vec![(slow_id, DisconnectReason::TransportError)]);
        // The other client is unaffected.
        good.send(Message::text("2probe")).unwrap();
        assert_eq!(read_text(&mut good), "3probe");
        hub.stop(Duration::from_millis(100)).unwrap();
    }
}

#[test]
fn dynamic_namespaces_are_made_for_the_names_the_resolver_accepts() {
    let hub = hub();
    let (asked, connected) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (h, a, c) = (hub.clone(), asked.clone(), connected.clone());
    hub.dynamic_namespaces(move |req| {
        a.fetch_add(1, Ordering::SeqCst);
        let open = req.namespace.starts_with("/dynamic-");
        if open {
            let c = c.clone();
            h.of(&req.namespace).on_connect(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        open
    });
    let addr = hub.start().unwrap();
    let (_a, first) = connect(addr, "/dynamic-101", "");
    assert!(first.is_ok(), "{first:?}");
    // The namespace is there now: a second client does not ask again.
    let (_b, second) = connect(addr, "/dynamic-101", "");
    assert!(second.is_ok(), "{second:?}");
    let (_c, refused) = connect(addr, "/abc", "");
    assert_eq!(refused, Err("Invalid namespace".to_string()));
    assert!(wait_for(Duration::from_secs(5), || connected.load(Ordering::SeqCst) == 2));
    assert_eq!(asked.load(Ordering::SeqCst), 2, "asked for /dynamic-101 once and /abc once");
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn with_cleanup_an_empty_dynamic_namespace_goes_and_comes_back_on_demand() {
    let hub = Hub::builder().port(0).worker_threads(1).cleanup_empty_child_namespaces(true).build().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let (h, a) = (hub.clone(), asked.clone());
    hub.dynamic_namespaces(move |req| {
        a.fetch_add(1, Ordering::SeqCst);
        if req.namespace == "/guarded-1" {
            h.of(&req.namespace).guard(|_| Err(ConnectRefusal::new("You shall not pass!")));
        }
        true
    });
    let (tx, removed) = mpsc::channel();
    hub.on_namespace_removed(move |name| tx.send(name.to_string()).unwrap());
    let addr = hub.start().unwrap();

    let (mut one, first) = connect(addr, "/dynamic-101", "");
    assert!(first.is_ok());
    let (mut two, _) = connect(addr, "/dynamic-101", "");
    one.close(None).unwrap();
    let _ = read_to_close(tcp(&mut one));
    assert!(removed.recv_timeout(Duration::from_millis(300)).is_err(), "one socket is still in it");
    two.close(None).unwrap();
    assert_eq!(removed.recv_timeout(Duration::from_secs(5)).unwrap(), "/dynamic-101");

    let (_again, again) = connect(addr, "/dynamic-101", "");
    assert!(again.is_ok());
    assert_eq!(asked.load(Ordering::SeqCst), 2, "made again on demand");

    // A client refused by the namespace's guard leaves it empty, so it goes too.
    let (_g, refused) = connect(addr, "/guarded-1", "");
    assert_eq!(refused, Err("You shall not pass!".to_string()));
    assert_eq!(removed.recv_timeout(Duration::from_secs(5)).unwrap(), "/guarded-1");
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn without_cleanup_a_dynamic_namespace_stays_once_empty() {
    let hub = hub();
    hub.dynamic_namespaces(|_| true);
    let (tx, removed) = mpsc::channel();
    hub.on_namespace_removed(move |name| tx.send(name.to_string()).unwrap());
    let addr = hub.start().unwrap();
    let (mut one, first) = connect(addr, "/dynamic-101", "");
    assert!(first.is_ok());
    one.close(None).unwrap();
    let _ = read_to_close(tcp(&mut one));
    assert!(removed.recv_timeout(Duration::from_millis(300)).is_err());
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn on_upgrade_runs_when_a_polling_connection_moves_to_websocket() {
    let hub = hub();
    let (tx, upgraded) = mpsc::channel();
    hub.of("/").on_upgrade(move |socket| tx.send((socket.id().to_string(), socket.transport())).unwrap());
    let seen = Arc::new(parking_lot::Mutex::new(None));
    let s = seen.clone();
    hub.on_connect(move |socket| *s.lock() = Some(socket.transport()));
    let addr = hub.start().unwrap();
    let (sid, id) = polling_connect(addr);
    assert!(wait_for(Duration::from_secs(5), || seen.lock().is_some()));
    assert_eq!(*seen.lock(), Some("polling"));
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    ws.send(Message::text("2probe")).unwrap();
    assert_eq!(read_text(&mut ws), "3probe");
    ws.send(Message::text("5")).unwrap();
    assert_eq!(upgraded.recv_timeout(Duration::from_secs(5)).unwrap(), (id, "websocket"));
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn allow_request_answers_403_before_any_session_over_polling_and_websocket() {
    let hub = hub();
    hub.allow_request(|hs| match hs.query_param("token") {
        Some("ok") => Ok(()),
        _ => Err("no \"token\"".to_string()),
    });
    let addr = hub.start().unwrap();
    let (status, body) = common::http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "");
    assert_eq!((status, body.as_str()), (403, r#"{"code":4,"message":"no \"token\""}"#));
    let refused = tungstenite::connect(format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"));
    match refused {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let (status, open) = common::http(addr, "GET", "/socket.io/?EIO=4&transport=polling&token=ok", "");
    assert_eq!(status, 200, "{open}");
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&token=ok")).unwrap();
    assert!(read_text(&mut ws).starts_with("0{\"sid\""));
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn a_packet_that_does_not_decode_tells_on_error_why_then_disconnects_with_forced_close() {
    let hub = hub();
    let (tx, told) = mpsc::channel();
    let tx2 = tx.clone();
    hub.of("/").on_error(move |socket, message| tx.send(format!("{} error: {message}", socket.id())).unwrap());
    hub.on_disconnect(move |socket, reason| tx2.send(format!("{} {}", socket.id(), reason.as_str())).unwrap());
    let addr = hub.start().unwrap();
    let (mut ws, id) = connect(addr, "/", "");
    let id = id.unwrap();
    ws.send(Message::text("45woooot")).unwrap();
    assert_eq!(told.recv_timeout(Duration::from_secs(5)).unwrap(), format!("{id} error: Illegal attachments"));
    assert_eq!(told.recv_timeout(Duration::from_secs(5)).unwrap(), format!("{id} forced close"));
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn a_watched_socket_hears_of_the_packets_its_connection_sends_with_their_flags() {
    let hub = hub();
    let (tx, told) = mpsc::channel();
    hub.of("/").on_packets(move |socket, packets| {
        for p in packets {
            let data = String::from_utf8(p.data.to_vec()).unwrap();
            tx.send((socket.id().to_string(), p.kind, data, p.compress, p.shared, p.websocket, p.deflated)).unwrap();
        }
    });
    let addr = hub.start().unwrap();
    let (mut ws, id) = connect(addr, "/", "");
    let id = id.unwrap();
    let socket = hub.of("/").socket(&id).unwrap();
    let one = Payload::one(&1).unwrap();
    // Not watched yet: nothing is told.
    socket.emit("before", &one).unwrap();
    assert_eq!(read_text(&mut ws), r#"42["before",1]"#);
    socket.watch_packets(true);
    socket.emit("mine", &one).unwrap();
    hub.of("/").to_all().emit("all", &one);
    hub.of("/").to_all().compress(false).emit("plain", &one);
    for want in [r#"42["mine",1]"#, r#"42["all",1]"#, r#"42["plain",1]"#] {
        assert_eq!(read_text(&mut ws), want);
    }
    let got: Vec<_> = (0..3).map(|_| told.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    let p = |data: &str, compress, shared| (id.clone(), "message", data.to_string(), compress, shared, true, false);
    assert_eq!(
        got,
        [p(r#"2["mine",1]"#, true, false), p(r#"2["all",1]"#, true, true), p(r#"2["plain",1]"#, false, true)]
    );
    // The client's ping is answered with a pong: a packet too.
    ws.send(Message::text("2")).unwrap();
    assert_eq!(read_text(&mut ws), "3");
    assert_eq!(told.recv_timeout(Duration::from_secs(5)).unwrap().1, "pong");
    socket.watch_packets(false);
    socket.emit("after", &one).unwrap();
    assert_eq!(read_text(&mut ws), r#"42["after",1]"#);
    assert!(told.recv_timeout(Duration::from_millis(200)).is_err(), "not watched: not told");
    hub.stop(Duration::from_millis(200)).unwrap();
}

/// Reads one unmasked server frame: its first byte and payload.
fn raw_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    use std::io::Read;
    let mut h = [0u8; 2];
    tcp.read_exact(&mut h).unwrap();
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).unwrap();
    (h[0], payload)
}

/// Writes one masked client text frame (short).
fn raw_send(tcp: &mut TcpStream, text: &str) {
    use std::io::Write;
    let mask = [7u8, 3, 9, 1];
    let mut f = vec![0x81, 0x80 | text.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&f).unwrap();
}

#[test]
fn an_emit_with_compress_off_goes_undeflated_on_a_deflating_connection() {
    use std::io::Write;
    let hub = Hub::builder()
        .port(0)
        .worker_threads(1)
        .per_message_deflate(Some(wshub::DeflateConfig { threshold: 16, ..Default::default() }))
        .build()
        .unwrap();
    let addr = hub.start().unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        tcp,
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    .unwrap();
    // The head byte by byte: the frames after it stay in the socket.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut tcp, &mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101") && head.contains("permessage-deflate"), "{head}");
    let (b0, open) = raw_frame(&mut tcp);
    assert_eq!(b0 & 0x40, 0x40, "the open packet is past the threshold: deflated");
    assert!(!open.is_empty());
    raw_send(&mut tcp, "40");
    let (b0, _) = raw_frame(&mut tcp);
    assert_eq!(b0 & 0x40, 0x40, "the CONNECT answer is deflated");
    let long = Payload::one(&"a long enough string, past sixteen bytes").unwrap();
    hub.of("/").to_all().compress(false).emit("plain", &long);
    hub.of("/").to_all().emit("deflated", &long);
    let (b0, plain) = raw_frame(&mut tcp);
    assert_eq!(
        (b0, String::from_utf8(plain).unwrap()),
        (0x81, r#"42["plain","a long enough string, past sixteen bytes"]"#.into())
    );
    let (b0, _) = raw_frame(&mut tcp);
    assert_eq!(b0, 0xC1, "compress on (the default): deflated");
    hub.stop(Duration::from_millis(200)).unwrap();
}

/// A guard that waits until the test lets it decide (true: admit).
fn held_guard(hub: &Hub) -> tokio::sync::mpsc::UnboundedSender<bool> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    hub.of("/").guard_async(move |_| {
        let rx = rx.clone();
        async move {
            match rx.lock().await.recv().await {
                Some(true) => Ok(()),
                _ => Err(ConnectRefusal::new("no")),
            }
        }
    });
    tx
}

#[test]
fn events_sent_while_a_guard_runs_wait_for_it_and_follow_in_order() {
    let hub = hub();
    let decide = held_guard(&hub);
    let (tx, events) = mpsc::channel();
    hub.on("n", move |ev| tx.send(ev.args().json().to_string()).unwrap());
    let addr = hub.start().unwrap();
    // Over WebSocket, and over polling (whose POST is answered while the guard runs).
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    tcp(&mut ws).set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(read_text(&mut ws).starts_with("0{"));
    ws.send(Message::text("40")).unwrap();
    for i in 0..3 {
        ws.send(Message::text(format!("42[\"n\",{i}]"))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(events.try_recv().is_err(), "no event before the connect is decided");
    decide.send(true).unwrap();
    assert!(read_text(&mut ws).starts_with("40{\"sid\""));
    let got: Vec<String> = (0..3).map(|_| events.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    assert_eq!(got, ["[0]", "[1]", "[2]"]);

    let (status, open) = common::http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "");
    assert_eq!(status, 200);
    let sid = serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"].as_str().unwrap().to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(common::http(addr, "POST", &path, "40\u{1e}42[\"n\",3]"), (200, "ok".to_string()));
    assert_eq!(common::http(addr, "POST", &path, "42[\"n\",4]"), (200, "ok".to_string()));
    assert!(events.try_recv().is_err());
    decide.send(true).unwrap();
    let got: Vec<String> = (0..2).map(|_| events.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    assert_eq!(got, ["[3]", "[4]"]);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn a_client_that_leaves_while_a_guard_runs_is_told_to_on_guard_abandoned_and_never_connects() {
    let hub = hub();
    let decide = held_guard(&hub);
    let (tx, told) = mpsc::channel();
    let tx2 = tx.clone();
    hub.of("/").on_guard_abandoned(move |id, reason| {
        tx.send(format!("abandoned {} {}", !id.is_empty(), reason.as_str())).unwrap()
    });
    hub.on_connect(move |_| tx2.send("connected".to_string()).unwrap());
    let addr = hub.start().unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    assert!(read_text(&mut ws).starts_with("0{"));
    ws.send(Message::text("40")).unwrap();
    ws.send(Message::text("1")).unwrap(); // Engine.IO close, read while the guard runs
    assert_eq!(told.recv_timeout(Duration::from_secs(5)).unwrap(), "abandoned true transport close");
    // (Its guard was dropped: the next decision goes to the next client's.)
    // Over polling: the client's close comes in a POST of its own.
    let (_, open) = common::http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "");
    let sid = serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"].as_str().unwrap().to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(common::http(addr, "POST", &path, "40").0, 200);
    assert_eq!(common::http(addr, "POST", &path, "1").0, 200);
    assert_eq!(told.recv_timeout(Duration::from_secs(5)).unwrap(), "abandoned true transport close");
    decide.send(true).unwrap();
    assert!(told.recv_timeout(Duration::from_millis(300)).is_err(), "nobody connected");
    hub.stop(Duration::from_millis(200)).unwrap();
}
