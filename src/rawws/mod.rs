//! Plain messages: the raw WebSocket endpoint (default `/ws`) for
//! `new WebSocket(url)` clients, and the optional plain Engine.IO endpoint.
//!
//! Each plain client is a socket of the main namespace: it joins rooms and
//! receives broadcasts like any other. A text or binary message it sends
//! arrives as a `message` event with one argument (a string, or one binary
//! attachment); a `message` emit with one such argument goes out as a plain
//! message of the same type; any other emit goes out as a text message
//! holding the JSON array `["event", ...args]`, followed by its attachments
//! as binary messages.

use std::sync::Arc;

use bytes::Bytes;
use smallvec::smallvec;
use tungstenite::{Message, Utf8Bytes};

use crate::engineio::packet::{Frame, Frames};
use crate::engineio::session::{EngineSession, Protocol};
use crate::hub::{ConnectRefusal, DisconnectReason, HubCore, Socket};
use crate::payload::Payload;
use crate::socketio::conn::join_namespace;
use crate::socketio::packet::{push_event_array, push_json_string, with_attachments};

/// Runs the main namespace's guards for a plain client and makes it a
/// socket of that namespace. A refused session is closed.
pub async fn attach(core: &Arc<HubCore>, session: &Arc<EngineSession>) -> Result<(), ConnectRefusal> {
    let ns = core.namespaces.get_or_create("/");
    let auth = Utf8Bytes::from_static("{}");
    match join_namespace(core, session, &ns, session.sid.clone(), auth).await {
        Ok(socket) => {
            ns.dispatch_connect(&Socket(socket));
            Ok(())
        }
        Err(refusal) => {
            session.close(DisconnectReason::ServerNamespaceDisconnect);
            Err(refusal)
        }
    }
}

/// A WebSocket message from a raw client.
pub fn on_message(session: &Arc<EngineSession>, msg: Message) -> Result<(), DisconnectReason> {
    match msg {
        Message::Text(text) => on_text(session, text),
        Message::Binary(data) => on_binary(session, data),
        Message::Close(_) => Err(DisconnectReason::TransportClose),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
    }
}

/// A text message from a plain client becomes a `message` event.
pub fn on_text(session: &Arc<EngineSession>, text: Utf8Bytes) -> Result<(), DisconnectReason> {
    let mut json = String::with_capacity(text.len() + 4);
    json.push('[');
    push_json_string(&mut json, text.as_str());
    json.push(']');
    dispatch(session, Payload::from_trusted(Utf8Bytes::from(json), Vec::new()));
    Ok(())
}

/// A binary message from a plain client becomes a `message` event with one attachment.
pub fn on_binary(session: &Arc<EngineSession>, data: Bytes) -> Result<(), DisconnectReason> {
    dispatch(session, Payload::builder().binary(data).build());
    Ok(())
}

fn dispatch(session: &EngineSession, args: Payload) {
    let Some(socket) = session.sio.lock().sockets.get("/").cloned() else { return };
    let ns = socket.namespace.clone();
    ns.dispatch_event(socket, "message", args, None);
}

/// Encodes an emit for a plain client; Engine.IO clients get the message
/// packet type in front of text.
pub fn encode_event(event: &str, args: &Payload, protocol: Protocol) -> Frames {
    let start = |len: usize| {
        let mut out = String::with_capacity(len + 1);
        if protocol == Protocol::Engine {
            out.push('4');
        }
        out
    };
    if event == "message" {
        let items = args.args();
        if items.len() == 1 {
            if args.attachments().len() == 1 {
                return smallvec![Frame::Binary(args.attachments()[0].clone())];
            }
            if let Ok(s) = serde_json::from_str::<String>(items[0].get()) {
                let mut out = start(s.len());
                out.push_str(&s);
                return smallvec![Frame::text(out)];
            }
        }
    }
    // Written once, into the frame's own text (no second copy of the array).
    let mut out = start(event.len() + args.json().len() + 8);
    push_event_array(&mut out, event, args);
    with_attachments(Frame::text(out), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_with_one_string_is_a_plain_text_frame() {
        let p = Payload::one(&"héllo").unwrap();
        assert_eq!(encode_event("message", &p, Protocol::Raw).to_vec(), vec![Frame::text("héllo".into())]);
        assert_eq!(encode_event("message", &p, Protocol::Engine).to_vec(), vec![Frame::text("4héllo".into())]);
    }

    #[test]
    fn message_with_one_binary_is_a_plain_binary_frame() {
        let p = Payload::builder().binary(vec![0u8, 255]).build();
        assert_eq!(encode_event("message", &p, Protocol::Raw).to_vec(), vec![Frame::Binary(Bytes::from_static(&[0, 255]))]);
    }

    #[test]
    fn other_events_are_json_arrays() {
        let p = Payload::from_json(r#"[1,{"a":null}]"#).unwrap();
        assert_eq!(encode_event("news", &p, Protocol::Raw).to_vec(), vec![Frame::text(r#"["news",1,{"a":null}]"#.into())]);
    }
}
