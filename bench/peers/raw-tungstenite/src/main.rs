//! The floor of the stack: plain tokio-tungstenite, no Socket.IO layer.
//!
//! The raw equivalent of the two events (same for every raw server of the
//! benchmark): a text message whose first byte is `e` is sent back to the
//! sender unchanged ("echo"); one whose first byte is `b` is sent unchanged
//! to every other connection ("broadcast"); anything else is ignored.
//!
//! One reader and one writer task per connection; the writer drains every
//! queued frame into tungstenite's write buffer and flushes once (one write
//! for many frames). PORT from the environment; prints `LISTENING <port>`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type Peers = Arc<RwLock<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    println!("LISTENING {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().ok();
    let peers: Peers = Arc::default();
    let next_id = AtomicU64::new(0);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of descriptors or similar: back off a little.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tcp.set_nodelay(true).ok();
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(tcp, id, peers.clone()));
    }
}

async fn serve(tcp: tokio::net::TcpStream, id: u64, peers: Peers) {
    // A 4 KiB read buffer, like socketioxide's default: tungstenite zero-fills
    // the buffer's spare room on every read, so a large one costs CPU.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let ws = match tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await {
        Ok(ws) => ws,
        Err(_) => return,
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    peers.write().unwrap().insert(id, tx.clone());
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.feed(msg).await.is_err() {
                return;
            }
            while let Ok(msg) = rx.try_recv() {
                if sink.feed(msg).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(ref text) if text.as_bytes().first() == Some(&b'e') => {
                let _ = tx.send(msg);
            }
            Message::Text(ref text) if text.as_bytes().first() == Some(&b'b') => {
                let peers = peers.read().unwrap();
                for (&other, ptx) in peers.iter() {
                    if other != id {
                        let _ = ptx.send(msg.clone());
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    peers.write().unwrap().remove(&id);
    drop(tx);
    writer.abort();
}
