//! Socket.IO v5 packet codec: pure functions over text.
//!
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`. The data is
//! validated and split where the hub needs it (the event name), and otherwise
//! kept as raw JSON text.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

use bytes::{Buf, Bytes};
use smallvec::smallvec;
use tungstenite::Utf8Bytes;

use super::json;
use crate::engineio::packet::{Frame, Frames};
use crate::socketio::payload::Payload;

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
    /// Borrowed for the main namespace `/`: no allocation per packet.
    pub namespace: Cow<'static, str>,
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
    /// (The reference parser's words, which applications may match.)
    #[error("Illegal attachments")]
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

/// Decodes a packet from an Engine.IO message's text; the data stays in
/// the text's buffer.
pub fn decode(text: Utf8Bytes) -> Result<Packet, DecodeError> {
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
    let mut namespace = Cow::Borrowed("/");
    if bytes.get(i) == Some(&b'/') {
        let end = s[i..].find(',').map(|p| i + p).unwrap_or(bytes.len());
        namespace = Cow::Owned(s[i..end].to_string());
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
            json::check(&s[i..]).map_err(|_| DecodeError::Json)?;
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
    data.as_ref().and_then(|d| json::first_byte(d.as_bytes()))
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

/// An EVENT's data, split: the event name and where the arguments are.
#[derive(Debug)]
pub struct EventSplit<'a> {
    /// Borrowed from the data unless it had escapes.
    pub name: Cow<'a, str>,
    /// From the comma after the name to the closing bracket: the argument
    /// array once the comma is made a `[`. None when there are no arguments.
    pub args: Option<Range<usize>>,
}

/// Validates an EVENT's data (a JSON array whose first item is the name)
/// and splits it, without copying either part.
pub fn split_event(data: &str) -> Result<EventSplit<'_>, DecodeError> {
    let b = data.as_bytes();
    let bad_json = |_| DecodeError::Json;
    // Data that is not an array with a name first: JSON of the wrong shape, or not JSON.
    let refusal = || json::check(data).map_or(DecodeError::Json, |()| DecodeError::Shape);
    let open = json::skip_ws(b, 0);
    if b.get(open) != Some(&b'[') {
        return Err(refusal());
    }
    let start = json::skip_ws(b, open + 1);
    let (end, name) = match b.get(start) {
        Some(b'"') => {
            let (end, escaped) = json::string(b, start).map_err(bad_json)?;
            let name = if escaped {
                Cow::Owned(serde_json::from_str::<String>(&data[start..end]).map_err(|_| DecodeError::Json)?)
            } else {
                Cow::Borrowed(&data[start + 1..end - 1])
            };
            (end, name)
        }
        // The reference server also accepts a number as the event name.
        Some(b'-' | b'0'..=b'9') => {
            let end = json::number(b, start).map_err(bad_json)?;
            (end, Cow::Borrowed(&data[start..end]))
        }
        // No name: an empty array, or another kind of value first.
        _ => return Err(refusal()),
    };
    let after_name = json::skip_ws(b, end);
    let close = json::array_tail(b, after_name).map_err(bad_json)?;
    if json::skip_ws(b, close) != b.len() {
        return Err(DecodeError::Json);
    }
    if RESERVED_EVENTS.contains(&name.as_ref()) {
        return Err(DecodeError::ReservedEvent);
    }
    // Between two items there is only whitespace and one comma; after the
    // last one, whitespace and the closing bracket.
    let args = (b[after_name] == b',').then_some(after_name..close);
    Ok(EventSplit { name, args })
}

/// The argument array of an event, from its data and the `args` range of
/// its split. When the data's buffer is not shared (a WebSocket message
/// is not), the comma before the first argument becomes the array's `[`
/// in place: the arguments are neither copied nor allocated.
pub fn event_args(data: Utf8Bytes, args: Option<Range<usize>>) -> Utf8Bytes {
    let Some(range) = args else { return Utf8Bytes::from_static("[]") };
    match Bytes::from(data).try_into_mut() {
        Ok(mut buf) => {
            buf[range.start] = b'[';
            if range.end < buf.len() {
                buf.truncate(range.end); // (rare: whitespace after the array; costs a shared header)
            }
            buf.advance(range.start);
            // SAFETY: one ASCII byte replaced by another, and cut at ASCII
            // bytes (the comma, the closing bracket) of valid UTF-8.
            unsafe { Utf8Bytes::from_bytes_unchecked(buf.freeze()) }
        }
        Err(shared) => {
            let inner = String::from_utf8_lossy(&shared[range.start + 1..range.end]);
            let mut out = String::with_capacity(range.len());
            out.push('[');
            out.push_str(&inner);
            Utf8Bytes::from(out)
        }
    }
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

/// The length of what `header` writes: encoders size their text exactly
/// (see `Frame::text`).
fn header_len(attachments: usize, namespace: &str, ack_id: Option<u64>) -> usize {
    let decimal_len = |n: u64| n.checked_ilog10().map_or(1, |d| d as usize + 1);
    2 + if attachments > 0 { decimal_len(attachments as u64) + 1 } else { 0 }
        + if namespace != "/" { namespace.len() + 1 } else { 0 }
        + ack_id.map_or(0, decimal_len)
}

/// A packet's frames: its text frame, then the payload's attachments.
pub fn with_attachments(text: Frame, payload: &Payload) -> Frames {
    let mut frames: Frames = smallvec![text];
    frames.extend(payload.attachments().iter().cloned().map(Frame::Binary));
    frames
}

/// Writes a JSON string literal for `s`.
pub fn push_json_string(out: &mut String, s: &str) {
    // Event names rarely need escapes: then the literal is the text in quotes.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // serde_json's escaping is the reference; a string always serialises.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// An EVENT (or BINARY_EVENT) packet.
pub fn encode_event(namespace: &str, event: &str, args: &Payload, ack_id: Option<u64>) -> Frames {
    let inner = args.inner_json();
    // `["event"]`, or `["event",inner]` (exact unless the name needs escapes).
    let array = event.len() + 4 + if inner.is_empty() { 0 } else { 1 + inner.len() };
    let mut out = String::with_capacity(header_len(args.attachments().len(), namespace, ack_id) + array);
    header(&mut out, '2', args.attachments().len(), namespace, ack_id);
    push_event_array(&mut out, event, args);
    with_attachments(Frame::text(out), args)
}

/// An EVENT whose last argument is `offset` (connection state recovery:
/// the client hands back the last one it got when it reconnects).
pub fn encode_event_at(namespace: &str, event: &str, args: &Payload, offset: &str) -> Frames {
    let inner = args.inner_json();
    let array = event.len() + 4 + if inner.is_empty() { 0 } else { 1 + inner.len() } + offset.len() + 3;
    let mut out = String::with_capacity(header_len(args.attachments().len(), namespace, None) + array);
    header(&mut out, '2', args.attachments().len(), namespace, None);
    push_array(&mut out, event, args, Some(offset));
    with_attachments(Frame::text(out), args)
}

/// Writes the event array `["event", ...args]`.
pub fn push_event_array(out: &mut String, event: &str, args: &Payload) {
    push_array(out, event, args, None);
}

fn push_array(out: &mut String, event: &str, args: &Payload, last: Option<&str>) {
    let inner = args.inner_json();
    out.push('[');
    push_json_string(out, event);
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    if let Some(last) = last {
        out.push(',');
        push_json_string(out, last);
    }
    out.push(']');
}

/// An ACK (or BINARY_ACK) packet.
pub fn encode_ack(namespace: &str, ack_id: u64, args: &Payload) -> Frames {
    let mut out =
        String::with_capacity(header_len(args.attachments().len(), namespace, Some(ack_id)) + args.json().len());
    header(&mut out, '3', args.attachments().len(), namespace, Some(ack_id));
    out.push_str(args.json());
    with_attachments(Frame::text(out), args)
}

/// The CONNECT answer carrying the socket id.
/// The CONNECT answer: the socket's id and, with connection state
/// recovery, its private session id.
pub fn encode_connect(namespace: &str, sid: &str, pid: Option<&str>) -> Frame {
    let mut out = String::new();
    header(&mut out, '0', 0, namespace, None);
    out.push_str("{\"sid\":\"");
    out.push_str(sid);
    if let Some(pid) = pid {
        out.push_str("\",\"pid\":\"");
        out.push_str(pid);
    }
    out.push_str("\"}");
    Frame::text(out)
}

/// Socket.IO v2's CONNECT answer (an Engine.IO v3 client): no payload.
pub fn encode_connect_v2(namespace: &str) -> Frame {
    let mut out = String::new();
    header(&mut out, '0', 0, namespace, None);
    Frame::text(out)
}

/// A Socket.IO v2 CONNECT's namespace and auth: v2 clients put their
/// `query` after the name ("/chat?token=abc"); it becomes the auth object,
/// as Socket.IO's server reads it.
pub fn v2_namespace(namespace: &str) -> (String, Utf8Bytes) {
    let Some((name, query)) = namespace.split_once('?') else {
        return (namespace.to_string(), Utf8Bytes::from_static("{}"));
    };
    let auth: serde_json::Map<String, serde_json::Value> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (crate::http::percent_decode(k), serde_json::Value::String(crate::http::percent_decode(v)))
        })
        .collect();
    (name.to_string(), Utf8Bytes::from(serde_json::Value::Object(auth).to_string()))
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
        decode(Utf8Bytes::from(s.to_string()))
    }

    /// An event packet's name and argument array.
    fn split(p: Packet) -> (String, String) {
        let data = p.data.unwrap();
        let EventSplit { name, args } = split_event(data.as_str()).unwrap();
        let name = name.into_owned();
        (name, event_args(data, args).as_str().to_string())
    }

    #[test]
    fn decodes_event_with_namespace_and_ack_id() {
        let p = dec(r#"2/chat,12["hi",1]"#).unwrap();
        assert_eq!(p.kind, PacketType::Event);
        assert_eq!(p.namespace, "/chat");
        assert_eq!(p.ack_id, Some(12));
        assert_eq!(split(p), ("hi".into(), "[1]".into()));
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
        assert_eq!(split(dec(r#"2["ping"]"#).unwrap()), ("ping".into(), "[]".into()));
    }

    #[test]
    fn event_names_escaped_or_numeric() {
        assert_eq!(split(dec(r#"2["a\"b\u00e9",true]"#).unwrap()), ("a\"bé".into(), "[true]".into()));
        assert_eq!(split(dec(r#"2[42,"x"]"#).unwrap()), ("42".into(), "[\"x\"]".into()));
        assert_eq!(split(dec(r#"2[""]"#).unwrap()), ("".into(), "[]".into()));
    }

    #[test]
    fn args_keep_the_sent_text_whether_the_buffer_is_shared_or_not() {
        let text = " [ \"ev\" ,\t{\"a\":[1,2]} , \"s,]\" ] \n";
        let expected = "[\t{\"a\":[1,2]} , \"s,]\" ]";
        // Not shared: the comma becomes the bracket in place.
        let data = Utf8Bytes::from(text.to_string());
        let args = split_event(data.as_str()).unwrap().args;
        assert_eq!(event_args(data, args).as_str(), expected);
        // Shared (e.g. sliced out of a polling payload): copied.
        let data = Utf8Bytes::from(text.to_string());
        let keep = data.clone();
        let args = split_event(data.as_str()).unwrap().args;
        assert_eq!(event_args(data, args).as_str(), expected);
        assert_eq!(keep.as_str(), text, "a shared buffer is left as it was");
        let _ = Payload::from_json(expected).unwrap();
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
        for bad in [
            "",
            "9",
            "2",
            "2{}",
            "2[1",
            "5-[\"a\"]",
            "0[]",
            "1{}",
            "3[]",
            "2[\"connect\"]",
            "2[{}]",
            "2[]",
            "2[\"a\",]",
            "2[\"a\"]x",
        ] {
            let res = dec(bad).and_then(|p| match p.kind {
                PacketType::Event => split_event(p.data.as_ref().unwrap().as_str()).map(|_| ()),
                _ => Ok(()),
            });
            assert!(res.is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn encodes_event_once_with_escaped_name() {
        let frames = encode_event("/", "a\"b", &Payload::from_json("[1,\"é\"]").unwrap(), None);
        assert_eq!(frames.to_vec(), vec![Frame::text(r#"42["a\"b",1,"é"]"#.into())]);
        let frames = encode_event("/chat", "x", &Payload::empty(), Some(7));
        assert_eq!(frames.to_vec(), vec![Frame::text(r#"42/chat,7["x"]"#.into())]);
    }

    #[test]
    fn header_lengths_are_exact() {
        let text = |frames: Frames| match &frames[0] {
            Frame::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        let args = Payload::from_json(" [ 1 , {\"a\":2} ] ").unwrap();
        let bin = Payload::builder().binary(vec![1u8]).build();
        for (ns, ack) in [("/", None), ("/chat", Some(0)), ("/", Some(1234567))] {
            for (name, args) in [("echo", &args), ("e\"x", &args), ("", &Payload::empty()), ("f", &bin)] {
                let t = text(encode_event(ns, name, args, ack));
                assert_eq!(header_len(args.attachments().len(), ns, ack), header_len_of(&t), "{t:?}");
            }
            let t = text(encode_ack(ns, 7, &bin));
            assert_eq!(header_len(1, ns, Some(7)), header_len_of(&t));
        }
    }

    /// The header length of an encoded packet, read back: up to the `[`.
    fn header_len_of(t: &Utf8Bytes) -> usize {
        t.as_str().find('[').unwrap()
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
        assert_eq!(encode_connect("/", "abc", None), Frame::text(r#"40{"sid":"abc"}"#.into()));
        assert_eq!(encode_connect("/x", "a", Some("p")), Frame::text(r#"40/x,{"sid":"a","pid":"p"}"#.into()));
        let args = Payload::from_json("[1]").unwrap();
        assert_eq!(encode_event_at("/", "e", &args, "1f")[0], Frame::text(r#"42["e",1,"1f"]"#.into()));
        assert_eq!(encode_event_at("/", "e", &Payload::empty(), "2")[0], Frame::text(r#"42["e","2"]"#.into()));
        assert_eq!(
            encode_connect_error("/x", "Invalid namespace", None),
            Frame::text(r#"44/x,{"message":"Invalid namespace"}"#.into())
        );
        assert_eq!(encode_disconnect("/x"), Frame::text("41/x,".into()));
    }
}
