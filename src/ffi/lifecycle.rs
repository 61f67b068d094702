//! Configuration and the hub's life: new, start, stop, free.

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::dispatcher::{on_dispatcher_thread, Dispatcher};
use super::{fail, guard, optional_str, wshub_status, wshub_status::*};
use crate::{AdminUiConfig, Config, ConnectRefusal, DeflateConfig, Hub, RecoveryConfig, SlowConsumerPolicy};

/// The hub's settings. Get the defaults from `wshub_config_default()` and
/// change what you need; string fields are borrowed for the `wshub_new` call
/// only (NULL keeps the default).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_config {
    /// IP address to listen on (default "127.0.0.1").
    pub host: *const c_char,
    /// Port (default 3000; 0 picks a free port, see `wshub_start`).
    pub port: u16,
    /// Engine.IO path (default "/socket.io/").
    pub path: *const c_char,
    /// Plain WebSocket endpoint (default "/ws"; "" turns it off).
    pub raw_path: *const c_char,
    /// Folder served for other GET requests (default none).
    pub static_dir: *const c_char,
    /// Folder with the socket.io-client dist files (default none).
    pub client_bundle_dir: *const c_char,
    /// Comma-separated origins allowed by CORS on polling ("*" for any; default none).
    pub cors_origins: *const c_char,
    pub ping_interval_ms: u32,
    pub ping_timeout_ms: u32,
    pub connect_timeout_ms: u32,
    /// Largest message or polling body, in bytes.
    pub max_payload: u32,
    /// Per-connection outbound queue bound, in frames.
    pub max_queued_frames: u32,
    /// Packets per long-polling response.
    pub max_packets_per_poll: u32,
    /// Most simultaneous TCP connections.
    pub max_connections: u32,
    /// Threads of the hub's runtime (default: the number of cores).
    pub worker_threads: u32,
    pub allow_polling: bool,
    pub allow_websocket: bool,
    /// When a socket's queue is full: false closes it (default), true drops the frame.
    pub drop_when_full: bool,
    /// PEM file of the TLS certificate chain: with `tls_key`, the hub serves
    /// https and wss only (default NULL: plain TCP). Read by `wshub_start`.
    pub tls_cert: *const c_char,
    /// PEM file of the TLS private key (default NULL).
    pub tls_key: *const c_char,
    /// Comma-separated origins allowed to open a WebSocket or make a polling
    /// request; others get 403 (default NULL: any origin; requests without
    /// an Origin header, from non-browser clients, are always allowed).
    pub allowed_origins: *const c_char,
    /// Redis server of the cluster this hub joins, e.g. "redis://127.0.0.1:6379"
    /// (default NULL: this hub alone); wire-compatible with Node's
    /// @socket.io/redis-adapter. See docs/SCALING.md.
    pub redis_url: *const c_char,
    /// permessage-deflate (RFC 7692) on the Socket.IO and Engine.IO
    /// endpoints when a client offers it (default false, like the Node
    /// server's `perMessageDeflate: false`); the tuning is `DeflateConfig`'s default.
    pub per_message_deflate: bool,
    /// permessage-deflate on the raw endpoint when a client offers it (default true).
    pub raw_per_message_deflate: bool,
    /// Connection state recovery: how long a client that lost its
    /// connection may come back and get its id, rooms and missed events
    /// (Socket.IO's `maxDisconnectionDuration`; 0, the default: off).
    pub recovery_ms: u32,
    /// With recovery: a recovered socket skips the connect guards (default true).
    pub recovery_skip_guards: bool,
    /// With recovery: most bytes of events kept per namespace for clients
    /// that are away (0: the default, 64 MiB); past it the oldest go.
    pub recovery_max_bytes: u32,
    /// Comma-separated methods a CORS preflight allows (NULL or "": GET,
    /// HEAD, PUT, PATCH, POST, DELETE).
    pub cors_methods: *const c_char,
    /// Comma-separated request headers a CORS preflight allows (NULL or "":
    /// those the browser asks for).
    pub cors_allowed_headers: *const c_char,
    /// A dynamic namespace (`wshub_set_namespace_resolver`) goes away once
    /// it has no socket left (default false, as Socket.IO's
    /// `cleanupEmptyChildNamespaces`).
    pub cleanup_empty_child_namespaces: bool,
    /// Also serve Engine.IO v3 / Socket.IO v2 clients (socket.io-client 2.x)
    /// that ask for it with `EIO=3` (default false, as Socket.IO's `allowEIO3`).
    pub allow_eio3: bool,
    /// `redis_url` names nodes of a Redis Cluster (comma-separated; the
    /// others are found from them). Default false: one Redis server.
    pub redis_cluster: bool,
    /// With `redis_url`: speak @socket.io/redis-streams-adapter's protocol
    /// (a Redis stream; with recovery on, clients recover on any hub of the
    /// cluster). Default false: @socket.io/redis-adapter's classic one.
    pub redis_streams: bool,
    /// With `redis_streams`: about how many entries the stream keeps
    /// (0: the default, 10,000).
    pub redis_stream_max_len: u32,
    /// Path on the hub's listener serving its metrics in the Prometheus text
    /// format, e.g. "/metrics" (default NULL or "": none). Needs
    /// `metrics_token` or `metrics_allow`.
    pub metrics_path: *const c_char,
    /// A scrape must send `Authorization: Bearer <metrics_token>`, else 401 (default NULL: no token).
    pub metrics_token: *const c_char,
    /// Comma-separated IP addresses allowed to scrape, others get 403
    /// (default NULL: any address, then a token is required).
    pub metrics_allow: *const c_char,
    /// The Socket.IO admin UI (`@socket.io/admin-ui`) on the namespace
    /// "/admin", for the UI's login with this username and `admin_password`
    /// (default NULL: off; set both).
    pub admin_username: *const c_char,
    pub admin_password: *const c_char,
    /// The UI may look but change nothing: no emit, join, leave or disconnect (default false).
    pub admin_read_only: bool,
    /// Folder of the UI's page (`ui/dist` of the npm package), served under
    /// "/admin/" (default NULL: the page is not served).
    pub admin_ui_dir: *const c_char,
}

