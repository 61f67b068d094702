//! The server the official protocol test suites run against
//! (socketio/engine.io-protocol and socketio/socket.io-protocol, folders
//! test-suite/): an Engine.IO echo under /engine.io/, Socket.IO under
//! /socket.io/ with the main namespace and /custom, and an exact echo on the
//! raw WebSocket endpoint /ws (RFC 6455 conformance: tests/autobahn/run.py).
//! PORT from the environment (default 3000), MAX_PAYLOAD too (default
//! 1,000,000 bytes; the Autobahn run sets 16 MiB for its big messages).

use std::time::Duration;

use wshub::{Hub, Namespace, Payload, Socket};

fn main() {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let max_payload = std::env::var("MAX_PAYLOAD").ok().and_then(|p| p.parse().ok()).unwrap_or(1_000_000);
    let hub = Hub::builder()
        .port(port)
        .engine_path(Some("/engine.io/"))
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(max_payload)
        .connect_timeout(Duration::from_millis(1000))
        .cors_origin("*")
        .build()
        .expect("valid config");

    let main = hub.of("/");
    main.on_connect(send_auth);
    // Plain clients (Engine.IO echo, raw WebSocket echo) get their message back
    // unchanged; Socket.IO clients get "message-back".
    main.on("message", |ev| {
        let name = if ev.socket().is_raw() { "message" } else { "message-back" };
        ev.socket().emit(name, ev.args()).ok();
    });
    main.on("message-with-ack", |ev| {
        ev.ack(ev.args()).ok();
    });
    let custom: Namespace = hub.of("/custom");
    custom.on_connect(send_auth);

    let addr = hub.start().expect("start");
    println!("LISTENING {}", addr.port());
    loop {
        std::thread::park();
    }
}

/// Every Socket.IO connection is greeted with its auth payload.
fn send_auth(socket: Socket) {
    if socket.is_raw() {
        return;
    }
    if let Ok(args) = Payload::from_json(format!("[{}]", socket.auth())) {
        socket.emit("auth", &args).ok();
    }
}
