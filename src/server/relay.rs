//! A WebSocket whose connection the host keeps: an ASGI server (uvicorn) or
//! aiohttp owns the socket and speaks WebSocket itself, and hands the app
//! messages, not bytes. The hub still serves it with the code its own
//! listener uses: the relay plays the client's end of an in-memory pipe, so
//! the upgrade (routing, origin check, a polling session's upgrade), the
//! frame reader with its limits, the heartbeat and the close codes are the
//! same. What crosses the pipe is framed once more (the price of one code
//! path; the host's own framing and Python dominate this path anyway).
//!
//! Bounded both ways: what the host hands in and the hub has not read yet is
//! capped (past the cap the connection is closed as a flooding client's
//! would be); what the hub hands out and the host has not taken yet is
//! capped by credit (the relay stops reading the pipe, the session's queue
//! fills, and the hub's slow-consumer limit applies as on a socket).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, Notify};

use super::host::{HostRequest, HostResponse};
use super::{upgrade, Counted, Server};

/// The pipe's buffer each way.
const PIPE_BYTES: usize = 64 * 1024;
/// The longest response head the hub writes on an upgrade.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Any key: the pipe has no proxy to fool, and the answer's accept key is not checked.
const KEY: &str = "d3NodWItaG9zdC1yZWxheQ==";

/// What the hub hands the host for one relayed WebSocket, in order: first
/// `Accepted` or `Refused`, then messages, and last `Closed` (after
/// `Refused`, nothing). Exactly one of `Refused` and `Closed` ends it, also
/// when the hub stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// Accept the client's WebSocket (ASGI `websocket.accept`).
    Accepted,
    /// Refuse it with this HTTP answer (the upgrade's 400, 403, 404, ...).
    Refused(HostResponse),
    Text(String),
    Binary(Bytes),
    /// Close it with this code (1000 normal, 1001 hub stopping, 1002/1007
    /// protocol errors, 1009 too big, 1006 when the hub ended without one).
    Closed(u16),
}

/// One [`RelayEvent`] and the credit it holds: the hub reads further output
/// of this WebSocket only while what the host holds stays under the cap, so
/// drop it once the host has taken it (sent it, or queued it with its own bound).
pub struct RelayMessage {
    pub event: RelayEvent,
    _credit: Credit,
}

struct Credit {
    out: Arc<Outstanding>,
    len: usize,
}

impl Drop for Credit {
    fn drop(&mut self) {
        if self.out.bytes.fetch_sub(self.len, Ordering::AcqRel) - self.len <= self.out.cap {
            self.out.freed.notify_one();
        }
    }
}

/// The output the host has not taken yet.
struct Outstanding {
    bytes: AtomicUsize,
    cap: usize,
    freed: Notify,
}

enum Input {
    Text(String),
    Binary(Bytes),
}

/// What the host handed in and the hub has not read yet.
#[derive(Default)]
struct Inbound {
    bytes: AtomicUsize,
    /// Set once the host went past the cap: the relay closes the connection.
    flooded: AtomicBool,
}

/// The host's end of a relayed WebSocket: what the client sent goes in here.
/// Dropping it (or [`RelayHandle::close`]) tells the hub the client is gone.
pub struct RelayHandle {
    tx: Option<mpsc::UnboundedSender<Input>>,
    inbound: Arc<Inbound>,
    cap: usize,
}

/// Why a message could not be handed in.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayError {
    /// The WebSocket has ended (its `Closed` or `Refused` is on its way or delivered).
    Closed,
    /// More than the cap is waiting for the hub: the connection is being closed.
    Flooded,
}

impl RelayHandle {
    pub fn send_text(&self, text: String) -> Result<(), RelayError> {
        self.push(text.len(), Input::Text(text))
    }

    pub fn send_binary(&self, data: Bytes) -> Result<(), RelayError> {
        self.push(data.len(), Input::Binary(data))
    }

