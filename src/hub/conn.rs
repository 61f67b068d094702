//! A client's connection as the hub sees it: the receiver of one Engine.IO
//! session's messages ([`engineio::Receiver`]), which it reads as Socket.IO
//! packets, or, from a plain client, as `message` events of its one socket
//! of the main namespace.
//!
//! Messages arrive in order from the session's reader (WebSocket task or
//! polling POST). An error returned here closes the whole connection with
//! the reason given; it never touches another client.

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::Mutex;
use tungstenite::Utf8Bytes;

use super::recovery::Claim;
use super::{call_event_handler, ConnectRefusal, ConnectRequest, Event, HubCore, Namespace, Socket, SocketState};
use crate::engineio::session::{EngineSession, Outbound, Protocol};
use crate::engineio::{self, BoxFuture, Connecting};
use crate::rawws;
use crate::reason::DisconnectReason;
use crate::socketio::packet::{self as sio, PacketType};
use crate::socketio::payload::Payload;

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
/// a list compared by name beats hashing the name. A socket the server
/// disconnected stays listed, as gone, until the next join prunes it (a
/// socket does not reach back into its connection).
#[derive(Default)]
struct Joined(Vec<Arc<SocketState>>);

impl Joined {
    fn get(&self, namespace: &str) -> Option<&Arc<SocketState>> {
        self.0.iter().find(|s| &*s.namespace.name == namespace && s.is_connected())
    }

    fn connected(&self) -> Vec<Arc<SocketState>> {
        self.0.iter().filter(|s| s.is_connected()).cloned().collect()
    }

    fn len(&self) -> usize {
        self.0.iter().filter(|s| s.is_connected()).count()
    }

    fn insert(&mut self, socket: Arc<SocketState>) {
        self.0.retain(|s| s.is_connected() && *s.namespace.name != *socket.namespace.name);
        self.0.push(socket);
    }

    fn take(&mut self) -> Vec<Arc<SocketState>> {
        std::mem::take(&mut self.0)
    }
}

#[derive(Default)]
struct SioState {
    sockets: Joined,
    /// Boxed: rare, and an idle connection should not carry its room.
    pending: Option<Box<PendingBinary>>,
    /// Set once any namespace connected: the connect timeout no longer applies.
    connected_once: bool,
}

/// The hub's side of one Engine.IO session.
pub(crate) struct Conn {
    core: Arc<HubCore>,
    /// This connection, for the namespace connects it starts (they go on after the call).
    me: Weak<Conn>,
    state: Mutex<SioState>,
}

impl Conn {
    pub fn new(core: Arc<HubCore>) -> Arc<Conn> {
        Arc::new_cyclic(|me| Conn { core, me: me.clone(), state: Mutex::new(SioState::default()) })
    }
}

impl engineio::Receiver for Conn {
    fn admit(&self, session: &Arc<EngineSession>) -> Option<BoxFuture<Result<(), String>>> {
        if session.eio3 && !session.protocol.is_plain() {
            // A Socket.IO v2 client is in the main namespace from the start.
            let conn = self.me.upgrade()?;
            let auth = Utf8Bytes::from_static("{}");
            let session = session.clone();
            return Some(Box::pin(async move {
                conn.connect_to(session, "/".to_string(), auth).await;
                Ok(())
            }));
        }
        if !session.protocol.is_plain() {
            return None; // a Socket.IO client joins namespaces with packets of its own
        }
        let conn = self.me.upgrade()?;
        let session = session.clone();
        // Boxed: the guards' state must not enlarge the task of every idle connection.
        Some(Box::pin(async move { conn.attach_plain(&session).await.map_err(|r| r.message) }))
    }

    fn on_text(&self, session: &Arc<EngineSession>, text: Utf8Bytes) -> Result<Option<Connecting>, DisconnectReason> {
        if session.protocol.is_plain() {
            self.dispatch_plain(rawws::text_args(text.as_str()));
            return Ok(None);
        }
        self.on_packet(session, text)
    }

