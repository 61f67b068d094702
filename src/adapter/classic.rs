//! The classic protocol of `@socket.io/redis-adapter` (its `createAdapter`,
//! and the only one `@socket.io/redis-emitter` speaks), on plain pub/sub.
//!
//! Channels, for a key prefix `socket.io` and a namespace `/`:
//! - `socket.io#/#` and `socket.io#/#<room>#`: broadcasts, MessagePack
//!   `[uid, packet, {rooms, except, flags}]` (a broadcast to exactly one room
//!   goes to that room's channel, so nodes without the room skip it unread);
//! - `socket.io-request#/#`: requests (join, leave, disconnect, fetch,
//!   server-side emit, broadcast with ack), JSON objects (MessagePack when binary);
//! - `socket.io-response#/#` (and `...#<uid>#`): their answers, likewise.
//!
//! Nodes are counted with `PUBSUB NUMSUB` on the request channel.

use serde::Deserialize;
use serde_json::{json, value::RawValue};

use super::message::{opts_json, sockets_from, sockets_json, Answer, Inbound, Kind, Opts, Outbound};
use super::msgpack;

const SOCKETS: u8 = 0;
const ALL_ROOMS: u8 = 1;
const REMOTE_JOIN: u8 = 2;
const REMOTE_LEAVE: u8 = 3;
const REMOTE_DISCONNECT: u8 = 4;
const REMOTE_FETCH: u8 = 5;
const SERVER_SIDE_EMIT: u8 = 6;
const BROADCAST: u8 = 7;
const BROADCAST_CLIENT_COUNT: u8 = 8;
const BROADCAST_ACK: u8 = 9;
/// Socket.IO's EVENT packet type (and BINARY_EVENT), the only packets carried.
const EVENT: u8 = 2;
const BINARY_EVENT: u8 = 5;

/// The channel names of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    pub broadcast: String,
    pub request: String,
    pub response: String,
}

impl Channels {
    pub fn new(prefix: &str, namespace: &str) -> Channels {
        Channels {
            broadcast: format!("{prefix}#{namespace}#"),
            request: format!("{prefix}-request#{namespace}#"),
            response: format!("{prefix}-response#{namespace}#"),
        }
    }

    /// The pattern that matches the broadcast channel and its room channels.
    pub fn broadcast_pattern(&self) -> String {
        let mut p = String::with_capacity(self.broadcast.len() + 1);
        for c in self.broadcast.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('*');
        p
    }

    /// The room a broadcast channel names ("" for the namespace's own).
    pub fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel.strip_prefix(self.broadcast.as_str())?;
        Some(rest.strip_suffix('#').unwrap_or(rest))
    }
}

/// The sender's uid of a broadcast, read without decoding the rest (every
/// node gets its own broadcasts back from Redis).
pub fn broadcast_uid(msg: &[u8]) -> Option<&str> {
    let mut rest = msg;
    rmp::decode::read_array_len(&mut rest).ok()?;
    rmp::decode::read_str_from_slice(rest).ok().map(|(uid, _)| uid)
}

/// Decodes a broadcast message; `None` when it carries no event.
pub fn decode_broadcast(msg: &[u8]) -> Result<Option<Inbound>, String> {
    #[derive(Deserialize)]
    struct Packet<'a> {
        #[serde(rename = "type")]
        kind: u8,
        #[serde(borrow)]
        data: &'a RawValue,
        nsp: Option<String>,
    }
    let (json, attachments) = msgpack::to_json(msg)?;
    let (uid, packet, opts): (String, Option<Packet>, Opts) =
        serde_json::from_str(&json).map_err(|e| format!("broadcast message: {e}"))?;
    let Some(packet) = packet.filter(|p| p.kind == EVENT || p.kind == BINARY_EVENT) else { return Ok(None) };
    let Some((event, args)) = msgpack::event_and_args(packet.data, attachments) else { return Ok(None) };
    let namespace = packet.nsp.unwrap_or_else(|| "/".to_string());
    Ok(Some(Inbound { uid: Some(uid), namespace, kind: Kind::Broadcast { opts, event, args } }))
}

/// A request or a response on the request/response channels.
#[derive(Deserialize)]
struct Request {
    #[serde(rename = "type")]
    kind: Option<u8>,
    uid: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    #[serde(default)]
    opts: Opts,
    rooms: Option<Vec<String>>,
    close: Option<bool>,
    /// SERVER_SIDE_EMIT: `[event, ...args]`.
    data: Option<Box<RawValue>>,
    /// BROADCAST: the packet.
    packet: Option<Box<RawValue>>,
    /// REMOTE_FETCH answers.
    sockets: Option<Vec<Box<RawValue>>>,
}

