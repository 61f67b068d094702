//! Engine.IO v4 packet codec: pure functions over bytes.
//!
//! A text packet is one type digit followed by its data; a binary WebSocket
//! message is a `message` packet whose data is the raw bytes. Over
//! long-polling, packets are joined by the record separator 0x1e and binary
//! packets travel as `b` + base64.

use base64::Engine as _;
use bytes::{Buf, Bytes};
use smallvec::SmallVec;
use tungstenite::Utf8Bytes;

/// The record separator between packets of one polling payload.
pub(crate) const SEPARATOR: u8 = 0x1e;

/// One decoded Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Open,
    Close,
    Ping(Utf8Bytes),
    Pong(Utf8Bytes),
    /// A text message: the Socket.IO packet (or raw text) it carries.
    Message(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    Upgrade,
    Noop,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    #[error("invalid base64 in binary packet")]
    Base64,
    #[error("payload is not valid UTF-8")]
    Utf8,
    #[error("bad packet length in an Engine.IO v3 payload")]
    Length,
}

/// Decodes one text packet (from a WebSocket text frame or a polling payload).
pub fn decode_text(text: Utf8Bytes) -> Result<Packet, DecodeError> {
    let first = *text.as_bytes().first().ok_or(DecodeError::Empty)?;
    Ok(match first {
        b'0' => Packet::Open,
        b'1' => Packet::Close,
        b'2' => Packet::Ping(utf8_tail(text, 1)),
        b'3' => Packet::Pong(utf8_tail(text, 1)),
        b'4' => Packet::Message(utf8_tail(text, 1)),
        b'5' => Packet::Upgrade,
        b'6' => Packet::Noop,
        b'b' => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(&text.as_bytes()[1..])
                .map_err(|_| DecodeError::Base64)?;
            Packet::Binary(Bytes::from(raw))
        }
        other => return Err(DecodeError::UnknownType(other as char)),
    })
}

/// The part of valid UTF-8 text after byte `from`, in the same buffer and
/// without validating it again (it is on the hot path of every message).
/// Taking the text, not a reference, matters: a buffer that is not shared
/// yet stays unshared (a clone would make it shared, an allocation).
///
/// `from` must be a char boundary; callers cut right after ASCII bytes they
/// scanned, and anything else falls back to a checked copy.
pub(crate) fn utf8_tail(text: Utf8Bytes, from: usize) -> Utf8Bytes {
    if !text.as_str().is_char_boundary(from) {
        return Utf8Bytes::from(text.as_str().get(from..).unwrap_or("").to_string());
    }
    let mut bytes = Bytes::from(text);
    bytes.advance(from);
    // SAFETY: the tail of valid UTF-8 from a char boundary is valid UTF-8.
    unsafe { Utf8Bytes::from_bytes_unchecked(bytes) }
}

/// `text[start..end]` of valid UTF-8 text, sharing its buffer and without
/// validating it again; both ends must be char boundaries (anything else
/// falls back to a checked copy).
fn utf8_slice(text: &Utf8Bytes, start: usize, end: usize) -> Utf8Bytes {
    let s = text.as_str();
    if !(start <= end && s.is_char_boundary(start) && s.is_char_boundary(end)) {
        return Utf8Bytes::from(s.get(start..end).unwrap_or("").to_string());
    }
    let bytes: Bytes = Bytes::from(text.clone()).slice(start..end);
    // SAFETY: a slice of valid UTF-8 between char boundaries is valid UTF-8.
    unsafe { Utf8Bytes::from_bytes_unchecked(bytes) }
}

/// Splits a polling POST body into its packets.
pub fn decode_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    // Validated once; each packet is then a slice at ASCII separators.
    let text = Utf8Bytes::try_from(body).map_err(|_| DecodeError::Utf8)?;
    let mut packets = Vec::new();
    let mut start = 0;
    for (i, _) in text.as_bytes().iter().enumerate().filter(|(_, b)| **b == SEPARATOR) {
        packets.push(decode_text(utf8_slice(&text, start, i))?);
        start = i + 1;
    }
    packets.push(decode_text(utf8_slice(&text, start, text.len()))?);
    Ok(packets)
}

/// The frames of one packet, in order: its text, then its binary
/// attachments. Almost always one frame, kept inline (no allocation).
pub type Frames = SmallVec<[Frame; 1]>;

/// One outbound frame, encoded once and shared by every receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete Engine.IO text packet, type digit included (`"4..."`, `"2"`).
    Text(Utf8Bytes),
    /// A binary message packet: the raw bytes.
    Binary(Bytes),
}

impl Frame {
    /// A text frame. A buffer with spare room would be made shared with a
    /// header of its own (one more allocation, and atomic counts on every
    /// drop); one of exactly its length is kept as is, so encoders size their
    /// text exactly and anything else is shrunk here.
    pub fn text(mut s: String) -> Frame {
        s.shrink_to_fit();
        Frame::Text(Utf8Bytes::from(s))
    }
    pub const PING: Frame = Frame::Text(Utf8Bytes::from_static("2"));
    pub const NOOP: Frame = Frame::Text(Utf8Bytes::from_static("6"));
    pub const CLOSE: Frame = Frame::Text(Utf8Bytes::from_static("1"));

    /// Payload bytes of the frame.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// Bytes this frame takes in a polling payload.
    pub fn polling_len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => 1 + b.len().div_ceil(3) * 4,
        }
    }
}

/// Joins frames into one polling response body.
pub fn encode_payload(frames: &[Frame]) -> Vec<u8> {
    let len: usize = frames.iter().map(|f| f.polling_len() + 1).sum();
    let mut out = Vec::with_capacity(len);
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        match frame {
            Frame::Text(t) => out.extend_from_slice(t.as_bytes()),
            Frame::Binary(b) => {
                out.push(b'b');
                let start = out.len();
                out.resize(start + b.len().div_ceil(3) * 4, 0);
                let written = base64::engine::general_purpose::STANDARD.encode_slice(b, &mut out[start..]).unwrap_or(0);
                out.truncate(start + written);
            }
        }
    }
    out
}

/// The handshake's open packet.
pub fn open_packet(
    sid: &str,
    upgrades: &[&str],
    ping_interval_ms: u128,
    ping_timeout_ms: u128,
    max_payload: usize,
) -> Frame {
    let upgrades = upgrades.iter().map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(",");
    Frame::text(format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":[{upgrades}],\"pingInterval\":{ping_interval_ms},\"pingTimeout\":{ping_timeout_ms},\"maxPayload\":{max_payload}}}"
    ))
}
