//! A chat room on wshub: the browser page in `examples/chat/public/`.
//!
//! ```text
//! cargo run --example chat          # http://127.0.0.1:3000/  (PORT=8080 … to change, PORT=0 for any)
//! ```
//!
//! It serves `examples/chat/public/` as the static folder, the socket.io
//! client bundle at `/socket.io/socket.io.js` (from `node_modules/socket.io-client/dist`,
//! so run `npm install` once), the Socket.IO endpoint at `/socket.io/` and
//! the plain WebSocket endpoint at `/ws` (used by `raw.html`).
//! On start it prints `LISTENING <port>` and `chat room on http://127.0.0.1:<port>`.
//! With `REDIS_URL` (e.g. `redis://127.0.0.1:6379`) it joins the cluster on
//! that Redis, and every chat server of the cluster is one room: messages,
//! notices and typing are broadcasts that reach every server's people, and
//! the servers tell each other who is on them and what was said with
//! server-side events (`presence`, `history`; a server that starts asks with
//! `presence-hello`, answered by `presence` and `history-sync`), so nicknames
//! stay unique, `online` counts everyone and a newcomer gets the history. A
//! server that stops announcing itself (every 10 s) is forgotten after 30 s.
//!
//! # The chat protocol (Socket.IO events of the main namespace)
//!
//! Times are milliseconds since the Unix epoch; `online` is the number of
//! people who joined (sockets with a nickname), `users` their sorted names.
//! The C, C++, Python and Node chat servers speak it too:
//! `tests/e2e/chat-servers.test.mjs` runs the same client tests against all five.
//!
//! Client → server:
//!
//! | event            | args                | what happens |
//! |------------------|---------------------|--------------|
//! | `"join"`         | `nickname`, ack     | Takes a nickname (trimmed, at most 24 chars; a taken one gets a number: "ann 2"). Ack: `{ok:true, name, online, users, history}` where `history` is the last 50 `chat message` objects; or `{ok:false, error}`. Everyone else gets `"user joined"`, everyone gets `"online"`. Joining again renames. |
//! | `"chat message"` | `text`              | Text trimmed, at most 2000 chars, ignored if empty. Everyone (the sender included, raw sockets too) gets `"chat message"`, and it goes into the history. A socket that has not joined (the classic one-page Socket.IO chat never does) speaks as `"anonymous"`: the one name of every such socket, not counted in `online` and not reserved (someone may join as "anonymous" too). |
//! | `"typing"`       | `true` / `false`    | The other people who joined get `"typing"`. A client should send `false` after a few idle seconds; receivers also expire it themselves. |
//!
//! Server → client:
//!
//! | event            | args |
//! |------------------|------|
//! | `"chat message"` | `{user, text, time}` |
//! | `"user joined"`  | `{user, online, time}` |
//! | `"user left"`    | `{user, online, time}` (on disconnect of a socket that had joined) |
//! | `"user renamed"` | `{user, from, time}` |
//! | `"online"`       | `{online, users}` (after every join, rename and leave) |
//! | `"typing"`       | `{user, typing}` (only to sockets that joined) |
//!
//! A client re-sends `"join"` with its nickname after every (re)connect: a
//! reconnection is a new socket, and a restarted server knows nobody.
//!
//! # The plain WebSocket page (`raw.html`, endpoint `/ws`)
//!
//! A raw socket is a socket of the main namespace. Each text frame it sends
//! arrives as a `"message"` event with one string; this server answers with
//! the text in upper case through `emit("message", text)`, which goes out as a
//! plain text frame. Every other event that reaches a raw socket (the
//! namespace-wide `"chat message"`, `"user joined"`, `"user left"`, `"online"`)
//! goes out as a JSON text frame `["event", ...args]`.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use wshub::{Event, Hub, Payload, Socket};

/// Room of the sockets that picked a nickname (typing notices go there).
const PEOPLE: &str = "people";
const MAX_NAME: usize = 24;
const MAX_TEXT: usize = 2000;
const HISTORY: usize = 50;
/// The `user` of a chat message from a socket that has not joined.
const ANONYMOUS: &str = "anonymous";

#[derive(Clone, Serialize, Deserialize)]
struct ChatMessage {
    user: String,
    text: String,
    time: u64,
}

/// How often a chat server of a cluster says who is on it, and when the
/// others forget a server that went quiet.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);
const FORGET_AFTER: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Room {
    /// Nickname of every socket id that joined (on this server).
    names: HashMap<String, String>,
    history: VecDeque<ChatMessage>,
    /// This server's id in the cluster, and the people on the other servers.
    node: String,
    peers: HashMap<String, Peer>,
}

