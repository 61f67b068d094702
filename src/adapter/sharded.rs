//! The sharded protocol of `@socket.io/redis-adapter` (its
//! `createShardedAdapter`, on Redis 7 sharded pub/sub: SPUBLISH/SSUBSCRIBE).
//!
//! Every message is `{uid, nsp, type, data}` (socket.io-adapter's
//! `ClusterAdapter` format), JSON, or MessagePack when it holds binary.
//! Channels, for a prefix `socket.io` and a namespace `/`: `socket.io#/#`
//! for every request, `socket.io#/#<uid>#` for the answers to node `uid`, and
//! in the default "dynamic" mode `socket.io#/#<room>#` for a broadcast to
//! exactly one room (not a socket id): a node subscribes to a room's channel
//! while it has the room. Nodes are counted with `PUBSUB SHARDNUMSUB`.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, value::RawValue, Value};

use super::classic::packet_data;
use super::message::{opts_json, sockets_from, sockets_json, Answer, Inbound, Kind, Opts, Outbound};
use super::msgpack;

pub const BROADCAST: u8 = 3;
const SOCKETS_JOIN: u8 = 4;
const SOCKETS_LEAVE: u8 = 5;
const DISCONNECT_SOCKETS: u8 = 6;
pub const FETCH_SOCKETS: u8 = 7;
const FETCH_SOCKETS_RESPONSE: u8 = 8;
pub const SERVER_SIDE_EMIT: u8 = 9;
const SERVER_SIDE_EMIT_RESPONSE: u8 = 10;
const BROADCAST_CLIENT_COUNT: u8 = 11;
const BROADCAST_ACK: u8 = 12;

/// `<prefix>#<nsp>#`: the namespace's channel.
pub fn channel(prefix: &str, namespace: &str) -> String {
    format!("{prefix}#{namespace}#")
}

/// Where the answers to node `uid` go (and where room channels hang).
pub fn sub_channel(prefix: &str, namespace: &str, name: &str) -> String {
    format!("{prefix}#{namespace}#{name}#")
}

/// Socket ids (20 characters) keep to the namespace channel, as in the Node adapter.
fn looks_like_socket_id(room: &str) -> bool {
    room.len() == 20
}

#[derive(Deserialize)]
struct Message {
    uid: Option<String>,
    nsp: Option<String>,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    data: Data,
}

/// The `data` of a message, whatever its type.
#[derive(Deserialize, Default)]
pub struct Data {
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    #[serde(default)]
    opts: Opts,
    rooms: Option<Vec<String>>,
    close: Option<bool>,
    /// BROADCAST: the Socket.IO packet; SERVER_SIDE_EMIT: `[event, ...args]`.
    packet: Option<Box<RawValue>>,
    sockets: Option<Vec<Box<RawValue>>>,
}

/// Decodes any message of the protocol (JSON when it starts with `{`).
pub fn decode(msg: &[u8]) -> Result<Inbound, String> {
    let (m, attachments): (Message, _) = msgpack::read(msg)?;
    let kind = kind_of(m.kind, m.data, attachments);
    Ok(Inbound { uid: m.uid, namespace: m.nsp.unwrap_or_else(|| "/".to_string()), kind })
}

/// What a message of type `kind` with `data` asks (the streams adapter
/// carries the same `data`, in a stream entry's field).
pub fn kind_of(kind: u8, d: Data, attachments: Vec<Bytes>) -> Kind {
    let request_id = d.request_id.unwrap_or_default();
    let event = |packet: Option<&RawValue>| packet.and_then(|p| msgpack::event_and_args(p, attachments.clone()));
    match kind {
        BROADCAST => match event(d.packet.as_deref().and_then(packet_data)) {
            Some((event, args)) if request_id.is_empty() => Kind::Broadcast { opts: d.opts, event, args },
            Some((event, args)) => Kind::BroadcastWithAck { request_id, opts: d.opts, event, args },
            None => Kind::Other,
        },
        SOCKETS_JOIN => Kind::Join { opts: d.opts, rooms: d.rooms.unwrap_or_default() },
        SOCKETS_LEAVE => Kind::Leave { opts: d.opts, rooms: d.rooms.unwrap_or_default() },
        DISCONNECT_SOCKETS => Kind::Disconnect { opts: d.opts, close: d.close.unwrap_or(false) },
        FETCH_SOCKETS => Kind::Fetch { request_id, opts: d.opts },
        FETCH_SOCKETS_RESPONSE => Kind::Fetched { request_id, sockets: sockets_from(&d.sockets.unwrap_or_default()) },
        SERVER_SIDE_EMIT => match event(d.packet.as_deref()) {
            Some((event, args)) => {
                Kind::ServerSideEmit { request_id: (!request_id.is_empty()).then_some(request_id), event, args }
            }
            None => Kind::Other,
        },
        // Heartbeats belong to the adapters that count nodes by them; this
        // one counts subscribers, as the Node sharded adapter does.
        _ => Kind::Other,
    }
}

/// `{uid, nsp, type, data}`: a message of the protocol.
pub fn envelope(uid: &str, namespace: &str, kind: u8, data: Value) -> Value {
    json!({ "uid": uid, "nsp": namespace, "type": kind, "data": data })
}

/// `{uid, nsp, type, data}` as JSON, or MessagePack when binary is inside.
fn message(uid: &str, namespace: &str, kind: u8, data: Value, attachments: &[Bytes]) -> Vec<u8> {
    let m = envelope(uid, namespace, kind, data);
    if attachments.is_empty() {
        m.to_string().into_bytes()
    } else {
        msgpack::from_json(&m, attachments)
    }
}

