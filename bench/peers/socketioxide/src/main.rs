//! socketioxide peer for the wshub benchmark: "echo" goes back to the sender,
//! "broadcast" goes to every socket of "/" but the sender. PORT from the
//! environment (0 picks one); prints `LISTENING <port>` once bound.

use std::io::Write;
use std::time::Duration;

use axum::serve::ListenerExt;
use serde_json::Value;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::SocketIo;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    // Heartbeats far apart so that they play no part in a run.
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(600))
        .ping_timeout(Duration::from_secs(600))
        .build_layer();
    io.ns("/", async |s: SocketRef| {
        s.on("echo", async |s: SocketRef, Data::<Value>(data)| {
            s.emit("echo", &data).ok();
        });
        s.on("broadcast", async |s: SocketRef, Data::<Value>(data)| {
            s.broadcast().emit("broadcast", &data).await.ok();
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    println!("LISTENING {}", listener.local_addr().unwrap().port());
    // TCP_NODELAY like every other server of the benchmark (hyper leaves Nagle on).
    let listener = listener.tap_io(|tcp| {
        tcp.set_nodelay(true).ok();
    });
    std::io::stdout().flush().ok();
    axum::serve(listener, app).await.expect("serve");
}
