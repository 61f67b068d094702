//! wshub: an embeddable realtime event hub that speaks Socket.IO.
//!
//! A [`Hub`] runs a server on its own tokio runtime. Official Socket.IO
//! clients (Engine.IO v4, Socket.IO v5) connect over WebSocket or HTTP
//! long-polling; plain WebSocket clients connect to the raw endpoint. The
//! program talks to them with `on(event, handler)` and `emit(event, payload)`.
//!
//! ```no_run
//! use wshub::{Hub, Payload};
//!
//! let hub = Hub::builder().port(3000).build().unwrap();
//! hub.on("chat message", |ev| {
//!     // Send it to everyone, the sender included; the args pass through as raw JSON.
//!     ev.socket().broadcast().emit("chat message", ev.args());
//!     ev.socket().emit("chat message", ev.args()).ok();
//! });
//! let addr = hub.start().unwrap();
//! println!("listening on http://{addr}");
//! # hub.stop(std::time::Duration::from_secs(1)).unwrap();
//! ```
//!
//! Handlers given to the Rust API run on the hub's runtime threads and must
//! not block; every method may be called from any thread, handlers included.

// The layers, bottom first (each names only those below it; tests/layers/check.py
// fails `make test` on a circle): ws (frames) <- engineio (sessions) <-
// socketio, rawws (codecs) <- hub <- adapter (cluster); server (the listener)
// serves engineio; this file wires them, and ffi is the C ABI over it.
mod adapter;
mod admin;
mod config;
mod deferred_wake;
mod engineio;
mod error;
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod http;
mod hub;
mod metrics;
mod rawws;
mod reason;
mod secret;
mod server;
mod sid;
mod socketio;
mod ws;

pub use config::{AdminUiConfig, Config, DeflateConfig, RecoveryConfig, SlowConsumerPolicy};
pub use error::Error;
pub use handshake::Handshake;
pub use hub::{AckError, ConnectRefusal, ConnectRequest, Event, Packet, RemoteSocket, ServerEvent, Socket, Target};
pub use metrics::{ByTransport, DisconnectCount, Metrics, NamespaceMetrics};
pub use reason::DisconnectReason;
pub use server::host::{HostRequest, HostResponse};
pub use server::relay::{RelayError, RelayEvent, RelayHandle, RelayMessage};
pub use socketio::payload::{Payload, PayloadBuilder};

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use hub::{HubCore, Namespaces};
use server::Server;

thread_local! {
    static ON_HUB_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

struct Running {
    runtime: tokio::runtime::Runtime,
    core: Arc<HubCore>,
    server: Arc<Server>,
    /// The address of our own listener; None when host-served only.
    addr: Option<SocketAddr>,
}

/// An event hub. Cheap to clone (all clones are the same hub).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    config: Config,
    namespaces: Arc<Namespaces>,
    request_guard: hub::RequestGuardSlot,
    /// For the hub's life, not one run: counters only go up across a restart.
    counters: Arc<metrics::HubCounters>,
    /// The admin UI's server side, when `admin_ui` is set.
    admin: Option<Arc<admin::AdminUi>>,
    /// The runtime's workers yield to the thread that runs the handlers (see
    /// `Hub::yield_workers_to_handlers`).
    workers_yield: std::sync::atomic::AtomicBool,
    running: Mutex<Option<Running>>,
}

impl Drop for HubInner {
    fn drop(&mut self) {
        if let Some(running) = self.running.get_mut().take() {
            if ON_HUB_THREAD.with(|f| f.get()) {
                // The last handle went away inside a handler: a runtime cannot
                // be shut down from its own thread, so hand it to another.
                std::thread::spawn(move || shut_down(running, Duration::ZERO));
            } else {
                shut_down(running, Duration::ZERO);
            }
        }
    }
}

impl Hub {
    /// A builder with the Socket.IO server's defaults.
    pub fn builder() -> HubBuilder {
        HubBuilder { config: Config::default() }
    }