    fn on_binary(&self, session: &Arc<EngineSession>, data: Bytes) -> Result<(), DisconnectReason> {
        if session.protocol.is_plain() {
            self.dispatch_plain(rawws::binary_args(data));
            return Ok(());
        }
        self.on_attachment(session, data)
    }

    fn established(&self) -> bool {
        self.state.lock().connected_once
    }

    /// Tells each socket's namespace: its upgrade handlers, and its watchers (the admin UI).
    fn upgraded(&self) {
        let sockets = self.state.lock().sockets.connected();
        for socket in sockets {
            socket.namespace.clone().dispatch_upgrade(&Socket(socket));
        }
    }

    fn packets_sent(&self, session: &EngineSession, packets: &[engineio::SentPacket<'_>]) {
        let sockets = self.state.lock().sockets.connected();
        super::packets::sent(session, &sockets, packets);
    }

    /// Detaches every socket of the closed session, with the session's reason.
    fn closed(&self, reason: DisconnectReason) {
        let sockets = self.state.lock().sockets.take();
        for socket in sockets {
            socket.detach(reason);
        }
    }
}

impl Conn {
    /// Handles one text message of a Socket.IO session; a namespace connect
    /// goes on after the call (its guards may take time).
    fn on_packet(&self, session: &Arc<EngineSession>, text: Utf8Bytes) -> Result<Option<Connecting>, DisconnectReason> {
        let core = &self.core;
        let packet = sio::decode(text).map_err(|e| self.violation(session, &e.to_string()))?;
        // (`> 0` first: a plain event need not reach into the config.)
        if packet.attachments > 0 && packet.attachments > core.config.max_attachments {
            return Err(self.violation(session, "too many attachments"));
        }
        // The packet's socket: None for a namespace the client has not joined.
        // A CONNECT to a joined namespace, or any other packet for one not
        // joined, breaks the protocol: the connection is closed, as the
        // reference server closes it.
        let socket = {
            let state = self.state.lock();
            let pending = state.pending.is_some();
            let socket = state.sockets.get(packet.namespace.as_ref()).cloned();
            drop(state);
            if pending {
                return Err(self.violation(session, "got plaintext data when reconstructing a packet"));
            }
            socket
        };
        match packet.kind {
            // Boxed: a connect (with its guards) is rare, and its state must not
            // enlarge the task that every idle connection keeps.
            PacketType::Connect if socket.is_some() => {
                Err(self.violation(session, "a second CONNECT to a joined namespace"))
            }
            PacketType::Connect => {
                let Some(conn) = self.me.upgrade() else { return Ok(None) };
                Ok(Some(Box::pin(conn.connect(session.clone(), packet))))
            }
            // (Lenient where the client cannot know yet: a namespace the server
            // just disconnected it from, or a DISCONNECT for one it is not in.)
            kind if kind != PacketType::Disconnect && socket.is_none() && !self.was_joined(&packet.namespace) => {
                Err(self.violation(session, "a packet for a namespace not joined"))
            }
            PacketType::Disconnect => {
                if let Some(socket) = socket {
                    socket.detach(DisconnectReason::ClientNamespaceDisconnect);
                }
                Ok(None)
            }
            PacketType::Event | PacketType::BinaryEvent => {
                let data = packet.data.ok_or_else(|| self.violation(session, "invalid payload"))?;
                let sio::EventSplit { name, args } =
                    sio::split_event(data.as_str()).map_err(|e| self.violation(session, &e.to_string()))?;
                if packet.attachments > 0 {
                    let name = name.into_owned();
                    let args = sio::event_args(data, args);
                    self.start_binary(packet.namespace, Some(name), args, packet.ack_id, packet.attachments);
                    return Ok(None);
                }
                let Some(socket) = socket else { return Ok(None) };
                socket.namespace.event_in(&socket.id, || data.as_str().to_string());
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
                let data = packet.data.ok_or_else(|| self.violation(session, "invalid payload"))?;
                if packet.attachments > 0 {
                    self.start_binary(packet.namespace, None, data, packet.ack_id, packet.attachments);
                } else if let (Some(socket), Some(id)) = (socket, packet.ack_id) {
                    socket.resolve_ack(id, Payload::from_trusted(data, Vec::new()));
                }
                Ok(None)
            }
            PacketType::ConnectError => Err(self.violation(session, "a client may not send CONNECT_ERROR")),
        }
    }

