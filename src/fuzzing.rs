//! Entry points for the fuzz targets in fuzz/ (and their regression tests):
//! every decoder a client's bytes reach, callable without a server. Each
//! must return (an error is fine) and never panic, whatever the input.

use bytes::Bytes;
use tungstenite::Utf8Bytes;

use crate::engineio::packet as eio;
use crate::socketio::packet as sio;

/// An Engine.IO text packet (WebSocket text frame), then what Socket.IO
/// makes of a message packet, including an event's name and arguments.
pub fn engineio_text(data: &[u8]) {
    let Ok(text) = Utf8Bytes::try_from(Bytes::copy_from_slice(data)) else { return };
    if let Ok(eio::Packet::Message(msg)) = eio::decode_text(text) {
        socketio_text(msg);
    }
}

/// A long-polling POST body: several packets joined by 0x1e, `b` + base64 binary.
pub fn polling_payload(data: &[u8]) {
    if let Ok(packets) = eio::decode_payload(Bytes::copy_from_slice(data)) {
        for p in packets {
            if let eio::Packet::Message(msg) = p {
                socketio_text(msg);
            }
        }
    }
}

/// A Socket.IO packet, and for binary packets the reassembly with the
/// attachments that follow (the rest of the input, split at 0xff bytes).
pub fn socketio_with_attachments(data: &[u8]) {
    let mut parts = data.split(|b| *b == 0xff);
    let Some(head) = parts.next() else { return };
    let Ok(text) = Utf8Bytes::try_from(Bytes::copy_from_slice(head)) else { return };
    let Ok(packet) = sio::decode(&text) else { return };
    let attachments: Vec<Bytes> = parts.take(packet.attachments).map(Bytes::copy_from_slice).collect();
    if let Some(data) = &packet.data {
        if let Ok((name, args)) = sio::split_event(data) {
            let payload = crate::Payload::from_trusted(args, attachments);
            // What the hub does next with it: encode it again for receivers.
            let _ = sio::encode_event(&packet.namespace, &name, &payload, packet.ack_id);
            let _ = crate::rawws::encode_event(&name, &payload, crate::engineio::session::Protocol::Raw);
        }
    }
}

fn socketio_text(msg: Utf8Bytes) {
    if let Ok(packet) = sio::decode(&msg) {
        if let Some(data) = &packet.data {
            let _ = sio::split_event(data);
        }
        let _ = sio::connect_auth(&packet);
    }
}

/// An HTTP request head as the accept loop reads it, with its query and the
/// static-file path resolution.
pub fn http_head(data: &[u8]) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    if let Ok(Some((req, _))) = crate::server::http::parse_head(data, addr) {
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