    /// A hub with this configuration (not started yet).
    pub fn new(config: Config) -> Result<Hub, Error> {
        config.validate()?;
        let cluster: Option<Arc<dyn adapter::Adapter>> = match &config.redis_url {
            Some(url) => {
                let protocol = match (config.redis_streams, config.redis_sharded) {
                    (true, _) => adapter::Protocol::Streams { max_len: config.redis_stream_max_len },
                    (false, true) => adapter::Protocol::Sharded,
                    (false, false) => adapter::Protocol::Classic,
                };
                let (cluster, prefix, timeout) = (config.redis_cluster, &config.redis_prefix, config.cluster_timeout);
                Some(adapter::RedisAdapter::new(url, cluster, prefix, protocol, timeout)?)
            }
            None => None,
        };
        let counters: Arc<metrics::HubCounters> = Arc::default();
        let admin = config.admin_ui.clone().map(|a| admin::AdminUi::new(a, counters.clone()));
        let observer = admin.clone().map(|a| a as Arc<dyn hub::Observer>);
        let recovery = config.connection_state_recovery.clone();
        let namespaces = Namespaces::new(cluster, recovery, config.cleanup_empty_child_namespaces, observer);
        namespaces.get_or_create("/");
        if let Some(admin) = &admin {
            admin.install(&namespaces);
        }
        let request_guard = Default::default();
        let inner = HubInner {
            config,
            namespaces,
            request_guard,
            counters,
            admin,
            workers_yield: std::sync::atomic::AtomicBool::new(false),
            running: Mutex::new(None),
        };
        Ok(Hub { inner: Arc::new(inner) })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// From the next start, the runtime's workers do not preempt the thread
    /// that runs the handlers when it wakes them (an emit): for a hub whose
    /// handlers run on a thread of their own (the C ABI's dispatcher, Node's
    /// JS thread). See `deferred_wake::yield_on_wake`.
    pub(crate) fn yield_workers_to_handlers(&self) {
        self.inner.workers_yield.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The connected socket with this handle ([`Socket::handle`]), of any namespace.
    pub(crate) fn socket_by_handle(&self, handle: u64) -> Option<Socket> {
        self.inner.namespaces.handles.get(handle).map(Socket)
    }

    /// The namespace `name` (created, and so open to clients, on first use).
    pub fn of(&self, name: &str) -> Namespace {
        let namespaces = &self.inner.namespaces;
        Namespace(if name.starts_with('/') {
            namespaces.get_or_create(name)
        } else {
            namespaces.get_or_create(&format!("/{name}"))
        })
    }

    fn main(&self) -> Namespace {
        self.of("/")
    }

    /// Opens namespaces nobody made (Socket.IO's dynamic namespaces,
    /// `io.of(regex)`): a client naming one is let in when `resolver`
    /// returns true for its connect request, and the namespace is made for
    /// it (the resolver may make it first with [`Hub::of`] to put handlers
    /// on it). Otherwise, as without a resolver, it gets "Invalid
    /// namespace". One resolver per hub: a second one replaces the first.
    ///
    /// ```
    /// let hub = wshub::Hub::builder().build().unwrap();
    /// let h = hub.clone();
    /// hub.dynamic_namespaces(move |req| {
    ///     let open = req.namespace.starts_with("/room-");
    ///     if open {
    ///         h.of(&req.namespace).on_connect(|socket| println!("{} is in {}", socket.id(), socket.namespace()));
    ///     }
    ///     open
    /// });
    /// ```
    pub fn dynamic_namespaces<F>(&self, resolver: F)
    where
        F: Fn(&ConnectRequest) -> bool + Send + Sync + 'static,
    {
        self.inner.namespaces.set_resolver(Arc::new(move |req| {
            let verdict = if resolver(&req) { Ok(()) } else { Err(ConnectRefusal::new("Invalid namespace")) };
            Box::pin(async move { verdict })
        }));
    }

    /// [`Hub::dynamic_namespaces`] with a resolver that decides later; its
    /// refusal is the client's connect_error.
    pub fn dynamic_namespaces_async<F, Fut>(&self, resolver: F)
    where
        F: Fn(ConnectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectRefusal>> + Send + 'static,
    {
        self.inner.namespaces.set_resolver(Arc::new(move |req| Box::pin(resolver(req))));
    }

    /// Decides which requests may open a connection at all, before any
    /// namespace (Socket.IO's `allowRequest`): `Err(message)` answers 403
    /// with that message, and no session is made. It sees every new
    /// Socket.IO and Engine.IO connection, polling or WebSocket (not the
    /// raw endpoint's, whose clients pass the main namespace's guards). A
    /// second one replaces the first.
    ///
    /// ```
    /// let hub = wshub::Hub::builder().build().unwrap();
    /// hub.allow_request(|hs| match hs.header("cookie") {
    ///     Some(c) if c.contains("session=") => Ok(()),
    ///     _ => Err("no session".to_string()),
    /// });
    /// ```
    pub fn allow_request<F>(&self, guard: F)
    where
        F: Fn(&Handshake) -> Result<(), String> + Send + Sync + 'static,
    {
        *self.inner.request_guard.write() = Some(Arc::new(move |hs| {
            let verdict = guard(&hs);
            Box::pin(async move { verdict })
        }));
    }

    /// [`Hub::allow_request`] with a guard that decides later.
    pub fn allow_request_async<F, Fut>(&self, guard: F)
    where
        F: Fn(Arc<Handshake>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        *self.inner.request_guard.write() = Some(Arc::new(move |hs| Box::pin(guard(hs))));
    }

    /// Calls `handler` with the name of each dynamic namespace that went
    /// away empty (`cleanup_empty_child_namespaces`).
    pub fn on_namespace_removed<F: Fn(&str) + Send + Sync + 'static>(&self, handler: F) {
        self.inner.namespaces.on_removed(Arc::new(handler));
    }

    /// Registers a handler for an event of the main namespace.
    pub fn on<F: Fn(Event) + Send + Sync + 'static>(&self, event: &str, handler: F) {
        self.main().on(event, handler);
    }

    /// Registers a handler for connections to the main namespace.
    pub fn on_connect<F: Fn(Socket) + Send + Sync + 'static>(&self, handler: F) {
        self.main().on_connect(handler);
    }