/// The defaults (the Socket.IO server's). Any thread.
#[no_mangle]
pub extern "C" fn wshub_config_default() -> wshub_config {
    let d = Config::default();
    wshub_config {
        host: std::ptr::null(),
        port: d.bind.port(),
        path: std::ptr::null(),
        raw_path: std::ptr::null(),
        static_dir: std::ptr::null(),
        client_bundle_dir: std::ptr::null(),
        cors_origins: std::ptr::null(),
        ping_interval_ms: d.ping_interval.as_millis() as u32,
        ping_timeout_ms: d.ping_timeout.as_millis() as u32,
        connect_timeout_ms: d.connect_timeout.as_millis() as u32,
        max_payload: d.max_payload as u32,
        max_queued_frames: d.max_queued_frames as u32,
        max_packets_per_poll: d.max_packets_per_poll as u32,
        max_connections: d.max_connections as u32,
        worker_threads: d.worker_threads as u32,
        allow_polling: d.allow_polling,
        allow_websocket: d.allow_websocket,
        drop_when_full: false,
        tls_cert: std::ptr::null(),
        tls_key: std::ptr::null(),
        allowed_origins: std::ptr::null(),
        redis_url: std::ptr::null(),
        per_message_deflate: d.per_message_deflate.is_some(),
        raw_per_message_deflate: d.raw_per_message_deflate.is_some(),
        recovery_ms: 0,
        recovery_skip_guards: RecoveryConfig::default().skip_guards,
        recovery_max_bytes: 0,
        cors_methods: std::ptr::null(),
        cors_allowed_headers: std::ptr::null(),
        cleanup_empty_child_namespaces: d.cleanup_empty_child_namespaces,
        allow_eio3: d.allow_eio3,
        redis_cluster: false,
        redis_streams: false,
        redis_stream_max_len: 0,
        metrics_path: std::ptr::null(),
        metrics_token: std::ptr::null(),
        metrics_allow: std::ptr::null(),
        admin_username: std::ptr::null(),
        admin_password: std::ptr::null(),
        admin_read_only: false,
        admin_ui_dir: std::ptr::null(),
    }
}