/// Another chat server of the cluster, as it last announced itself.
struct Peer {
    users: Vec<String>,
    seen: Instant,
}

#[derive(Serialize, Deserialize)]
struct Presence {
    node: String,
    users: Vec<String>,
}

impl Room {
    /// Everyone in the room, on every server.
    fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = self.names.values().cloned().collect();
        users.extend(self.peers.values().flat_map(|p| p.users.iter().cloned()));
        users.sort_by_key(|u| u.to_lowercase());
        users
    }

    fn presence(&self) -> Presence {
        Presence { node: self.node.clone(), users: self.names.values().cloned().collect() }
    }

    fn remember(&mut self, msg: ChatMessage) {
        self.history.push_back(msg);
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    /// `wanted`, or `wanted 2`, `wanted 3`… if someone else has it.
    fn unique_name(&self, wanted: &str, me: &str) -> String {
        let remote = |n: &str| self.peers.values().any(|p| p.users.iter().any(|u| u.eq_ignore_ascii_case(n)));
        let taken = |n: &str| remote(n) || self.names.iter().any(|(id, name)| id != me && name.eq_ignore_ascii_case(n));
        if !taken(wanted) {
            return wanted.to_string();
        }
        (2..).map(|i| format!("{wanted} {i}")).find(|n| !taken(n)).expect("some number is free")
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Trims, drops control characters, and keeps at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.trim().chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect::<String>().trim().to_string()
}

fn payload<T: Serialize>(value: &T) -> Payload {
    Payload::one(value).expect("serialisable")
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.trim().parse().unwrap_or_else(|_| {
            eprintln!("PORT must be a number from 0 to 65535, not {p:?}");
            std::process::exit(2)
        }),
        Err(_) => 3000,
    };
    let bundle = root.join("node_modules/socket.io-client/dist");
    if !bundle.join("socket.io.js").exists() {
        eprintln!("warning: {} is missing; run `npm install` for /socket.io/socket.io.js", bundle.display());
    }
    let mut builder = Hub::builder();
    if let Ok(url) = std::env::var("REDIS_URL") {
        // Several chat servers on one Redis are one chat room (docs/SCALING.md).
        builder = builder.redis_url(&url);
    }
    if let Ok(password) = std::env::var("ADMIN_PASSWORD") {
        // The Socket.IO admin UI on http://127.0.0.1:<port>/admin/ (user "admin").
        let mut admin = wshub::AdminUiConfig::new("admin", &password);
        admin.ui_dir = Some(root.join("node_modules/@socket.io/admin-ui/ui/dist"));
        builder = builder.admin_ui(admin);
    }
    let hub = builder
        .port(port)
        .static_dir(root.join("examples/chat/public"))
        .client_bundle_dir(bundle)
        .build()
        .expect("valid config");

    let room = Arc::new(Mutex::new(Room { node: format!("{:016x}", rand::random::<u64>()), ..Room::default() }));
    install(&hub, room.clone());

    let addr = match hub.start() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    };
    println!("LISTENING {}", addr.port());
    println!("chat room on http://127.0.0.1:{}/  (plain WebSocket demo: /raw.html)", addr.port());
    std::io::stdout().flush().ok();
    if hub.config().redis_url.is_none() {
        loop {
            std::thread::park();
        }
    }
    // In a cluster: ask who is there, then say who is here now and then, and
    // forget the servers that went quiet.
    hub.of("/").server_side_emit("presence-hello", &Payload::empty());
    loop {
        std::thread::sleep(ANNOUNCE_EVERY);
        if room.lock().peers.is_empty() {
            // Nobody answered (yet): ask again, in case the hello went out
            // before this server's subscriptions were in place.
            hub.of("/").server_side_emit("presence-hello", &Payload::empty());
        }
        let forgot = {
            let mut room = room.lock();
            let before = room.peers.len();
            room.peers.retain(|_, p| p.seen.elapsed() < FORGET_AFTER);
            room.peers.len() != before
        };
        if forgot {
            online_here(&hub, &room.lock());
        }
        announce(&hub, &room.lock());
    }
}

/// Tells the other chat servers of the cluster who is on this one.
fn announce(hub: &Hub, room: &Room) {
    hub.of("/").server_side_emit("presence", &payload(&room.presence()));
}

/// The `online` event for this server's clients (each server tells its own).
fn online_here(hub: &Hub, room: &Room) {
    let users = room.users();
    let online = serde_json::json!({ "online": users.len(), "users": users });
    hub.of("/").to_all().local().emit("online", &payload(&online));
}

