//! The wshub server of the benchmark (`make bench`, bench/run.py).
//!
//! Socket.IO events of the main namespace: "echo" is emitted back to the
//! sender with the same args; "broadcast" is emitted with the same args to
//! every socket of the namespace but the sender.
//!
//! Plain WebSocket clients (the raw endpoint, `/ws`) follow the raw protocol
//! of every raw server of the benchmark: a text message whose first byte is
//! `e` goes back to the sender unchanged, one whose first byte is `b` goes
//! unchanged to every other socket, anything else is ignored.
//!
//! PORT from the environment (0 picks one); prints `LISTENING <port>`.
//! With REDIS_URL (e.g. `redis://127.0.0.1:6379`) the hub joins the cluster on
//! that Redis, so "broadcast" also reaches the sockets of the other servers
//! there (the `cluster2` scenario of the benchmark). With WSHUB_RECOVERY=1,
//! connection state recovery is on (bench/recovery.py: its cost).

use std::io::Write;
use std::time::Duration;

use wshub::Hub;

fn main() {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let mut builder = Hub::builder();
    if let Ok(url) = std::env::var("REDIS_URL") {
        builder = builder.redis_url(&url);
    }
    if std::env::var_os("WSHUB_RECOVERY").is_some_and(|v| v == "1") {
        builder = builder.connection_state_recovery(Some(wshub::RecoveryConfig::default()));
    }
    let hub = builder
        .port(port)
        // Heartbeats far apart so that they play no part in a run.
        .ping_interval(Duration::from_secs(600))
        .ping_timeout(Duration::from_secs(600))
        // A broadcast run keeps up to 16 frames queued per receiver; leave room.
        .max_queued_frames(65536)
        .build()
        .expect("valid config");

    hub.on("echo", |ev| {
        ev.socket().emit("echo", ev.args()).ok();
    });
    hub.on("broadcast", |ev| {
        ev.socket().broadcast().emit("broadcast", ev.args());
    });
    // Raw clients: the message's one argument is a JSON string, `["e...`.
    hub.on("message", |ev| {
        if !ev.socket().is_raw() {
            return;
        }
        match ev.args().json().as_bytes().get(2) {
            Some(b'e') => {
                ev.socket().emit("message", ev.args()).ok();
            }
            Some(b'b') => {
                ev.socket().broadcast().emit("message", ev.args());
            }
            _ => {}
        }
    });

    let addr = hub.start().expect("start");
    println!("LISTENING {}", addr.port());
    std::io::stdout().flush().ok();
    loop {
        std::thread::park();
    }
}
