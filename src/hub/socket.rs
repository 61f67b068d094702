//! A connected socket: one client in one namespace.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tungstenite::Utf8Bytes;

use super::cluster::SavedSession;
use super::{DisconnectReason, Namespace, Target};
use crate::engineio::packet::Frames;
use crate::engineio::session::{Outbound, Protocol};
use crate::socketio::packet as sio;
use crate::socketio::payload::Payload;
use crate::{rawws, Error, Handshake};

pub(crate) struct AckTable {
    next_id: u64,
    waiting: HashMap<u64, oneshot::Sender<Payload>>,
    /// Most acks waited for at once (`Config::max_pending_acks`).
    limit: usize,
}

pub(crate) struct SocketState {
    pub id: Arc<str>,
    /// A number for this socket, unique in the process and never reused:
    /// what a binding holds to find it again without its namespace and id
    /// (see `SocketHandles`).
    pub handle: u64,
    pub namespace: Arc<Namespace>,
    /// The connection's outbound queue.
    pub session: Outbound,
    pub rooms: Mutex<HashSet<Arc<str>>>,
    pub acks: Mutex<AckTable>,
    pub auth: Utf8Bytes,
    pub connected: AtomicBool,
    pub runtime: tokio::runtime::Handle,
    /// The private session id, with connection state recovery on.
    pub pid: Option<Arc<str>>,
    /// This socket took over a recovered session (its id, rooms and missed
    /// packets); set once, before its connect handlers run.
    pub recovered: AtomicBool,
    /// Its namespace's packet handlers hear of its connection's packets.
    pub watch_packets: AtomicBool,
}

impl SocketState {
    pub fn new(
        id: Arc<str>,
        namespace: Arc<Namespace>,
        session: Outbound,
        auth: Utf8Bytes,
        runtime: tokio::runtime::Handle,
        max_pending_acks: usize,
        pid: Option<Arc<str>>,
    ) -> Arc<SocketState> {
        static NEXT_HANDLE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Arc::new(SocketState {
            id,
            handle: NEXT_HANDLE.fetch_add(1, Ordering::Relaxed),
            namespace,
            session,
            rooms: Mutex::new(HashSet::new()),
            acks: Mutex::new(AckTable { next_id: 0, waiting: HashMap::new(), limit: max_pending_acks }),
            auth,
            connected: AtomicBool::new(true),
            runtime,
            pid,
            recovered: AtomicBool::new(false),
            watch_packets: AtomicBool::new(false),
        })
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Encodes an event the way this socket's client reads it.
    pub fn encode_event(&self, event: &str, args: &Payload, ack_id: Option<u64>) -> Frames {
        match self.session.protocol() {
            Protocol::SocketIo => sio::encode_event(&self.namespace.name, event, args, ack_id),
            plain => rawws::encode_event(event, args, plain),
        }
    }

    /// How many emits to this socket wait for the client's ack.
    pub fn pending_acks(&self) -> usize {
        self.acks.lock().waiting.len()
    }

    /// Delivers a received ACK to whoever waits for it.
    pub fn resolve_ack(&self, id: u64, payload: Payload) {
        if let Some(tx) = self.acks.lock().waiting.remove(&id) {
            let _ = tx.send(payload);
        }
    }

    /// Takes the socket out of its namespace once, whatever the reason, and
    /// tells the disconnect handlers. Waiting acks fail with `Disconnected`.
    pub fn detach(self: &Arc<Self>, reason: DisconnectReason) -> bool {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return false;
        }
        // A socket that may come back leaves its id and rooms for it.
        if let (Some(recovery), Some(pid)) = (&self.namespace.recovery, &self.pid) {
            if super::recovery::is_recoverable(reason) {
                let rooms: Vec<Arc<str>> = self.rooms.lock().iter().filter(|r| **r != self.id).cloned().collect();
                match self.namespace.recovery_log() {
                    Some(log) => {
                        let session = SavedSession {
                            id: self.id.to_string(),
                            rooms: rooms.iter().map(|r| r.to_string()).collect(),
                        };
                        log.persist_session(
                            &self.namespace.name,
                            pid,
                            &session,
                            recovery.config.max_disconnection_duration,
                        );
                    }
                    None => recovery.save(pid.clone(), self.id.clone(), rooms),
                }
            }
        }
        self.namespace.remove(self);
        self.namespace.counters.disconnected(reason);
        self.acks.lock().waiting.clear();
        self.namespace.dispatch_disconnect(&Socket(self.clone()), reason);
        self.namespace.leave_if_idle();
        true
    }
}