fn install(hub: &Hub, room: Arc<Mutex<Room>>) {
    let (h, r) = (hub.clone(), room.clone());
    hub.on("join", move |ev| join(&h, &r, &ev));

    let (h, r) = (hub.clone(), room.clone());
    hub.on("chat message", move |ev| {
        let Ok(text) = ev.args().first::<String>() else { return };
        let text = clean(&text, MAX_TEXT);
        if text.is_empty() {
            return;
        }
        let msg = {
            let mut room = r.lock();
            // A client that never joined still talks to the room, under the one name
            // that says so: the classic one-page chat emits without joining.
            let user = room.names.get(ev.socket().id()).cloned().unwrap_or_else(|| ANONYMOUS.to_string());
            let msg = ChatMessage { user, text, time: now_ms() };
            room.remember(msg.clone());
            msg
        };
        // Everyone, the sender included (and the raw sockets, as JSON frames),
        // on every server; the other servers keep it in their history too.
        h.emit("chat message", &payload(&msg));
        h.of("/").server_side_emit("history", &payload(&msg));
    });

    // The other chat servers of a cluster (REDIS_URL).
    let (h, r) = (hub.clone(), room.clone());
    hub.of("/").on_server_event("presence", move |ev| {
        let Ok(p) = ev.args().first::<Presence>() else { return };
        let mut room = r.lock();
        room.peers.insert(p.node, Peer { users: p.users, seen: Instant::now() });
        online_here(&h, &room);
    });
    let (h, r) = (hub.clone(), room.clone());
    hub.of("/").on_server_event("presence-hello", move |_| {
        let room = r.lock();
        announce(&h, &room);
        let history: Vec<&ChatMessage> = room.history.iter().collect();
        h.of("/").server_side_emit("history-sync", &payload(&history));
    });
    let r = room.clone();
    hub.of("/").on_server_event("history-sync", move |ev| {
        let mut room = r.lock();
        if room.history.is_empty() {
            for msg in ev.args().first::<Vec<ChatMessage>>().unwrap_or_default() {
                room.remember(msg);
            }
        }
    });
    let r = room.clone();
    hub.of("/").on_server_event("history", move |ev| {
        if let Ok(msg) = ev.args().first::<ChatMessage>() {
            r.lock().remember(msg);
        }
    });

    let r = room.clone();
    hub.on("typing", move |ev| {
        let typing = ev.args().first::<bool>().unwrap_or(false);
        let Some(user) = r.lock().names.get(ev.socket().id()).cloned() else { return };
        let notice = serde_json::json!({ "user": user, "typing": typing });
        ev.socket().to(PEOPLE).emit("typing", &payload(&notice));
    });

    // The plain WebSocket demo: echo in upper case.
    hub.on("message", |ev| {
        if !ev.socket().is_raw() {
            return;
        }
        if let Ok(text) = ev.args().first::<String>() {
            ev.socket().emit("message", &payload(&text.to_uppercase())).ok();
        }
    });

    let (h, r) = (hub.clone(), room);
    hub.on_disconnect(move |socket: Socket, _reason| {
        let room = &mut *r.lock();
        let Some(user) = room.names.remove(socket.id()) else { return };
        let notice = serde_json::json!({ "user": user, "online": room.users().len(), "time": now_ms() });
        h.emit("user left", &payload(&notice));
        online_here(&h, room);
        announce(&h, room);
    });
}

fn join(hub: &Hub, room: &Mutex<Room>, ev: &Event) {
    let wanted = ev.args().first::<String>().map(|n| clean(&n, MAX_NAME)).unwrap_or_default();
    if wanted.is_empty() {
        ev.ack(&payload(&serde_json::json!({ "ok": false, "error": "Please pick a nickname." }))).ok();
        return;
    }
    let socket = ev.socket();
    let (name, previous, online, users, history) = {
        let mut room = room.lock();
        let name = room.unique_name(&wanted, socket.id());
        let previous = room.names.insert(socket.id().to_string(), name.clone());
        let users = room.users();
        (name, previous, users.len(), users, room.history.iter().cloned().collect::<Vec<_>>())
    };
    socket.join(PEOPLE);
    let time = now_ms();
    ev.ack(&payload(&serde_json::json!({
        "ok": true, "name": name, "online": online, "users": users, "history": history,
    })))
    .ok();
    match previous {
        None => {
            let notice = serde_json::json!({ "user": name, "online": online, "time": time });
            socket.broadcast().emit("user joined", &payload(&notice));
        }
        Some(old) if old != name => {
            let notice = serde_json::json!({ "user": name, "from": old, "time": time });
            socket.broadcast().emit("user renamed", &payload(&notice));
        }
        Some(_) => {}
    }
    let room = room.lock();
    online_here(hub, &room);
    announce(hub, &room);
}