    /// The client closed (or the host gave up on it): the hub ends the session
    /// ("transport close") and delivers `Closed`.
    pub fn close(&mut self) {
        self.tx = None;
    }

    fn push(&self, len: usize, input: Input) -> Result<(), RelayError> {
        let tx = self.tx.as_ref().ok_or(RelayError::Closed)?;
        if self.inbound.flooded.load(Ordering::Acquire) {
            return Err(RelayError::Flooded);
        }
        if self.inbound.bytes.fetch_add(len, Ordering::AcqRel) + len > self.cap {
            // Not handed in: the relay sees the flag at its next input and ends the connection.
            self.inbound.flooded.store(true, Ordering::Release);
            let _ = tx.send(Input::Binary(Bytes::new()));
            return Err(RelayError::Flooded);
        }
        tx.send(input).map_err(|_| RelayError::Closed)
    }
}

/// Opens a relayed WebSocket for an upgrade request the host read; `out`
/// gets its events, in order, on a hub thread. `Err` (connection limit) means
/// nothing was opened and `out` is never called.
pub(crate) fn open(
    server: &Arc<Server>,
    req: HostRequest,
    out: Box<dyn FnMut(RelayMessage) + Send>,
) -> Result<RelayHandle, super::host::AdoptError> {
    let conn = server.admit(req.remote_addr).ok_or(super::host::AdoptError::Limit)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let cap = 4 * server.config.max_payload.max(PIPE_BYTES);
    let inbound = Arc::new(Inbound::default());
    let outstanding = Arc::new(Outstanding { bytes: AtomicUsize::new(0), cap, freed: Notify::new() });
    let relay = Relay { out: Output { out, outstanding, ended: false }, rx, inbound: inbound.clone() };
    server.runtime.spawn(relay.run(conn, req));
    Ok(RelayHandle { tx: Some(tx), inbound, cap })
}

/// The relay's side of `out`: ends with exactly one terminal event, also
/// when the task is dropped (the hub stopped).
struct Output {
    out: Box<dyn FnMut(RelayMessage) + Send>,
    outstanding: Arc<Outstanding>,
    ended: bool,
}

impl Output {
    fn emit(&mut self, event: RelayEvent) {
        if self.ended {
            return;
        }
        self.ended = matches!(event, RelayEvent::Refused(_) | RelayEvent::Closed(_));
        let len = match &event {
            RelayEvent::Text(t) => t.len(),
            RelayEvent::Binary(b) => b.len(),
            _ => 0,
        };
        self.outstanding.bytes.fetch_add(len, Ordering::AcqRel);
        (self.out)(RelayMessage { event, _credit: Credit { out: self.outstanding.clone(), len } });
    }
}

impl Outstanding {
    fn has_credit(&self) -> bool {
        self.bytes.load(Ordering::Acquire) <= self.cap
    }

    /// Ready while the host holds no more than the cap.
    async fn credit(&self) {
        while !self.has_credit() {
            let freed = self.freed.notified();
            if self.has_credit() {
                return;
            }
            freed.await;
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.emit(RelayEvent::Closed(1006));
    }
}

struct Relay {
    out: Output,
    rx: mpsc::UnboundedReceiver<Input>,
    inbound: Arc<Inbound>,
}

impl Relay {
    async fn run(mut self, conn: Counted, req: HostRequest) {
        let server = conn.server.clone();
        let req = match super::host::to_request(req, &server.config) {
            Ok(req) => as_upgrade(req),
            Err(resp) => return self.out.emit(RelayEvent::Refused(HostResponse::from_response(resp))),
        };
        let (hub_side, mut pipe) = tokio::io::duplex(PIPE_BYTES);
        server.runtime.spawn(upgrade(conn, hub_side, req, Vec::new()));
        let mut buf = BytesMut::with_capacity(4096);
        match read_response(&mut pipe, &mut buf).await {
            Some(resp) if resp.status == 101 => self.out.emit(RelayEvent::Accepted),
            Some(resp) => return self.out.emit(RelayEvent::Refused(resp)),
            None => return self.out.emit(RelayEvent::Closed(1006)),
        }
        let code = self.pump(&mut pipe, &mut buf).await;
        self.out.emit(RelayEvent::Closed(code));
    }

