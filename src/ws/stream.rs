//! The server side of a WebSocket (RFC 6455 framing) over any byte stream,
//! with permessage-deflate ([`super::deflate`]) when it was negotiated.
//!
//! Our own codec rather than tungstenite's stream, for what an idle
//! connection costs: tungstenite allocates its read buffer up front and keeps
//! it (and zero-fills it on every read). Here reads go into a buffer of the
//! thread and only the bytes of an incomplete frame stay with the connection;
//! writes are encoded into a buffer of the thread too and only what the
//! socket did not take stays. Between messages a connection holds no buffer.
//!
//! Received messages are handed to a callback during the poll that read
//! them, so several frames of one read cost one wake-up and no queue.

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::protocol::frame::coding::{CloseCode, Data};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error, Message, Utf8Bytes};

use super::deflate::Deflate;

/// The per-thread read buffer: one read takes at most this much.
const READ_CHUNK: usize = 64 * 1024;
/// The per-thread write buffer is given back past this size.
const KEEP_WRITE: usize = 1 << 20;
/// Reads per poll before the task yields to others.
const READS_PER_POLL: usize = 16;

thread_local! {
    // Taken out while in use (`Cell<Option<…>>`, not a borrow): a handler
    // that somehow polls another connection on this thread gets a buffer of
    // its own instead of a panic.
    static READ_BUF: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
    static WRITE_BUF: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

fn take_read_buf() -> Box<[u8]> {
    READ_BUF.with(Cell::take).unwrap_or_else(|| vec![0; READ_CHUNK].into_boxed_slice())
}

fn give_back_read_buf(buf: Box<[u8]>) {
    READ_BUF.with(|c| c.set(Some(buf)));
}

fn take_write_buf() -> Vec<u8> {
    WRITE_BUF.with(Cell::take).unwrap_or_default()
}

fn give_back_write_buf(mut buf: Vec<u8>) {
    buf.clear();
    if buf.capacity() <= KEEP_WRITE {
        WRITE_BUF.with(|c| c.set(Some(buf)));
    }
}

/// The message being reassembled from its frames.
struct Partial {
    text: bool,
    compressed: bool,
    /// Payload bytes received on the wire for this message.
    wire_len: usize,
    /// The sender ended its deflate stream (a final block): the rest is not data.
    ended: bool,
    /// How much of a text message is known to be valid UTF-8 (checked per
    /// fragment, so bad text fails before the message ends).
    checked: usize,
}

/// A server-side WebSocket over `S`.
pub struct WsStream<S> {
    io: S,
    /// Received bytes not handled yet: an incomplete frame, or what followed
    /// a message the reader stopped at.
    rd: Vec<u8>,
    /// Encoded bytes the socket has not taken yet (pongs and the close reply
    /// wait here too).
    wr: Vec<u8>,
    /// How much of `wr` is written.
    wr_pos: usize,
    partial: Option<Partial>,
    /// The fragments of the message being reassembled (inflated, for a compressed one).
    msg: Vec<u8>,
    deflate: Option<Box<Deflate>>,
    max_payload: usize,
    received_close: bool,
    sent_close: bool,
}

/// Writes data frames in one batch (see [`WsStream::send`]).
pub struct FrameWriter<'a> {
    out: &'a mut Vec<u8>,
    deflate: Option<&'a mut Deflate>,
    error: Option<Error>,
}

