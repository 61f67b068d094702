//! The hub the Node and Python suites drive (contract: tests/TEST_SERVER.md).
//! PORT from the environment (0 picks a free one); prints `LISTENING <port>`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use wshub::{ConnectRefusal, Event, Hub, Namespace, Payload};

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let hub = Hub::builder()
        .port(port)
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(1000))
        .max_payload(2_000_000)
        .cors_origin("http://allowed.example")
        .static_dir(root.join("tests/fixtures/static"))
        .client_bundle_dir(root.join("node_modules/socket.io-client/dist"))
        .build()
        .expect("valid config");

    let reasons: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    for name in ["/", "/admin", "/chat"] {
        install(&hub.of(name), reasons.clone());
    }
    hub.of("/admin").guard(|req| {
        let auth: serde_json::Value = serde_json::from_str(&req.auth).unwrap_or_default();
        if auth["token"] == "secret" {
            Ok(())
        } else {
            Err(ConnectRefusal::new("unauthorized"))
        }
    });
    // Plain WebSocket clients echo exactly and sit in the room "raw".
    hub.on_connect(|socket| {
        if socket.is_raw() {
            socket.join("raw");
        }
    });

    let addr = hub.start().expect("start");
    println!("LISTENING {}", addr.port());
    std::io::stdout().flush().ok();
    loop {
        std::thread::park();
    }
}

fn install(ns: &Namespace, reasons: Arc<Mutex<HashMap<String, String>>>) {
    let nsc = ns.clone();
    let record = reasons.clone();
    ns.on_disconnect(move |socket, reason| {
        record.lock().insert(socket.id().to_string(), reason.to_string());
    });
    ns.on("message", |ev| {
        if ev.socket().is_raw() {
            ev.socket().emit("message", ev.args()).ok();
        }
    });
    ns.on("echo", |ev| {
        ev.socket().emit("echo", ev.args()).ok();
    });
    ns.on("echo-ack", |ev| {
        ev.ack(ev.args()).ok();
    });
    ns.on("join", |ev| {
        if let Ok(room) = ev.args().first::<String>() {
            ev.socket().join(&room);
        }
        ev.ack(&Payload::one(&true).unwrap()).ok();
    });
    ns.on("leave", |ev| {
        if let Ok(room) = ev.args().first::<String>() {
            ev.socket().leave(&room);
        }
        ev.ack(&Payload::one(&true).unwrap()).ok();
    });
    ns.on("rooms", |ev| {
        ev.ack(&Payload::one(&ev.socket().rooms()).unwrap()).ok();
    });
    let n = nsc.clone();
    ns.on("to-room", move |ev| {
        let (room, rest) = split_first(&ev, 1);
        n.to(&room[0]).emit("room-msg", &rest);
    });
    let n = nsc.clone();
    ns.on("to-room-except", move |ev| {
        let (rooms, rest) = split_first(&ev, 2);
        n.to(&rooms[0]).except(&rooms[1]).emit("room-msg", &rest);
    });
    ns.on("broadcast", |ev| {
        ev.socket().broadcast().emit("broadcast", ev.args());
    });
    let n = nsc.clone();
    ns.on("to-all", move |ev| {
        n.emit("to-all", ev.args());
    });
    ns.on("request-ack", |ev| {
        let timeout = ev.args().first::<u64>().unwrap_or(500);
        let socket = ev.socket().clone();
        let please = Payload::one(&"please ack").unwrap();
        ev.socket().emit_with_ack_callback("ping-me", &please, Duration::from_millis(timeout), move |res| {
            let _ = match res {
                Ok(answer) => socket.emit("ack-result", &answer),
                Err(_) => socket.emit("ack-timeout", &Payload::empty()),
            };
        });
    });
    ns.on("disconnect-me", |ev| ev.socket().disconnect());
    let n = nsc.clone();
    ns.on("count", move |ev| {
        ev.ack(&Payload::one(&n.sockets().len()).unwrap()).ok();
    });
    ns.on("last-reason", move |ev| {
        let id = ev.args().first::<String>().unwrap_or_default();
        let reason = reasons.lock().get(&id).cloned();
        ev.ack(&Payload::one(&reason).unwrap()).ok();
    });
}

/// Splits the first `n` string arguments off; the rest stays a payload with
/// its attachments.
fn split_first(ev: &Event, n: usize) -> (Vec<String>, Payload) {
    let args = ev.args().args();
    let heads = args.iter().take(n).map(|a| serde_json::from_str::<String>(a.get()).unwrap_or_default()).collect();
    let rest: Vec<&str> = args.iter().skip(n).map(|a| a.get()).collect();
    let json = format!("[{}]", rest.join(","));
    let payload = Payload::from_json(json).unwrap_or_default().with_attachments(ev.args().attachments().to_vec());
    (heads, payload)
}