    /// Moves messages both ways until the hub's end closes; its close code.
    async fn pump(&mut self, pipe: &mut DuplexStream, buf: &mut BytesMut) -> u16 {
        let mut reader = FrameReader::default();
        let mut input_open = true;
        let mut frame = Vec::new();
        let outstanding = self.out.outstanding.clone();
        loop {
            // What is whole in `buf` goes out first, while the host has credit
            // (so it holds at most the cap and one message).
            while outstanding.has_credit() {
                match reader.next(buf) {
                    Ok(Some(Frame::Data(event))) => self.out.emit(event),
                    Ok(Some(Frame::Close(code))) => return code,
                    Ok(None) => break,
                    Err(()) => return 1002,
                }
            }
            tokio::select! {
                input = self.rx.recv(), if input_open => match input {
                    Some(input) => {
                        if self.inbound.flooded.load(Ordering::Acquire) {
                            // The host handed in more than the cap: a flooding client.
                            tracing::debug!("a relayed WebSocket's host handed in more than the hub read: closed");
                            return 1009;
                        }
                        let (opcode, payload) = match &input {
                            Input::Text(t) => (1, t.as_bytes()),
                            Input::Binary(b) => (2, &b[..]),
                        };
                        frame.clear();
                        push_client_frame(&mut frame, opcode, payload);
                        let len = payload.len();
                        if pipe.write_all(&frame).await.is_err() {
                            return 1006;
                        }
                        self.inbound.bytes.fetch_sub(len, Ordering::AcqRel);
                    }
                    None => {
                        // The client is gone: end of stream, as a socket's would be.
                        input_open = false;
                        let _ = pipe.shutdown().await;
                    }
                },
                // Reads only while the host holds less than the cap.
                read = async {
                    outstanding.credit().await;
                    if frame_is_whole(buf) {
                        return Ok(1); // left over when the credit ran out
                    }
                    buf.reserve(4096);
                    pipe.read_buf(buf).await
                } => match read {
                    Ok(0) | Err(_) => return 1006,
                    Ok(_) => {}
                },
            }
        }
    }
}

/// The host's request as the upgrade our listener reads: the WebSocket
/// headers are the pipe's (the host's server did its own handshake and any
/// compression), the rest (Origin, cookies, the query) the client's.
fn as_upgrade(mut req: crate::http::Request) -> crate::http::Request {
    const OURS: [&str; 6] = [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
    ];
    req.headers.retain(|(k, _)| !OURS.contains(&k.as_str()));
    req.headers.extend([
        ("upgrade".to_string(), "websocket".to_string()),
        ("connection".to_string(), "Upgrade".to_string()),
        ("sec-websocket-key".to_string(), KEY.to_string()),
        ("sec-websocket-version".to_string(), "13".to_string()),
    ]);
    req.method = "GET".to_string();
    req
}

/// Reads the hub's answer to the upgrade: the 101's head, or a refusal with its body.
async fn read_response(pipe: &mut DuplexStream, buf: &mut BytesMut) -> Option<HostResponse> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = resp.parse(buf) {
            let status = resp.code?;
            let headers: Vec<(String, String)> = resp
                .headers
                .iter()
                .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            let body_len = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            buf.advance(head_len);
            if status == 101 {
                return Some(HostResponse { status, headers: Vec::new(), body: Vec::new() });
            }
            while buf.len() < body_len {
                if pipe.read_buf(buf).await.ok()? == 0 {
                    break;
                }
            }
            let body = buf.split_to(body_len.min(buf.len())).to_vec();
            let headers = headers
                .into_iter()
                .filter(|(k, _)| !matches!(k.to_ascii_lowercase().as_str(), "content-length" | "connection"))
                .collect();
            return Some(HostResponse { status, headers, body });
        }
        if buf.len() > MAX_RESPONSE_HEAD || pipe.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

enum Frame {
    Data(RelayEvent),
    Close(u16),
}

/// Reads the hub's (server) frames: unmasked, never compressed on the pipe;
/// fragments are joined although the hub writes whole messages.
#[derive(Default)]
struct FrameReader {
    fragments: Option<(u8, Vec<u8>)>,
}

impl FrameReader {
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ()> {
        loop {
            let Some((fin, opcode, head, len)) = frame_head(buf) else { return Ok(None) };
            if buf.len() < head + len {
                return Ok(None);
            }
            buf.advance(head);
            let payload = buf.split_to(len).freeze();
            let (opcode, data) = match (opcode, self.fragments.take()) {
                (0, Some((op, mut joined))) => {
                    joined.extend_from_slice(&payload);
                    if !fin {
                        self.fragments = Some((op, joined));
                        continue;
                    }
                    (op, Bytes::from(joined))
                }
                (1 | 2, None) if !fin => {
                    self.fragments = Some((opcode, payload.to_vec()));
                    continue;
                }
                (8, _) => {
                    let code = if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 };
                    return Ok(Some(Frame::Close(code)));
                }
                (9 | 10, _) => continue, // the pipe has no idle timeouts of its own
                (1 | 2, None) => (opcode, payload),
                _ => return Err(()),
            };
            let event = if opcode == 1 {
                RelayEvent::Text(String::from_utf8(data.to_vec()).map_err(|_| ())?)
            } else {
                RelayEvent::Binary(data)
            };
            return Ok(Some(Frame::Data(event)));
        }
    }
}