    /// Handles one binary message: the next attachment of the pending packet.
    fn on_attachment(&self, session: &EngineSession, data: Bytes) -> Result<(), DisconnectReason> {
        let (complete, socket) = {
            let mut state = self.state.lock();
            let Some(pending) = state.pending.as_mut() else {
                drop(state);
                return Err(self.violation(session, "got binary data when not reconstructing a packet"));
            };
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
            (Some(name), ack_id) => {
                socket.namespace.event_in(&socket.id, || super::event_array(&name, &payload));
                socket.namespace.clone().dispatch_event(socket, &name, payload, ack_id)
            }
            (None, Some(id)) => socket.resolve_ack(id, payload),
            (None, None) => {}
        }
        Ok(())
    }

    /// The client broke the Socket.IO protocol: each of its sockets hears why
    /// (its `error` handlers), and the connection closes with "forced
    /// close", as the reference server closes it.
    fn violation(&self, session: &EngineSession, message: &str) -> DisconnectReason {
        tracing::debug!(sid = %session.sid, message, "a packet broke the Socket.IO protocol");
        let sockets = self.state.lock().sockets.connected();
        for socket in sockets {
            socket.namespace.clone().dispatch_error(&Socket(socket), message);
        }
        DisconnectReason::ForcedClose
    }

    /// True when the client had a socket in `namespace` that the server disconnected.
    fn was_joined(&self, namespace: &str) -> bool {
        self.state.lock().sockets.0.iter().any(|s| &*s.namespace.name == namespace)
    }

    fn start_binary(
        &self,
        namespace: Cow<'static, str>,
        event: Option<String>,
        json: Utf8Bytes,
        ack_id: Option<u64>,
        expected: usize,
    ) {
        self.state.lock().pending = Some(Box::new(PendingBinary {
            namespace,
            event,
            json,
            ack_id,
            expected,
            attachments: Vec::with_capacity(expected.min(16)),
        }));
    }

    async fn connect(self: Arc<Self>, session: Arc<EngineSession>, packet: sio::Packet) {
        let (name, auth) = match session.eio3 {
            // Socket.IO v2 names its auth as the namespace's query.
            true => sio::v2_namespace(&packet.namespace),
            false => (packet.namespace.to_string(), sio::connect_auth(&packet)),
        };
        self.connect_to(session, name, auth).await;
    }