/// An optional string setting where "" means unset, like NULL.
unsafe fn non_empty_str<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, wshub_status> {
    Ok(optional_str(ptr, what)?.filter(|s| !s.is_empty()))
}

/// A comma-separated list setting (NULL: `None`, keep the default), items trimmed, empty ones skipped.
unsafe fn comma_list(ptr: *const c_char, what: &str) -> Result<Option<Vec<String>>, wshub_status> {
    Ok(optional_str(ptr, what)?
        .map(|list| list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()))
}

unsafe fn config_from_c(c: &wshub_config) -> Result<Config, wshub_status> {
    let mut cfg = Config::default();
    let host: IpAddr = match optional_str(c.host, "host")? {
        None => cfg.bind.ip(),
        Some(h) => h.parse().map_err(|_| fail(WSHUB_INVALID_CONFIG, format!("host {h:?} is not an IP address")))?,
    };
    cfg.bind = SocketAddr::new(host, c.port);
    if let Some(p) = optional_str(c.path, "path")? {
        cfg.path = p.to_string();
    }
    if let Some(p) = optional_str(c.raw_path, "raw_path")? {
        cfg.raw_path = (!p.is_empty()).then(|| p.to_string());
    }
    cfg.static_dir = optional_str(c.static_dir, "static_dir")?.map(Into::into);
    cfg.client_bundle_dir = optional_str(c.client_bundle_dir, "client_bundle_dir")?.map(Into::into);
    if let Some(list) = comma_list(c.cors_origins, "cors_origins")? {
        cfg.cors_origins = list;
    }
    cfg.cors_methods = comma_list(c.cors_methods, "cors_methods")?.unwrap_or_default();
    cfg.cors_allowed_headers = comma_list(c.cors_allowed_headers, "cors_allowed_headers")?.unwrap_or_default();
    cfg.cleanup_empty_child_namespaces = c.cleanup_empty_child_namespaces;
    cfg.ping_interval = Duration::from_millis(c.ping_interval_ms.into());
    cfg.ping_timeout = Duration::from_millis(c.ping_timeout_ms.into());
    cfg.connect_timeout = Duration::from_millis(c.connect_timeout_ms.into());
    cfg.max_payload = c.max_payload as usize;
    cfg.max_queued_frames = c.max_queued_frames as usize;
    cfg.max_packets_per_poll = c.max_packets_per_poll as usize;
    cfg.max_connections = c.max_connections as usize;
    cfg.worker_threads = c.worker_threads as usize;
    cfg.allow_polling = c.allow_polling;
    cfg.allow_websocket = c.allow_websocket;
    cfg.allow_eio3 = c.allow_eio3;
    cfg.slow_consumer = if c.drop_when_full { SlowConsumerPolicy::DropNewest } else { SlowConsumerPolicy::Disconnect };
    cfg.tls_cert = non_empty_str(c.tls_cert, "tls_cert")?.map(Into::into);
    cfg.tls_key = non_empty_str(c.tls_key, "tls_key")?.map(Into::into);
    if let Some(list) = comma_list(c.allowed_origins, "allowed_origins")? {
        cfg.allowed_origins = list;
    }
    cfg.redis_url = non_empty_str(c.redis_url, "redis_url")?.map(String::from);
    cfg.redis_cluster = c.redis_cluster;
    cfg.redis_streams = c.redis_streams;
    if c.redis_stream_max_len > 0 {
        cfg.redis_stream_max_len = c.redis_stream_max_len as usize;
    }
    cfg.metrics_path = non_empty_str(c.metrics_path, "metrics_path")?.map(String::from);
    cfg.metrics_token = non_empty_str(c.metrics_token, "metrics_token")?.map(String::from);
    let admin_user = non_empty_str(c.admin_username, "admin_username")?;
    let admin_password = non_empty_str(c.admin_password, "admin_password")?;
    cfg.admin_ui = match (admin_user, admin_password) {
        (None, None) => None,
        (Some(user), Some(password)) => Some(AdminUiConfig {
            read_only: c.admin_read_only,
            ui_dir: non_empty_str(c.admin_ui_dir, "admin_ui_dir")?.map(Into::into),
            ..AdminUiConfig::new(user, password)
        }),
        _ => return Err(fail(WSHUB_INVALID_CONFIG, "admin_username and admin_password go together")),
    };
    for ip in comma_list(c.metrics_allow, "metrics_allow")?.unwrap_or_default() {
        let parsed = ip
            .parse()
            .map_err(|_| fail(WSHUB_INVALID_CONFIG, format!("metrics_allow: {ip:?} is not an IP address")))?;
        cfg.metrics_allow.push(parsed);
    }
    cfg.per_message_deflate = c.per_message_deflate.then(DeflateConfig::default);
    cfg.raw_per_message_deflate = c.raw_per_message_deflate.then(DeflateConfig::default);
    cfg.connection_state_recovery = (c.recovery_ms > 0).then(|| {
        let d = RecoveryConfig::default();
        RecoveryConfig {
            max_disconnection_duration: Duration::from_millis(c.recovery_ms.into()),
            skip_guards: c.recovery_skip_guards,
            max_bytes: if c.recovery_max_bytes == 0 { d.max_bytes } else { c.recovery_max_bytes as usize },
            ..d
        }
    });
    cfg.validate().map_err(|e| fail(WSHUB_INVALID_CONFIG, e.to_string()))?;
    Ok(cfg)
}