    /// Registers a handler for disconnections from the main namespace.
    pub fn on_disconnect<F: Fn(Socket, DisconnectReason) + Send + Sync + 'static>(&self, handler: F) {
        self.main().on_disconnect(handler);
    }

    /// Emits to every socket of the main namespace; returns how many got it.
    pub fn emit(&self, event: &str, args: &Payload) -> usize {
        self.main().emit(event, args)
    }

    /// The sockets of the main namespace in `room`.
    pub fn to(&self, room: &str) -> Target {
        self.main().to(room)
    }

    /// Every socket of the main namespace except those in `room`.
    pub fn except(&self, room: &str) -> Target {
        self.main().except(room)
    }

    /// Starts serving; returns the bound address (useful with port 0).
    pub fn start(&self) -> Result<SocketAddr, Error> {
        if self.is_running() {
            return Err(Error::AlreadyRunning); // before binding: the port is likely ours
        }
        let cfg = &self.inner.config;
        let tls = server::tls::acceptor(cfg)?;
        let listener = std::net::TcpListener::bind(cfg.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        self.launch(Some((listener, tls)))?;
        Ok(addr)
    }

    /// Starts the hub without a listener of its own: the host's HTTP server
    /// hands it connections ([`Hub::adopt`]) and requests
    /// ([`Hub::handle_request`]) that arrive under its paths
    /// ([`Hub::serves_path`]). Those calls work on a hub started with
    /// [`Hub::start`] too.
    pub fn start_hosted(&self) -> Result<(), Error> {
        self.launch(None)
    }

    fn launch(
        &self,
        listener: Option<(std::net::TcpListener, Option<tokio_rustls::TlsAcceptor>)>,
    ) -> Result<(), Error> {
        let mut running = self.inner.running.lock();
        if running.is_some() {
            return Err(Error::AlreadyRunning);
        }
        let cfg = self.inner.config.clone();
        let yield_on_wake = self.inner.workers_yield.load(std::sync::atomic::Ordering::Relaxed);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.worker_threads)
            .thread_name("wshub-worker")
            .on_thread_start(move || {
                ON_HUB_THREAD.with(|f| f.set(true));
                deferred_wake::mark_worker();
                if yield_on_wake {
                    deferred_wake::yield_on_wake();
                }
            })
            .on_thread_park(deferred_wake::run_pending)
            .enable_all()
            .build()?;
        let (listener, addr) = match listener {
            Some((listener, tls)) => {
                let addr = listener.local_addr()?;
                let _guard = runtime.enter();
                (Some((tokio::net::TcpListener::from_std(listener)?, tls)), Some(addr))
            }
            None => (None, None),
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        let core = Arc::new(HubCore {
            config: cfg.clone(),
            namespaces: self.inner.namespaces.clone(),
            request_guard: self.inner.request_guard.clone(),
            shutdown: shutdown.clone(),
            runtime: runtime.handle().clone(),
            counters: self.inner.counters.clone(),
        });
        // The Engine.IO layer hands each session it opens to a connection of the hub.
        let connections = Arc::new(hub::Connections(core.clone()));
        let counters = self.inner.counters.clone();
        let engine = Arc::new(engineio::Engine::new(cfg, runtime.handle().clone(), shutdown, connections, counters));
        let server = Arc::new(Server::new(engine, core.clone()));
        if let Some(cluster) = &self.inner.namespaces.cluster {
            cluster.clone().start(&core);
        }
        if let Some(admin) = &self.inner.admin {
            runtime.spawn(admin.clone().run(core.shutdown.clone()));
        }
        if let Some((listener, tls)) = listener {
            runtime.spawn(server::accept_loop(server.clone(), listener, tls));
        }
        *running = Some(Running { runtime, core, server, addr });
        Ok(())
    }

    /// True when the hub answers requests for this path (percent-encoded,
    /// without the query): its Engine.IO paths, the client bundle's files and
    /// the raw WebSocket endpoint. The static folder, if one is set, serves
    /// any other path; a host hands those over only if it wants it to.
    pub fn serves_path(&self, path: &str) -> bool {
        server::serves_path(&self.inner.config, path)
    }

    /// Takes over a connection the host's server accepted: `read` is what it
    /// already read from it (an upgrade request's head, say, whole or in
    /// part). From this call on the hub owns the socket exactly as one it
    /// accepted itself (same parser, limits, upgrade and timeouts), whatever
    /// the result; on an error it is closed. Plain TCP only: a host that
    /// terminates TLS hands over requests, not the socket. Any thread.
    pub fn adopt(&self, stream: std::net::TcpStream, read: &[u8]) -> Result<(), Error> {
        let server = self.inner.running.lock().as_ref().map(|r| r.server.clone()).ok_or(Error::NotRunning)?;
        server::host::adopt(&server, stream, read).map_err(|e| match e {
            server::host::AdoptError::Io(e) => Error::Io(e),
            server::host::AdoptError::Limit => Error::Limit("max_connections (or per address) reached".into()),
        })
    }

    /// Answers an HTTP request the host's server read (a long-polling GET or
    /// POST, a CORS preflight, the client bundle): `respond` is called
    /// exactly once, on a hub thread, maybe much later (a long-poll waits for
    /// packets). If the hub is not running, or stops first, the answer is a
    /// 503. The same limits as on the hub's own listener apply (431, 413, ...).
    /// WebSocket upgrades go to [`Hub::adopt`] instead. Any thread.
    pub fn handle_request<F: FnOnce(HostResponse) + Send + 'static>(&self, req: HostRequest, respond: F) {
        let done = server::host::Completion::new(respond);
        let server = self.inner.running.lock().as_ref().map(|r| r.server.clone());
        match server {
            Some(server) => server::host::handle(&server, req, done),
            None => drop(done), // answers 503
        }
    }

    /// Serves a WebSocket whose connection the host's server keeps (an ASGI
    /// server, aiohttp): `req` is the upgrade request it read, the returned
    /// handle takes what the client sends, and `out` gets, in order on a hub
    /// thread, `Accepted` or `Refused`, then what to send, then `Closed`
    /// (exactly one of `Refused` and `Closed`, also when the hub stops). The
    /// upgrade, limits, heartbeat and close codes are those of the hub's own
    /// listener. Hosts that can hand over the socket itself use
    /// [`Hub::adopt`], the faster path. Any thread.
    pub fn relay_websocket<F: FnMut(RelayMessage) + Send + 'static>(
        &self,
        req: HostRequest,
        out: F,
    ) -> Result<RelayHandle, Error> {
        let server = self.inner.running.lock().as_ref().map(|r| r.server.clone()).ok_or(Error::NotRunning)?;
        server::relay::open(&server, req, Box::new(out))
            .map_err(|_| Error::Limit("max_connections (or per address) reached".into()))
    }

    /// The address the hub listens on, while it runs.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.running.lock().as_ref().and_then(|r| r.addr)
    }

    pub fn is_running(&self) -> bool {
        self.inner.running.lock().is_some()
    }

    /// A snapshot of the hub's metrics: counters since the hub was created
    /// (they go on across a stop and start), gauges as of now. Cheap enough to
    /// call at any rate a dashboard polls; the same figures are served in the
    /// Prometheus text format on `metrics_path`. Any thread.
    ///
    /// ```
    /// let hub = wshub::Hub::builder().port(0).build().unwrap();
    /// let m = hub.metrics();
    /// assert_eq!(m.connections.websocket, 0);
    /// assert_eq!(m.namespaces[0].name, "/");
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.inner.namespaces.metrics(&self.inner.counters)
    }

    /// `(open TCP connections, live Engine.IO sessions)`, `(0, 0)` when the
    /// hub is not running: for leak checks in tests and for monitoring.
    /// Sockets and rooms are counted with [`Namespace::sockets`] and
    /// [`Namespace::rooms`].
    #[doc(hidden)]
    pub fn connection_counts(&self) -> (usize, usize) {
        match self.inner.running.lock().as_ref() {
            Some(r) => {
                (r.server.open_connections.load(std::sync::atomic::Ordering::Acquire), r.server.engine.session_count())
            }
            None => (0, 0),
        }
    }

    /// Stops the hub: no new connections; every session is closed (a close
    /// packet for polling clients, a close frame for WebSocket ones) and gets
    /// up to `grace` to flush; then every thread the hub started is joined.
    /// Disconnect handlers run with reason "server shutting down".
    /// The hub can be started again afterwards.
    pub fn stop(&self, grace: Duration) -> Result<(), Error> {
        if ON_HUB_THREAD.with(|f| f.get()) {
            return Err(Error::InsideRuntime);
        }
        let running = self.inner.running.lock().take();
        if let Some(running) = running {
            shut_down(running, grace);
        }
        Ok(())
    }
}

