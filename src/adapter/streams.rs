//! The wire format of `@socket.io/redis-streams-adapter` (0.3): the
//! messages of socket.io-adapter's `ClusterAdapter` (see `sharded.rs`),
//! carried two ways.
//!
//! - On one Redis stream (its name is the key prefix, `socket.io` by
//!   default), appended with `XADD <stream> MAXLEN ~ <n> *`: broadcasts,
//!   joins, leaves and disconnects, each an entry with the fields `uid`,
//!   `nsp`, `type` (a decimal string) and `data` (the message's `data` as
//!   JSON text, or as base64 MessagePack when it holds binary). The entry's
//!   id is the broadcast's offset for connection state recovery.
//! - On pub/sub, as MessagePack of the whole `{uid, nsp, type, data}`: the
//!   requests that need no log (fetch sockets, server-side emits) on
//!   `<prefix>#<nsp>#`, and the answers to node `uid` on `<prefix>#<nsp>#<uid>#`.
//!
//! A disconnected socket's session is a Redis string `sio:session:<pid>`,
//! base64 MessagePack of `{sid, pid, rooms, data}` (its rooms include its
//! own id), set to expire after `maxDisconnectionDuration`.

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::message::{Answer, Inbound, Opts, Outbound};
use super::{msgpack, sharded, SavedSession as Session};

/// The key prefix of saved sessions (the Node adapter's `sessionKeyPrefix`).
pub const SESSION_KEY_PREFIX: &str = "sio:session:";

/// Where a request of this node goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// An entry of the stream, as its field/value pairs.
    Append(Vec<(&'static str, Vec<u8>)>),
    /// A pub/sub message: the channel and its bytes.
    Publish(String, Vec<u8>),
}

impl Route {
    pub fn len(&self) -> usize {
        match self {
            Route::Append(fields) => fields.iter().map(|(k, v)| k.len() + v.len()).sum(),
            Route::Publish(channel, message) => channel.len() + message.len(),
        }
    }
}

/// A request of this node, on the stream or on pub/sub.
pub fn encode(prefix: &str, uid: &str, out: &Outbound) -> Route {
    let ns = out.namespace();
    let (kind, data, attachments) = sharded::body(out);
    match out {
        // What the Node adapter calls ephemeral: nobody replays them.
        Outbound::Fetch { .. } | Outbound::ServerSideEmit { .. } => {
            Route::Publish(sharded::channel(prefix, ns), published(uid, ns, kind, data, attachments))
        }
        _ => Route::Append(entry(uid, ns, kind, &data, attachments)),
    }
}

/// This node's answer to request `request_id` of node `to`.
pub fn encode_answer(
    prefix: &str,
    uid: &str,
    namespace: &str,
    to: &str,
    request_id: &str,
    answer: &Answer,
) -> Option<(String, Vec<u8>)> {
    let (kind, data, attachments) = sharded::answer_body(request_id, answer)?;
    Some((sharded::sub_channel(prefix, namespace, to), published(uid, namespace, kind, data, attachments)))
}

/// A pub/sub message: always MessagePack, which is all the Node adapter reads there.
fn published(uid: &str, namespace: &str, kind: u8, data: Value, attachments: &[Bytes]) -> Vec<u8> {
    msgpack::from_json(&sharded::envelope(uid, namespace, kind, data), attachments)
}

fn entry(uid: &str, namespace: &str, kind: u8, data: &Value, attachments: &[Bytes]) -> Vec<(&'static str, Vec<u8>)> {
    let data = if attachments.is_empty() {
        data.to_string().into_bytes()
    } else {
        base64::engine::general_purpose::STANDARD.encode(msgpack::from_json(data, attachments)).into_bytes()
    };
    vec![
        ("uid", uid.as_bytes().to_vec()),
        ("nsp", namespace.as_bytes().to_vec()),
        ("type", kind.to_string().into_bytes()),
        ("data", data),
    ]
}

/// A stream entry's message; `None` for an entry that is not one (the Node
/// adapter skips entries without `nsp`).
pub fn decode_entry(fields: &[Vec<u8>]) -> Result<Option<Inbound>, String> {
    let field = |name: &str| {
        fields
            .chunks_exact(2)
            .find(|kv| kv[0] == name.as_bytes())
            .map(|kv| String::from_utf8_lossy(&kv[1]).into_owned())
    };
    let Some(namespace) = field("nsp").filter(|n| !n.is_empty()) else { return Ok(None) };
    let kind: u8 = field("type").and_then(|t| t.parse().ok()).ok_or("stream entry without a type")?;
    let (data, attachments) = match field("data") {
        None => (sharded::Data::default(), Vec::new()),
        Some(text) if text.starts_with('{') => msgpack::read(text.as_bytes())?,
        Some(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| format!("stream entry data: {e}"))?;
            msgpack::read(&bytes)?
        }
    };
    Ok(Some(Inbound { uid: field("uid"), namespace, kind: sharded::kind_of(kind, data, attachments) }))
}

