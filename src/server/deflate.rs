//! permessage-deflate (RFC 7692): the negotiation of the extension in the
//! upgrade, and a WebSocket frame codec that carries it.
//!
//! tungstenite has no extension support (it fails a connection on a frame
//! with RSV1 set), so a connection that negotiated deflate runs on
//! [`DeflateStream`] instead: the framing of RFC 6455 (masking, fragments,
//! control frames, the closing handshake, limits) plus raw deflate with sync
//! flushes, the `00 00 ff ff` tail stripped on send and put back on receive,
//! and the compression context kept across messages unless either side asked
//! for no context takeover. It speaks tungstenite's `Message` both ways, so
//! the transports run on it unchanged. A connection that did not negotiate
//! deflate never touches this module: it keeps tungstenite's stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::protocol::frame::coding::{CloseCode, Data};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error, Message, Utf8Bytes};

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

/// Pending output above which `poll_ready` writes before taking more.
const WRITE_HIGH_WATER: usize = 128 * 1024;
/// The tail of a sync flush, stripped from each compressed message.
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// The message being reassembled from its frames.
struct Partial {
    text: bool,
    compressed: bool,
    /// Payload bytes received on the wire for this message.
    wire_len: usize,
    /// The sender ended its deflate stream (a final block): the rest is not data.
    ended: bool,
}