fn frame_is_whole(buf: &[u8]) -> bool {
    frame_head(buf).is_some_and(|(_, _, head, len)| buf.len() >= head + len)
}

/// `(fin, opcode, head length, payload length)` of the frame at the start of `buf`, once its head is whole.
fn frame_head(buf: &[u8]) -> Option<(bool, u8, usize, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let (head, len) = match b1 & 0x7f {
        126 => (4, u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize),
        127 => (10, u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize),
        n => (2, n as usize),
    };
    Some((b0 & 0x80 != 0, b0 & 0x0f, head, len))
}

/// A client frame (FIN set, masked as RFC 6455 requires of a client; the
/// zero key leaves the payload as it is, and nothing on a pipe reads it).
fn push_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let start = out.len();
    crate::ws::push_header(out, 0x80 | opcode, payload.len());
    out[start + 1] |= 0x80;
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_frame_reads_back_as_a_server_frame_with_the_mask_bit() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let payload = vec![7u8; len];
            let mut out = Vec::new();
            push_client_frame(&mut out, 2, &payload);
            let (fin, opcode, head, got) = frame_head(&out).unwrap();
            assert!(fin && opcode == 2 && got == len && out[1] & 0x80 != 0);
            assert_eq!(out.len(), head + 4 + len);
        }
    }

    #[test]
    fn fragments_are_joined_and_a_bad_opcode_is_an_error() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0x01, 2, b'a', b'b', 0x80, 1, b'c', 0x88, 2, 0x03, 0xe8]);
        let mut r = FrameReader::default();
        assert!(matches!(r.next(&mut buf), Ok(Some(Frame::Data(RelayEvent::Text(t)))) if t == "abc"));
        assert!(matches!(r.next(&mut buf), Ok(Some(Frame::Close(1000)))));
        assert!(matches!(r.next(&mut buf), Ok(None)));
        buf.extend_from_slice(&[0x83, 0]);
        assert!(r.next(&mut buf).is_err());
    }
}
