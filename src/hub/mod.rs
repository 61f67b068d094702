//! The hub: namespaces, the socket registry, rooms, targets and acks, and
//! each client's connection (`conn`), which the Engine.IO layer hands the
//! messages of a session to. Below it: the Socket.IO and raw codecs and the
//! sessions' outbound queues; above it: the cluster adapters, which
//! implement `cluster::Adapter` for it.
//!
//! A broadcast resolves its receivers under the namespace's read lock and
//! pushes one shared encoding into each receiver's queue (invariant 1); the
//! arguments stay raw JSON (invariant 2).

pub(crate) mod cluster;
mod conn;
mod namespaces;
mod packets;
mod recovery;
mod socket;
mod target;

pub use crate::reason::DisconnectReason;
pub(crate) use cluster::handshake_without_auth;
pub use cluster::{RemoteSocket, ServerEvent};
pub(crate) use conn::Connections;
pub(crate) use namespaces::Namespaces;
pub use packets::Packet;
pub use socket::{AckError, Event, Socket};
pub use target::Target;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;
use rustc_hash::FxHashMap;

pub(crate) use socket::SocketState;

use crate::metrics::{HubCounters, Metrics, NamespaceCounters};
use crate::socketio::payload::Payload;
use crate::Handshake;
use cluster::Adapter;

pub(crate) type EventHandler = Arc<dyn Fn(Event) + Send + Sync>;
pub(crate) type ConnectHandler = Arc<dyn Fn(Socket) + Send + Sync>;
pub(crate) type DisconnectHandler = Arc<dyn Fn(Socket, DisconnectReason) + Send + Sync>;
pub(crate) type ErrorHandler = Arc<dyn Fn(Socket, &str) + Send + Sync>;
pub(crate) type PacketHandler = Arc<dyn Fn(Socket, &[Packet]) + Send + Sync>;
pub(crate) type AbandonedHandler = Arc<dyn Fn(&str, DisconnectReason) + Send + Sync>;
pub(crate) type ServerEventHandler = Arc<dyn Fn(ServerEvent) + Send + Sync>;
pub(crate) use crate::engineio::BoxFuture;
pub(crate) type Guard = Arc<dyn Fn(ConnectRequest) -> BoxFuture<Result<(), ConnectRefusal>> + Send + Sync>;
/// Decides whether a request may open a connection at all; `Err` is the 403's message.
pub(crate) type RequestGuard = Arc<dyn Fn(Arc<Handshake>) -> BoxFuture<Result<(), String>> + Send + Sync>;
/// Where the hub keeps its request guard: set any time, read by each new connection.
pub(crate) type RequestGuardSlot = Arc<RwLock<Option<RequestGuard>>>;

/// What a connect guard sees: the namespace, the client's auth payload and
/// the handshake of its connection.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub namespace: String,
    /// The id the socket gets if it is let in (as Socket.IO's middlewares
    /// see it); empty in a namespace resolver's request, which comes first.
    pub socket_id: String,
    /// The client's `auth` object as raw JSON (`{}` when it sent none).
    pub auth: String,
    pub handshake: Arc<Handshake>,
}

/// A guard's refusal: the client gets `connect_error` with this message
/// (and `data`, raw JSON, when given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRefusal {
    pub message: String,
    pub data: Option<String>,
}

impl ConnectRefusal {
    pub fn new(message: impl Into<String>) -> ConnectRefusal {
        ConnectRefusal { message: message.into(), data: None }
    }
}

/// Who watches the sockets of every namespace come and go (the admin UI's
/// feed). Called outside the registry's lock, once per change, never per event.
pub(crate) trait Observer: Send + Sync {
    fn connected(&self, socket: &Socket);
    fn disconnected(&self, namespace: &str, id: &str, reason: DisconnectReason);
    fn joined(&self, namespace: &str, room: &str, id: &str);
    fn left(&self, namespace: &str, room: &str, id: &str);
    /// The socket's connection upgraded from polling to WebSocket.
    fn upgraded(&self, namespace: &str, id: &str);
    /// Whether anyone watches the events themselves now (a relaxed load, on
    /// every event of a hub that has an observer): the two calls below come only then.
    fn watching(&self) -> bool;
    /// An event from a client: `event` is its JSON array, the name first.
    fn event_received(&self, namespace: &str, id: &str, event: &str);
    /// An event queued for the sockets `ids`: its JSON array, the name first.
    fn event_sent(&self, namespace: &str, ids: &[Arc<str>], event: &str);
}

/// An event as the admin UI shows it: `[name, ...args]`.
pub(crate) fn event_array(name: &str, args: &Payload) -> String {
    let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
    match args.json().strip_prefix('[').map(str::trim_start) {
        Some(rest) if rest.starts_with(']') => format!("[{name}]"),
        Some(rest) => format!("[{name},{rest}"),
        None => format!("[{name}]"),
    }
}

