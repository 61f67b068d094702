//! permessage-deflate (RFC 7692): the negotiation of the extension in the
//! upgrade, and the compression state of a connection that negotiated it:
//! raw deflate with sync flushes, the `00 00 ff ff` tail stripped on send and
//! put back on receive, and the compression context kept across messages
//! unless either side asked for no context takeover. The framing around it
//! (RSV1, fragments, limits) is [`super::stream`]'s.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tungstenite::error::CapacityError;
use tungstenite::Error;

use super::push_frame;
use crate::config::DeflateConfig;

/// What the server and the client agreed on for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The window the server compresses with.
    pub server_max_window_bits: u8,
    /// The window the client compresses with (at most).
    pub client_max_window_bits: u8,
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// Whether the response names `server_max_window_bits` (when asked for
    /// or below 15; the client's window is named only when below 15).
    server_bits_in_response: bool,
}

impl Negotiated {
    /// The value of the response's `Sec-WebSocket-Extensions` header.
    pub fn response_header(&self) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_bits_in_response {
            s.push_str(&format!("; server_max_window_bits={}", self.server_max_window_bits));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&format!("; client_max_window_bits={}", self.client_max_window_bits));
        }
        s
    }
}

/// One permessage-deflate offer, its parameters parsed.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// The first acceptable permessage-deflate offer among the request's
/// `Sec-WebSocket-Extensions` values, in the client's order of preference.
/// Offers with an unknown parameter, a parameter twice, a bad value, or a
/// configuration this server cannot use (`server_max_window_bits=8`) are
/// declined (RFC 7692 section 5); other extensions are ignored.
pub fn negotiate<'a>(header_values: impl IntoIterator<Item = &'a str>, cfg: &DeflateConfig) -> Option<Negotiated> {
    header_values.into_iter().flat_map(|v| v.split(',')).filter_map(parse_offer).find_map(|offer| accept(&offer, cfg))
}

/// `None` for another extension or a malformed permessage-deflate offer.
fn parse_offer(text: &str) -> Option<Offer> {
    let mut parts = text.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut offer = Offer::default();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => {
                let v = v.trim();
                // A quoted-string value must be a token once unquoted (RFC 7692 section 7.1).
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                (n.trim(), Some(v))
            }
            None => (param, None),
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() && !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true
            }
            "client_no_context_takeover" if value.is_none() && !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true
            }
            "server_max_window_bits" if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(value?)?)
            }
            "client_max_window_bits" if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(value.map(window_bits).map_or(Some(None), |b| b.map(Some))?)
            }
            _ => return None, // unknown, duplicate, or a value where none belongs
        }
    }
    Some(offer)
}

/// 8 to 15, in decimal without leading zeros or sign.
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

fn accept(offer: &Offer, cfg: &DeflateConfig) -> Option<Negotiated> {
    let asked = offer.server_max_window_bits.unwrap_or(15);
    if asked < 9 {
        return None; // zlib cannot compress raw deflate with a 256-byte window
    }
    let server_bits = asked.min(cfg.server_max_window_bits);
    // Without client_max_window_bits in the offer the client may use 15, whatever the configuration.
    let client_bits =
        offer.client_max_window_bits.map_or(15, |limit| limit.unwrap_or(15).min(cfg.client_max_window_bits));
    Some(Negotiated {
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        server_no_context_takeover: offer.server_no_context_takeover || cfg.server_no_context_takeover,
        client_no_context_takeover: cfg.client_no_context_takeover,
        server_bits_in_response: offer.server_max_window_bits.is_some() || server_bits < 15,
    })
}

/// The tail of a sync flush, stripped from each compressed message.
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// A compression buffer larger than this is given back after the message.
const KEEP_SCRATCH: usize = 512 * 1024;

/// The compression state of one connection that negotiated
/// permessage-deflate; [`super::WsStream`] holds it boxed.
pub struct Deflate {
    params: Negotiated,
    threshold: usize,
    level: u32,
    /// Created on the first compressed message in each direction.
    inflate: Option<Decompress>,
    deflate: Option<Compress>,
    scratch: Vec<u8>,
}

impl Deflate {
    pub fn new(params: Negotiated, cfg: &DeflateConfig) -> Box<Deflate> {
        Box::new(Deflate {
            params,
            threshold: cfg.threshold,
            level: cfg.level,
            inflate: None,
            deflate: None,
            scratch: Vec::new(),
        })
    }

    /// The value of the upgrade response's `Sec-WebSocket-Extensions` header.
    pub fn response_header(&self) -> String {
        self.params.response_header()
    }

