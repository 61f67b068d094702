//! Plain messages, the codec: the raw WebSocket endpoint (default `/ws`) for
//! `new WebSocket(url)` clients, and the optional plain Engine.IO endpoint.
//! (The hub's connection, `hub::conn`, makes each plain client a socket.)
//!
//! Each plain client is a socket of the main namespace: it joins rooms and
//! receives broadcasts like any other. A text or binary message it sends
//! arrives as a `message` event with one argument (a string, or one binary
//! attachment); a `message` emit with one such argument goes out as a plain
//! message of the same type; any other emit goes out as a text message
//! holding the JSON array `["event", ...args]`, followed by its attachments
//! as binary messages.

use bytes::Bytes;
use smallvec::smallvec;
use tungstenite::Utf8Bytes;

use crate::engineio::packet::{Frame, Frames};
use crate::engineio::session::Protocol;
use crate::socketio::packet::{push_event_array, push_json_string, with_attachments};
use crate::socketio::payload::Payload;

/// The arguments of the `message` event a text message from a plain client is.
pub fn text_args(text: &str) -> Payload {
    let mut json = String::with_capacity(text.len() + 4);
    json.push('[');
    push_json_string(&mut json, text);
    json.push(']');
    Payload::from_trusted(Utf8Bytes::from(json), Vec::new())
}

/// The arguments of the `message` event a binary message from a plain client is.
pub fn binary_args(data: Bytes) -> Payload {
    Payload::builder().binary(data).build()
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
        assert_eq!(
            encode_event("message", &p, Protocol::Raw).to_vec(),
            vec![Frame::Binary(Bytes::from_static(&[0, 255]))]
        );
    }

    #[test]
    fn other_events_are_json_arrays() {
        let p = Payload::from_json(r#"[1,{"a":null}]"#).unwrap();
        assert_eq!(
            encode_event("news", &p, Protocol::Raw).to_vec(),
            vec![Frame::text(r#"["news",1,{"a":null}]"#.into())]
        );
    }
}