impl FrameWriter<'_> {
    pub fn text(&mut self, text: &str) {
        self.data(1, text.as_bytes(), true);
    }

    /// A data frame (1: text, 2: binary), deflated when permessage-deflate
    /// was negotiated, `compress` allows it and it reaches the threshold;
    /// true when it was. Skipping the deflate of one message is allowed
    /// (RFC 7692 6.1) and leaves the compression context as it was.
    pub fn message(&mut self, opcode: u8, payload: &[u8], compress: bool) -> bool {
        self.data(opcode, payload, compress)
    }

    fn data(&mut self, opcode: u8, payload: &[u8], compress: bool) -> bool {
        match self.deflate.as_deref_mut() {
            Some(d) if compress => {
                if self.error.is_some() {
                    return false;
                }
                match d.push_message(self.out, opcode, payload) {
                    Ok(deflated) => deflated,
                    Err(e) => {
                        self.error = Some(e);
                        false
                    }
                }
            }
            _ => {
                push_frame(self.out, 0x80 | opcode, payload);
                false
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// A stream whose upgrade response was sent; `leftover` holds bytes read past the request head.
    pub fn new(io: S, leftover: Vec<u8>, deflate: Option<Box<Deflate>>, max_payload: usize) -> Self {
        WsStream {
            io,
            rd: leftover,
            wr: Vec::new(),
            wr_pos: 0,
            partial: None,
            msg: Vec::new(),
            deflate,
            max_payload,
            received_close: false,
            sent_close: false,
        }
    }

    /// Reads and hands every whole message to `on` until the socket has no
    /// more bytes (`Pending`), `on` breaks (`Ready(Ok)`; the rest is kept for
    /// the next call), or the connection fails or ends (`Ready(Err)`;
    /// `Error::ConnectionClosed` for an orderly end, after a close message).
    /// Pings are answered and the close handshake replied to on the way.
    pub fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        mut on: impl FnMut(Message) -> ControlFlow<()>,
    ) -> Poll<Result<(), Error>> {
        // Pongs and the close reply go out without waiting for the writer.
        if self.wr_pos < self.wr.len() {
            if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
                return Poll::Ready(Err(e.into()));
            }
        }
        if !self.rd.is_empty() {
            let result = self.handle_kept(&mut on);
            if let Some(r) = self.after_handling(cx, result) {
                return r;
            }
        }
        for _ in 0..READS_PER_POLL {
            if self.received_close {
                return Poll::Ready(Err(Error::ConnectionClosed));
            }
            let mut buf = take_read_buf();
            let n = {
                let mut read_buf = ReadBuf::new(&mut buf);
                match Pin::new(&mut self.io).poll_read(cx, &mut read_buf) {
                    Poll::Ready(Ok(())) => read_buf.filled().len(),
                    other => {
                        give_back_read_buf(buf);
                        return match other {
                            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::Io(e))),
                            _ => Poll::Pending,
                        };
                    }
                }
            };
            let result = if n == 0 {
                Err(Error::ConnectionClosed)
            } else if self.rd.is_empty() {
                // The usual case: whole frames straight from the thread's buffer.
                let result = self.handle_bytes_slice(&mut buf[..n], &mut on);
                if let Ok((used, _)) = result {
                    self.rd.extend_from_slice(&buf[used..n]);
                }
                result.map(|(_, stopped)| stopped)
            } else {
                self.rd.extend_from_slice(&buf[..n]);
                self.handle_kept(&mut on)
            };
            give_back_read_buf(buf);
            if let Some(r) = self.after_handling(cx, result) {
                return r;
            }
        }
        cx.waker().wake_by_ref(); // more may be waiting: yield, then go on
        Poll::Pending
    }

    /// After bytes were handled: `Some` when the poll ends here.
    fn after_handling(&mut self, cx: &mut Context<'_>, result: Result<bool, Error>) -> Option<Poll<Result<(), Error>>> {
        if self.rd.is_empty() && self.rd.capacity() > 0 {
            self.rd = Vec::new(); // an idle connection keeps no buffer
        }
        if self.wr_pos < self.wr.len() {
            let _ = self.poll_flush(cx);
        }
        match result {
            Err(e) => Some(Poll::Ready(Err(e))),
            Ok(true) => Some(Poll::Ready(Ok(()))),
            Ok(false) => None,
        }
    }

    /// Handles the whole frames at the start of the kept bytes (`rd`) and
    /// drops them from it; true when `on` stopped.
    fn handle_kept(&mut self, on: &mut impl FnMut(Message) -> ControlFlow<()>) -> Result<bool, Error> {
        let mut rd = std::mem::take(&mut self.rd);
        let result = self.handle_bytes_slice(&mut rd, on);
        if let Ok((used, _)) = result {
            rd.drain(..used);
        }
        self.rd = rd;
        result.map(|(_, stopped)| stopped)
    }

    /// Handles the whole frames at the start of `buf` (unmasking them in
    /// place); returns how many bytes they took and whether `on` stopped.
    fn handle_bytes_slice(
        &mut self,
        buf: &mut [u8],
        on: &mut impl FnMut(Message) -> ControlFlow<()>,
    ) -> Result<(usize, bool), Error> {
        let mut used = 0;
        while !self.received_close {
            let Some((header_len, len)) = self.parse_header(&buf[used..])? else { break };
            if buf.len() - used < header_len + len {
                break;
            }
            let frame = &mut buf[used..used + header_len + len];
            used += header_len + len;
            let (header, payload) = frame.split_at_mut(header_len);
            if let Some(msg) = self.on_frame(header, payload)? {
                if on(msg).is_break() {
                    return Ok((used, true));
                }
            }
        }
        Ok((used, false))
    }

    /// The length of the next frame's header and payload once its header is
    /// whole, checked against the protocol and the size limits.
    fn parse_header(&self, b: &[u8]) -> Result<Option<(usize, usize)>, Error> {
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv1, opcode) = (b[0] & 0x80 != 0, b[0] & 0x40 != 0, b[0] & 0x0f);
        if b[0] & 0x30 != 0 || (rsv1 && self.deflate.is_none()) {
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

    /// Handles one whole frame: `Some` for a message it completed.
    fn on_frame(&mut self, header: &[u8], payload: &mut [u8]) -> Result<Option<Message>, Error> {
        let (fin, rsv1, opcode) = (header[0] & 0x80 != 0, header[0] & 0x40 != 0, header[0] & 0x0f);
        let mask: [u8; 4] = header[header.len() - 4..].try_into().expect("4 bytes");
        unmask(payload, mask);
        match opcode {
            8 => self.on_close(payload).map(Some),
            9 => {
                if !self.sent_close {
                    push_frame(&mut self.wr, 0x8A, payload);
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
                    checked: 0,
                });
                partial.wire_len += payload.len();
                let text = partial.text;
                if partial.compressed {
                    let d = self.deflate.as_deref_mut().expect("RSV1 is refused without deflate");
                    d.inflate_fragment(payload, fin, &mut partial.ended, &mut self.msg, self.max_payload)?;
                } else if fin && self.msg.is_empty() {
                    // A whole message in one frame: checked in place, one copy out of the read buffer.
                    self.partial = None;
                    if text {
                        check_utf8(payload, &mut 0, true)?;
                    }
                    // SAFETY: a text payload was checked whole just above.
                    return Ok(Some(unsafe { message(text, Bytes::copy_from_slice(payload)) }));
                } else {
                    self.msg.extend_from_slice(payload);
                }
                if text {
                    check_utf8(&self.msg, &mut partial.checked, fin)?;
                }
                if !fin {
                    return Ok(None);
                }
                self.partial = None;
                // SAFETY: `check_utf8` above checked every byte of a text
                // message, the last fragment with `fin` (no incomplete
                // sequence left at the end).
                Ok(Some(unsafe { message(text, Bytes::from(std::mem::take(&mut self.msg))) }))
            }
        }
    }

    /// A close frame: replied to (its code echoed, or 1002 for a code that
    /// may not be sent) and handed on.
    fn on_close(&mut self, payload: &[u8]) -> Result<Message, Error> {
        let close = match payload.len() {
            0 => None,
            1 => return Err(ProtocolError::InvalidCloseSequence.into()),
            _ => {
                let code = CloseCode::from(u16::from_be_bytes([payload[0], payload[1]]));
                let reason = std::str::from_utf8(&payload[2..]).map_err(|e| Error::Utf8(e.to_string()))?;
                Some(CloseFrame { code, reason: reason.into() })
            }
        };
        let reply = match &close {
            Some(f) if !f.code.is_allowed() => Some(CloseCode::Protocol),
            Some(f) => Some(f.code),
            None => None,
        };
        self.push_close(reply);
        self.received_close = true;
        Ok(Message::Close(close))
    }

    fn push_close(&mut self, code: Option<CloseCode>) {
        if self.sent_close {
            return;
        }
        self.sent_close = true;
        match code {
            Some(code) => push_frame(&mut self.wr, 0x88, &u16::from(code).to_be_bytes()),
            None => push_frame(&mut self.wr, 0x88, &[]),
        }
    }

    /// Writes what is pending; `Ready(Ok)` once all of it is written.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wr_pos < self.wr.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wr[self.wr_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wr_pos += n;
        }
        if !self.wr.is_empty() {
            self.wr_pos = 0;
            self.wr = Vec::new(); // an idle connection keeps no buffer
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// True while earlier output waits for the socket: a writer should not
    /// take more from its queue until `poll_flush` is ready.
    pub fn has_pending_output(&self) -> bool {
        self.wr_pos < self.wr.len()
    }

    /// Encodes the frames `fill` writes and writes them at once (one write
    /// for many frames); what the socket does not take now is kept and goes
    /// first on the next `poll_flush`. Frames after a close are dropped.
    pub fn send(&mut self, cx: &mut Context<'_>, fill: impl FnOnce(&mut FrameWriter<'_>)) -> Result<(), Error> {
        if self.sent_close {
            return Ok(()); // the peer closed: what is still queued goes nowhere
        }
        let mut out = take_write_buf();
        let mut writer = FrameWriter { out: &mut out, deflate: self.deflate.as_deref_mut(), error: None };
        fill(&mut writer);
        if let Some(e) = writer.error {
            give_back_write_buf(out);
            return Err(e);
        }
        if self.wr_pos < self.wr.len() {
            // Behind earlier output: queue after it.
            self.wr.extend_from_slice(&out);
            give_back_write_buf(out);
            return match self.poll_flush(cx) {
                Poll::Ready(Err(e)) => Err(e.into()),
                _ => Ok(()),
            };
        }
        let mut written = 0;
        let result = loop {
            if written == out.len() {
                break Ok(());
            }
            match Pin::new(&mut self.io).poll_write(cx, &out[written..]) {
                Poll::Ready(Ok(0)) => break Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => break Err(e),
                Poll::Pending => {
                    self.wr.extend_from_slice(&out[written..]);
                    self.wr_pos = 0;
                    break Ok(());
                }
            }
        };
        give_back_write_buf(out);
        result?;
        if self.wr.is_empty() {
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Waits for the next message (`ConnectionClosed` once the connection ended).
    pub async fn recv(&mut self) -> Result<Message, Error> {
        let mut got = None;
        poll_fn(|cx| {
            ready!(self.poll_read(cx, |msg| {
                got = Some(msg);
                ControlFlow::Break(())
            }))?;
            Poll::Ready(Ok::<(), Error>(()))
        })
        .await?;
        got.ok_or(Error::ConnectionClosed)
    }

    /// Sends a close frame (once; `None`: without a code), writes what is
    /// pending and shuts the socket's write side down.
    pub async fn close(&mut self, code: Option<CloseCode>, reason: &str) {
        if !self.sent_close {
            self.sent_close = true;
            let mut payload = Vec::new();
            if let Some(code) = code {
                payload.extend_from_slice(&u16::from(code).to_be_bytes());
                payload.extend_from_slice(reason.as_bytes());
            }
            push_frame(&mut self.wr, 0x88, &payload);
        }
        if poll_fn(|cx| self.poll_flush(cx)).await.is_ok() {
            let _ = poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await;
        }
    }
}

/// A message's bytes as the message type its first frame named.
///
/// # Safety
/// For a text message, `data` must be UTF-8 (every caller checked it with `check_utf8`).
unsafe fn message(text: bool, data: Bytes) -> Message {
    if text {
        Message::Text(Utf8Bytes::from_bytes_unchecked(data))
    } else {
        Message::Binary(data)
    }
}

/// Checks `msg[*checked..]` is UTF-8; an incomplete sequence at the end is
/// allowed until the last fragment.
fn check_utf8(msg: &[u8], checked: &mut usize, fin: bool) -> Result<(), Error> {
    match std::str::from_utf8(&msg[*checked..]) {
        Ok(_) => {
            *checked = msg.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() && !fin => {
            *checked += e.valid_up_to();
            Ok(())
        }
        Err(e) => Err(Error::Utf8(e.to_string())),
    }
}

/// Appends a server frame (FIN, RSV1 and opcode in `first_byte`, no mask) to `out`.
pub(crate) fn push_frame(out: &mut Vec<u8>, first_byte: u8, payload: &[u8]) {
    push_header(out, first_byte, payload.len());
    out.extend_from_slice(payload);
}

/// A server frame's header.
pub(crate) fn push_header(out: &mut Vec<u8>, first_byte: u8, len: usize) {
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

pub(crate) fn unmask(buf: &mut [u8], mask: [u8; 4]) {
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
