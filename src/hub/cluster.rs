//! What the hub asks of a cluster adapter ([`Adapter`], implemented in
//! `adapter/`), and what crosses it: a [`Scope`], a [`RemoteSocket`], a
//! [`ServerEvent`].
//!
//! Every [`crate::Target`] operation (emit, join, leave, disconnect, fetch)
//! is done on the local sockets first, then handed to the namespace's
//! adapter, if any, which tells the other nodes; messages from the other
//! nodes come back in as the same operations marked `local`. With no
//! adapter configured (the default) this costs one branch per operation.

use std::sync::Arc;

use super::{BoxFuture, HubCore, Socket};
use crate::socketio::payload::Payload;
use crate::Error;

/// Who an operation reaches on the other nodes: rooms (none = everyone),
/// minus rooms and socket ids.
pub(crate) struct Scope<'a> {
    pub namespace: &'a str,
    pub rooms: Vec<&'a str>,
    pub except: Vec<&'a str>,
    /// Receivers with a full queue miss it (Socket.IO's `volatile` flag).
    pub volatile: bool,
}

/// What a cluster adapter does for the hub.
pub(crate) trait Adapter: Send + Sync {
    /// Connects to the cluster on the hub's runtime (called by each `start`).
    fn start(self: Arc<Self>, core: &Arc<HubCore>);
    /// A namespace was created: listen to its channels.
    fn watch_namespace(&self, name: &str);
    /// A room got its first member (`exists`) or lost its last one on this node.
    fn room_changed(&self, namespace: &str, room: &str, exists: bool);
    fn broadcast(&self, scope: &Scope, event: &str, args: &Payload);
    fn join(&self, scope: &Scope, rooms: &[&str]);
    fn leave(&self, scope: &Scope, rooms: &[&str]);
    fn disconnect(&self, scope: &Scope, close: bool);
    /// The sockets of the other nodes, appended to `local`.
    fn fetch_sockets(&self, scope: &Scope, local: Vec<RemoteSocket>) -> BoxFuture<Result<Vec<RemoteSocket>, Error>>;
    fn server_side_emit(&self, namespace: &str, event: &str, args: &Payload);
    /// The cluster's log of broadcasts, if it keeps one.
    fn log(&self) -> Option<&dyn Log> {
        None
    }
}

/// A cluster that keeps an ordered log of its broadcasts (a Redis stream):
/// with connection state recovery on, the log gives the offsets and keeps
/// the sessions, so a client that lost its connection may come back on any
/// node. Every node then sends a logged broadcast in the log's order, its
/// own ones included, when its reader gets it back (`Target::emit_logged`).
pub(crate) trait Log: Send + Sync {
    /// Appends a broadcast that recovery keeps (this node's sockets get it from the log too).
    fn broadcast(&self, scope: &Scope, event: &str, args: &Payload);
    /// Keeps a disconnected socket's session for `ttl`, for any node to restore.
    fn persist_session(&self, namespace: &str, pid: &str, session: &SavedSession, ttl: std::time::Duration);
    /// Takes the session `pid` out, if it is kept and `offset` is still in the log.
    fn take_session(&self, namespace: &str, pid: &str, offset: &str) -> BoxFuture<Option<SavedSession>>;
    /// Reads what a socket in `rooms` (its id among them) missed after
    /// `offset`, and calls `resume` with it between two entries of the log
    /// as this node reads it: what comes after then reaches the socket
    /// live, so it gets each broadcast once and in order. `resume` gets
    /// `None` when the log could not be read.
    fn resume(&self, namespace: &str, offset: &str, rooms: Vec<String>, resume: Resume);
}

/// A disconnected socket's session, as a cluster's log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedSession {
    pub id: String,
    /// Its rooms, its own id left out.
    pub rooms: Vec<String>,
}

/// A logged broadcast that a recovering socket missed.
pub(crate) struct Missed {
    /// Its offset in the log, which the client gets as the last argument.
    pub offset: String,
    pub event: String,
    pub args: Payload,
}

/// Puts a recovering socket in, with what it missed (see [`Log::resume`]).
pub(crate) type Resume = Box<dyn FnOnce(Option<Vec<Missed>>) + Send>;

/// A socket of any node of the cluster, as `fetch_sockets` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSocket {
    pub id: String,
    /// Its rooms, its own id included (as in Socket.IO).
    pub rooms: Vec<String>,
    /// The handshake as Socket.IO describes it (headers, query, address,
    /// time, issued, url, auth), raw JSON.
    pub handshake: String,
    /// The socket's `data` (Node servers may set it; wshub sockets send `{}`), raw JSON.
    pub data: String,
}

/// Sends a server-side event's answer back to the node that asked.
pub(crate) type Reply = Box<dyn FnOnce(&Payload) + Send>;

/// An event sent by another node with `serverSideEmit`.
pub struct ServerEvent {
    pub(crate) name: String,
    pub(crate) args: Payload,
    pub(crate) reply: parking_lot::Mutex<Option<Reply>>,
}

impl ServerEvent {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn args(&self) -> &Payload {
        &self.args
    }

    /// Whether the sender waits for an answer (`serverSideEmitWithAck`).
    pub fn wants_ack(&self) -> bool {
        self.reply.lock().is_some()
    }

    /// Answers the sender with the first argument of `args`; only the first
    /// call counts, as in Socket.IO.
    pub fn ack(&self, args: &Payload) {
        if let Some(reply) = self.reply.lock().take() {
            reply(args);
        }
    }
}

impl std::fmt::Debug for ServerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEvent").field("name", &self.name).field("args", &self.args).finish()
    }
}

/// The handshake of a local socket, the way Node's Socket.IO describes it
/// in `fetchSockets` answers.
pub(crate) fn handshake_json(socket: &Socket) -> String {
    let mut handshake = handshake_without_auth(socket);
    let auth = serde_json::from_str(socket.auth()).unwrap_or(serde_json::Value::Object(Default::default()));
    handshake.insert("auth".into(), auth);
    serde_json::Value::Object(handshake).to_string()
}

/// The handshake as Socket.IO describes it, but for the client's `auth`
/// (which may hold credentials: the admin UI shows the rest to its users).
pub(crate) fn handshake_without_auth(socket: &Socket) -> serde_json::Map<String, serde_json::Value> {
    use crate::handshake::pairs_object as pairs;
    use serde_json::{json, Value};
    let h = socket.handshake();
    let fields = [
        ("headers", pairs(&h.headers)),
        ("time", Value::String(h.issued_ms.to_string())),
        ("address", Value::String(h.remote_addr.ip().to_string())),
        ("xdomain", Value::Bool(h.header("origin").is_some())),
        ("secure", Value::Bool(false)),
        ("issued", json!(h.issued_ms)),
        ("url", Value::String(h.url.clone())),
        ("query", pairs(&h.query)),
    ];
    fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub(crate) fn local_remote_socket(socket: &Socket) -> RemoteSocket {
    RemoteSocket {
        id: socket.id().to_string(),
        rooms: socket.rooms(),
        handshake: handshake_json(socket),
        data: "{}".to_string(),
    }
}