/// A server-side WebSocket over `S` with permessage-deflate: a
/// `Stream` of received messages and a `Sink` of messages to send, like
/// tokio-tungstenite's `WebSocketStream`.
pub struct DeflateStream<S> {
    io: S,
    rd: BytesMut,
    wr: Vec<u8>,
    /// How much of `wr` is written.
    wr_pos: usize,
    partial: Option<Partial>,
    /// The message being reassembled (inflated, for a compressed one).
    msg: Vec<u8>,
    /// Created on the first compressed message in either direction.
    inflate: Option<Decompress>,
    deflate: Option<Compress>,
    scratch: Vec<u8>,
    params: Negotiated,
    threshold: usize,
    level: u32,
    max_payload: usize,
    received_close: bool,
    sent_close: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> DeflateStream<S> {
    /// A stream whose upgrade response was sent; `leftover` holds bytes read past the request head.
    pub fn new(io: S, leftover: Vec<u8>, params: Negotiated, cfg: &DeflateConfig, max_payload: usize) -> Self {
        DeflateStream {
            io,
            rd: BytesMut::from(&leftover[..]),
            wr: Vec::new(),
            wr_pos: 0,
            partial: None,
            msg: Vec::new(),
            inflate: None,
            deflate: None,
            scratch: Vec::new(),
            params,
            threshold: cfg.threshold,
            level: cfg.level,
            max_payload,
            received_close: false,
            sent_close: false,
        }
    }

    /// Writes what is pending; `Ready(Ok)` once all of it is written.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wr_pos < self.wr.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wr[self.wr_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wr_pos += n;
        }
        self.wr_pos = 0;
        self.wr.clear();
        if self.wr.capacity() > 4 * WRITE_HIGH_WATER {
            self.wr = Vec::new(); // give back what a burst needed
        }
        Poll::Ready(Ok(()))
    }

    fn push_frame(&mut self, first_byte: u8, payload: &[u8]) {
        push_header(&mut self.wr, first_byte, payload.len());
        self.wr.extend_from_slice(payload);
    }

    fn push_close(&mut self, frame: Option<&CloseFrame>) {
        if self.sent_close {
            return;
        }
        self.sent_close = true;
        let mut payload = Vec::new();
        if let Some(f) = frame {
            payload.extend_from_slice(&u16::from(f.code).to_be_bytes());
            payload.extend_from_slice(f.reason.as_bytes());
        }
        self.push_frame(0x88, &payload);
    }

    fn push_data(&mut self, opcode: u8, data: &[u8]) -> Result<(), Error> {
        if self.sent_close {
            return Ok(()); // the peer closed: what is still queued goes nowhere
        }
        if data.len() < self.threshold {
            self.push_frame(0x80 | opcode, data);
            return Ok(());
        }
        let (level, bits) = (self.level, self.params.server_max_window_bits);
        let c =
            self.deflate.get_or_insert_with(|| Compress::new_with_window_bits(Compression::new(level), false, bits));
        self.scratch.clear();
        deflate_into(c, data, &mut self.scratch)?;
        if self.params.server_no_context_takeover {
            c.reset();
        }
        push_header(&mut self.wr, 0xC0 | opcode, self.scratch.len());
        self.wr.extend_from_slice(&self.scratch);
        if self.scratch.capacity() > 4 * WRITE_HIGH_WATER {
            self.scratch = Vec::new();
        }
        Ok(())
    }

    /// Reads until one frame is whole, and handles it: `Ok(Some)` for a
    /// message to return, `Ok(None)` for a frame that completed none.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        loop {
            match self.parse_header()? {
                Some((header_len, len)) if self.rd.len() >= header_len + len => {
                    let mut frame = self.rd.split_to(header_len + len);
                    let payload = frame.split_off(header_len);
                    return Poll::Ready(self.on_frame(&frame, payload));
                }
                Some((header_len, len)) => self.rd.reserve(header_len + len - self.rd.len()),
                None => self.rd.reserve(4096),
            }
            let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rd))?;
            if n == 0 {
                return Poll::Ready(Err(Error::ConnectionClosed));
            }
        }
    }

    /// The length of the next frame's header and payload once its header is
    /// whole, checked against the protocol and the size limits.
    fn parse_header(&self) -> Result<Option<(usize, usize)>, Error> {
        let b = &self.rd[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv1, opcode) = (b[0] & 0x80 != 0, b[0] & 0x40 != 0, b[0] & 0x0f);
        if b[0] & 0x30 != 0 {
            return Err(ProtocolError::NonZeroReservedBits.into());
        }
        if b[1] & 0x80 == 0 {
            return Err(ProtocolError::UnmaskedFrameFromClient.into());
        }
        let (len, header_len) = match b[1] & 0x7f {
            126 if b.len() < 4 => return Ok(None),
            126 => (u16::from_be_bytes([b[2], b[3]]) as u64, 8),
            127 if b.len() < 10 => return Ok(None),
            127 => (u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")), 14),
            n => (n as u64, 6),
        };
        if opcode & 0x08 != 0 {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame.into());
            }
            if len > 125 {
                return Err(ProtocolError::ControlFrameTooBig.into());
            }
            if rsv1 {
                return Err(ProtocolError::NonZeroReservedBits.into());
            }
            if !matches!(opcode, 8..=10) {
                return Err(ProtocolError::UnknownControlFrameType(opcode).into());
            }
        } else {
            let (compressed, so_far) = match (opcode, &self.partial) {
                (0, None) => return Err(ProtocolError::UnexpectedContinueFrame.into()),
                (0, Some(_)) if rsv1 => return Err(ProtocolError::NonZeroReservedBits.into()),
                (0, Some(p)) => (p.compressed, p.wire_len),
                (1 | 2, Some(_)) => return Err(ProtocolError::ExpectedFragment(Data::Continue).into()),
                (1 | 2, None) => (rsv1, 0),
                _ => return Err(ProtocolError::UnknownDataFrameType(opcode).into()),
            };
            // Compressed bytes may exceed the payload they carry a little (stored blocks).
            let max = if compressed { self.max_payload + self.max_payload / 64 + 64 } else { self.max_payload };
            let size = (so_far as u64).saturating_add(len);
            if size > max as u64 {
                return Err(CapacityError::MessageTooLong { size: size as usize, max_size: max }.into());
            }
        }
        Ok(Some((header_len, len as usize)))
    }

    fn on_frame(&mut self, header: &[u8], mut payload: BytesMut) -> Result<Option<Message>, Error> {
        let (fin, rsv1, opcode) = (header[0] & 0x80 != 0, header[0] & 0x40 != 0, header[0] & 0x0f);
        let mask: [u8; 4] = header[header.len() - 4..].try_into().expect("4 bytes");
        unmask(&mut payload, mask);
        match opcode {
            8 => {
                let close = match payload.len() {
                    0 => None,
                    1 => return Err(ProtocolError::InvalidCloseSequence.into()),
                    _ => {
                        let code = CloseCode::from(u16::from_be_bytes([payload[0], payload[1]]));
                        let reason = Utf8Bytes::try_from(payload.split_off(2).freeze())
                            .map_err(|e| Error::Utf8(e.to_string()))?;
                        Some(CloseFrame { code, reason })
                    }
                };
                let reply = match &close {
                    Some(f) if !f.code.is_allowed() => {
                        Some(CloseFrame { code: CloseCode::Protocol, reason: "".into() })
                    }
                    Some(f) => Some(CloseFrame { code: f.code, reason: "".into() }),
                    None => None,
                };
                self.push_close(reply.as_ref());
                self.received_close = true;
                Ok(Some(Message::Close(close)))
            }
            9 => {
                if !self.sent_close {
                    self.push_frame(0x8A, &payload);
                }
                Ok(None)
            }
            10 => Ok(None),
            _ => {
                let partial = self.partial.get_or_insert(Partial {
                    text: opcode == 1,
                    compressed: rsv1,
                    wire_len: 0,
                    ended: false,
                });
                partial.wire_len += payload.len();
                let (text, compressed) = (partial.text, partial.compressed);
                if compressed {
                    let bits = self.params.client_max_window_bits.max(9);
                    let d = self.inflate.get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
                    if !partial.ended {
                        partial.ended = inflate_into(d, &payload, &mut self.msg, self.max_payload)?;
                    }
                    if fin {
                        if !partial.ended {
                            inflate_into(d, &TAIL, &mut self.msg, self.max_payload)?;
                        }
                        if self.params.client_no_context_takeover {
                            d.reset(false);
                        }
                    }
                } else if fin && self.msg.is_empty() {
                    // A whole message in one frame: no copy.
                    self.partial = None;
                    return finish(text, payload.freeze()).map(Some);
                } else {
                    self.msg.extend_from_slice(&payload);
                }
                if !fin {
                    return Ok(None);
                }
                self.partial = None;
                finish(text, Bytes::from(std::mem::take(&mut self.msg))).map(Some)
            }
        }
    }
}

