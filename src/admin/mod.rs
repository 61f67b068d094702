//! The server side of the Socket.IO admin UI (`@socket.io/admin-ui`), in the
//! core so that every hub (Rust, C, Python, Node) has it with one option.
//!
//! The UI is a Socket.IO client of a namespace of its own (`/admin`). It logs
//! in with a username and password in its `auth` (and gets a session id to
//! come back with), then receives `config` (what it may do), `all_sockets`,
//! a `server_stats` every two seconds, and a feed of the sockets of every
//! namespace (`socket_connected`, `socket_disconnected`, `room_joined`,
//! `room_left`), which the hub's [`Observer`] hook gives it. Unless read-only,
//! it may emit to, join, leave and disconnect sockets. The protocol is the
//! one the package's own server (`lib/index.ts`) speaks.

mod feed;
mod stats;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::config::AdminUiConfig;
use crate::hub::{ConnectRefusal, Event, Namespace, Namespaces, Observer, Socket, Target};
use crate::metrics::HubCounters;
use crate::secret::same_secret;
use crate::socketio::payload::Payload;

pub(crate) use feed::serialize;

/// How often the UI gets `server_stats` (the package's interval).
const STATS_EVERY: Duration = Duration::from_secs(2);
/// Session ids kept for UIs that come back: the oldest go first.
const MAX_SESSIONS: usize = 256;

/// One hub's admin UI.
pub(crate) struct AdminUi {
    config: AdminUiConfig,
    /// The admin namespace and all of them, set once when the hub creates
    /// them. Weak: every namespace holds this (as its observer).
    namespace: OnceCell<Weak<Namespace>>,
    namespaces: OnceCell<Weak<Namespaces>>,
    sessions: Mutex<VecDeque<String>>,
    stats: stats::Stats,
    /// UIs connected now: the events themselves are fed only while one is.
    watchers: AtomicUsize,
}

impl AdminUi {
    /// The admin UI of a hub about to be built: its feed must exist before the
    /// namespaces it watches, so [`AdminUi::install`] finishes the job.
    pub fn new(config: AdminUiConfig, counters: Arc<HubCounters>) -> Arc<AdminUi> {
        Arc::new(AdminUi {
            config,
            namespace: OnceCell::new(),
            namespaces: OnceCell::new(),
            sessions: Mutex::new(VecDeque::new()),
            stats: stats::Stats::new(counters),
            watchers: AtomicUsize::new(0),
        })
    }

    /// Creates the admin namespace with its guard and handlers.
    pub fn install(self: &Arc<Self>, namespaces: &Arc<Namespaces>) {
        let ns = namespaces.get_or_create(&self.config.namespace);
        let _ = self.namespaces.set(Arc::downgrade(namespaces));
        let _ = self.namespace.set(Arc::downgrade(&ns));
        let mut handlers = ns.handlers.write();
        let me = Arc::downgrade(self);
        handlers.guards.push(Arc::new(move |req| {
            let verdict = match me.upgrade() {
                Some(me) => me.check_login(&req.auth),
                None => Err(ConnectRefusal::new("the hub is gone")),
            };
            Box::pin(async move { verdict })
        }));
        let me = Arc::downgrade(self);
        handlers.connect.push(Arc::new(move |socket| {
            if let Some(me) = me.upgrade() {
                me.watchers.fetch_add(1, Ordering::Relaxed);
                me.welcome(&socket);
            }
        }));
        let me = Arc::downgrade(self);
        handlers.disconnect.push(Arc::new(move |_, _| {
            if let Some(me) = me.upgrade() {
                me.watchers.fetch_sub(1, Ordering::Relaxed);
            }
        }));
        if !self.config.read_only {
            for (event, action) in [
                ("emit", Action::Emit),
                ("join", Action::Join),
                ("leave", Action::Leave),
                ("_disconnect", Action::Disconnect),
            ] {
                let me = Arc::downgrade(self);
                handlers.events.insert(
                    Arc::from(event),
                    Arc::new(move |ev: Event| {
                        if let Some(me) = me.upgrade() {
                            me.act(action, &ev);
                        }
                    }),
                );
            }
        }
    }

