//! The Socket.IO side of one Engine.IO session.
//!
//! Packets arrive in order from the session's reader (WebSocket task or
//! polling POST). An error returned here closes the whole connection with
//! the reason given; it never touches another client.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use tungstenite::Utf8Bytes;

use super::packet::{self as sio, PacketType};
use crate::engineio::session::EngineSession;
use crate::engineio::Connecting;
use crate::hub::{
    call_event_handler, ConnectRefusal, ConnectRequest, DisconnectReason, Event, HubCore, Namespace, Socket, SocketState,
};
use crate::payload::Payload;

/// A BINARY_EVENT or BINARY_ACK waiting for its attachments.
struct PendingBinary {
    namespace: Cow<'static, str>,
    /// The event name, or `None` for an ack.
    event: Option<String>,
    json: Utf8Bytes,
    ack_id: Option<u64>,
    expected: usize,
    attachments: Vec<Bytes>,
}

/// The sockets of one connection, one per namespace joined. They are few
/// (at most `max_namespaces_per_connection`), and looked up on every packet:
/// a list compared by name beats hashing the name.
#[derive(Default)]
pub(crate) struct Joined(Vec<Arc<SocketState>>);

impl Joined {
    pub fn get(&self, namespace: &str) -> Option<&Arc<SocketState>> {
        self.0.iter().find(|s| &*s.namespace.name == namespace)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn insert(&mut self, socket: Arc<SocketState>) {
        self.remove(&socket.namespace.name);
        self.0.push(socket);
    }

    pub fn remove(&mut self, namespace: &str) {
        self.0.retain(|s| &*s.namespace.name != namespace);
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<SocketState>> {
        self.0.iter()
    }
}

#[derive(Default)]
pub struct SioState {
    pub(crate) sockets: Joined,
    pending: Option<PendingBinary>,
    /// Set once any namespace connected: the connect timeout no longer applies.
    pub(crate) connected_once: bool,
}

/// Handles one text message of a Socket.IO session; a namespace connect
/// goes on after the call (its guards may take time).
pub fn on_text(
    core: &Arc<HubCore>,
    session: &Arc<EngineSession>,
    text: Utf8Bytes,
) -> Result<Option<Connecting>, DisconnectReason> {
    let packet = sio::decode(text).map_err(|e| {
        tracing::debug!(sid = %session.sid, error = %e, "undecodable Socket.IO packet");
        DisconnectReason::ParseError
    })?;
    // (`> 0` first: a plain event need not reach into the config.)
    if packet.attachments > 0 && packet.attachments > core.config.max_attachments {
        tracing::debug!(sid = %session.sid, n = packet.attachments, "too many attachments");
        return Err(DisconnectReason::ParseError);
    }
    // The packet's socket: None for a namespace the client has not joined,
    // whose packets are ignored, as the reference server does.
    let socket = {
        let state = session.sio.lock();
        if state.pending.is_some() {
            tracing::debug!(sid = %session.sid, "text packet while binary attachments were expected");
            return Err(DisconnectReason::ParseError);
        }
        state.sockets.get(packet.namespace.as_ref()).cloned()
    };
    match packet.kind {
        // Boxed: a connect (with its guards) is rare, and its state must not
        // enlarge the task that every idle connection keeps.
        PacketType::Connect => Ok(Some(Box::pin(connect(core.clone(), session.clone(), packet)))),
        PacketType::Disconnect => {
            if let Some(socket) = socket {
                socket.detach(DisconnectReason::ClientNamespaceDisconnect);
            }
            Ok(None)
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let data = packet.data.ok_or(DisconnectReason::ParseError)?;
            let sio::EventSplit { name, args } =
                sio::split_event(data.as_str()).map_err(|_| DisconnectReason::ParseError)?;
            if packet.attachments > 0 {
                let name = name.into_owned();
                let args = sio::event_args(data, args);
                start_binary(session, packet.namespace, Some(name), args, packet.ack_id, packet.attachments);
                return Ok(None);
            }
            let Some(socket) = socket else { return Ok(None) };
            // The handler is found while the name is still borrowed from the
            // data; the data then becomes the arguments.
            let found = socket.namespace.event_handler(&name);
            drop(name);
            if let Some((name, handler)) = found {
                let args = Payload::from_trusted(sio::event_args(data, args), Vec::new());
                call_event_handler(&handler, Event { socket: Socket(socket), name, args, ack_id: packet.ack_id });
            }
            Ok(None)
        }
        PacketType::Ack | PacketType::BinaryAck => {
            let data = packet.data.ok_or(DisconnectReason::ParseError)?;
            if packet.attachments > 0 {
                start_binary(session, packet.namespace, None, data, packet.ack_id, packet.attachments);
            } else if let (Some(socket), Some(id)) = (socket, packet.ack_id) {
                socket.resolve_ack(id, Payload::from_trusted(data, Vec::new()));
            }
            Ok(None)
        }
        PacketType::ConnectError => Err(DisconnectReason::ParseError),
    }
}

/// Handles one binary message: the next attachment of the pending packet.
pub fn on_binary(session: &Arc<EngineSession>, data: Bytes) -> Result<(), DisconnectReason> {
    let (complete, socket) = {
        let mut state = session.sio.lock();
        let pending = state.pending.as_mut().ok_or_else(|| {
            tracing::debug!(sid = %session.sid, "binary message with no packet waiting for it");
            DisconnectReason::ParseError
        })?;
        pending.attachments.push(data);
        if pending.attachments.len() < pending.expected {
            return Ok(());
        }
        let Some(complete) = state.pending.take() else { return Ok(()) };
        let socket = state.sockets.get(complete.namespace.as_ref()).cloned();
        (complete, socket)
    };
    let Some(socket) = socket else { return Ok(()) };
    let payload = Payload::from_trusted(complete.json, complete.attachments);
    match (complete.event, complete.ack_id) {
        (Some(name), ack_id) => socket.namespace.clone().dispatch_event(socket, &name, payload, ack_id),
        (None, Some(id)) => socket.resolve_ack(id, payload),
        (None, None) => {}
    }
    Ok(())
}

fn start_binary(
    session: &EngineSession,
    namespace: Cow<'static, str>,
    event: Option<String>,
    json: Utf8Bytes,
    ack_id: Option<u64>,
    expected: usize,
) {
    session.sio.lock().pending = Some(PendingBinary {
        namespace,
        event,
        json,
        ack_id,
        expected,
        attachments: Vec::with_capacity(expected.min(16)),
    });
}

async fn connect(core: Arc<HubCore>, session: Arc<EngineSession>, packet: sio::Packet) {
    let name = packet.namespace.to_string();
    let Some(ns) = core.namespaces.get(&name) else {
        session.push([sio::encode_connect_error(&name, "Invalid namespace", None)]);
        return;
    };
    {
        let state = session.sio.lock();
        if state.sockets.get(&name).is_some() {
            return; // already connected to it: nothing to do
        }
        if state.sockets.len() >= core.config.max_namespaces_per_connection {
            drop(state);
            session.push([sio::encode_connect_error(&name, "too many namespaces on this connection", None)]);
            return;
        }
    }
    match join_namespace(&core, &session, &ns, crate::sid::generate(), sio::connect_auth(&packet)).await {
        Ok(socket) => {
            session.push([sio::encode_connect(&name, &socket.id)]);
            ns.dispatch_connect(&Socket(socket));
        }
        // (A closed session takes no packet: push is a no-op there.)
        Err(refusal) => {
            session.push([sio::encode_connect_error(&name, &refusal.message, refusal.data.as_deref())]);
        }
    }
}

/// Runs the namespace's guards for a socket of `session` and, once it is
/// admitted, makes it a member of the namespace and of the session. A guard
/// may decide later (asynchronous auth); a session that closes meanwhile
/// stops waiting. The caller announces the socket, then dispatches its
/// connection to the handlers.
pub(crate) async fn join_namespace(
    core: &HubCore,
    session: &Arc<EngineSession>,
    ns: &Arc<Namespace>,
    id: Arc<str>,
    auth: Utf8Bytes,
) -> Result<Arc<SocketState>, ConnectRefusal> {
    let request = ConnectRequest {
        namespace: ns.name.to_string(),
        auth: auth.as_str().to_string(),
        handshake: session.handshake.clone(),
    };
    tokio::select! {
        v = ns.admit(request) => v?,
        _ = session.closed.cancelled() => return Err(ConnectRefusal::new("connection closed")),
    };
    let socket =
        SocketState::new(id, ns.clone(), session.clone(), auth, core.runtime.clone(), core.config.max_pending_acks);
    {
        let mut state = session.sio.lock();
        state.sockets.insert(socket.clone());
        state.connected_once = true;
    }
    ns.insert(socket.clone());
    Ok(socket)
}

/// Detaches every socket of a closing session, with the session's reason.
pub fn detach_all(session: &EngineSession, reason: DisconnectReason) {
    let sockets: Vec<Arc<SocketState>> = session.sio.lock().sockets.all().cloned().collect();
    for socket in sockets {
        socket.detach(reason);
    }
}