    /// Joins the client to namespace `name` (made by a resolver if need be),
    /// after its guards, and answers it with CONNECT or CONNECT_ERROR.
    async fn connect_to(self: Arc<Self>, session: Arc<EngineSession>, name: String, auth: Utf8Bytes) {
        let core = &self.core;
        {
            let state = self.state.lock();
            if state.sockets.get(&name).is_some() {
                return; // already connected to it: nothing to do
            }
            if state.sockets.len() >= core.config.max_namespaces_per_connection {
                drop(state);
                session.push([sio::encode_connect_error(&name, "too many namespaces on this connection", None)]);
                return;
            }
        }
        // Held until the socket is in (or refused): a dynamic namespace stays
        // meanwhile. The request is made only for a resolver (a namespace nobody made).
        let request = || ConnectRequest {
            namespace: name.clone(),
            socket_id: String::new(),
            auth: auth.as_str().to_string(),
            handshake: session.handshake.clone(),
        };
        let ns = tokio::select! {
            entered = core.namespaces.enter(&name, request) => match entered {
                Ok(entry) => entry,
                Err(refusal) => {
                    session.push([sio::encode_connect_error(&name, &refusal.message, refusal.data.as_deref())]);
                    return;
                }
            },
            _ = session.closed.cancelled() => return,
        };
        let join = Joining::of(&ns, &auth, &session).await;
        match self.join_namespace(&session, &ns, join, auth).await {
            Ok((socket, answered)) => {
                if session.eio3 {
                    session.push([sio::encode_connect_v2(&name)]);
                } else if !answered {
                    session.push([sio::encode_connect(&name, &socket.id, socket.pid.as_deref())]);
                }
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
    /// stops waiting. The caller announces the socket (unless the second
    /// value says its CONNECT answer is queued already: a recovered socket's
    /// comes after its missed packets), then dispatches its connection to the handlers.
    async fn join_namespace(
        &self,
        session: &Arc<EngineSession>,
        ns: &Arc<Namespace>,
        join: Joining,
        auth: Utf8Bytes,
    ) -> Result<(Arc<SocketState>, bool), ConnectRefusal> {
        if !join.skip_guards {
            let request = ConnectRequest {
                namespace: ns.name.to_string(),
                socket_id: join.id.to_string(),
                auth: auth.as_str().to_string(),
                handshake: session.handshake.clone(),
            };
            tokio::select! {
                v = ns.admit(request) => v.inspect_err(|_| ns.counters.connect_refusals.add(1))?,
                _ = session.closed.cancelled() => {
                    ns.dispatch_abandoned(&join.id, session.close_reason());
                    return Err(ConnectRefusal::new("connection closed"));
                }
            };
        }
        let core = &self.core;
        let outbound = Outbound::new(session);
        let (id, pid) = (join.id, join.pid);
        let socket =
            SocketState::new(id, ns.clone(), outbound, auth, core.runtime.clone(), core.config.max_pending_acks, pid);
        {
            let mut state = self.state.lock();
            state.sockets.insert(socket.clone());
            state.connected_once = true;
        }
        // A recovered socket's CONNECT answer is queued with its missed packets.
        let connect = || sio::encode_connect(&ns.name, &socket.id, socket.pid.as_deref());
        let inserted = match join.claimed {
            Claimed::Nothing => {
                ns.insert(socket.clone());
                ns.counters.connects.add(1);
                return Ok((socket, false));
            }
            Claimed::Here(claim) => {
                let recovery = ns.recovery.as_ref();
                ns.insert_restoring(&socket, || recovery.and_then(|r| r.restore(&claim)), connect())
            }
            Claimed::Logged { offset, rooms } => resume_logged(ns, &socket, offset, rooms, connect()).await,
        };
        if !inserted {
            // Another connection won the race for this claim: this one is not a member.
            socket.connected.store(false, std::sync::atomic::Ordering::Release);
            return Err(ConnectRefusal::new("this session was recovered by another connection"));
        }
        ns.counters.connects.add(1);
        Ok((socket, true))
    }

    /// Runs the main namespace's guards for a plain client and makes it a
    /// socket of that namespace. A refused session is closed.
    async fn attach_plain(&self, session: &Arc<EngineSession>) -> Result<(), ConnectRefusal> {
        let ns = self.core.namespaces.get_or_create("/");
        let auth = Utf8Bytes::from_static("{}");
        let join = Joining { id: session.sid.clone(), pid: None, claimed: Claimed::Nothing, skip_guards: false };
        match self.join_namespace(session, &ns, join, auth).await {
            Ok((socket, _)) => {
                ns.dispatch_connect(&Socket(socket));
                Ok(())
            }
            Err(refusal) => {
                session.close(DisconnectReason::ServerNamespaceDisconnect);
                Err(refusal)
            }
        }
    }

    /// A message from a plain client: a `message` event of its socket.
    fn dispatch_plain(&self, args: Payload) {
        let Some(socket) = self.state.lock().sockets.get("/").cloned() else { return };
        let ns = socket.namespace.clone();
        ns.event_in(&socket.id, || super::event_array("message", &args));
        ns.dispatch_event(socket, "message", args, None);
    }
}

/// Who a namespace connect makes: a fresh socket, or (connection state
/// recovery) the socket of a saved session its client claims.
struct Joining {
    id: Arc<str>,
    /// The private session id, with recovery on.
    pid: Option<Arc<str>>,
    claimed: Claimed,
    skip_guards: bool,
}

/// The saved session a joining socket takes over, if any.
enum Claimed {
    Nothing,
    /// Kept by this node: `check` accepted the claim; the restore itself
    /// happens at insertion.
    Here(Claim),
    /// Taken out of the cluster's log; what it missed after `offset` is read at insertion.
    Logged {
        offset: String,
        rooms: Vec<String>,
    },
}

impl Joining {
    async fn of(ns: &Namespace, auth: &Utf8Bytes, session: &EngineSession) -> Joining {
        if session.eio3 {
            // Socket.IO v2's ids: the session's in the main namespace, "<namespace>#<sid>" elsewhere; no recovery.
            let id = match &*ns.name {
                "/" => session.sid.clone(),
                name => Arc::from(format!("{name}#{}", session.sid)),
            };
            return Joining { id, pid: None, claimed: Claimed::Nothing, skip_guards: false };
        }
        let Some(recovery) = &ns.recovery else {
            return Joining { id: crate::sid::generate(), pid: None, claimed: Claimed::Nothing, skip_guards: false };
        };
        let fresh = || Joining {
            id: crate::sid::generate(),
            pid: Some(crate::sid::generate()),
            claimed: Claimed::Nothing,
            skip_guards: false,
        };
        let Some(claim) = Claim::from_auth(auth.as_str()) else { return fresh() };
        let skip_guards = recovery.config.skip_guards;
        let pid = Some(claim.pid.clone());
        match ns.recovery_log() {
            Some(log) => match log.take_session(&ns.name, &claim.pid, &claim.offset).await {
                Some(saved) => Joining {
                    id: Arc::from(saved.id),
                    pid,
                    claimed: Claimed::Logged { offset: claim.offset, rooms: saved.rooms },
                    skip_guards,
                },
                None => fresh(),
            },
            None => match recovery.check(&claim) {
                Some(id) => Joining { id, pid, claimed: Claimed::Here(claim), skip_guards },
                None => fresh(),
            },
        }
    }
}

/// Puts a socket that took over a logged session in, once the log's reader
/// says what it missed (see `cluster::Log::resume`); false when another
/// connection won the claim. A log that cannot be read gives a fresh
/// session under the claimed id, never a partial replay.
async fn resume_logged(
    ns: &Arc<Namespace>,
    socket: &Arc<SocketState>,
    offset: String,
    rooms: Vec<String>,
    connect: crate::engineio::packet::Frame,
) -> bool {
    let Some(log) = ns.recovery_log() else { return false };
    let (done, inserted) = tokio::sync::oneshot::channel();
    let (namespace, s) = (ns.clone(), socket.clone());
    let with_id: Vec<String> = rooms.iter().cloned().chain([socket.id.to_string()]).collect();
    log.resume(
        &ns.name,
        &offset,
        with_id,
        Box::new(move |missed| {
            let restored = missed.map(|missed| super::recovery::Restored {
                rooms: rooms.iter().map(|r| Arc::from(r.as_str())).collect(),
                missed: missed
                    .iter()
                    .map(|m| sio::encode_event_at(&namespace.name, &m.event, &m.args, &m.offset))
                    .collect(),
            });
            let _ = done.send(namespace.insert_restoring(&s, || restored, connect));
        }),
    );
    inserted.await.unwrap_or(false)
}

/// What the hub gives the Engine.IO layer: a connection for each session it opens.
pub(crate) struct Connections(pub Arc<HubCore>);

impl engineio::Handler for Connections {
    fn receiver(&self, _protocol: Protocol) -> Arc<dyn engineio::Receiver> {
        Conn::new(self.0.clone())
    }

    fn allow(&self, handshake: &Arc<crate::Handshake>) -> Option<BoxFuture<Result<(), String>>> {
        let guard = self.0.request_guard.read().clone()?;
        Some(guard(handshake.clone()))
    }
}