fn shut_down(running: Running, grace: Duration) {
    let (core, engine) = (&running.core, &running.server.engine);
    core.shutdown.cancel();
    engine.close_all(DisconnectReason::ServerShuttingDown);
    for ns in core.namespaces.all() {
        for s in hub::Target::new(ns).sockets() {
            s.0.session.close(DisconnectReason::ServerShuttingDown);
        }
    }
    let deadline = Instant::now() + grace.max(Duration::from_millis(1));
    while running.server.open_connections.load(std::sync::atomic::Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    running.runtime.shutdown_timeout(Duration::from_millis(200));
    // Sessions whose cleanup task did not get to run before the runtime
    // ended are detached here: every disconnect handler runs, and the
    // namespace <-> socket <-> session references are broken, so nothing leaks.
    for ns in core.namespaces.all() {
        let sockets: Vec<_> = ns.registry.read().sockets.values().cloned().collect();
        for socket in sockets {
            socket.detach(DisconnectReason::ServerShuttingDown);
        }
    }
    engine.clear();
}

/// A namespace: its handlers, guards and targets.
#[derive(Clone)]
pub struct Namespace(Arc<hub::Namespace>);

impl Namespace {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Registers the handler of `event` (replacing an earlier one).
    pub fn on<F: Fn(Event) + Send + Sync + 'static>(&self, event: &str, handler: F) {
        self.0.handlers.write().events.insert(Arc::from(event), Arc::new(handler));
    }

    /// Registers the handler of every event that has no handler of its own.
    pub fn on_any<F: Fn(Event) + Send + Sync + 'static>(&self, handler: F) {
        self.0.handlers.write().any = Some(Arc::new(handler));
    }

    pub fn on_connect<F: Fn(Socket) + Send + Sync + 'static>(&self, handler: F) {
        self.0.handlers.write().connect.push(Arc::new(handler));
    }

    pub fn on_disconnect<F: Fn(Socket, DisconnectReason) + Send + Sync + 'static>(&self, handler: F) {
        self.0.handlers.write().disconnect.push(Arc::new(handler));
    }

    /// Registers a handler told why a socket's client broke the protocol (a
    /// packet that does not decode, e.g. "Illegal attachments"); the
    /// socket's disconnect, with "forced close", follows.
    pub fn on_error<F: Fn(Socket, &str) + Send + Sync + 'static>(&self, handler: F) {
        self.0.handlers.write().error.push(Arc::new(handler));
    }

    /// Registers a handler for sockets whose connection moves from polling
    /// to WebSocket (Engine.IO's upgrade; `Socket::transport` says which
    /// carries it now).
    pub fn on_upgrade<F: Fn(Socket) + Send + Sync + 'static>(&self, handler: F) {
        self.0.handlers.write().upgrade.push(Arc::new(handler));
    }

    /// Registers a handler told of the packets that the connection of a
    /// watching socket (`Socket::watch_packets`) hands its transport, in
    /// order, on the connection's task (Socket.IO's `packetCreate`). For
    /// looking at the wire: nothing is copied while no socket watches.
    pub fn on_packets<F: Fn(Socket, &[Packet]) + Send + Sync + 'static>(&self, handler: F) {
        self.0.handlers.write().packets.push(Arc::new(handler));
    }

    /// Registers a handler told of a client whose connection closed while
    /// this namespace's guards ran for it (`ConnectRequest::socket_id`, and
    /// the connection's reason): their decision, when it comes, lets nobody in.
    pub fn on_guard_abandoned<F: Fn(&str, DisconnectReason) + Send + Sync + 'static>(&self, handler: F) {
        self.0.handlers.write().abandoned.push(Arc::new(handler));
    }

    /// Adds a connect guard: it sees the client's auth and accepts or refuses.
    ///
    /// ```
    /// let hub = wshub::Hub::builder().build().unwrap();
    /// hub.of("/admin").guard(|req| {
    ///     if req.auth.contains("\"secret\"") { Ok(()) } else { Err(wshub::ConnectRefusal::new("unauthorized")) }
    /// });
    /// ```
    pub fn guard<F>(&self, guard: F)
    where
        F: Fn(&ConnectRequest) -> Result<(), ConnectRefusal> + Send + Sync + 'static,
    {
        self.0.handlers.write().guards.push(Arc::new(move |req| {
            let verdict = guard(&req);
            Box::pin(async move { verdict })
        }));
    }

    /// Adds a guard that decides later (e.g. after asking an auth service).
    pub fn guard_async<F, Fut>(&self, guard: F)
    where
        F: Fn(ConnectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectRefusal>> + Send + 'static,
    {
        self.0.handlers.write().guards.push(Arc::new(move |req| Box::pin(guard(req))));
    }

    /// Emits to every socket of the namespace.
    pub fn emit(&self, event: &str, args: &Payload) -> usize {
        self.to_all().emit(event, args)
    }

    pub fn to(&self, room: &str) -> Target {
        self.to_all().to(room)
    }

    /// Every socket of the namespace, as a target to narrow down.
    pub fn to_all(&self) -> Target {
        Target::new(self.0.clone())
    }

    pub fn except(&self, room: &str) -> Target {
        self.to_all().except(room)
    }

    /// Every connected socket of the namespace.
    pub fn sockets(&self) -> Vec<Socket> {
        self.to_all().sockets()
    }

    /// The socket with this id, if connected here.
    pub fn socket(&self, id: &str) -> Option<Socket> {
        self.0.registry.read().sockets.get(id).cloned().map(Socket)
    }

    /// The rooms that have members.
    pub fn rooms(&self) -> Vec<String> {
        let mut rooms: Vec<String> = self.0.registry.read().rooms.keys().map(|r| r.to_string()).collect();
        rooms.sort();
        rooms
    }

    /// The sockets of this namespace on every node of the cluster.
    pub fn fetch_sockets(&self) -> impl Future<Output = Result<Vec<RemoteSocket>, Error>> + Send + 'static {
        self.to_all().fetch_sockets()
    }

    /// Sends an event to this namespace on the other nodes of the cluster
    /// (Socket.IO's `serverSideEmit`); their `on_server_event` handlers get
    /// it. Arguments are JSON only (binary attachments are not carried).
    pub fn server_side_emit(&self, event: &str, args: &Payload) {
        if let Some(cluster) = &self.0.cluster {
            cluster.server_side_emit(&self.0.name, event, args);
        }
    }

    /// Handles an event another node sent with `server_side_emit` (Rust)
    /// or `serverSideEmit` (Node). Runs on the hub's runtime.
    pub fn on_server_event<F: Fn(ServerEvent) + Send + Sync + 'static>(&self, event: &str, handler: F) {
        self.0.handlers.write().server_events.insert(event.to_string(), Arc::new(handler));
    }
}

