//! Entry points for the fuzz targets in fuzz/ (and their regression tests):
//! every decoder a client's bytes reach, callable without a server. Each
//! must return (an error is fine) and never panic, whatever the input.

use bytes::Bytes;
use tungstenite::Utf8Bytes;

use crate::engineio::packet as eio;
use crate::socketio::json;
use crate::socketio::packet as sio;

/// An Engine.IO text packet (WebSocket text frame), then what Socket.IO
/// makes of a message packet, including an event's name and arguments.
pub fn engineio_text(data: &[u8]) {
    let Ok(text) = Utf8Bytes::try_from(Bytes::copy_from_slice(data)) else { return };
    if let Ok(eio::Packet::Message(msg)) = eio::decode_text(text) {
        socketio_text(msg);
    }
}

/// A long-polling POST body: several packets joined by 0x1e, `b` + base64
/// binary; and the same bytes as Engine.IO v3's (length-prefixed, text or binary form).
pub fn polling_payload(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let v4 = eio::decode_payload(bytes.clone()).unwrap_or_default();
    let v3 = crate::engineio::v3::decode_payload(bytes).unwrap_or_default();
    for p in v4.into_iter().chain(v3) {
        if let eio::Packet::Message(msg) = p {
            socketio_text(msg);
        }
    }
}

/// A Socket.IO packet, and for binary packets the reassembly with the
/// attachments that follow (the rest of the input, split at 0xff bytes).
pub fn socketio_with_attachments(data: &[u8]) {
    let mut parts = data.split(|b| *b == 0xff);
    let Some(head) = parts.next() else { return };
    let Ok(text) = Utf8Bytes::try_from(Bytes::copy_from_slice(head)) else { return };
    let Ok(packet) = sio::decode(text) else { return };
    let attachments: Vec<Bytes> = parts.take(packet.attachments).map(Bytes::copy_from_slice).collect();
    if let Some(data) = packet.data.clone() {
        if let Ok(sio::EventSplit { name, args }) = sio::split_event(data.as_str()) {
            let name = name.into_owned();
            let payload = crate::Payload::from_trusted(sio::event_args(data, args), attachments);
            // What the hub does next with it: encode it again for receivers.
            let _ = sio::encode_event(&packet.namespace, &name, &payload, packet.ack_id);
            let _ = crate::rawws::encode_event(&name, &payload, crate::engineio::session::Protocol::Raw);
        }
    }
}

fn socketio_text(msg: Utf8Bytes) {
    let Ok(packet) = sio::decode(msg) else { return };
    let _ = sio::connect_auth(&packet);
    let _ = sio::v2_namespace(&packet.namespace);
    let Some(data) = packet.data else { return };
    let args = match sio::split_event(data.as_str()) {
        Ok(split) => split.args,
        Err(_) => return,
    };
    // The arguments the hub makes of the data (in place) are a JSON array.
    let args = sio::event_args(data, args);
    assert!(args.as_str().starts_with('[') && json::check(args.as_str()).is_ok(), "{args:?}");
}

/// An HTTP request head as the accept loop reads it, with its query and the
/// static-file path resolution.
pub fn http_head(data: &[u8]) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    if let Ok(Some((req, _))) = crate::http::parse_head(data, addr) {
        let _ = req.handshake();
        let _ = req.is_websocket_upgrade();
        if let Some(path) = crate::server::files::resolve(std::path::Path::new("/srv/static"), &req.path) {
            assert!(path.starts_with("/srv/static"), "a static path escaped its folder: {path:?}");
        }
    }
}

/// A message from the cluster's Redis channels (another node's broadcast,
/// request or answer, in the classic and the sharded protocol), decoded as
/// the Redis adapter does, and a broadcast encoded again as this node would.
pub fn cluster_message(data: &[u8]) {
    use crate::adapter::{classic, sharded};
    let ch = classic::Channels::new("socket.io", "/");
    if let Ok(Some(b)) = classic::decode_broadcast(data) {
        if let crate::adapter::Kind::Broadcast { event, args, .. } = b.kind {
            let scope = crate::adapter::Scope { namespace: "/", rooms: vec!["r"], except: Vec::new(), volatile: false };
            let out = crate::adapter::Outbound::Broadcast { scope: &scope, event: &event, args: &args };
            let _ = classic::encode(&ch, "fuzz", &out);
            let _ = sharded::encode("socket.io", "fuzz", &out);
        }
    }
    let _ = classic::decode_request("/", data);
    let _ = classic::decode_response("/", data);
    let _ = sharded::decode(data);
}

/// A plain WebSocket client's text message, as the raw endpoint makes it a
/// `message` event: the JSON it builds must hold exactly that text.
pub fn raw_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut json = String::from("[");
    crate::socketio::packet::push_json_string(&mut json, text);
    json.push(']');
    let back: Vec<String> = serde_json::from_str(&json).expect("the escaped text is a JSON array");
    assert_eq!(back, [text], "the escaped text must round-trip");
}

/// The bytes a client sends on a connection that negotiated
/// permessage-deflate: frames (masked or not, fragmented, control frames)
/// and deflate streams, read until the codec ends or fails.
pub fn websocket_deflate(data: &[u8]) {
    use tokio::io::AsyncWriteExt;
    static RUNTIME: once_cell::sync::Lazy<tokio::runtime::Runtime> = once_cell::sync::Lazy::new(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime")
    });
    let cfg = crate::config::DeflateConfig::default();
    let offer = ["permessage-deflate; client_max_window_bits"];
    let params = crate::ws::deflate::negotiate(offer, &cfg).expect("the default config accepts this offer");
    RUNTIME.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let deflate = Some(crate::ws::deflate::Deflate::new(params, &cfg));
        let mut ws = crate::ws::WsStream::new(server, Vec::new(), deflate, 1 << 20);
        let input = data.to_vec();
        let writer = async move {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            client // kept open for the codec's replies (pongs, close) until the reader ends
        };
        let reader = async { while ws.recv().await.is_ok() {} };
        let (_client, ()) = tokio::join!(writer, reader);
    });
}