fn finish(text: bool, data: Bytes) -> Result<Message, Error> {
    if text {
        Utf8Bytes::try_from(data).map(Message::Text).map_err(|e| Error::Utf8(e.to_string()))
    } else {
        Ok(Message::Binary(data))
    }
}

/// A server frame's header: FIN, RSV1 and opcode in `first_byte`, no mask.
fn push_header(out: &mut Vec<u8>, first_byte: u8, len: usize) {
    out.push(first_byte);
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

fn unmask(buf: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = buf.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
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

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for DeflateStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.received_close {
            return Poll::Ready(None);
        }
        loop {
            // Pongs and the close reply go out without waiting for the writer.
            if this.wr_pos < this.wr.len() {
                if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            match ready!(this.poll_frame(cx)) {
                Ok(None) => continue,
                Ok(Some(msg)) => {
                    if this.received_close && this.wr_pos < this.wr.len() {
                        let _ = this.poll_write_out(cx);
                    }
                    return Poll::Ready(Some(Ok(msg)));
                }
                Err(Error::ConnectionClosed) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for DeflateStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.wr.len() - this.wr_pos >= WRITE_HIGH_WATER {
            ready!(this.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
        let this = self.get_mut();
        match msg {
            Message::Text(t) => this.push_data(1, t.as_bytes()),
            Message::Binary(b) => this.push_data(2, &b),
            Message::Ping(p) if !this.sent_close => {
                this.push_frame(0x89, &p);
                Ok(())
            }
            Message::Pong(p) if !this.sent_close => {
                this.push_frame(0x8A, &p);
                Ok(())
            }
            Message::Close(c) => {
                this.push_close(c.as_ref());
                Ok(())
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_flush(cx).map_err(Error::Io)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx).map_err(Error::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        let mut ws = DeflateStream::new(server, Vec::new(), params, &DeflateConfig::default(), 1 << 20);
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
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::Text(text.clone().into()));
        }
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(Bytes::from_static(&[1, 2, 3])));
        assert_eq!(server_frame(&mut client).await, (0x8A, b"hi".to_vec()));

        // Server to client: over the threshold compressed (twice, with context), under it not.
        ws.feed(Message::Text(text.clone().into())).await.unwrap();
        ws.feed(Message::Text(text.clone().into())).await.unwrap();
        ws.feed(Message::Text("short".into())).await.unwrap();
        ws.flush().await.unwrap();
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
        assert!(matches!(ws.next().await, Some(Ok(Message::Close(Some(_))))));
        assert!(ws.next().await.is_none());
        ws.close().await.unwrap();
        assert_eq!(server_frame(&mut client).await, (0x88, vec![0x03, 0xE8]));
    }

    #[tokio::test]
    async fn protocol_errors_and_limits() {
        async fn first_error(bytes: Vec<u8>, max_payload: usize) -> Error {
            let (mut client, server) = tokio::io::duplex(1 << 20);
            let params = negotiate(["permessage-deflate"], &DeflateConfig::default()).unwrap();
            let mut ws = DeflateStream::new(server, Vec::new(), params, &DeflateConfig::default(), max_payload);
            client.write_all(&bytes).await.unwrap();
            ws.next().await.unwrap().unwrap_err()
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