/// Called with a userdata pointer when the library is done with it.
pub type wshub_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A userdata pointer with its finalizer. The host promises the pointer may
/// be used from the dispatcher thread (that is the contract of `userdata`).
pub(crate) struct Userdata {
    pub ptr: *mut c_void,
    free: wshub_free_fn,
}
unsafe impl Send for Userdata {}
unsafe impl Sync for Userdata {}

impl Userdata {
    pub fn new(ptr: *mut c_void, free: wshub_free_fn) -> Userdata {
        Userdata { ptr, free }
    }
    /// The pointer (a method, so closures capture the whole Send wrapper).
    pub fn ptr(&self) -> *mut c_void {
        self.ptr
    }
    pub(crate) unsafe fn finalize(&self) {
        if let Some(f) = self.free {
            f(self.ptr);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HubState {
    Created,
    Running,
    Stopped,
}

/// Where `wshub_connect_decide` sends a guard's verdict.
pub(crate) type Verdict = oneshot::Sender<Result<(), ConnectRefusal>>;

/// An opaque hub handle.
pub struct wshub_t {
    pub(crate) hub: Hub,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) state: Mutex<HubState>,
    /// Every userdata handed over, finalized once after the dispatcher ended.
    pub(crate) userdata: Mutex<Vec<Arc<Userdata>>>,
    /// Connect requests waiting for `wshub_connect_decide`.
    pub(crate) pending: Arc<Mutex<HashMap<u64, Verdict>>>,
    pub(crate) next_request: Arc<AtomicU64>,
    /// Open relayed WebSockets (`wshub_relay_open`).
    pub(crate) relays: Arc<super::relay::Relays>,
}

impl wshub_t {
    /// Keeps a callback's userdata until stop, which finalizes it.
    pub(crate) fn keep_userdata(&self, ptr: *mut c_void, free: wshub_free_fn) -> Arc<Userdata> {
        let ud = Arc::new(Userdata::new(ptr, free));
        self.userdata.lock().push(ud.clone());
        ud
    }
}

/// Borrows the handle of a call that needs a hub not yet stopped.
pub(crate) unsafe fn usable<'a>(hub: *mut wshub_t) -> Result<&'a wshub_t, wshub_status> {
    let h = hub.as_ref().ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "hub is NULL"))?;
    if *h.state.lock() == HubState::Stopped {
        return Err(fail(WSHUB_STOPPED, "the hub was stopped"));
    }
    Ok(h)
}