#[derive(Default)]
pub(crate) struct Handlers {
    /// By name; the key is also the name of every event it handles.
    pub events: FxHashMap<Arc<str>, EventHandler>,
    pub any: Option<EventHandler>,
    pub connect: Vec<ConnectHandler>,
    pub disconnect: Vec<DisconnectHandler>,
    /// Told when a socket's connection moves from polling to WebSocket.
    pub upgrade: Vec<ConnectHandler>,
    /// Told why a socket's client broke the protocol, before it is disconnected.
    pub error: Vec<ErrorHandler>,
    /// Told of the packets handed to a watching socket's transport (`Socket::watch_packets`).
    pub packets: Vec<PacketHandler>,
    pub guards: Vec<Guard>,
    /// Told of a client whose connection closed while its guards ran.
    pub abandoned: Vec<AbandonedHandler>,
    /// Events other nodes of the cluster send with `server_side_emit`.
    pub server_events: HashMap<String, ServerEventHandler>,
}

#[derive(Default)]
pub(crate) struct Registry {
    /// By socket id: random ids of the hub's own, so FxHash is safe here.
    pub sockets: FxHashMap<Arc<str>, Arc<SocketState>>,
    pub rooms: HashMap<Arc<str>, HashSet<Arc<str>>>,
}

/// One namespace: its handlers and its sockets.
pub(crate) struct Namespace {
    pub name: Arc<str>,
    pub handlers: RwLock<Handlers>,
    pub registry: RwLock<Registry>,
    /// The cluster this namespace's targets also reach (none: this node only).
    pub cluster: Option<Arc<dyn Adapter>>,
    /// Connection state recovery, when on.
    pub recovery: Option<recovery::Recovery>,
    /// Clients in this namespace's guards (see `namespaces::Entry`).
    pub joining: std::sync::atomic::AtomicUsize,
    /// For a dynamic namespace, the set it may be cleaned out of when empty.
    pub child_of: std::sync::OnceLock<std::sync::Weak<Namespaces>>,
    /// Its counts; a socket reaches them through its namespace, with no lookup.
    pub counters: NamespaceCounters,
    observer: Option<Arc<dyn Observer>>,
    /// The hub's sockets by handle, kept with this namespace's registry.
    handles: Arc<SocketHandles>,
}

/// Every connected socket of a hub by its handle (`SocketState::handle`): a
/// binding's emit to one socket finds it with one lookup of a number instead
/// of its namespace's and its id's. Written under the namespace registry's
/// write lock, after it (so a socket is here exactly while it is a member).
#[derive(Default)]
pub(crate) struct SocketHandles(RwLock<FxHashMap<u64, Arc<SocketState>>>);

impl SocketHandles {
    pub fn get(&self, handle: u64) -> Option<Arc<SocketState>> {
        self.0.read().get(&handle).cloned()
    }
}

impl Namespace {
    pub fn new(
        name: &str,
        cluster: Option<Arc<dyn Adapter>>,
        recovery: Option<crate::config::RecoveryConfig>,
        observer: Option<Arc<dyn Observer>>,
        handles: Arc<SocketHandles>,
    ) -> Arc<Namespace> {
        Arc::new(Namespace {
            name: Arc::from(name),
            handlers: RwLock::new(Handlers::default()),
            registry: RwLock::new(Registry::default()),
            cluster,
            recovery: recovery.map(recovery::Recovery::new),
            joining: Default::default(),
            child_of: Default::default(),
            counters: NamespaceCounters::default(),
            observer,
            handles,
        })
    }

    /// A dynamic namespace with no socket left and no client on its way in
    /// goes away, with `cleanup_empty_child_namespaces` on.
    pub fn leave_if_idle(self: &Arc<Self>) {
        if let Some(owner) = self.child_of.get().and_then(|o| o.upgrade()) {
            owner.remove_if_idle(self);
        }
    }

    /// The cluster's log, when recovery is on and the cluster keeps one:
    /// then the log, not this node, numbers and keeps the broadcasts and
    /// the sessions (see `cluster::Log`).
    pub fn recovery_log(&self) -> Option<&dyn cluster::Log> {
        self.recovery.as_ref()?;
        self.cluster.as_deref()?.log()
    }

    /// Whether connection state recovery is on in this namespace.
    pub fn recovers(&self) -> bool {
        self.recovery.is_some()
    }

    /// Whether a room, or a socket (a room of one), of that name is here.
    pub fn has_room(&self, room: &str) -> bool {
        let reg = self.registry.read();
        reg.rooms.contains_key(room) || reg.sockets.contains_key(room)
    }