/// A stream entry id (`<ms>-<seq>`), which is also a client's offset: its
/// two numbers, or `None` for anything else (as the Node adapter refuses).
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    let number = |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u64>().ok()).flatten();
    Some((number(ms)?, number(seq)?))
}

/// The smallest id after `id`: the start of an exclusive range (`XRANGE`'s
/// `(` needs Redis 6.2, which the Node adapter does not assume either).
pub fn next_id(id: (u64, u64)) -> String {
    match id.1.checked_add(1) {
        Some(seq) => format!("{}-{seq}", id.0),
        None => format!("{}-0", id.0 + 1),
    }
}

pub fn session_key(pid: &str) -> String {
    format!("{SESSION_KEY_PREFIX}{pid}")
}

/// `{sid, pid, rooms, data}` as base64 MessagePack (Node's `data` is `{}` for a wshub socket).
pub fn encode_session(pid: &str, session: &Session) -> String {
    let rooms: Vec<&str> = session.rooms.iter().map(String::as_str).chain([session.id.as_str()]).collect();
    let value = json!({ "sid": session.id, "pid": pid, "rooms": rooms, "data": {} });
    base64::engine::general_purpose::STANDARD.encode(msgpack::from_json(&value, &[]))
}

pub fn decode_session(text: &[u8]) -> Result<Session, String> {
    #[derive(Deserialize)]
    struct Wire {
        sid: String,
        #[serde(default)]
        rooms: Vec<String>,
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("session: {e}"))?;
    let (w, _): (Wire, _) = msgpack::read(&bytes)?;
    let rooms = w.rooms.into_iter().filter(|r| *r != w.sid).collect();
    Ok(Session { id: w.sid, rooms })
}