/// Builds a [`Hub`]; every setter maps to a [`Config`] field.
///
/// ```
/// let hub = wshub::Hub::builder()
///     .port(0)
///     .ping_interval(std::time::Duration::from_secs(10))
///     .cors_origin("http://localhost:8080")
///     .build()
///     .unwrap();
/// let addr = hub.start().unwrap();
/// assert_ne!(addr.port(), 0);
/// hub.stop(std::time::Duration::from_millis(100)).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct HubBuilder {
    config: Config,
}

impl HubBuilder {
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }
    pub fn port(mut self, port: u16) -> Self {
        self.config.bind.set_port(port);
        self
    }
    pub fn path(mut self, path: &str) -> Self {
        self.config.path = path.to_string();
        self
    }
    pub fn raw_path(mut self, path: Option<&str>) -> Self {
        self.config.raw_path = path.map(str::to_string);
        self
    }
    pub fn engine_path(mut self, path: Option<&str>) -> Self {
        self.config.engine_path = path.map(str::to_string);
        self
    }
    /// permessage-deflate on the Socket.IO and Engine.IO endpoints (default `None`: off).
    pub fn per_message_deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.config.per_message_deflate = deflate;
        self
    }
    /// Connection state recovery (off by default): see [`RecoveryConfig`].
    /// A socket that drops (transport close or error, ping timeout) and whose
    /// client comes back within `max_disconnection_duration` gets its id and
    /// rooms back and, in order, the events it missed ([`Socket::recovered`]).
    pub fn connection_state_recovery(mut self, recovery: Option<RecoveryConfig>) -> Self {
        self.config.connection_state_recovery = recovery;
        self
    }
    /// permessage-deflate on the raw endpoint (default on, with `DeflateConfig::default()`).
    pub fn raw_per_message_deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.config.raw_per_message_deflate = deflate;
        self
    }
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.config.ping_interval = d;
        self
    }
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.config.ping_timeout = d;
        self
    }
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.config.upgrade_timeout = d;
        self
    }
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.config.max_payload = bytes;
        self
    }
    pub fn max_queued_frames(mut self, n: usize) -> Self {
        self.config.max_queued_frames = n;
        self
    }
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.config.max_queued_bytes = bytes;
        self
    }
    pub fn slow_consumer(mut self, policy: SlowConsumerPolicy) -> Self {
        self.config.slow_consumer = policy;
        self
    }
    pub fn max_packets_per_poll(mut self, n: usize) -> Self {
        self.config.max_packets_per_poll = n;
        self
    }
    pub fn transports(mut self, polling: bool, websocket: bool) -> Self {
        self.config.allow_polling = polling;
        self.config.allow_websocket = websocket;
        self
    }
    pub fn cors_origin(mut self, origin: &str) -> Self {
        self.config.cors_origins.push(origin.to_string());
        self
    }
    /// Adds a method to those a CORS preflight allows ([`Config::cors_methods`]).
    pub fn cors_method(mut self, method: &str) -> Self {
        self.config.cors_methods.push(method.to_string());
        self
    }
    /// Adds a request header to those a CORS preflight allows ([`Config::cors_allowed_headers`]).
    pub fn cors_allowed_header(mut self, header: &str) -> Self {
        self.config.cors_allowed_headers.push(header.to_string());
        self
    }
    /// Adds an origin to [`Config::allowed_origins`]: once any is set, browsers
    /// on other origins get 403 on WebSocket upgrades and polling requests.
    pub fn allowed_origin(mut self, origin: &str) -> Self {
        self.config.allowed_origins.push(origin.to_string());
        self
    }
    /// Serves https and wss with this certificate chain and private key (PEM
    /// files, read by [`Hub::start`]).
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.config.tls_cert = Some(cert.into());
        self.config.tls_key = Some(key.into());
        self
    }
    pub fn client_bundle_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.client_bundle_dir = Some(dir.into());
        self
    }
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.static_dir = Some(dir.into());
        self
    }
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.config.max_connections_per_ip = n;
        self
    }
    pub fn http_timeout(mut self, d: Duration) -> Self {
        self.config.http_timeout = d;
        self
    }
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.config.max_attachments = n;
        self
    }
    pub fn max_pending_acks(mut self, n: usize) -> Self {
        self.config.max_pending_acks = n;
        self
    }
    pub fn max_namespaces_per_connection(mut self, n: usize) -> Self {
        self.config.max_namespaces_per_connection = n;
        self
    }
    /// Also serve socket.io-client 2.x clients (Engine.IO v3, Socket.IO v2).
    pub fn allow_eio3(mut self, on: bool) -> Self {
        self.config.allow_eio3 = on;
        self
    }
    pub fn cleanup_empty_child_namespaces(mut self, on: bool) -> Self {
        self.config.cleanup_empty_child_namespaces = on;
        self
    }
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.config.worker_threads = n;
        self
    }
    /// Joins the cluster on this Redis server (see docs/SCALING.md).
    pub fn redis_url(mut self, url: &str) -> Self {
        self.config.redis_url = Some(url.to_string());
        self
    }
    pub fn redis_prefix(mut self, prefix: &str) -> Self {
        self.config.redis_prefix = prefix.to_string();
        self
    }
    /// The sharded protocol (Redis 7 sharded pub/sub; see `Config::redis_sharded`).
    pub fn redis_sharded(mut self, sharded: bool) -> Self {
        self.config.redis_sharded = sharded;
        self
    }
    /// `redis_url` names nodes of a Redis Cluster (see `Config::redis_cluster`).
    pub fn redis_cluster(mut self, cluster: bool) -> Self {
        self.config.redis_cluster = cluster;
        self
    }
    /// The streams protocol (`@socket.io/redis-streams-adapter`; see `Config::redis_streams`).
    pub fn redis_streams(mut self, streams: bool) -> Self {
        self.config.redis_streams = streams;
        self
    }
    /// About how many entries the cluster's stream keeps (see `Config::redis_stream_max_len`).
    pub fn redis_stream_max_len(mut self, entries: usize) -> Self {
        self.config.redis_stream_max_len = entries;
        self
    }
    pub fn cluster_timeout(mut self, timeout: Duration) -> Self {
        self.config.cluster_timeout = timeout;
        self
    }
    /// The server side of the Socket.IO admin UI (`@socket.io/admin-ui`) on
    /// its namespace, for these credentials (see [`AdminUiConfig`]).
    pub fn admin_ui(mut self, admin: AdminUiConfig) -> Self {
        self.config.admin_ui = Some(admin);
        self
    }
    /// Serves the metrics in the Prometheus text format on `path` of the
    /// hub's listener, to scrapers with `Authorization: Bearer <token>`
    /// (`token`) and/or from the addresses `allow` lists (see `Config::metrics_path`).
    pub fn metrics_path(mut self, path: &str, token: Option<&str>, allow: &[std::net::IpAddr]) -> Self {
        self.config.metrics_path = Some(path.to_string());
        self.config.metrics_token = token.map(str::to_string);
        self.config.metrics_allow = allow.to_vec();
        self
    }
    /// The configuration built so far.
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn build(self) -> Result<Hub, Error> {
        Hub::new(self.config)
    }
}