/// A message's type, `data` and the binary attachments its placeholders name.
pub type Body<'a> = (u8, Value, &'a [Bytes]);

/// The type and `data` of a request of this node.
pub fn body<'a>(out: &'a Outbound) -> Body<'a> {
    let none: &[Bytes] = &[];
    match out {
        Outbound::Broadcast { scope, event, args } => {
            let packet = json!({ "type": 2, "data": msgpack::event_array(event, args), "nsp": scope.namespace });
            (BROADCAST, json!({ "packet": packet, "opts": opts_json(scope) }), args.attachments())
        }
        Outbound::Join { scope, rooms } => (SOCKETS_JOIN, json!({ "opts": opts_json(scope), "rooms": rooms }), none),
        Outbound::Leave { scope, rooms } => (SOCKETS_LEAVE, json!({ "opts": opts_json(scope), "rooms": rooms }), none),
        Outbound::Disconnect { scope, close } => {
            (DISCONNECT_SOCKETS, json!({ "opts": opts_json(scope), "close": close }), none)
        }
        Outbound::Fetch { scope, request_id } => {
            (FETCH_SOCKETS, json!({ "opts": opts_json(scope), "requestId": request_id }), none)
        }
        Outbound::ServerSideEmit { event, args, .. } => {
            (SERVER_SIDE_EMIT, json!({ "packet": msgpack::event_array(event, args) }), args.attachments())
        }
    }
}

/// A request of this node: the channel it goes to, and its bytes.
pub fn encode(prefix: &str, uid: &str, out: &Outbound) -> (String, Vec<u8>) {
    let ns = out.namespace();
    let (kind, data, attachments) = body(out);
    // A broadcast to one room (not a socket id) goes to that room's channel.
    let channel = match out {
        Outbound::Broadcast { scope, .. } => match scope.rooms.as_slice() {
            [room] if !looks_like_socket_id(room) => sub_channel(prefix, ns, room),
            _ => channel(prefix, ns),
        },
        _ => channel(prefix, ns),
    };
    (channel, message(uid, ns, kind, data, attachments))
}

/// The type and `data` of this node's answer to request `request_id`
/// (`None` for the classic protocol's own queries, never asked in this one).
pub fn answer_body<'a>(request_id: &str, answer: &'a Answer) -> Option<Body<'a>> {
    let none: &[Bytes] = &[];
    Some(match answer {
        Answer::Fetched(sockets) => {
            (FETCH_SOCKETS_RESPONSE, json!({ "requestId": request_id, "sockets": sockets_json(sockets) }), none)
        }
        Answer::ServerSideEmit(a) => (
            SERVER_SIDE_EMIT_RESPONSE,
            json!({ "requestId": request_id, "packet": msgpack::first_arg(a) }),
            a.attachments(),
        ),
        Answer::ClientCount(n) => (BROADCAST_CLIENT_COUNT, json!({ "requestId": request_id, "clientCount": n }), none),
        Answer::BroadcastAck(a) => {
            (BROADCAST_ACK, json!({ "requestId": request_id, "packet": msgpack::first_arg(a) }), a.attachments())
        }
        Answer::SocketIds(_) | Answer::AllRooms(_) => return None,
    })
}

/// This node's answer to request `request_id` of node `to`, on `to`'s channel.
pub fn encode_answer(
    prefix: &str,
    uid: &str,
    namespace: &str,
    to: &str,
    request_id: &str,
    answer: &Answer,
) -> Option<(String, Vec<u8>)> {
    let (kind, data, attachments) = answer_body(request_id, answer)?;
    Some((sub_channel(prefix, namespace, to), message(uid, namespace, kind, data, attachments)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Scope;
    use crate::socketio::payload::Payload;

    #[test]
    fn broadcasts_use_room_channels_except_for_socket_ids() {
        let args = Payload::builder().arg(&"hi").unwrap().binary(vec![9u8]).build();
        let scope = Scope { namespace: "/", rooms: vec!["lobby"], except: vec![], volatile: false };
        let (ch, msg) = encode("socket.io", "u1", &Outbound::Broadcast { scope: &scope, event: "ev", args: &args });
        assert_eq!(ch, "socket.io#/#lobby#");
        assert_ne!(msg.first(), Some(&b'{'), "binary goes as MessagePack");
        let m = decode(&msg).unwrap();
        let Kind::Broadcast { opts, event, args } = m.kind else { panic!("{:?}", m.kind) };
        assert_eq!(
            (event.as_str(), args.json(), opts.rooms),
            ("ev", r#"["hi",{"_placeholder":true,"num":0}]"#, vec!["lobby".to_string()])
        );
        let id = "abcdefghijklmnopqrst";
        let scope = Scope { namespace: "/", rooms: vec![id], except: vec![], volatile: false };
        let (ch, _) =
            encode("socket.io", "u1", &Outbound::Broadcast { scope: &scope, event: "ev", args: &Payload::empty() });
        assert_eq!(ch, "socket.io#/#");
    }

    #[test]
    fn node_messages_decode() {
        let sse = br#"{"uid":"n1","nsp":"/","type":9,"data":{"requestId":"r","packet":["hello",1]}}"#;
        let m = decode(sse).unwrap();
        assert!(
            matches!(m.kind, Kind::ServerSideEmit { request_id: Some(ref r), ref event, .. } if r == "r" && event == "hello")
        );
        let hb = br#"{"uid":"n1","nsp":"/","type":2}"#;
        assert!(matches!(decode(hb).unwrap().kind, Kind::Other));
        assert!(decode(b"{").is_err());
    }
}
