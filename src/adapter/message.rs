//! What the nodes of a cluster say to each other, whatever the protocol
//! (classic or sharded) carries it: the hub reads `Inbound` messages and
//! writes `Outbound` requests and `Answer`s; `classic.rs` and `sharded.rs`
//! turn them into bytes on Redis channels.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{RemoteSocket, Scope};
use crate::socketio::payload::Payload;

/// Who receives: rooms (none = everyone) minus rooms and socket ids.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
pub struct Opts {
    #[serde(default)]
    pub rooms: Vec<String>,
    #[serde(default)]
    pub except: Vec<String>,
    #[serde(default)]
    pub flags: Flags,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
pub struct Flags {
    #[serde(default)]
    pub volatile: bool,
    /// An ack's timeout in milliseconds (broadcasts with an ack).
    pub timeout: Option<u64>,
}

/// A message from another node, for one namespace.
#[derive(Debug)]
pub struct Inbound {
    /// The sender (`emitter` for @socket.io/redis-emitter; absent in some requests).
    pub uid: Option<String>,
    pub namespace: String,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum Kind {
    Broadcast {
        opts: Opts,
        event: String,
        args: Payload,
    },
    /// A broadcast whose receivers' acks go back to the sender.
    BroadcastWithAck {
        request_id: String,
        opts: Opts,
        event: String,
        args: Payload,
    },
    Join {
        opts: Opts,
        rooms: Vec<String>,
    },
    Leave {
        opts: Opts,
        rooms: Vec<String>,
    },
    Disconnect {
        opts: Opts,
        close: bool,
    },
    Fetch {
        request_id: String,
        opts: Opts,
    },
    ServerSideEmit {
        request_id: Option<String>,
        event: String,
        args: Payload,
    },
    /// The classic protocol's queries of socket ids and room names.
    SocketIds {
        request_id: String,
        rooms: Vec<String>,
    },
    AllRooms {
        request_id: String,
    },
    /// An answer to this node's `Fetch`.
    Fetched {
        request_id: String,
        sockets: Vec<RemoteSocket>,
    },
    /// Anything this node does not act on (heartbeats, answers it did not ask for).
    Other,
}

/// A request this node sends to the others.
pub enum Outbound<'a> {
    Broadcast { scope: &'a Scope<'a>, event: &'a str, args: &'a Payload },
    Join { scope: &'a Scope<'a>, rooms: &'a [&'a str] },
    Leave { scope: &'a Scope<'a>, rooms: &'a [&'a str] },
    Disconnect { scope: &'a Scope<'a>, close: bool },
    Fetch { scope: &'a Scope<'a>, request_id: &'a str },
    ServerSideEmit { namespace: &'a str, event: &'a str, args: &'a Payload },
}

impl Outbound<'_> {
    pub fn namespace(&self) -> &str {
        match self {
            Outbound::Broadcast { scope, .. }
            | Outbound::Join { scope, .. }
            | Outbound::Leave { scope, .. }
            | Outbound::Disconnect { scope, .. }
            | Outbound::Fetch { scope, .. } => scope.namespace,
            Outbound::ServerSideEmit { namespace, .. } => namespace,
        }
    }
}

/// This node's answer to another node's request.
pub enum Answer<'a> {
    SocketIds(Vec<String>),
    AllRooms(Vec<String>),
    Fetched(&'a [RemoteSocket]),
    ServerSideEmit(&'a Payload),
    ClientCount(usize),
    BroadcastAck(&'a Payload),
}

/// `{rooms, except, flags}` of a scope, as both protocols write it.
pub fn opts_json(scope: &Scope) -> Value {
    let flags = if scope.volatile { json!({ "volatile": true }) } else { json!({}) };
    json!({ "rooms": scope.rooms, "except": scope.except, "flags": flags })
}

/// Fetched sockets as Socket.IO describes them: `{id, handshake, rooms, data}`.
pub fn sockets_json(sockets: &[RemoteSocket]) -> Value {
    let raw = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    Value::Array(
        sockets
            .iter()
            .map(|s| json!({ "id": s.id, "handshake": raw(&s.handshake), "rooms": s.rooms, "data": raw(&s.data) }))
            .collect(),
    )
}

/// Reads the `sockets` of a fetch answer.
pub fn sockets_from(list: &[Box<serde_json::value::RawValue>]) -> Vec<RemoteSocket> {
    #[derive(Deserialize)]
    struct Wire {
        id: String,
        #[serde(default)]
        rooms: Vec<String>,
        handshake: Option<Box<serde_json::value::RawValue>>,
        data: Option<Box<serde_json::value::RawValue>>,
    }
    let text = |v: Option<Box<serde_json::value::RawValue>>| v.map_or("{}".to_string(), |v| v.get().to_string());
    list.iter()
        .filter_map(|s| serde_json::from_str::<Wire>(s.get()).ok())
        .map(|w| RemoteSocket { id: w.id, rooms: w.rooms, handshake: text(w.handshake), data: text(w.data) })
        .collect()
}
