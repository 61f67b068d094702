//! A lean WebSocket client connection for the load's hot loops.
//!
//! The handshake is tokio-tungstenite's (see `connect` in main.rs); after it
//! the load generator reads and writes frames itself: one read takes every
//! frame that arrived, and the answers to all of them go out in one write.
//! A general-purpose client costs about as much per message as the server
//! under test, so the load generator, not the server, set the pace; this one
//! costs a fraction of that, and the same for every protocol and every server.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Free space made in the read buffer before each read.
const READ_SPACE: usize = 4096;

/// A frame from the server (servers do not mask, and do not fragment
/// messages this small).
pub enum Frame<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    Close,
    Other,
}

/// Received bytes and the frames in them.
pub struct Reader {
    buf: Vec<u8>,
    pos: usize,
}

impl Reader {
    /// The next complete frame received, if any; an error for a frame this
    /// client does not take (a fragment, or a masked frame).
    pub fn next(&mut self) -> Option<Result<Frame<'_>, String>> {
        let b = &self.buf[self.pos..];
        if b.len() < 2 {
            return None;
        }
        let (fin, opcode, masked) = (b[0] & 0x80 != 0, b[0] & 0x0f, b[1] & 0x80 != 0);
        let (len, header) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < header + len {
            return None;
        }
        self.pos += header + len;
        if !fin || opcode == 0 || masked {
            return Some(Err(format!("unexpected frame (fin {fin}, opcode {opcode}, masked {masked})")));
        }
        let payload = &b[header..header + len];
        Some(Ok(match opcode {
            1 => Frame::Text(payload),
            8 => Frame::Close,
            9 => Frame::Ping(payload),
            _ => Frame::Other,
        }))
    }
}

/// Frames to send, masked as a client's must be.
pub struct Writer {
    buf: Vec<u8>,
    mask: [u8; 4],
    /// The payload being composed (see `compose`).
    scratch: Vec<u8>,
}

impl Writer {
    pub fn text(&mut self, payload: &[u8]) {
        self.frame(0x81, payload);
    }

    pub fn pong(&mut self, payload: &[u8]) {
        self.frame(0x8A, payload);
    }

    /// Sends as one text frame what `fill` writes.
    pub fn compose(&mut self, fill: impl FnOnce(&mut Vec<u8>)) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        fill(&mut scratch);
        self.text(&scratch);
        self.scratch = scratch;
    }

    fn frame(&mut self, first: u8, payload: &[u8]) {
        let len = payload.len();
        self.buf.push(first);
        if len < 126 {
            self.buf.push(0x80 | len as u8);
        } else if len <= u16::MAX as usize {
            self.buf.push(0x80 | 126);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(0x80 | 127);
            self.buf.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.buf.extend_from_slice(&self.mask);
        let mask = self.mask;
        self.buf.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// An open WebSocket connection.
pub struct Conn {
    tcp: TcpStream,
    pub rx: Reader,
    pub tx: Writer,
}

impl Conn {
    /// Takes over a connection whose handshake is done (and whose server has
    /// sent nothing since). `seed` varies the masking key between connections.
    pub fn new(tcp: TcpStream, seed: u32) -> Conn {
        let mask = (seed.wrapping_mul(0x9E37_79B9) | 1).to_be_bytes();
        Conn {
            tcp,
            rx: Reader { buf: Vec::new(), pos: 0 },
            tx: Writer { buf: Vec::new(), mask, scratch: Vec::new() },
        }
    }

    /// Waits for bytes and reads what is there, after the frames not taken yet.
    /// Cancel-safe: a read that did not complete took nothing.
    pub async fn fill(&mut self) -> io::Result<()> {
        let rx = &mut self.rx;
        rx.buf.drain(..rx.pos);
        rx.pos = 0;
        rx.buf.reserve(READ_SPACE);
        if self.tcp.read_buf(&mut rx.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Writes every queued frame.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.tcp.write_all(&self.tx.buf).await?;
        self.tx.buf.clear();
        Ok(())
    }
}