/// Decodes a message of the request channel of `namespace`.
pub fn decode_request(namespace: &str, msg: &[u8]) -> Result<Inbound, String> {
    let (r, attachments): (Request, _) = msgpack::read(msg)?;
    let request_id = r.request_id.unwrap_or_default();
    let kind = match r.kind {
        Some(SOCKETS) => Kind::SocketIds { request_id, rooms: r.rooms.unwrap_or_default() },
        Some(ALL_ROOMS) => Kind::AllRooms { request_id },
        Some(REMOTE_JOIN) => Kind::Join { opts: r.opts, rooms: r.rooms.unwrap_or_default() },
        Some(REMOTE_LEAVE) => Kind::Leave { opts: r.opts, rooms: r.rooms.unwrap_or_default() },
        Some(REMOTE_DISCONNECT) => Kind::Disconnect { opts: r.opts, close: r.close.unwrap_or(false) },
        Some(REMOTE_FETCH) => Kind::Fetch { request_id, opts: r.opts },
        Some(SERVER_SIDE_EMIT) => match r.data.as_deref().and_then(|d| msgpack::event_and_args(d, attachments)) {
            Some((event, args)) => {
                let request_id = (!request_id.is_empty()).then_some(request_id);
                Kind::ServerSideEmit { request_id, event, args }
            }
            None => Kind::Other,
        },
        Some(BROADCAST) => {
            match r.packet.as_deref().and_then(packet_data).and_then(|d| msgpack::event_and_args(d, attachments)) {
                Some((event, args)) => Kind::BroadcastWithAck { request_id, opts: r.opts, event, args },
                None => Kind::Other,
            }
        }
        _ => Kind::Other,
    };
    Ok(Inbound { uid: r.uid, namespace: namespace.to_string(), kind })
}

/// Decodes a message of the response channels of `namespace`.
pub fn decode_response(namespace: &str, msg: &[u8]) -> Result<Inbound, String> {
    let (r, _): (Request, _) = msgpack::read(msg)?;
    let kind = match (r.request_id, r.sockets) {
        (Some(request_id), Some(list)) => Kind::Fetched { request_id, sockets: sockets_from(&list) },
        _ => Kind::Other,
    };
    Ok(Inbound { uid: r.uid, namespace: namespace.to_string(), kind })
}

/// The `data` array of a packet.
pub fn packet_data(packet: &RawValue) -> Option<&RawValue> {
    #[derive(Deserialize)]
    struct Packet<'a> {
        #[serde(borrow)]
        data: &'a RawValue,
    }
    serde_json::from_str::<Packet>(packet.get()).ok().map(|p| p.data)
}

/// A request of this node: the channel it goes to, and its bytes.
pub fn encode(ch: &Channels, uid: &str, out: &Outbound) -> (String, Vec<u8>) {
    let request = |body: serde_json::Value| (ch.request.clone(), body.to_string().into_bytes());
    match out {
        Outbound::Broadcast { scope, event, args } => {
            let packet = json!({ "type": EVENT, "data": msgpack::event_array(event, args), "nsp": scope.namespace });
            let msg = msgpack::from_json(&json!([uid, packet, opts_json(scope)]), args.attachments());
            let channel = match scope.rooms.as_slice() {
                [room] => format!("{}{room}#", ch.broadcast),
                _ => ch.broadcast.clone(),
            };
            (channel, msg)
        }
        Outbound::Join { scope, rooms } => {
            request(json!({ "uid": uid, "type": REMOTE_JOIN, "opts": opts_json(scope), "rooms": rooms }))
        }
        Outbound::Leave { scope, rooms } => {
            request(json!({ "uid": uid, "type": REMOTE_LEAVE, "opts": opts_json(scope), "rooms": rooms }))
        }
        Outbound::Disconnect { scope, close } => {
            request(json!({ "uid": uid, "type": REMOTE_DISCONNECT, "opts": opts_json(scope), "close": close }))
        }
        Outbound::Fetch { scope, request_id } => {
            request(json!({ "uid": uid, "requestId": request_id, "type": REMOTE_FETCH, "opts": opts_json(scope) }))
        }
        // JSON, as the Node adapter sends it: binary arguments are not carried.
        Outbound::ServerSideEmit { event, args, .. } => {
            request(json!({ "uid": uid, "type": SERVER_SIDE_EMIT, "data": msgpack::event_array(event, args) }))
        }
    }
}