/// Whether a broadcast with `opts` reached a socket in `rooms` (its own id
/// among them): the Node adapter's rule for what a restored session missed.
pub fn reaches(opts: &Opts, rooms: &[&str]) -> bool {
    let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.iter().any(|o| o == r));
    included && !rooms.iter().any(|r| opts.except.iter().any(|e| e == r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{Kind, Scope};
    use crate::socketio::payload::Payload;

    fn fields(route: Route) -> Vec<Vec<u8>> {
        let Route::Append(fields) = route else { panic!("not a stream entry: {route:?}") };
        fields.into_iter().flat_map(|(k, v)| [k.as_bytes().to_vec(), v]).collect()
    }

    #[test]
    fn a_broadcast_is_a_stream_entry_with_json_data_as_node_writes_it() {
        let args = Payload::builder().arg(&"hi").unwrap().build();
        let scope = Scope { namespace: "/", rooms: vec!["r"], except: vec![], volatile: false };
        let route = encode("socket.io", "u1", &Outbound::Broadcast { scope: &scope, event: "ev", args: &args });
        let f = fields(route);
        let text: Vec<String> = f.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        assert_eq!(&text[..6], ["uid", "u1", "nsp", "/", "type", "3"]);
        let data: Value = serde_json::from_str(&text[7]).unwrap();
        assert_eq!(
            data,
            json!({"packet": {"type": 2, "data": ["ev", "hi"], "nsp": "/"}, "opts": {"rooms": ["r"], "except": [], "flags": {}}})
        );
        let m = decode_entry(&f).unwrap().unwrap();
        let Kind::Broadcast { opts, event, args } = m.kind else { panic!("{:?}", m.kind) };
        assert_eq!(
            (m.uid.as_deref(), event.as_str(), args.json(), opts.rooms),
            (Some("u1"), "ev", r#"["hi"]"#, vec!["r".into()])
        );
    }

    #[test]
    fn binary_data_goes_as_base64_messagepack_and_comes_back() {
        let args = Payload::builder().binary(vec![1u8, 2]).build();
        let scope = Scope { namespace: "/chat", rooms: vec![], except: vec!["x"], volatile: true };
        let f = fields(encode("p", "u", &Outbound::Broadcast { scope: &scope, event: "bin", args: &args }));
        assert_ne!(f[7].first(), Some(&b'{'));
        let m = decode_entry(&f).unwrap().unwrap();
        let Kind::Broadcast { opts, args, .. } = m.kind else { panic!() };
        assert_eq!((m.namespace.as_str(), args.attachments()), ("/chat", &[Bytes::from_static(&[1, 2])][..]));
        assert!(opts.flags.volatile && opts.except == ["x"]);
    }

    #[test]
    fn node_entries_decode_and_foreign_ones_are_skipped() {
        let entry = |pairs: &[(&str, &str)]| -> Vec<Vec<u8>> {
            pairs.iter().flat_map(|(k, v)| [k.as_bytes().to_vec(), v.as_bytes().to_vec()]).collect()
        };
        let join = entry(&[
            ("uid", "n"),
            ("nsp", "/"),
            ("type", "4"),
            ("data", r#"{"opts":{"rooms":["a"],"except":[]},"rooms":["b"]}"#),
        ]);
        assert!(matches!(decode_entry(&join).unwrap().unwrap().kind, Kind::Join { ref rooms, .. } if rooms == &["b"]));
        assert!(decode_entry(&entry(&[("foo", "bar")])).unwrap().is_none(), "not an adapter entry");
        assert!(decode_entry(&entry(&[("nsp", "/"), ("type", "x")])).is_err());
        assert!(decode_entry(&entry(&[("nsp", "/"), ("type", "3"), ("data", "!!")])).is_err());
    }

    #[test]
    fn requests_without_a_log_are_published_as_messagepack() {
        let out = Outbound::ServerSideEmit { namespace: "/", event: "hello", args: &Payload::empty() };
        let Route::Publish(channel, msg) = encode("socket.io", "u", &out) else { panic!() };
        assert_eq!(channel, "socket.io#/#");
        assert_ne!(msg.first(), Some(&b'{'), "MessagePack, not JSON");
        assert!(
            matches!(sharded::decode(&msg).unwrap().kind, Kind::ServerSideEmit { ref event, .. } if event == "hello")
        );
        let (channel, _) = encode_answer("socket.io", "u", "/", "n2", "r1", &Answer::ClientCount(2)).unwrap();
        assert_eq!(channel, "socket.io#/#n2#");
    }

    #[test]
    fn offsets_are_stream_ids_only() {
        assert_eq!(parse_id("1700000000000-3"), Some((1_700_000_000_000, 3)));
        for bad in ["", "1", "1-", "-1", "a-1", "1-2-3", "+1-2", "ff"] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
        assert_eq!(next_id((5, 1)), "5-2");
        assert_eq!(next_id((5, u64::MAX)), "6-0");
    }

    #[test]
    fn sessions_keep_the_id_among_the_rooms_on_the_wire_only() {
        let s = Session { id: "sid1".into(), rooms: vec!["a".into()] };
        let text = encode_session("pid1", &s);
        let (raw, _) = msgpack::to_json(&base64::engine::general_purpose::STANDARD.decode(&text).unwrap()).unwrap();
        let v: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(v, json!({"sid": "sid1", "pid": "pid1", "rooms": ["a", "sid1"], "data": {}}));
        assert_eq!(decode_session(text.as_bytes()).unwrap(), s);
        assert!(decode_session(b"%%").is_err());
        assert_eq!(session_key("p"), "sio:session:p");
    }

    #[test]
    fn a_missed_broadcast_counts_if_it_reached_one_of_the_rooms_and_none_was_excepted() {
        let opts = |rooms: &[&str], except: &[&str]| Opts {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: except.iter().map(|r| r.to_string()).collect(),
            ..Opts::default()
        };
        let mine = ["a", "sid"];
        assert!(reaches(&opts(&[], &[]), &mine));
        assert!(reaches(&opts(&["sid"], &[]), &mine));
        assert!(!reaches(&opts(&["b"], &[]), &mine));
        assert!(!reaches(&opts(&[], &["a"]), &mine));
    }
}