    /// Appends one data message as a frame to `out`, compressed (RSV1) when
    /// it reaches the threshold; true when it was.
    pub(crate) fn push_message(&mut self, out: &mut Vec<u8>, opcode: u8, data: &[u8]) -> Result<bool, Error> {
        if data.len() < self.threshold {
            push_frame(out, 0x80 | opcode, data);
            return Ok(false);
        }
        let (level, bits) = (self.level, self.params.server_max_window_bits);
        let c =
            self.deflate.get_or_insert_with(|| Compress::new_with_window_bits(Compression::new(level), false, bits));
        self.scratch.clear();
        deflate_into(c, data, &mut self.scratch)?;
        if self.params.server_no_context_takeover {
            c.reset();
        }
        push_frame(out, 0xC0 | opcode, &self.scratch);
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
        Ok(true)
    }

    /// Inflates one received fragment of a compressed message onto `msg`
    /// (`ended`: the sender closed its deflate stream, the rest is not data).
    pub(crate) fn inflate_fragment(
        &mut self,
        payload: &[u8],
        fin: bool,
        ended: &mut bool,
        msg: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), Error> {
        let bits = self.params.client_max_window_bits.max(9);
        let d = self.inflate.get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        if !*ended {
            *ended = inflate_into(d, payload, msg, max)?;
        }
        if fin {
            if !*ended {
                inflate_into(d, &TAIL, msg, max)?;
            }
            if self.params.client_no_context_takeover {
                d.reset(false);
            }
        }
        Ok(())
    }
}

