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
    // Sanitizer builds run many times slower: they stretch the heartbeat
    // (tests/TEST_SERVER.md) so that a slow machine is not a ping timeout.
    let scale: u64 = std::env::var("WSHUB_TEST_HEARTBEAT_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    // RUST_LOG (e.g. `wshub=debug`): the hub's log on stderr, which the cluster tests show when they fail.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let mut builder = Hub::builder();
    // (An empty REDIS_URL is a hub on its own, as none.)
    if let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        let sharded = std::env::var("REDIS_SHARDED").is_ok_and(|v| v == "1");
        let streams = std::env::var("REDIS_STREAMS").is_ok_and(|v| v == "1");
        let cluster = std::env::var("REDIS_CLUSTER").is_ok_and(|v| v == "1");
        builder = builder.redis_url(&url).redis_cluster(cluster).redis_sharded(sharded).redis_streams(streams);
        if let Some(n) = std::env::var("REDIS_STREAM_MAX_LEN").ok().and_then(|n| n.parse().ok()) {
            builder = builder.redis_stream_max_len(n);
        }
        builder = builder.cluster_timeout(Duration::from_millis(2000));
    }
    // Optional: connection state recovery, kept this many milliseconds.
    if let Some(ms) = std::env::var("WSHUB_RECOVERY_MS").ok().and_then(|ms| ms.parse().ok()) {
        let recovery =
            wshub::RecoveryConfig { max_disconnection_duration: Duration::from_millis(ms), ..Default::default() };
        builder = builder.connection_state_recovery(Some(recovery));
    }
    // Optional: https/wss, and an origin allow-list (comma-separated).
    if let (Ok(cert), Ok(key)) = (std::env::var("WSHUB_TLS_CERT"), std::env::var("WSHUB_TLS_KEY")) {
        builder = builder.tls(cert, key);
    }
    // Optional: permessage-deflate on the Socket.IO endpoint too (the raw one has it by default).
    if std::env::var_os("WSHUB_PER_MESSAGE_DEFLATE").is_some() {
        builder = builder.per_message_deflate(Some(wshub::DeflateConfig::default()));
    }
    // Optional: the metrics in the Prometheus text format on /metrics, for this bearer token.
    if let Ok(token) = std::env::var("WSHUB_METRICS_TOKEN") {
        builder = builder.metrics_path("/metrics", Some(&token), &[]);
    }
    for origin in std::env::var("WSHUB_ALLOWED_ORIGINS").unwrap_or_default().split(',').filter(|o| !o.is_empty()) {
        builder = builder.allowed_origin(origin.trim());
    }
    let hub = builder
        .port(port)
        .ping_interval(Duration::from_millis(300 * scale))
        .ping_timeout(Duration::from_millis(200 * scale))
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
    install_cluster(ns);
}

/// The events that reach the other nodes of a cluster (REDIS_URL set).
fn install_cluster(ns: &Namespace) {
    let n = ns.clone();
    ns.on("fetch-sockets", move |ev| {
        let fetch = n.fetch_sockets();
        tokio::spawn(async move {
            let answer = match fetch.await {
                Ok(sockets) => {
                    let mut ids: Vec<String> = sockets.into_iter().map(|s| s.id).collect();
                    ids.sort();
                    Payload::one(&ids)
                }
                Err(e) => Payload::one(&e.to_string()),
            };
            ev.ack(&answer.unwrap()).ok();
        });
    });
    let n = ns.clone();
    ns.on("sockets-join", move |ev| {
        let (rooms, _) = split_first(&ev, 2);
        n.to(&rooms[0]).join(&rooms[1]);
        ev.ack(&Payload::one(&true).unwrap()).ok();
    });
    let n = ns.clone();
    ns.on("disconnect-room", move |ev| {
        let (room, _) = split_first(&ev, 1);
        n.to(&room[0]).disconnect();
    });
    let n = ns.clone();
    ns.on("server-side-emit", move |ev| n.server_side_emit("server-event", ev.args()));
    let n = ns.clone();
    ns.on_server_event("server-event", move |ev| {
        n.to_all().local().emit("server-event", ev.args());
        ev.ack(&Payload::one(&"wshub got it").unwrap());
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