/// Why an emit with an ack got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("the client did not acknowledge within the timeout")]
    Timeout,
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    #[error("this socket cannot acknowledge (plain WebSocket client)")]
    Unsupported,
    #[error("the socket already waits for max_pending_acks acknowledgements")]
    TooManyPending,
}

/// A handle to a connected socket; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketState>);

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("id", &self.id()).field("namespace", &self.namespace()).finish()
    }
}

impl Socket {
    /// The socket's id (distinct from the Engine.IO session id, as in Socket.IO v5).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// A number unique in the process, never reused (the C ABI's socket handle).
    pub(crate) fn handle(&self) -> u64 {
        self.0.handle
    }

    pub fn namespace(&self) -> &str {
        &self.0.namespace.name
    }

    /// The HTTP request that opened the connection.
    pub fn handshake(&self) -> &Handshake {
        self.0.session.handshake()
    }

    /// The client's auth payload as raw JSON (`{}` when it sent none).
    pub fn auth(&self) -> &str {
        self.0.auth.as_str()
    }

    /// True for a plain client (raw WebSocket or plain Engine.IO): it sends
    /// and receives bare messages and cannot acknowledge.
    pub fn is_raw(&self) -> bool {
        self.0.session.protocol().is_plain()
    }

    /// The transport that carries the socket's connection now: "polling"
    /// or "websocket" (see `Namespace::on_upgrade`).
    pub fn transport(&self) -> &'static str {
        self.0.session.transport_name()
    }

    /// Whether its namespace's packet handlers (`Namespace::on_packets`)
    /// hear of the packets its connection hands the transport from now on.
    pub fn watch_packets(&self, on: bool) {
        self.0.watch_packets.store(on, Ordering::Relaxed);
        if on {
            self.0.session.set_watching(true); // the connection stops once none of its sockets watches
        }
    }

    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    /// Sends an event to this socket. With connection state recovery, the
    /// event is kept for the client even while it is away (and Ok).
    pub fn emit(&self, event: &str, args: &Payload) -> Result<(), Error> {
        let ns = &self.0.namespace;
        match &ns.recovery {
            // The log numbers it, as a broadcast to the room of this socket's id (as in Node).
            Some(_) if self.0.session.protocol() == Protocol::SocketIo && ns.recovery_log().is_some() => {
                Target::new(ns.clone()).to(&self.0.id).emit(event, args);
                Ok(())
            }
            Some(recovery) if self.0.session.protocol() == Protocol::SocketIo => {
                self.emit_kept(recovery, event, args);
                Ok(())
            }
            _ => {
                self.send(|| self.0.encode_event(event, args, None))?;
                self.0.namespace.event_out(&self.0.id, event, args);
                Ok(())
            }
        }
    }

    /// An emit to this socket with recovery on: with an offset, kept for it
    /// (as a packet to the room of its id), and queued if it is here. Under
    /// the registry's read lock, as every kept emit (see `Namespace::insert_restoring`).
    fn emit_kept(&self, recovery: &super::recovery::Recovery, event: &str, args: &Payload) {
        let s = &self.0;
        let _registry = s.namespace.registry.read();
        let offset = recovery.next_offset();
        let frames = sio::encode_event_at(&s.namespace.name, event, args, &super::recovery::offset_text(offset));
        recovery.keep(offset, vec![s.id.clone()], Vec::new(), frames.clone());
        if self.connected() && s.session.push(frames) {
            s.namespace.event_out(&s.id, event, args);
        }
    }

    /// True when this socket took over the session of a client that lost its
    /// connection and came back (connection state recovery): it has the
    /// session's id and rooms, and got the events it missed before its
    /// connect handlers ran.
    pub fn recovered(&self) -> bool {
        self.0.recovered.load(Ordering::Acquire)
    }

    /// Queues a packet for this socket, encoded only if it is still connected.
    fn send(&self, encode: impl FnOnce() -> Frames) -> Result<(), Error> {
        if self.connected() && self.0.session.push(encode()) {
            Ok(())
        } else {
            Err(Error::Disconnected)
        }
    }

    /// Sends an event and waits for the client's acknowledgement.
    ///
    /// The returned future resolves with the client's ack arguments, or an
    /// [`AckError`] after `timeout`. The event is sent at once, whether or
    /// not the future is polled.
    pub fn emit_with_ack(
        &self,
        event: &str,
        args: &Payload,
        timeout: Duration,
    ) -> impl Future<Output = Result<Payload, AckError>> + Send + 'static {
        let state = self.0.clone();
        let (tx, rx) = oneshot::channel();
        // The ack id the client was asked for, or why no ask went out.
        let asked = if self.is_raw() || !self.connected() {
            Err(if state.session.protocol().is_plain() { AckError::Unsupported } else { AckError::Disconnected })
        } else {
            let (ack_id, full) = {
                let mut acks = state.acks.lock();
                // A client that never answers must not grow the table without bound.
                let full = acks.waiting.len() >= acks.limit;
                acks.next_id += 1;
                let ack_id = acks.next_id;
                if !full {
                    acks.waiting.insert(ack_id, tx);
                }
                (ack_id, full)
            };
            if full {
                tracing::warn!(socket = %state.id, "too many acks pending: an emit with an ack is refused");
                Err(AckError::TooManyPending)
            } else {
                if state.session.push(state.encode_event(event, args, Some(ack_id))) {
                    state.namespace.event_out(&state.id, event, args);
                } else {
                    state.acks.lock().waiting.remove(&ack_id); // the dropped sender reads as Disconnected
                }
                Ok(ack_id)
            }
        };
        async move {
            let ack_id = asked?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(payload)) => Ok(payload),
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    state.acks.lock().waiting.remove(&ack_id);
                    Err(AckError::Timeout)
                }
            }
        }
    }

    /// Like [`Socket::emit_with_ack`], calling `callback` on the hub's
    /// runtime with the answer (for hosts without their own executor).
    pub fn emit_with_ack_callback<F>(&self, event: &str, args: &Payload, timeout: Duration, callback: F)
    where
        F: FnOnce(Result<Payload, AckError>) + Send + 'static,
    {
        let fut = self.emit_with_ack(event, args, timeout);
        self.0.runtime.spawn(async move { callback(fut.await) });
    }

    pub fn join(&self, room: &str) {
        self.0.namespace.join(&self.0, room);
    }

    pub fn leave(&self, room: &str) {
        self.0.namespace.leave(&self.0, room);
    }

    /// The socket's rooms, its own id included (as in Socket.IO).
    pub fn rooms(&self) -> Vec<String> {
        let mut rooms: Vec<String> = self.0.rooms.lock().iter().map(|r| r.to_string()).collect();
        rooms.push(self.id().to_string());
        rooms.sort();
        rooms
    }

    /// Everyone in `room` but this socket.
    pub fn to(&self, room: &str) -> Target {
        self.broadcast().to(room)
    }

    /// Everyone in the namespace but this socket.
    pub fn broadcast(&self) -> Target {
        Target::new(self.0.namespace.clone()).except_socket(self.id())
    }

    /// This socket alone, as a volatile target: `socket.volatile().emit(..)`
    /// drops the packet instead of queueing it while the client's outbound
    /// queue is full, and the client stays connected (see [`Target::volatile`]).
    pub fn volatile(&self) -> Target {
        Target::new(self.0.namespace.clone()).to(self.id()).local().volatile()
    }

    /// Disconnects the socket from its namespace (the client sees
    /// "io server disconnect"); its other namespaces stay connected.
    pub fn disconnect(&self) {
        // Detach first: once the client has the DISCONNECT it may close its
        // transport, and that must not be taken for the reason.
        if !self.0.detach(DisconnectReason::ServerNamespaceDisconnect) {
            return;
        }
        if self.is_raw() {
            self.0.session.close(DisconnectReason::ServerNamespaceDisconnect);
        } else {
            self.0.session.push([sio::encode_disconnect(&self.0.namespace.name)]);
        }
    }

    /// Closes the client's whole connection (every namespace).
    pub fn close(&self) {
        self.0.session.close(DisconnectReason::ForcedClose);
    }
}

/// An event received from a client.
pub struct Event {
    pub(crate) socket: Socket,
    pub(crate) name: Arc<str>,
    pub(crate) args: Payload,
    pub(crate) ack_id: Option<u64>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event").field("name", &self.name).field("args", &self.args.json()).finish()
    }
}

impl Event {
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn args(&self) -> &Payload {
        &self.args
    }

    /// The client's ack id, when it waits for an acknowledgement.
    pub fn ack_id(&self) -> Option<u64> {
        self.ack_id
    }

    /// Acknowledges the event with `args` (a no-op when the client asked for no ack).
    pub fn ack(&self, args: &Payload) -> Result<(), Error> {
        match self.ack_id {
            Some(id) => self.socket.ack(id, args),
            None => Ok(()),
        }
    }
}

impl Socket {
    /// Answers the client's ack id `id` (see [`Event::ack_id`]); for hosts that
    /// keep the id and answer later.
    pub fn ack(&self, id: u64, args: &Payload) -> Result<(), Error> {
        self.send(|| sio::encode_ack(&self.0.namespace.name, id, args))
    }
}
