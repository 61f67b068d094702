//! The packets a watched socket's connection hands its transport, for
//! handlers that look at the wire (Socket.IO's `packetCreate` event of a
//! socket's `conn`). Nothing is copied or told while no socket watches.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::{call_guarded, Socket, SocketState};
use crate::engineio::packet::Frame;
use crate::engineio::session::EngineSession;
use crate::engineio::SentPacket;

/// One packet handed to a socket's transport. A connection's packets are
/// those of all its namespaces: every watching socket of it sees them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Its Engine.IO type: "open", "close", "ping", "pong", "message",
    /// "upgrade" or "noop" (a binary packet is a "message").
    pub kind: &'static str,
    /// Its data: a text packet's without the type digit, a binary packet's bytes.
    pub data: Bytes,
    pub binary: bool,
    /// The emit let it be deflated (Socket.IO's per-emit `compress` flag).
    pub compress: bool,
    /// Encoded once for all the receivers of a broadcast, and shared by them.
    pub shared: bool,
    /// Written as a WebSocket message (else in a polling response).
    pub websocket: bool,
    /// Written deflated (permessage-deflate on, and the packet past its threshold).
    pub deflated: bool,
}

impl Packet {
    fn from_sent(p: &SentPacket<'_>) -> Packet {
        let (kind, data, binary) = match p.frame {
            Frame::Text(t) => {
                let bytes = Bytes::from(t.clone());
                let kind = match bytes.first() {
                    Some(b'0') => "open",
                    Some(b'1') => "close",
                    Some(b'2') => "ping",
                    Some(b'3') => "pong",
                    Some(b'5') => "upgrade",
                    Some(b'6') => "noop",
                    _ => "message",
                };
                (kind, if bytes.is_empty() { bytes } else { bytes.slice(1..) }, false)
            }
            Frame::Binary(b) => ("message", b.clone(), true),
        };
        Packet {
            kind,
            data,
            binary,
            compress: p.options.compress,
            shared: p.options.shared,
            websocket: p.websocket,
            deflated: p.deflated,
        }
    }
}

/// Tells the packet handlers of every watching socket of a connection; the
/// session stops reporting once none watches.
pub(crate) fn sent(session: &EngineSession, sockets: &[Arc<SocketState>], sent: &[SentPacket<'_>]) {
    let watching: Vec<&Arc<SocketState>> = sockets.iter().filter(|s| s.watch_packets.load(Ordering::Relaxed)).collect();
    if watching.is_empty() {
        session.set_watching(false);
        return;
    }
    let packets: Vec<Packet> = sent.iter().map(Packet::from_sent).collect();
    for s in watching {
        let handlers = s.namespace.handlers.read().packets.clone();
        let socket = Socket(s.clone());
        for h in handlers {
            call_guarded("packet handler", || h(socket.clone(), &packets));
        }
    }
}