fn compression_error(e: impl std::fmt::Display) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Compresses `input` with a sync flush and strips the flush's tail.
fn deflate_into(c: &mut Compress, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    out.reserve(input.len() + input.len() / 1000 + 64);
    loop {
        let before = c.total_in();
        c.compress_vec(input, out, FlushCompress::Sync).map_err(compression_error)?;
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
        out.reserve(input.len() / 2 + 1024);
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    Ok(())
}

/// Inflates `input` onto `out`, failing once `out` would pass `max`; true
/// when the input held the stream's final block (the decompressor is reset).
fn inflate_into(d: &mut Decompress, mut input: &[u8], out: &mut Vec<u8>, max: usize) -> Result<bool, Error> {
    loop {
        if out.capacity() - out.len() < 1024 {
            let room = max.saturating_sub(out.len()) + 1; // one byte over the limit shows it was passed
            out.reserve((input.len() * 4).clamp(4096, 1 << 20).min(room.max(1024)));
        }
        let (in_before, out_before) = (d.total_in(), out.len());
        let status = d.decompress_vec(input, out, FlushDecompress::Sync).map_err(compression_error)?;
        let consumed = (d.total_in() - in_before) as usize;
        input = &input[consumed..];
        if out.len() > max {
            return Err(CapacityError::MessageTooLong { size: out.len(), max_size: max }.into());
        }
        if status == Status::StreamEnd {
            // A final block ends the stream; the tail that follows it is not data.
            d.reset(false);
            return Ok(true);
        }
        let room_left = out.len() < out.capacity();
        if input.is_empty() && room_left {
            return Ok(false);
        }
        if consumed == 0 && out.len() == out_before && room_left {
            return Err(compression_error("inflate made no progress"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::{push_header, unmask, WsStream};
    use bytes::Bytes;
    use std::future::poll_fn;
    use std::task::Poll;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
    use tungstenite::Message;

    fn offer(values: &[&str]) -> Option<String> {
        negotiate(values.iter().copied(), &DeflateConfig::default()).map(|n| n.response_header())
    }

    #[test]
    fn accepts_plain_and_parameterized_offers() {
        assert_eq!(offer(&["permessage-deflate"]).as_deref(), Some("permessage-deflate"));
        assert_eq!(offer(&["permessage-deflate; client_max_window_bits"]).as_deref(), Some("permessage-deflate"));
        assert_eq!(
            offer(&["permessage-deflate; server_no_context_takeover; server_max_window_bits=10"]).as_deref(),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
        );
        // A quoted value is the token inside; case and spaces do not matter.
        assert_eq!(
            offer(&["PerMessage-Deflate ;  server_max_window_bits = \"9\""]).as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
        // client_no_context_takeover in an offer is a hint: nothing to answer.
        assert_eq!(offer(&["permessage-deflate; client_no_context_takeover"]).as_deref(), Some("permessage-deflate"));
    }

    #[test]
    fn config_limits_what_is_granted() {
        let cfg = DeflateConfig {
            server_max_window_bits: 11,
            client_max_window_bits: 10,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let n = negotiate(["permessage-deflate; client_max_window_bits; server_max_window_bits=13"], &cfg).unwrap();
        assert_eq!((n.server_max_window_bits, n.client_max_window_bits), (11, 10));
        assert_eq!(
            n.response_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=11; client_max_window_bits=10"
        );
        // Without client_max_window_bits in the offer the server cannot ask for a smaller client window.
        let n = negotiate(["permessage-deflate"], &cfg).unwrap();
        assert_eq!(n.client_max_window_bits, 15);
        assert!(!n.response_header().contains("client_max_window_bits"));
    }

    #[test]
    fn bad_offers_are_declined_and_the_next_one_taken() {
        for bad in [
            "permessage-deflate; foo", // unknown parameter
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover", // duplicate
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11", // duplicate
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9", // duplicate
            "permessage-deflate; server_max_window_bits", // value required
            "permessage-deflate; server_max_window_bits=16", // out of range
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=010", // leading zero
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; server_no_context_takeover=1", // no value allowed
            "permessage-deflate; server_max_window_bits=8",     // zlib cannot
            "x-webkit-deflate-frame",                           // another extension
        ] {
            assert_eq!(offer(&[bad]), None, "{bad}");
            // The client's next offer (in the same header or the next one) is taken.
            assert_eq!(offer(&[&format!("{bad}, permessage-deflate")]).as_deref(), Some("permessage-deflate"));
            assert_eq!(offer(&[bad, "permessage-deflate"]).as_deref(), Some("permessage-deflate"));
        }
        assert_eq!(offer(&[]), None);
        assert_eq!(
            offer(&["permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9"])
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
    }

    /// A client frame: masked, RSV1 for the first frame of a compressed message.
    fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = Vec::new();
        push_header(&mut out, first_byte, payload.len());
        out[1] |= 0x80;
        out.extend_from_slice(&mask);
        let mut p = payload.to_vec();
        unmask(&mut p, mask);
        out.extend_from_slice(&p);
        out
    }

    fn client_compress(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        deflate_into(c, data, &mut out).unwrap();
        out
    }

    /// Reads one server frame: (first byte, payload).
    async fn server_frame(io: &mut (impl AsyncRead + Unpin)) -> (u8, Vec<u8>) {
        let mut h = [0u8; 2];
        io.read_exact(&mut h).await.unwrap();
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7f {
            126 => io.read_u16().await.unwrap() as usize,
            127 => io.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut p = vec![0; len];
        io.read_exact(&mut p).await.unwrap();
        (h[0], p)
    }

    #[tokio::test]
    async fn codec_round_trip_with_context_takeover() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let params = negotiate(["permessage-deflate"], &DeflateConfig::default()).unwrap();
        let deflate = Some(Deflate::new(params, &DeflateConfig::default()));
        let mut ws = WsStream::new(server, Vec::new(), deflate, 1 << 20);
        let text: String = (0..400u32).map(|i| format!("{i}:{} ", i.wrapping_mul(7919) % 1009)).collect();
        let mut c = Compress::new(Compression::default(), false);
        // A compressed text message in two fragments, then the same again (context
        // takeover: the second refers to the first), a ping, an uncompressed binary.
        let z = client_compress(&mut c, text.as_bytes());
        let (a, b) = z.split_at(z.len() / 2);
        client.write_all(&client_frame(0x41, a)).await.unwrap();
        client.write_all(&client_frame(0x80, b)).await.unwrap();
        let z2 = client_compress(&mut c, text.as_bytes());
        assert!(z2.len() < z.len() / 4, "the second copy is a back-reference");
        client.write_all(&client_frame(0xC1, &z2)).await.unwrap();
        client.write_all(&client_frame(0x89, b"hi")).await.unwrap();
        client.write_all(&client_frame(0x82, &[1, 2, 3])).await.unwrap();
        for _ in 0..2 {
            assert_eq!(ws.recv().await.unwrap(), Message::Text(text.clone().into()));
        }
        assert_eq!(ws.recv().await.unwrap(), Message::Binary(Bytes::from_static(&[1, 2, 3])));
        assert_eq!(server_frame(&mut client).await, (0x8A, b"hi".to_vec()));

        // Server to client: over the threshold compressed (twice, with context), under it not.
        poll_fn(|cx| {
            Poll::Ready(ws.send(cx, |w| {
                w.text(&text);
                w.text(&text);
                w.text("short");
            }))
        })
        .await
        .unwrap();
        poll_fn(|cx| ws.poll_flush(cx)).await.unwrap();
        let mut d = Decompress::new(false);
        for _ in 0..2 {
            let (b0, mut p) = server_frame(&mut client).await;
            assert_eq!(b0, 0xC1);
            p.extend_from_slice(&TAIL);
            let mut out = Vec::new();
            inflate_into(&mut d, &p, &mut out, 1 << 20).unwrap();
            assert_eq!(out, text.as_bytes());
        }
        assert_eq!(server_frame(&mut client).await, (0x81, b"short".to_vec()));

        // The closing handshake: the code is echoed, then the stream ends.
        client.write_all(&client_frame(0x88, &[0x03, 0xE8])).await.unwrap();
        assert!(matches!(ws.recv().await, Ok(Message::Close(Some(_)))));
        assert!(matches!(ws.recv().await, Err(Error::ConnectionClosed)));
        ws.close(None, "").await;
        assert_eq!(server_frame(&mut client).await, (0x88, vec![0x03, 0xE8]));
    }

    #[tokio::test]
    async fn a_message_sent_uncompressed_leaves_the_context_as_it_was() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let params = negotiate(["permessage-deflate"], &DeflateConfig::default()).unwrap();
        let deflate = Some(Deflate::new(params, &DeflateConfig::default()));
        let mut ws = WsStream::new(server, Vec::new(), deflate, 1 << 20);
        let text: String = (0..400u32).map(|i| format!("{i}:{} ", i.wrapping_mul(7919) % 1009)).collect();
        let mut deflated = Vec::new();
        poll_fn(|cx| {
            Poll::Ready(ws.send(cx, |w| {
                deflated.push(w.message(1, text.as_bytes(), true));
                deflated.push(w.message(1, text.as_bytes(), false));
                deflated.push(w.message(1, text.as_bytes(), true));
            }))
        })
        .await
        .unwrap();
        poll_fn(|cx| ws.poll_flush(cx)).await.unwrap();
        assert_eq!(deflated, [true, false, true]);
        let mut d = Decompress::new(false);
        for expect in [0xC1, 0x81, 0xC1] {
            let (b0, mut p) = server_frame(&mut client).await;
            assert_eq!(b0, expect);
            if b0 == 0x81 {
                assert_eq!(p, text.as_bytes(), "sent as it is, past the threshold");
                continue;
            }
            p.extend_from_slice(&TAIL);
            let mut out = Vec::new();
            inflate_into(&mut d, &p, &mut out, 1 << 20).unwrap();
            assert_eq!(out, text.as_bytes(), "the third still inflates with the first's context");
        }
    }

    #[tokio::test]
    async fn protocol_errors_and_limits() {
        async fn first_error(bytes: Vec<u8>, max_payload: usize) -> Error {
            let (mut client, server) = tokio::io::duplex(1 << 20);
            let params = negotiate(["permessage-deflate"], &DeflateConfig::default()).unwrap();
            let deflate = Some(Deflate::new(params, &DeflateConfig::default()));
            let mut ws = WsStream::new(server, Vec::new(), deflate, max_payload);
            client.write_all(&bytes).await.unwrap();
            ws.recv().await.unwrap_err()
        }
        let is_protocol = |e: Error| matches!(e, Error::Protocol(_));
        // RSV1 on a continuation frame, on a control frame; RSV2; an unmasked frame.
        let mut two = client_frame(0x41, b"");
        two.extend(client_frame(0xC0, b""));
        assert!(is_protocol(first_error(two, 1000).await));
        assert!(is_protocol(first_error(client_frame(0xC9, b""), 1000).await));
        assert!(is_protocol(first_error(client_frame(0xA1, b"x"), 1000).await));
        assert!(is_protocol(first_error(vec![0x81, 0x01, b'x'], 1000).await));
        // A decompression bomb stops at max_payload.
        let mut c = Compress::new(Compression::best(), false);
        let z = client_compress(&mut c, &vec![0u8; 100_000]);
        assert!(z.len() < 1000);
        let e = first_error(client_frame(0xC2, &z), 1000).await;
        assert!(matches!(e, Error::Capacity(_)), "{e:?}");
        // Garbage that does not inflate; invalid UTF-8 in a compressed text.
        assert!(matches!(first_error(client_frame(0xC2, &[0xff; 8]), 1000).await, Error::Io(_)));
        let z = client_compress(&mut Compress::new(Compression::default(), false), &[0xc3, 0x28]);
        assert!(matches!(first_error(client_frame(0xC1, &z), 1000).await, Error::Utf8(_)));
    }
}
