//! What Engine.IO v3 (`EIO=3`, the protocol of socket.io-client 2.x) does
//! differently on the wire, for `allow_eio3`; the packets themselves are
//! v4's.
//!
//! - A polling payload is `<length>:<packet>` repeated, the length counted
//!   in UTF-16 code units (JavaScript's string length); a binary packet in it
//!   is `b4` + base64. A client may also POST the binary form: per packet a
//!   0 (text) or 1 (binary) byte, the length's decimal digits as bytes, 255,
//!   then the packet (a binary one starting with its type byte, 4).
//! - A binary WebSocket message starts with the packet type byte, 4.
//! - The client pings and the server answers (see `heartbeat`).

use base64::Engine as _;
use bytes::Bytes;
use tungstenite::Utf8Bytes;

use super::packet::{decode_text, DecodeError, Frame, Packet};

/// The type byte that starts a binary message packet.
const MESSAGE: u8 = 4;

/// Joins frames into one v3 polling response body.
pub fn encode_payload(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.iter().map(|f| f.polling_len() + 8).sum());
    for frame in frames {
        match frame {
            Frame::Text(t) => {
                out.extend_from_slice(t.as_str().encode_utf16().count().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(t.as_bytes());
            }
            Frame::Binary(b) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(b);
                out.extend_from_slice((encoded.len() + 2).to_string().as_bytes());
                out.extend_from_slice(b":b4");
                out.extend_from_slice(encoded.as_bytes());
            }
        }
    }
    out
}

/// Splits a v3 polling POST body, text or binary form, into its packets.
pub fn decode_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    match body.first() {
        None => Err(DecodeError::Empty),
        Some(0 | 1) => decode_binary_payload(&body),
        Some(_) => decode_text_payload(body),
    }
}

fn decode_text_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    let text = Utf8Bytes::try_from(body).map_err(|_| DecodeError::Utf8)?;
    let mut rest = text.as_str();
    let mut packets = Vec::new();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or(DecodeError::Length)?;
        let units: usize = rest[..colon].parse().map_err(|_| DecodeError::Length)?;
        let body = &rest[colon + 1..];
        // The packet ends after `units` UTF-16 code units.
        let (mut counted, mut end) = (0, 0);
        for c in body.chars() {
            if counted == units {
                break;
            }
            counted += c.len_utf16();
            end += c.len_utf8();
        }
        if counted != units || units == 0 {
            return Err(DecodeError::Length);
        }
        packets.push(decode_packet(&body[..end])?);
        rest = &body[end..];
    }
    Ok(packets)
}

fn decode_binary_payload(mut body: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    while let Some((&kind, rest)) = body.split_first() {
        let digits = rest.iter().position(|&b| b == 255).ok_or(DecodeError::Length)?;
        if digits == 0 || digits > 12 || rest[..digits].iter().any(|&d| d > 9) {
            return Err(DecodeError::Length);
        }
        let len = rest[..digits].iter().fold(0usize, |n, &d| n * 10 + d as usize);
        let data = rest.get(digits + 1..digits + 1 + len).ok_or(DecodeError::Length)?;
        packets.push(match kind {
            0 => decode_packet(std::str::from_utf8(data).map_err(|_| DecodeError::Utf8)?)?,
            1 => binary_message(Bytes::copy_from_slice(data))?,
            _ => return Err(DecodeError::Length),
        });
        body = &rest[digits + 1 + len..];
    }
    Ok(packets)
}

/// One text packet of a payload; `b4…` is a binary message in base64.
fn decode_packet(text: &str) -> Result<Packet, DecodeError> {
    match text.strip_prefix('b') {
        Some(b64) => {
            let b64 = b64.strip_prefix('4').ok_or(DecodeError::Base64)?;
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| DecodeError::Base64)?;
            Ok(Packet::Binary(Bytes::from(raw)))
        }
        None => decode_text(Utf8Bytes::from(text.to_string())),
    }
}

/// A binary WebSocket message (or binary payload packet) of v3: the type
/// byte, then the message's bytes.
pub fn binary_message(data: Bytes) -> Result<Packet, DecodeError> {
    match data.first() {
        Some(&MESSAGE) => Ok(Packet::Binary(data.slice(1..))),
        Some(&t) => Err(DecodeError::UnknownType(t as char)),
        None => Err(DecodeError::Empty),
    }
}

/// A binary message as a v3 WebSocket frame: its type byte first.
pub fn binary_frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(MESSAGE);
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_with_utf16_lengths() {
        let frames =
            [Frame::text("42[\"é😀\"]".to_string()), Frame::Binary(Bytes::from_static(&[1, 2, 3])), Frame::PING];
        let body = encode_payload(&frames);
        // "42["é😀"]" is 9 UTF-16 code units (the emoji takes two).
        assert!(String::from_utf8_lossy(&body).starts_with("9:42[\"é😀\"]6:b4AQID1:2"));
        let packets = decode_payload(Bytes::from(body)).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message(Utf8Bytes::from_static("2[\"é😀\"]")),
                Packet::Binary(Bytes::from_static(&[1, 2, 3])),
                Packet::Ping(Utf8Bytes::from_static("")),
            ]
        );
    }

    #[test]
    fn the_binary_form_of_a_payload_decodes() {
        let mut body = vec![0, 2, 255];
        body.extend_from_slice(b"40");
        body.extend_from_slice(&[1, 4, 255, 4, 9, 8, 7]);
        assert_eq!(
            decode_payload(Bytes::from(body)).unwrap(),
            vec![Packet::Message(Utf8Bytes::from_static("0")), Packet::Binary(Bytes::from_static(&[9, 8, 7]))]
        );
    }

    #[test]
    fn bad_lengths_are_errors() {
        for bad in ["", "x:40", "5:40", "2:40extra", "0:"] {
            assert!(decode_payload(Bytes::from(bad)).is_err(), "{bad:?}");
        }
        assert!(decode_payload(Bytes::from_static(&[1, 9, 9, 255, 4])).is_err());
        assert!(binary_message(Bytes::from_static(&[3, 1])).is_err());
        assert_eq!(binary_frame(&[7]), vec![4, 7]);
    }
}