/// Creates a hub (not started). On success writes the handle to `*out`,
/// owned by the caller: release it with `wshub_free`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_new(config: *const wshub_config, out: *mut *mut wshub_t) -> wshub_status {
    guard(|| {
        let (Some(config), false) = (config.as_ref(), out.is_null()) else {
            return fail(WSHUB_NULL_ARGUMENT, "config and out must not be NULL");
        };
        let cfg = match config_from_c(config) {
            Ok(c) => c,
            Err(status) => return status,
        };
        let hub = match Hub::new(cfg) {
            Ok(h) => h,
            Err(e) => return fail(WSHUB_INVALID_CONFIG, e.to_string()),
        };
        // Every handler runs on the dispatcher (or the host's own thread).
        hub.yield_workers_to_handlers();
        let dispatcher = match Dispatcher::start() {
            Ok(d) => Arc::new(d),
            Err(e) => return fail(WSHUB_IO_ERROR, format!("cannot start the dispatcher thread: {e}")),
        };
        let handle = Box::new(wshub_t {
            hub,
            dispatcher,
            state: Mutex::new(HubState::Created),
            userdata: Mutex::new(Vec::new()),
            pending: Arc::default(),
            next_request: Arc::new(AtomicU64::new(1)),
            relays: Arc::default(),
        });
        *out = Box::into_raw(handle);
        WSHUB_OK
    })
}

/// Called with its userdata after one or more callbacks ran inline
/// (`wshub_deliver_inline`).
pub type wshub_ready_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// Before `wshub_start`: from now on the hub runs every callback on the
/// thread where its event happened (a runtime worker, or the thread of the
/// wshub_* call that caused it: any thread, several at once) instead of on
/// its dispatcher thread, and calls `ready(userdata)` once a burst of them is
/// over: on a runtime worker when it runs out of I/O to do (or after 32
/// callbacks), elsewhere right after the callback. `userdata` is the host's;
/// it is not finalized.
///
/// For a host whose callbacks only hand what they are given to a thread of
/// its own and wake that thread in `ready` (the Node addon): the event then
/// skips the dispatcher, one thread hop. Such callbacks must be thread-safe
/// and quick, must not block, and may call only `wshub_event_retain` and
/// `wshub_event_free`. `WSHUB_INVALID_ARGUMENT` if set twice,
/// `WSHUB_ALREADY_RUNNING` once started.
#[no_mangle]
pub unsafe extern "C" fn wshub_deliver_inline(
    hub: *mut wshub_t,
    ready: wshub_ready_fn,
    userdata: *mut c_void,
) -> wshub_status {
    guard(|| {
        let Some(h) = hub.as_ref() else { return fail(WSHUB_NULL_ARGUMENT, "hub is NULL") };
        let Some(ready) = ready else { return fail(WSHUB_NULL_ARGUMENT, "ready is NULL") };
        let state = h.state.lock();
        match *state {
            HubState::Running => return fail(WSHUB_ALREADY_RUNNING, "the hub is already running"),
            HubState::Stopped => return fail(WSHUB_STOPPED, "the hub was stopped"),
            HubState::Created => {}
        }
        if !h.dispatcher.deliver_inline(ready, userdata) {
            return fail(WSHUB_INVALID_ARGUMENT, "inline delivery is already set");
        }
        WSHUB_OK
    })
}
/// Starts serving. Writes the bound port to `*out_port` when it is not NULL
/// (useful with port 0). Returns at once; the hub runs on its own threads.
/// Any thread, including a callback.
#[no_mangle]
pub unsafe extern "C" fn wshub_start(hub: *mut wshub_t, out_port: *mut u16) -> wshub_status {
    start_with(hub, |h| {
        let addr = h.start()?;
        if !out_port.is_null() {
            *out_port = addr.port();
        }
        Ok(())
    })
}