    /// Runs until `shutdown`: `server_stats` to every UI every two seconds.
    pub async fn run(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let mut every = tokio::time::interval(STATS_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {
                    if let (Some(ns), Some(all)) = (self.admin_namespace(), self.all_namespaces()) {
                        let stats = self.stats.server_stats(&all, true);
                        Target::new(ns).emit("server_stats", &stats);
                    }
                }
            }
        }
    }

    /// A login with the configured credentials, or a session id given at an earlier one.
    fn check_login(&self, auth: &str) -> Result<(), ConnectRefusal> {
        let auth: Value = serde_json::from_str(auth).unwrap_or_default();
        if let Some(id) = auth["sessionId"].as_str() {
            if self.sessions.lock().iter().any(|s| same_secret(s.as_bytes(), id.as_bytes())) {
                return Ok(());
            }
        }
        let (user, password) = (auth["username"].as_str().unwrap_or(""), auth["password"].as_str().unwrap_or(""));
        // Both compared, whatever the first gives: the time says nothing of which was wrong.
        let user_ok = same_secret(user.as_bytes(), self.config.username.as_bytes());
        if same_secret(password.as_bytes(), self.config.password.as_bytes()) & user_ok {
            Ok(())
        } else {
            Err(ConnectRefusal::new("invalid credentials"))
        }
    }

    /// What a UI gets when it connects: a session id (after a login with
    /// credentials), what it may do, every socket, and the stats at once.
    fn welcome(&self, socket: &Socket) {
        let auth: Value = serde_json::from_str(socket.auth()).unwrap_or_default();
        if auth["username"].is_string() {
            let id = crate::sid::generate().to_string();
            let mut sessions = self.sessions.lock();
            if sessions.len() >= MAX_SESSIONS {
                sessions.pop_front();
            }
            sessions.push_back(id.clone());
            drop(sessions);
            send(socket, "session", &json!([id]));
        }
        send(socket, "config", &json!([{ "supportedFeatures": self.features() }]));
        let Some(all) = self.all_namespaces() else { return };
        let sockets: Vec<Value> =
            all.all().into_iter().flat_map(|ns| Target::new(ns).sockets()).map(|s| serialize(&s)).collect();
        send(socket, "all_sockets", &json!([sockets]));
        let _ = socket.emit("server_stats", &self.stats.server_stats(&all, false));
    }

    fn features(&self) -> Vec<&'static str> {
        let mut features = if self.config.read_only {
            Vec::new()
        } else {
            vec!["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
        };
        // ALL_EVENTS: the UI's socket, room, client and event views (its
        // "development mode"); the events are fed only while a UI is connected.
        features.extend(["AGGREGATED_EVENTS", "ALL_EVENTS"]);
        features
    }

    /// An order from the UI: `emit(nsp, filter, event, ...args)`,
    /// `join(nsp, room, filter)`, `leave(nsp, room, filter)`,
    /// `_disconnect(nsp, close, filter)`; `filter` is a room (or a socket id)
    /// or null for the whole namespace. A malformed order is ignored.
    fn act(&self, action: Action, ev: &Event) {
        let args = ev.args().args();
        let text = |i: usize| args.get(i).and_then(|a| serde_json::from_str::<String>(a.get()).ok());
        let (Some(nsp), Some(all)) = (text(0), self.all_namespaces()) else { return };
        let Some(ns) = all.get(&nsp) else { return };
        let filter = if action == Action::Emit { text(1) } else { text(2) };
        let target = match filter {
            Some(room) => Target::new(ns).to(&room),
            None => Target::new(ns),
        };
        match action {
            Action::Emit => {
                let Some(event) = text(2) else { return };
                let rest: Vec<&serde_json::value::RawValue> = args.iter().skip(3).copied().collect();
                if let Ok(payload) = Payload::from_json(serde_json::to_string(&rest).unwrap_or_default()) {
                    target.emit(&event, &payload);
                }
            }
            Action::Join | Action::Leave => {
                let Some(room) = text(1) else { return };
                if action == Action::Join {
                    target.join(&room)
                } else {
                    target.leave(&room)
                }
            }
            Action::Disconnect => {
                let close = args.get(1).is_some_and(|a| a.get() == "true");
                if close {
                    target.sockets().iter().for_each(Socket::close);
                } else {
                    target.disconnect();
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Emit,
    Join,
    Leave,
    Disconnect,
}

/// Emits `args` (a JSON array) to one UI.
fn send(socket: &Socket, event: &str, args: &Value) {
    if let Ok(payload) = Payload::from_json(args.to_string()) {
        let _ = socket.emit(event, &payload);
    }
}

impl Observer for AdminUi {
    fn connected(&self, socket: &Socket) {
        self.feed("socket_connected", json!([serialize(socket), now()]));
    }
    fn disconnected(&self, namespace: &str, id: &str, reason: crate::DisconnectReason) {
        self.feed("socket_disconnected", json!([namespace, id, reason.as_str(), now()]));
    }
    fn joined(&self, namespace: &str, room: &str, id: &str) {
        self.feed("room_joined", json!([namespace, room, id, now()]));
    }
    fn left(&self, namespace: &str, room: &str, id: &str) {
        self.feed("room_left", json!([namespace, room, id, now()]));
    }
    fn upgraded(&self, namespace: &str, id: &str) {
        self.feed("socket_updated", json!([{ "id": id, "nsp": namespace, "transport": "websocket" }]));
    }
    fn watching(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }
    fn event_received(&self, namespace: &str, id: &str, event: &str) {
        self.feed_event("event_received", namespace, std::slice::from_ref(&id), event);
    }
    fn event_sent(&self, namespace: &str, ids: &[Arc<str>], event: &str) {
        let ids: Vec<&str> = ids.iter().map(|id| &**id).collect();
        self.feed_event("event_sent", namespace, &ids, event);
    }
}

impl AdminUi {
    /// One event of the feed to every UI connected.
    fn feed(&self, event: &str, args: Value) {
        let Some(ns) = self.admin_namespace() else { return };
        if ns.registry.read().sockets.is_empty() {
            return; // nobody watches: do not even encode it
        }
        if let Ok(payload) = Payload::from_json(args.to_string()) {
            Target::new(ns).emit(event, &payload);
        }
    }

    /// `kind(namespace, id, [name, ...args], date)` for each socket, but for
    /// the UIs' own namespace (what the feed sends there would be fed again).
    fn feed_event(&self, kind: &str, namespace: &str, ids: &[&str], event: &str) {
        if namespace == self.config.namespace {
            return;
        }
        let Ok(event) = serde_json::from_str::<Value>(event) else { return };
        let at = now();
        for id in ids {
            self.feed(kind, json!([namespace, id, event, at]));
        }
    }

    fn admin_namespace(&self) -> Option<Arc<Namespace>> {
        self.namespace.get().and_then(Weak::upgrade)
    }

    fn all_namespaces(&self) -> Option<Arc<Namespaces>> {
        self.namespaces.get().and_then(Weak::upgrade)
    }
}

/// The time as the UI reads a `Date` sent as JSON: ISO 8601, UTC.
fn now() -> String {
    stats::iso8601(std::time::SystemTime::now())
}