    /// The rooms, socket ids included (the Socket.IO adapter's view).
    pub fn room_names(&self) -> Vec<String> {
        let reg = self.registry.read();
        reg.rooms.keys().chain(reg.sockets.keys()).map(|r| r.to_string()).collect()
    }

    /// The rooms joined here (socket ids left out).
    pub fn joined_rooms(&self) -> Vec<String> {
        self.registry.read().rooms.keys().map(|r| r.to_string()).collect()
    }

    pub fn dispatch_server_event(&self, event: ServerEvent) {
        let handler = self.handlers.read().server_events.get(event.name()).cloned();
        if let Some(handler) = handler {
            call_guarded("server-side event handler", || handler(event));
        }
    }

    pub fn insert(&self, socket: Arc<SocketState>) {
        let mut reg = self.registry.write();
        self.add_locked(&mut reg, socket);
    }

    /// Makes `socket` a member (its id and its handle), under the registry's write lock.
    fn add_locked(&self, reg: &mut Registry, socket: Arc<SocketState>) {
        self.handles.0.write().insert(socket.handle, socket.clone());
        reg.sockets.insert(socket.id.clone(), socket);
    }

    /// Inserts a socket that claims a saved session (connection state
    /// recovery). If the claim still holds, the socket gets the session's
    /// rooms and, queued before anything else, the packets it missed. All
    /// under the registry's write lock: an emit (which keeps its packet and
    /// delivers it under the read lock) is then wholly among the missed
    /// packets or wholly live, never lost or doubled.
    ///
    /// False (nothing inserted) when a socket with that id is here already:
    /// two connects raced for one claim, and the other one won.
    /// `connect` (its CONNECT answer) is queued right after the missed
    /// packets, in the same push, so a long-poll gets them all at once.
    ///
    /// `restore` (called under the lock) gives what the session gets back:
    /// from this node's store, or from the cluster's log.
    pub fn insert_restoring(
        &self,
        socket: &Arc<SocketState>,
        restore: impl FnOnce() -> Option<recovery::Restored>,
        connect: crate::engineio::packet::Frame,
    ) -> bool {
        let mut reg = self.registry.write();
        // Gone already (its connection closed while the restore was read): never a member.
        if reg.sockets.contains_key(&socket.id) || !socket.is_connected() {
            return false;
        }
        let restored = restore();
        self.add_locked(&mut reg, socket.clone());
        if let Some(restored) = restored {
            for room in restored.rooms {
                self.join_locked(&mut reg, socket, room);
            }
            socket.recovered.store(true, std::sync::atomic::Ordering::Release);
            let frames: Vec<_> = restored.missed.into_iter().flatten().chain([connect]).collect();
            socket.session.push(frames);
        } else {
            socket.session.push([connect]);
        }
        true
    }

    /// Removes a socket and its room memberships; true if it was there.
    pub fn remove(&self, socket: &SocketState) -> bool {
        let mut reg = self.registry.write();
        if reg.sockets.remove(&socket.id).is_none() {
            return false;
        }
        self.handles.0.write().remove(&socket.handle);
        for room in socket.rooms.lock().drain() {
            if let Some(members) = reg.rooms.get_mut(&room) {
                members.remove(&socket.id);
                if members.is_empty() {
                    reg.rooms.remove(&room);
                    self.room_changed(&room, false);
                }
            }
        }
        true
    }

    /// Tells the cluster (if any) that a room appeared or went away here.
    fn room_changed(&self, room: &str, exists: bool) {
        if let Some(cluster) = &self.cluster {
            cluster.room_changed(&self.name, room, exists);
        }
    }

    pub fn join(&self, socket: &SocketState, room: &str) {
        {
            let mut reg = self.registry.write();
            if !reg.sockets.contains_key(&socket.id) {
                return; // already gone: joining would leak a room entry
            }
            self.join_locked(&mut reg, socket, Arc::from(room));
        }
        if let Some(o) = &self.observer {
            o.joined(&self.name, room, &socket.id);
        }
    }

    fn join_locked(&self, reg: &mut Registry, socket: &SocketState, room: Arc<str>) {
        let members = reg.rooms.entry(room.clone()).or_default();
        if members.is_empty() {
            self.room_changed(&room, true);
        }
        members.insert(socket.id.clone());
        socket.rooms.lock().insert(room);
    }

    pub fn leave(&self, socket: &SocketState, room: &str) {
        let was_in = {
            let mut reg = self.registry.write();
            if let Some(members) = reg.rooms.get_mut(room) {
                members.remove(&socket.id);
                if members.is_empty() {
                    reg.rooms.remove(room);
                    self.room_changed(room, false);
                }
            }
            socket.rooms.lock().remove(room)
        };
        if let (true, Some(o)) = (was_in, &self.observer) {
            o.left(&self.name, room, &socket.id);
        }
    }