/// Starts the hub without a listener of its own (`host` and `port` are not
/// used): the host program's HTTP server hands it what arrives under its
/// paths, with `wshub_adopt` and `wshub_handle_request`. Returns at once.
/// Any thread, including a callback.
#[no_mangle]
pub unsafe extern "C" fn wshub_start_hosted(hub: *mut wshub_t) -> wshub_status {
    start_with(hub, Hub::start_hosted)
}

unsafe fn start_with(hub: *mut wshub_t, start: impl FnOnce(&Hub) -> Result<(), crate::Error>) -> wshub_status {
    guard(|| {
        let Some(h) = hub.as_ref() else { return fail(WSHUB_NULL_ARGUMENT, "hub is NULL") };
        let mut state = h.state.lock();
        match *state {
            HubState::Running => return fail(WSHUB_ALREADY_RUNNING, "the hub is already running"),
            HubState::Stopped => return fail(WSHUB_STOPPED, "a stopped hub cannot be started again"),
            HubState::Created => {}
        }
        // The hub's threads start with SIGPIPE blocked: see sigpipe.rs.
        let sigpipe = super::sigpipe::SigpipeBlocked::new();
        let started = start(&h.hub);
        drop(sigpipe);
        match started {
            Ok(()) => {
                *state = HubState::Running;
                WSHUB_OK
            }
            Err(e) => fail(WSHUB_IO_ERROR, e.to_string()),
        }
    })
}

/// Stops the hub: closes every connection (disconnect callbacks run with
/// reason "server shutting down"), gives them up to `grace_ms` to flush,
/// joins every thread the hub started, then calls every userdata finalizer.
/// After it returns no callback runs. A stopped hub cannot be restarted;
/// stopping twice is fine. Blocking: not from inside a callback
/// (`WSHUB_WRONG_THREAD`).
#[no_mangle]
pub unsafe extern "C" fn wshub_stop(hub: *mut wshub_t, grace_ms: u32) -> wshub_status {
    guard(|| {
        let Some(h) = hub.as_ref() else { return fail(WSHUB_NULL_ARGUMENT, "hub is NULL") };
        if on_dispatcher_thread() {
            return fail(WSHUB_WRONG_THREAD, "wshub_stop cannot be called from a callback");
        }
        stop(h, grace_ms);
        WSHUB_OK
    })
}

fn stop(h: &wshub_t, grace_ms: u32) {
    let mut state = h.state.lock();
    if *state == HubState::Stopped {
        return;
    }
    *state = HubState::Stopped;
    drop(state);
    let _ = h.hub.stop(Duration::from_millis(grace_ms.into()));
    // Guards still waiting get refused; their sessions are gone anyway.
    h.pending.lock().clear();
    h.dispatcher.shutdown();
    let userdata = std::mem::take(&mut *h.userdata.lock());
    for ud in userdata {
        unsafe { ud.finalize() };
    }
}

/// Stops the hub if needed (grace 0) and frees it. NULL is fine. Using the
/// handle afterwards, or freeing it twice, is undefined (as with `free`).
/// Not from inside a callback: such a call does nothing.
#[no_mangle]
pub unsafe extern "C" fn wshub_free(hub: *mut wshub_t) {
    if hub.is_null() || on_dispatcher_thread() {
        return;
    }
    let _ = guard(|| {
        stop(&*hub, 0);
        drop(Box::from_raw(hub));
        WSHUB_OK
    });
}