/// This node's answer to request `request_id`, on the shared response channel.
pub fn encode_answer(ch: &Channels, request_id: &str, answer: &Answer) -> (String, Vec<u8>) {
    let body = match answer {
        Answer::SocketIds(ids) => json!({ "requestId": request_id, "sockets": ids }),
        Answer::AllRooms(rooms) => json!({ "requestId": request_id, "rooms": rooms }),
        Answer::Fetched(sockets) => json!({ "requestId": request_id, "sockets": sockets_json(sockets) }),
        Answer::ServerSideEmit(answer) => {
            json!({ "type": SERVER_SIDE_EMIT, "requestId": request_id, "data": msgpack::first_arg(answer) })
        }
        Answer::ClientCount(n) => json!({ "type": BROADCAST_CLIENT_COUNT, "requestId": request_id, "clientCount": n }),
        // The Node adapter decodes this one as MessagePack whatever it holds.
        Answer::BroadcastAck(answer) => {
            let body = json!({ "type": BROADCAST_ACK, "requestId": request_id, "packet": msgpack::first_arg(answer) });
            return (ch.response.clone(), msgpack::from_json(&body, answer.attachments()));
        }
    };
    (ch.response.clone(), body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Scope;
    use crate::socketio::payload::Payload;
    use bytes::Bytes;

    #[test]
    fn broadcast_round_trip_with_binary() {
        let ch = Channels::new("socket.io", "/chat");
        let args = Payload::builder().arg(&"hi").unwrap().binary(vec![1u8, 2, 3]).arg(&42).unwrap().build();
        let scope = Scope { namespace: "/chat", rooms: vec!["lobby"], except: vec!["sid1"], volatile: true };
        let (channel, msg) = encode(&ch, "abc123", &Outbound::Broadcast { scope: &scope, event: "news", args: &args });
        assert_eq!(channel, "socket.io#/chat#lobby#");
        assert_eq!(broadcast_uid(&msg), Some("abc123"));
        let b = decode_broadcast(&msg).unwrap().unwrap();
        assert_eq!((b.uid.as_deref(), b.namespace.as_str()), (Some("abc123"), "/chat"));
        let Kind::Broadcast { opts, event, args } = b.kind else { panic!("not a broadcast: {:?}", b.kind) };
        assert_eq!(event, "news");
        assert_eq!(args.json(), r#"["hi",{"_placeholder":true,"num":0},42]"#);
        assert_eq!(args.attachments(), &[Bytes::from_static(&[1, 2, 3])]);
        assert_eq!((opts.rooms, opts.except, opts.flags.volatile), (vec!["lobby".into()], vec!["sid1".into()], true));
    }

    #[test]
    fn emitter_packet_without_nsp_defaults_to_main() {
        use rmpv::Value;
        let packet = Value::Map(vec![
            (Value::from("type"), Value::from(2)),
            (Value::from("data"), Value::Array(vec![Value::from("ev"), Value::F64(1.5), Value::Nil])),
        ]);
        let opts = Value::Map(vec![(Value::from("rooms"), Value::Array(vec![]))]);
        let mut msg = Vec::new();
        rmpv::encode::write_value(&mut msg, &Value::Array(vec![Value::from("emitter"), packet, opts])).unwrap();
        let b = decode_broadcast(&msg).unwrap().unwrap();
        let Kind::Broadcast { event, args, .. } = b.kind else { panic!() };
        assert_eq!((b.namespace.as_str(), event.as_str(), args.json()), ("/", "ev", "[1.5,null]"));
    }

    #[test]
    fn requests_decode() {
        let join = br#"{"uid":"u","type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["b"]}"#;
        let r = decode_request("/", join).unwrap();
        assert!(matches!(r.kind, Kind::Join { ref rooms, .. } if rooms == &["b"]));
        let sse = br#"{"uid":"u","type":6,"requestId":"r1","data":["e",1]}"#;
        let r = decode_request("/", sse).unwrap();
        assert!(
            matches!(r.kind, Kind::ServerSideEmit { request_id: Some(ref id), ref event, .. } if id == "r1" && event == "e")
        );
        assert!(decode_request("/", b"{nope").is_err());
    }

    #[test]
    fn channels_and_rooms() {
        let c = Channels::new("socket.io", "/");
        assert_eq!(c.broadcast, "socket.io#/#");
        assert_eq!(c.request, "socket.io-request#/#");
        assert_eq!(c.room_of("socket.io#/#lobby#"), Some("lobby"));
        assert_eq!(c.room_of("socket.io#/#"), Some(""));
        assert_eq!(Channels::new("p", "/a*b").broadcast_pattern(), "p#/a\\*b#*");
    }
}
