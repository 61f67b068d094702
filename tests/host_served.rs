//! Host-served mode: a hub started with `start_hosted` behind a small HTTP
//! server of the test's own (the "host"), which answers its own routes and
//! hands the hub what `serves_path` claims: upgrades with `adopt` (the
//! descriptor and the bytes read) or, for a host that keeps its sockets (as
//! an ASGI server does), with `relay_websocket` (messages both ways); other
//! requests with `handle_request`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::*;
use tungstenite::Message;
use wshub::{DisconnectReason, Error, HostRequest, HostResponse, Hub, Payload, RelayEvent, RelayMessage};

/// What the host did with each connection, for the tests to look at.
#[derive(Default)]
struct HostLog {
    /// Upgrades are relayed (the host keeps the socket) instead of adopted.
    relay: bool,
    /// The close code the hub gave each relayed WebSocket, in order.
    relay_closed: Mutex<Vec<u16>>,
    /// Results of `adopt`, in order.
    adopted: Mutex<Vec<Result<(), String>>>,
    /// A clone of every adopted socket, so a test can cut one from the host's side.
    clones: Mutex<Vec<TcpStream>>,
}

/// Starts the host's server on a free port; it serves until the test ends.
fn host(hub: &Hub) -> (SocketAddr, Arc<HostLog>) {
    start_host(hub, HostLog::default())
}

/// A host that keeps the WebSockets it accepts and relays their messages.
fn relaying_host(hub: &Hub) -> (SocketAddr, Arc<HostLog>) {
    start_host(hub, HostLog { relay: true, ..HostLog::default() })
}

fn start_host(hub: &Hub, log: HostLog) -> (SocketAddr, Arc<HostLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(log);
    let (hub, l) = (hub.clone(), log.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (hub, log) = (hub.clone(), l.clone());
            std::thread::spawn(move || serve(hub, stream, &log));
        }
    });
    (addr, log)
}

/// One connection of the host: HTTP/1.1 requests, keep-alive, until one is
/// handed over or the client closes.
fn serve(hub: Hub, mut stream: TcpStream, log: &HostLog) {
    let mut buf = Vec::new();
    loop {
        // Read a whole head.
        let head_len = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(&buf[..head_len]).unwrap();
        let method = req.method.unwrap().to_string();
        let target = req.path.unwrap().to_string();
        let path = target.split('?').next().unwrap().to_string();
        let headers: Vec<(String, String)> =
            req.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned())).collect();
        let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let close = header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let request = |body: Vec<u8>, stream: &TcpStream| HostRequest {
            method: method.clone(),
            url: target.clone(),
            headers: headers.clone(),
            body: body.into(),
            remote_addr: stream.peer_addr().unwrap(),
        };
        if !hub.serves_path(&path) {
            // The app's own route.
            write_response(&mut stream, 200, &[], format!("host route {path}").as_bytes());
            buf.drain(..head_len);
            if close {
                return;
            }
            continue;
        }
        if header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) && log.relay {
            let req = request(Vec::new(), &stream);
            buf.drain(..head_len);
            return relay(&hub, stream, req, buf, header("sec-websocket-key").unwrap_or_default(), log);
        }
        if header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            let clone = stream.try_clone().unwrap();
            let result = hub.adopt(stream, &buf).map_err(|e| e.to_string());
            if result.is_ok() {
                log.clones.lock().unwrap().push(clone); // else dropped: the socket closes
            }
            log.adopted.lock().unwrap().push(result);
            return;
        }
        let len: usize = header("content-length").map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < head_len + len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_len..head_len + len].to_vec();
        buf.drain(..head_len + len);
        let (tx, rx) = mpsc::channel();
        hub.handle_request(request(body, &stream), move |resp| tx.send(resp).unwrap());
        let resp: HostResponse = rx.recv_timeout(Duration::from_secs(60)).expect("the hub answers");
        let extra: Vec<(&str, &str)> = resp.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        write_response(&mut stream, resp.status, &extra, &resp.body);
        if close {
            return;
        }
    }
}