    /// The handler of event `name` (or the catch-all), and the name for the
    /// event to keep: the registered key, not a copy per event.
    pub fn event_handler(&self, name: &str) -> Option<(Arc<str>, EventHandler)> {
        let h = self.handlers.read();
        match h.events.get_key_value(name) {
            Some((key, handler)) => Some((key.clone(), handler.clone())),
            None => h.any.clone().map(|any| (Arc::from(name), any)),
        }
    }

    /// Runs the handler of event `name` of `socket`, if there is one.
    pub fn dispatch_event(&self, socket: Arc<SocketState>, name: &str, args: Payload, ack_id: Option<u64>) {
        if let Some((name, handler)) = self.event_handler(name) {
            call_event_handler(&handler, Event { socket: Socket(socket), name, args, ack_id });
        }
    }

    /// The observer, when it watches the events themselves.
    pub fn watched(&self) -> Option<&dyn Observer> {
        self.observer.as_deref().filter(|o| o.watching())
    }

    /// An event from socket `id`: counted, and shown to whoever watches.
    /// `event` makes its `[name, ...args]` text, only for a watcher.
    pub fn event_in(&self, id: &str, event: impl FnOnce() -> String) {
        self.counters.events_received.add(1);
        if let Some(o) = self.watched() {
            o.event_received(&self.name, id, &event());
        }
    }

    /// An event queued for one socket: counted, and shown to whoever watches.
    pub fn event_out(&self, id: &Arc<str>, name: &str, args: &Payload) {
        self.counters.events_sent.add(1);
        if let Some(o) = self.watched() {
            o.event_sent(&self.name, std::slice::from_ref(id), &event_array(name, args));
        }
    }

    pub fn dispatch_connect(&self, socket: &Socket) {
        if let Some(o) = &self.observer {
            o.connected(socket);
        }
        let handlers = self.handlers.read().connect.clone();
        for h in handlers {
            call_guarded("connect handler", || h(socket.clone()));
        }
    }

    /// A socket of this namespace now runs over a WebSocket.
    pub fn dispatch_upgrade(&self, socket: &Socket) {
        if let Some(o) = &self.observer {
            o.upgraded(&self.name, socket.id());
        }
        let handlers = self.handlers.read().upgrade.clone();
        for h in handlers {
            call_guarded("upgrade handler", || h(socket.clone()));
        }
    }

    pub fn dispatch_error(&self, socket: &Socket, message: &str) {
        let handlers = self.handlers.read().error.clone();
        for h in handlers {
            call_guarded("error handler", || h(socket.clone(), message));
        }
    }

    pub fn dispatch_disconnect(&self, socket: &Socket, reason: DisconnectReason) {
        if let Some(o) = &self.observer {
            o.disconnected(&self.name, socket.id(), reason);
        }
        let handlers = self.handlers.read().disconnect.clone();
        for h in handlers {
            call_guarded("disconnect handler", || h(socket.clone(), reason));
        }
    }

    /// The client asking to join as socket `id` left while its guards ran.
    pub fn dispatch_abandoned(&self, id: &str, reason: DisconnectReason) {
        let handlers = self.handlers.read().abandoned.clone();
        for h in handlers {
            call_guarded("abandoned-connect handler", || h(id, reason));
        }
    }

    /// Runs every guard in order; the first refusal wins.
    pub async fn admit(&self, request: ConnectRequest) -> Result<(), ConnectRefusal> {
        let guards = self.handlers.read().guards.clone();
        for guard in guards {
            guard(request.clone()).await?;
        }
        Ok(())
    }
}

/// Runs an event handler found by `Namespace::event_handler`.
pub(crate) fn call_event_handler(handler: &EventHandler, event: Event) {
    call_guarded("event handler", || handler(event));
}

/// A panicking handler must not take the connection's task (and with it the
/// client's other namespaces) down: log it and go on.
fn call_guarded(what: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        tracing::error!("{what} panicked; the hub goes on");
    }
}

/// What the connections and adapters of a running hub share.
pub(crate) struct HubCore {
    pub config: crate::Config,
    pub namespaces: Arc<Namespaces>,
    pub request_guard: RequestGuardSlot,
    pub shutdown: tokio_util::sync::CancellationToken,
    pub runtime: tokio::runtime::Handle,
    pub counters: Arc<HubCounters>,
}

impl crate::metrics::Source for HubCore {
    fn metrics(&self) -> Metrics {
        self.namespaces.metrics(&self.counters)
    }
}
