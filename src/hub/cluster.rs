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
}

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
    use serde_json::{json, Map, Value};
    let h = socket.handshake();
    let pairs = |list: &[(String, String)]| {
        Value::Object(list.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>())
    };
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