/// A WebSocket the host keeps, as an ASGI server would: the hub says
/// whether to accept it, then messages go both ways through the relay.
fn relay(hub: &Hub, mut stream: TcpStream, req: HostRequest, read: Vec<u8>, key: String, log: &HostLog) {
    let (tx, rx) = mpsc::channel::<RelayMessage>();
    let mut handle = hub.relay_websocket(req, move |m| drop(tx.send(m))).unwrap();
    let first = rx.recv_timeout(Duration::from_secs(10)).expect("the hub answers the upgrade");
    match first.event {
        RelayEvent::Accepted => {}
        RelayEvent::Refused(resp) => {
            let extra: Vec<(&str, &str)> = resp.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            return write_response(&mut stream, resp.status, &extra, &resp.body);
        }
        other => panic!("the first event is Accepted or Refused, not {other:?}"),
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let mut ws = tungstenite::WebSocket::from_partially_read(stream, read, tungstenite::protocol::Role::Server, None);
    loop {
        // What the hub has for the client...
        while let Ok(m) = rx.try_recv() {
            match m.event {
                RelayEvent::Text(t) => drop(ws.send(Message::text(t))),
                RelayEvent::Binary(b) => drop(ws.send(Message::binary(b))),
                RelayEvent::Closed(code) => {
                    log.relay_closed.lock().unwrap().push(code);
                    let _ = ws.close(Some(tungstenite::protocol::CloseFrame { code: code.into(), reason: "".into() }));
                    let _ = ws.flush();
                    return;
                }
                other => panic!("{other:?} after Accepted"),
            }
        }
        // ...and what the client sent for the hub.
        match ws.read() {
            Ok(Message::Text(t)) => drop(handle.send_text(t.to_string())),
            Ok(Message::Binary(b)) => drop(handle.send_binary(b)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                handle.close(); // the client is gone: the hub delivers Closed
                while let Ok(m) = rx.recv_timeout(Duration::from_secs(10)) {
                    if let RelayEvent::Closed(code) = m.event {
                        log.relay_closed.lock().unwrap().push(code);
                        return;
                    }
                }
                panic!("no Closed from the hub");
            }
        }
    }
}

fn write_response(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    let _ = stream.write_all(&bytes);
}

/// Upgrades polling session `sid` to a WebSocket as the official client
/// does: a long-poll is pending while it probes, and is answered (noop) so
/// the client can switch.
fn upgrade(addr: SocketAddr, sid: &str) -> Client {
    let poll = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let pending = std::thread::spawn(move || http(addr, "GET", &poll, ""));
    std::thread::sleep(Duration::from_millis(100));
    let (mut up, _) =
        tungstenite::connect(format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}")).unwrap();
    tcp(&mut up).set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    up.send(Message::text("2probe")).unwrap();
    assert_eq!(read_text(&mut up), "3probe");
    assert_eq!(pending.join().unwrap(), (200, "6".to_string()));
    up.send(Message::text("5")).unwrap();
    up
}

/// A polling handshake, as a host would hand it over.
fn handshake_request() -> HostRequest {
    HostRequest {
        method: "GET".into(),
        url: "/socket.io/?EIO=4&transport=polling".into(),
        headers: vec![],
        body: Default::default(),
        remote_addr: "127.0.0.1:1".parse().unwrap(),
    }
}

fn hosted_hub(build: impl FnOnce(wshub::HubBuilder) -> wshub::HubBuilder) -> Hub {
    let hub = build(Hub::builder().worker_threads(1)).build().unwrap();
    hub.start_hosted().unwrap();
    hub
}

#[test]
fn the_hosts_routes_polling_websocket_and_upgrade_share_the_hosts_port() {
    let hub = hosted_hub(|b| b);
    let reasons = recording(&hub);
    assert_eq!(hub.local_addr(), None, "no listener of its own");
    let (addr, log) = host(&hub);

    // The app's own routes are the host's.
    assert_eq!(http(addr, "GET", "/", ""), (200, "host route /".to_string()));
    assert_eq!(http(addr, "GET", "/api/users", ""), (200, "host route /api/users".to_string()));

    // WebSocket, through an adopted descriptor.
    let (mut ws, ws_id) = connect(addr);
    round_trip(&mut ws, 1);
    assert_eq!(log.adopted.lock().unwrap().as_slice(), &[Ok(())]);

    // Long-polling, through handle_request (handshake, POST, long-poll GET).
    let (sid, poll_id) = polling_connect(addr);
    assert_ne!(poll_id, ws_id);
    assert_eq!(hub.of("/").sockets().len(), 2);

    // The polling session upgrades to WebSocket (the upgrade adopted too).
    let mut up = upgrade(addr, &sid);

    // A broadcast reaches both, each on its WebSocket.
    hub.emit("news", &Payload::from_json("[\"hello\"]").unwrap());
    assert_eq!(read_text(&mut ws), "42[\"news\",\"hello\"]");
    assert_eq!(read_text(&mut up), "42[\"news\",\"hello\"]");
    assert_eq!(hub.connection_counts(), (2, 2), "adopted connections are counted, polling requests are not");
    assert_eq!(reason_of(&reasons, &ws_id), None);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn the_hubs_limits_hold_for_what_a_host_hands_over() {
    let hub = hosted_hub(|b| b.max_connections(1).max_payload(1000));
    let _reasons = recording(&hub); // and the "ping" handler round_trip needs
    let (addr, log) = host(&hub);
    let (mut first, _) = connect(addr);

    // Over max_connections: refused and closed, the first goes on.
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    assert!(tungstenite::connect(url).is_err());
    assert!(wait_for(Duration::from_secs(5), || log.adopted.lock().unwrap().len() == 2));
    let refused = log.adopted.lock().unwrap()[1].clone().unwrap_err();
    assert!(refused.contains("max_connections"), "{refused}");
    round_trip(&mut first, 1);

    // A body over max_payload, too many headers, a malformed target: the
    // answers of the hub's own listener.
    let big = "x".repeat(2000);
    let (status, _) = http(addr, "POST", "/socket.io/?EIO=4&transport=polling&sid=nope", &big);
    assert_eq!(status, 413);
    let answer = |req: HostRequest| {
        let (tx, rx) = mpsc::channel();
        hub.handle_request(req, move |r| tx.send(r).unwrap());
        rx.recv_timeout(Duration::from_secs(5)).unwrap()
    };
    let base = handshake_request();
    let many = (0..100).map(|i| (format!("x-h{i}"), "v".to_string())).collect();
    assert_eq!(answer(HostRequest { headers: many, ..base.clone() }).status, 431);
    assert_eq!(answer(HostRequest { url: "no-slash".into(), ..base.clone() }).status, 400);
    assert_eq!(answer(HostRequest { url: "/socket.io/?EIO=3&transport=polling".into(), ..base.clone() }).status, 400);
    // An upgrade handed over as a plain request cannot be served: 400, said so.
    let upgrade = vec![("Upgrade".to_string(), "websocket".to_string())];
    let resp = answer(HostRequest { headers: upgrade, ..base.clone() });
    assert_eq!(resp.status, 400);
    assert!(String::from_utf8_lossy(&resp.body).contains("adopted"));
    // A good handshake still works, CORS-free and with its content type.
    let ok = answer(base);
    assert_eq!(ok.status, 200);
    assert!(ok.headers.iter().any(|(k, v)| k == "Content-Type" && v.starts_with("text/plain")), "{:?}", ok.headers);
    assert!(!ok.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")));
    round_trip(&mut first, 2);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn a_request_cut_short_or_a_socket_the_host_cuts_costs_that_connection_only() {
    let hub = hosted_hub(|b| b);
    let reasons = recording(&hub);
    let (addr, log) = host(&hub);
    let (mut good, good_id) = connect(addr);
    let (_victim, victim_id) = connect(addr);
    assert!(wait_for(Duration::from_secs(5), || log.clones.lock().unwrap().len() == 2));

    // The host shuts the second adopted socket down under the hub.
    log.clones.lock().unwrap()[1].shutdown(std::net::Shutdown::Both).unwrap();
    assert!(wait_for(Duration::from_secs(5), || reason_of(&reasons, &victim_id).is_some()));
    assert_eq!(reason_of(&reasons, &victim_id), Some(DisconnectReason::TransportClose));
    round_trip(&mut good, 1);

    // Adopted with a request whose body never comes whole: that connection ends.
    let (mut client, accepted) = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().unwrap().0)
    };
    let head = b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789";
    hub.adopt(accepted, head).unwrap();
    assert!(wait_for(Duration::from_secs(5), || hub.connection_counts().0 == 2));
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(wait_for(Duration::from_secs(5), || hub.connection_counts().0 == 1), "{:?}", hub.connection_counts());
    let mut rest = String::new();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = client.read_to_string(&mut rest);
    assert_eq!(rest, "", "nothing is answered to a request that never arrived");
    round_trip(&mut good, 2);
    assert_eq!(reason_of(&reasons, &good_id), None);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn without_a_running_hub_requests_get_503_and_connections_are_closed() {
    let hub = Hub::builder().build().unwrap();
    let (tx, rx) = mpsc::channel();
    let req = handshake_request();
    hub.handle_request(req.clone(), move |r| tx.send(r.status).unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 503);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let accepted = listener.accept().unwrap().0;
    assert!(matches!(hub.adopt(accepted, b""), Err(Error::NotRunning)));
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(client.read(&mut [0u8; 16]).unwrap(), 0, "closed by the hub");

    // A long-poll pending when the hub stops is answered, exactly once.
    hub.start_hosted().unwrap();
    let (addr, _log) = host(&hub);
    let (sid, _) = polling_connect(addr);
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let c = calls.clone();
    let poll = HostRequest { url: format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), ..req };
    hub.handle_request(poll, move |r| {
        c.fetch_add(1, Ordering::SeqCst);
        tx.send(r).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a long-poll waits");
    hub.stop(Duration::from_millis(200)).unwrap();
    let resp = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(resp.status == 200 || resp.status == 503, "{resp:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_host_that_keeps_its_sockets_relays_websockets_and_upgrades() {
    let hub = hosted_hub(|b| b.max_payload(1000));
    let reasons = recording(&hub);
    let (addr, log) = relaying_host(&hub);
    assert_eq!(http(addr, "GET", "/", ""), (200, "host route /".to_string()));

    // A WebSocket session over the relay.
    let (mut ws, ws_id) = connect(addr);
    round_trip(&mut ws, 1);

    // A polling session that upgrades over the relay.
    let (sid, poll_id) = polling_connect(addr);
    let mut up = upgrade(addr, &sid);
    hub.emit("news", &Payload::from_json("[\"hello\"]").unwrap());
    assert_eq!(read_text(&mut ws), "42[\"news\",\"hello\"]");
    assert_eq!(read_text(&mut up), "42[\"news\",\"hello\"]");
    assert_eq!(hub.connection_counts(), (2, 2), "relayed WebSockets are counted as connections");

    // Refusals are the hub's listener's: an unknown sid, a bad query.
    for (query, status) in [("sid=nope", 400), ("EIO=3&transport=websocket", 400)] {
        let q = if query.starts_with("sid") { format!("EIO=4&transport=websocket&{query}") } else { query.to_string() };
        match tungstenite::connect(format!("ws://{addr}/socket.io/?{q}")) {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), status, "{query}"),
            other => panic!("{query}: {other:?}"),
        }
    }

    // A message over max_payload closes that WebSocket with 1009, as on our listener.
    let (mut big, big_id) = connect(addr);
    big.send(Message::text(format!("42[\"x\",\"{}\"]", "y".repeat(2000)))).unwrap();
    assert!(closed_by_server(&mut big));
    assert!(wait_for(Duration::from_secs(5), || reason_of(&reasons, &big_id).is_some()));
    assert_eq!(reason_of(&reasons, &big_id), Some(DisconnectReason::TransportError));
    assert!(wait_for(Duration::from_secs(5), || log.relay_closed.lock().unwrap().contains(&1009)));

    // The client closes: "transport close", and the relay ends with Closed.
    ws.close(None).unwrap();
    assert!(wait_for(Duration::from_secs(5), || reason_of(&reasons, &ws_id).is_some()));
    assert_eq!(reason_of(&reasons, &ws_id), Some(DisconnectReason::TransportClose));
    round_trip_text(&mut up);
    assert_eq!(reason_of(&reasons, &poll_id), None);
    hub.stop(Duration::from_millis(200)).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || log.relay_closed.lock().unwrap().contains(&1001)),
        "stopping says 1001"
    );
}

/// An echo-ack round trip on an upgraded client (its socket id differs from `round_trip`'s needs).
fn round_trip_text(ws: &mut Client) {
    ws.send(Message::text("429[\"ping\"]")).unwrap();
    while !read_text(ws).starts_with("439[") {}
}

/// A relayed WebSocket driven through the API alone, the host holding what it is given.
fn open_relay(hub: &Hub) -> (wshub::RelayHandle, mpsc::Receiver<RelayMessage>) {
    let (tx, rx) = mpsc::channel();
    let req = HostRequest { url: "/socket.io/?EIO=4&transport=websocket".into(), ..handshake_request() };
    let handle = hub.relay_websocket(req, move |m| drop(tx.send(m))).unwrap();
    let next = |rx: &mpsc::Receiver<RelayMessage>| rx.recv_timeout(Duration::from_secs(5)).unwrap().event;
    assert_eq!(next(&rx), RelayEvent::Accepted);
    assert!(matches!(next(&rx), RelayEvent::Text(t) if t.starts_with("0{")));
    (handle, rx)
}

fn next_text_of(rx: &mpsc::Receiver<RelayMessage>) -> String {
    match rx.recv_timeout(Duration::from_secs(5)).unwrap().event {
        RelayEvent::Text(t) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_relay_holds_no_more_than_its_cap_for_a_host_that_does_not_take_and_refuses_a_flood() {
    let hub = hosted_hub(|b| b.max_payload(10_000));
    hub.of("/slow").guard_async(|_| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(())
    });
    let (handle, rx) = open_relay(&hub);
    handle.send_text("40".into()).unwrap();
    assert!(next_text_of(&rx).starts_with("40{"));

    // 2,000 events of 1 KiB while the host takes none: the relay holds at
    // most its cap (4 x 64 KiB here) and leaves the rest in the session's queue.
    let text = "z".repeat(1024);
    let payload = Payload::from_json(format!("[\"{text}\"]")).unwrap();
    for _ in 0..2000 {
        hub.emit("big", &payload);
    }
    std::thread::sleep(Duration::from_millis(500));
    let held: Vec<RelayMessage> = rx.try_iter().collect();
    let bytes: usize = held.iter().map(|m| if let RelayEvent::Text(t) = &m.event { t.len() } else { 0 }).sum();
    assert!(bytes <= 4 * 64 * 1024 + 1100, "the host holds {bytes} bytes (the cap and one message at most)");
    assert!(bytes >= 64 * 1024, "the relay filled its credit ({bytes} bytes)");
    // Once the host takes them, the rest comes, every one.
    let mut count = held.len();
    drop(held);
    while count < 2000 {
        assert!(next_text_of(&rx).starts_with("42[\"big\""));
        count += 1;
    }

    // The host hands in far more than the hub reads (the hub waits on a
    // connect guard meanwhile): refused past the cap, and that connection closes.
    handle.send_text("40/slow,".into()).unwrap();
    let chunk = "a".repeat(9000);
    let mut result = Ok(());
    for _ in 0..200 {
        result = handle.send_text(format!("42/slow,[\"{chunk}\"]"));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(wshub::RelayError::Flooded));
    let mut last = None;
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(5)) {
        last = Some(m.event);
    }
    assert_eq!(last, Some(RelayEvent::Closed(1009)));
    // The hub goes on serving others.
    let (other, rx2) = open_relay(&hub);
    other.send_text("40".into()).unwrap();
    assert!(next_text_of(&rx2).starts_with("40{"));
    hub.stop(Duration::from_millis(200)).unwrap();
    let mut end = None;
    while let Ok(m) = rx2.recv_timeout(Duration::from_secs(5)) {
        end = Some(m.event);
    }
    assert_eq!(end, Some(RelayEvent::Closed(1001)), "exactly one end, when the hub stops");
}
