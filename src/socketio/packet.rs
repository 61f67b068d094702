//! Socket.IO v5 packet codec: pure functions over text.
//!
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`. The data is
//! validated and split where the hub needs it (the event name), and otherwise
//! kept as raw JSON text.

use std::fmt::Write as _;

use serde_json::value::RawValue;
use tungstenite::Utf8Bytes;

use crate::engineio::packet::Frame;
use crate::payload::Payload;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

/// A decoded packet header plus its raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub kind: PacketType,
    pub namespace: String,
    pub attachments: usize,
    pub ack_id: Option<u64>,
    /// Raw JSON data, absent when the packet has none.
    pub data: Option<Utf8Bytes>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type")]
    UnknownType,
    #[error("bad attachment count")]
    Attachments,
    #[error("bad ack id")]
    AckId,
    #[error("invalid JSON data")]
    Json,
    #[error("data of the wrong shape for the packet type")]
    Shape,
    #[error("reserved event name")]
    ReservedEvent,
}

/// Event names a client may not emit (the Socket.IO client's own events).
const RESERVED_EVENTS: &[&str] =
    &["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

/// The most attachments one packet may announce.
const MAX_ATTACHMENTS: usize = 10_000;

/// Decodes a packet from an Engine.IO message's text.
pub fn decode(text: &Utf8Bytes) -> Result<Packet, DecodeError> {
    let s = text.as_str();
    let bytes = s.as_bytes();
    let kind = match bytes.first().ok_or(DecodeError::Empty)? {
        b'0' => PacketType::Connect,
        b'1' => PacketType::Disconnect,
        b'2' => PacketType::Event,
        b'3' => PacketType::Ack,
        b'4' => PacketType::ConnectError,
        b'5' => PacketType::BinaryEvent,
        b'6' => PacketType::BinaryAck,
        _ => return Err(DecodeError::UnknownType),
    };
    let mut i = 1;
    let mut attachments = 0;
    if matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i >= bytes.len() || bytes[i] != b'-' {
            return Err(DecodeError::Attachments);
        }
        attachments = s[start..i].parse().map_err(|_| DecodeError::Attachments)?;
        if attachments > MAX_ATTACHMENTS {
            return Err(DecodeError::Attachments);
        }
        i += 1;
    }
    let mut namespace = String::from("/");
    if bytes.get(i) == Some(&b'/') {
        let end = s[i..].find(',').map(|p| i + p).unwrap_or(bytes.len());
        namespace = s[i..end].to_string();
        i = (end + 1).min(bytes.len());
    }
    let mut ack_id = None;
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i > start {
        ack_id = Some(s[start..i].parse().map_err(|_| DecodeError::AckId)?);
    }
    let data = if i < bytes.len() {
        // Events are validated when split into name and args; other
        // packets are validated here.
        if !matches!(kind, PacketType::Event | PacketType::BinaryEvent) {
            serde_json::from_str::<&RawValue>(&s[i..]).map_err(|_| DecodeError::Json)?;
        }
        Some(crate::engineio::packet::utf8_tail(text, i))
    } else {
        None
    };
    let packet = Packet { kind, namespace, attachments, ack_id, data };
    check_shape(&packet)?;
    Ok(packet)
}

fn first_char(data: &Option<Utf8Bytes>) -> Option<u8> {
    data.as_ref().and_then(|d| d.as_str().trim_start().as_bytes().first().copied())
}

/// The same shape rules as the reference parser: CONNECT carries an object
/// or nothing, DISCONNECT nothing, EVENT an array whose first item is the
/// name, ACK an array.
fn check_shape(p: &Packet) -> Result<(), DecodeError> {
    let ok = match p.kind {
        PacketType::Connect => p.data.is_none() || first_char(&p.data) == Some(b'{'),
        PacketType::Disconnect => p.data.is_none(),
        PacketType::ConnectError => first_char(&p.data).is_some_and(|c| c == b'{' || c == b'"'),
        PacketType::Event | PacketType::BinaryEvent => first_char(&p.data) == Some(b'['),
        PacketType::Ack | PacketType::BinaryAck => first_char(&p.data) == Some(b'[') && p.ack_id.is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::Shape)
    }
}

/// Splits an EVENT's data into the event name and the argument array.
pub fn split_event(data: &Utf8Bytes) -> Result<(String, Utf8Bytes), DecodeError> {
    let items: Vec<&RawValue> = serde_json::from_str(data.as_str()).map_err(|_| DecodeError::Json)?;
    let first = items.first().ok_or(DecodeError::Shape)?;
    let name: String = match serde_json::from_str::<String>(first.get()) {
        Ok(name) => name,
        // The reference server also accepts a number as the event name.
        Err(_) => match serde_json::from_str::<f64>(first.get()) {
            Ok(_) => first.get().to_string(),
            Err(_) => return Err(DecodeError::Shape),
        },
    };
    if RESERVED_EVENTS.contains(&name.as_str()) {
        return Err(DecodeError::ReservedEvent);
    }
    let args = if items.len() == 1 {
        Utf8Bytes::from_static("[]")
    } else {
        let base = data.as_str().as_ptr() as usize;
        let start = items[1].get().as_ptr() as usize - base;
        let last = items[items.len() - 1].get();
        let end = last.as_ptr() as usize - base + last.len();
        let mut args = String::with_capacity(end - start + 2);
        args.push('[');
        args.push_str(&data.as_str()[start..end]);
        args.push(']');
        Utf8Bytes::from(args)
    };
    Ok((name, args))
}

/// Reads the `auth` object of a CONNECT packet (`{}` when absent).
pub fn connect_auth(p: &Packet) -> Utf8Bytes {
    p.data.clone().unwrap_or_else(|| Utf8Bytes::from_static("{}"))
}

// ---- encoding: every function returns the Engine.IO frames ("4" + packet) ----

fn header(out: &mut String, digit: char, attachments: usize, namespace: &str, ack_id: Option<u64>) {
    out.push('4');
    if attachments > 0 {
        out.push(match digit {
            '2' => '5',
            '3' => '6',
            d => d,
        });
        let _ = write!(out, "{attachments}");
        out.push('-');
    } else {
        out.push(digit);
    }
    if namespace != "/" {
        out.push_str(namespace);
        out.push(',');
    }
    if let Some(id) = ack_id {
        let _ = write!(out, "{id}");
    }
}

fn with_attachments(text: String, payload: &Payload) -> Vec<Frame> {
    let mut frames = Vec::with_capacity(1 + payload.attachments().len());
    frames.push(Frame::text(text));
    frames.extend(payload.attachments().iter().cloned().map(Frame::Binary));
    frames
}

/// Writes a JSON string literal for `s`.
pub fn push_json_string(out: &mut String, s: &str) {
    // serde_json's escaping is the reference; a string always serialises.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// An EVENT (or BINARY_EVENT) packet.
pub fn encode_event(namespace: &str, event: &str, args: &Payload, ack_id: Option<u64>) -> Vec<Frame> {
    let inner = args.inner_json();
    let mut out = String::with_capacity(16 + namespace.len() + event.len() + inner.len());
    header(&mut out, '2', args.attachments().len(), namespace, ack_id);
    push_event_array(&mut out, event, args);
    with_attachments(out, args)
}

/// Writes the event array `["event", ...args]`.
pub fn push_event_array(out: &mut String, event: &str, args: &Payload) {
    let inner = args.inner_json();
    out.push('[');
    push_json_string(out, event);
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    out.push(']');
}

/// An ACK (or BINARY_ACK) packet.
pub fn encode_ack(namespace: &str, ack_id: u64, args: &Payload) -> Vec<Frame> {
    let mut out = String::with_capacity(16 + namespace.len() + args.json().len());
    header(&mut out, '3', args.attachments().len(), namespace, Some(ack_id));
    out.push_str(args.json());
    with_attachments(out, args)
}

/// The CONNECT answer carrying the socket id.
pub fn encode_connect(namespace: &str, sid: &str) -> Frame {
    let mut out = String::new();
    header(&mut out, '0', 0, namespace, None);
    out.push_str("{\"sid\":\"");
    out.push_str(sid);
    out.push_str("\"}");
    Frame::text(out)
}

/// A CONNECT_ERROR with a message (and optional raw JSON `data`).
pub fn encode_connect_error(namespace: &str, message: &str, data: Option<&str>) -> Frame {
    let mut out = String::new();
    header(&mut out, '4', 0, namespace, None);
    out.push_str("{\"message\":");
    push_json_string(&mut out, message);
    if let Some(data) = data {
        out.push_str(",\"data\":");
        out.push_str(data);
    }
    out.push('}');
    Frame::text(out)
}

/// A DISCONNECT from the server.
pub fn encode_disconnect(namespace: &str) -> Frame {
    let mut out = String::new();
    header(&mut out, '1', 0, namespace, None);
    Frame::text(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Result<Packet, DecodeError> {
        decode(&Utf8Bytes::from(s.to_string()))
    }

    #[test]
    fn decodes_event_with_namespace_and_ack_id() {
        let p = dec(r#"2/chat,12["hi",1]"#).unwrap();
        assert_eq!(p.kind, PacketType::Event);
        assert_eq!(p.namespace, "/chat");
        assert_eq!(p.ack_id, Some(12));
        let (name, args) = split_event(p.data.as_ref().unwrap()).unwrap();
        assert_eq!(name, "hi");
        assert_eq!(args.as_str(), "[1]");
    }

    #[test]
    fn decodes_binary_event_attachment_count() {
        let p = dec(r#"52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#).unwrap();
        assert_eq!(p.kind, PacketType::BinaryEvent);
        assert_eq!(p.attachments, 2);
        assert_eq!(p.namespace, "/");
    }

    #[test]
    fn event_without_args_gives_empty_array() {
        let p = dec(r#"2["ping"]"#).unwrap();
        let (name, args) = split_event(p.data.as_ref().unwrap()).unwrap();
        assert_eq!((name.as_str(), args.as_str()), ("ping", "[]"));
    }

    #[test]
    fn connect_with_auth_and_namespace() {
        let p = dec(r#"0/admin,{"token":"x"}"#).unwrap();
        assert_eq!(p.kind, PacketType::Connect);
        assert_eq!(p.namespace, "/admin");
        assert_eq!(connect_auth(&p).as_str(), r#"{"token":"x"}"#);
        assert_eq!(dec("0").unwrap().namespace, "/");
    }

    #[test]
    fn rejects_malformed_packets() {
        for bad in ["", "9", "2", "2{}", "2[1", "5-[\"a\"]", "0[]", "1{}", "3[]", "2[\"connect\"]", "2[{}]"] {
            let res = dec(bad).and_then(|p| match p.kind {
                PacketType::Event => split_event(p.data.as_ref().unwrap()).map(|_| p),
                _ => Ok(p),
            });
            assert!(res.is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn encodes_event_once_with_escaped_name() {
        let frames = encode_event("/", "a\"b", &Payload::from_json("[1,\"é\"]").unwrap(), None);
        assert_eq!(frames, vec![Frame::text(r#"42["a\"b",1,"é"]"#.into())]);
        let frames = encode_event("/chat", "x", &Payload::empty(), Some(7));
        assert_eq!(frames, vec![Frame::text(r#"42/chat,7["x"]"#.into())]);
    }

    #[test]
    fn encodes_binary_event_and_ack() {
        let p = Payload::builder().binary(vec![1u8]).build();
        let frames = encode_event("/", "f", &p, None);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0], Frame::text(r#"451-["f",{"_placeholder":true,"num":0}]"#.into()));
        let frames = encode_ack("/", 3, &p);
        assert_eq!(frames[0], Frame::text(r#"461-3[{"_placeholder":true,"num":0}]"#.into()));
    }

    #[test]
    fn encodes_connect_and_errors() {
        assert_eq!(encode_connect("/", "abc"), Frame::text(r#"40{"sid":"abc"}"#.into()));
        assert_eq!(
            encode_connect_error("/x", "Invalid namespace", None),
            Frame::text(r#"44/x,{"message":"Invalid namespace"}"#.into())
        );
        assert_eq!(encode_disconnect("/x"), Frame::text("41/x,".into()));
    }
}
