//! Every knob of a hub, with its default. The defaults are the Socket.IO
//! server's (pingInterval 25 s, pingTimeout 20 s, maxHttpBufferSize 1 MB,
//! connectTimeout 45 s, path `/socket.io/`), plus wshub's own limits.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// What happens when a socket's outbound queue is full (a slow consumer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumerPolicy {
    /// Close the connection (reason "transport error"); the client reconnects.
    Disconnect,
    /// Drop the new frame and keep the connection.
    DropNewest,
}

/// permessage-deflate (RFC 7692) on a WebSocket endpoint: what the server
/// accepts when a client offers it. Compression costs CPU and, per
/// connection that uses it, the compressor's window (zlib: about 2^(bits+2)
/// bytes, allocated on the first message over `threshold`) and the
/// decompressor's (2^bits, on the first compressed message received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Largest LZ77 window the server compresses with, as a power of two
    /// (9..=15). A client may ask for less with `server_max_window_bits`;
    /// an offer asking for 8 is declined (zlib's raw deflate cannot do 8).
    pub server_max_window_bits: u8,
    /// Largest window the server asks the client to compress with (9..=15).
    /// It can ask only when the client's offer carries
    /// `client_max_window_bits`; otherwise the client may use 15.
    pub client_max_window_bits: u8,
    /// The server resets its compressor after every message (less memory
    /// kept warm, less compression); a client may also ask for it.
    pub server_no_context_takeover: bool,
    /// Asks the client to reset its compressor after every message.
    pub client_no_context_takeover: bool,
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: usize,
    /// zlib compression level, 0 (store) to 9 (smallest); 1 is the fastest that compresses.
    pub level: u32,
}

impl Default for DeflateConfig {
    /// Windows of 15 bits, context takeover both ways, messages from 1024
    /// bytes compressed (the `ws` library's threshold) at level 1.
    fn default() -> Self {
        DeflateConfig {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            threshold: 1024,
            level: 1,
        }
    }
}

/// The hub's configuration. Build it with [`crate::HubBuilder`] or edit a
/// `Config::default()`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port (see `Hub::local_addr`).
    pub bind: SocketAddr,
    /// Engine.IO path, with leading and trailing slash.
    pub path: String,
    /// Path of the plain WebSocket endpoint; `None` turns it off.
    pub raw_path: Option<String>,
    /// Path of a plain Engine.IO endpoint (Engine.IO clients without the
    /// Socket.IO layer; their messages are `message` events); `None` turns it off.
    pub engine_path: Option<String>,
    /// permessage-deflate on the Socket.IO and Engine.IO WebSocket endpoints,
    /// when the client offers it; `None` (the default, like the Node
    /// server's `perMessageDeflate: false`) never negotiates it.
    pub per_message_deflate: Option<DeflateConfig>,
    /// Connection state recovery (Socket.IO's `connectionStateRecovery`):
    /// a client that loses its connection and comes back within the
    /// duration gets its id, rooms and the packets it missed. Off by default.
    pub connection_state_recovery: Option<RecoveryConfig>,
    /// permessage-deflate on the raw endpoint (`raw_path`), when the client
    /// offers it (browsers and `ws` do); `None` never negotiates it.
    pub raw_per_message_deflate: Option<DeflateConfig>,
    /// Interval between the server's pings.
    pub ping_interval: Duration,
    /// How long the server waits for a pong before it closes the session.
    pub ping_timeout: Duration,
    /// How long a new Engine.IO session may go without joining a namespace.
    pub connect_timeout: Duration,
    /// How long the server waits for the upgrade probe sequence to finish.
    pub upgrade_timeout: Duration,
    /// Largest message (Engine.IO packet, polling body or WebSocket message), in bytes.
    pub max_payload: usize,
    /// Most frames queued for one connection before the slow-consumer policy applies.
    pub max_queued_frames: usize,
    /// Most payload bytes queued for one connection before the
    /// slow-consumer policy applies (one packet always fits an empty queue).
    pub max_queued_bytes: usize,
    /// What to do with a slow consumer.
    pub slow_consumer: SlowConsumerPolicy,
    /// Most packets sent in one long-polling response (python-socketio's
    /// client drops a connection whose polling response has more than 16).
    pub max_packets_per_poll: usize,
    /// Allow the polling transport.
    pub allow_polling: bool,
    /// Allow the WebSocket transport (and the upgrade to it).
    pub allow_websocket: bool,
    /// Also speak Engine.IO v3 and Socket.IO v2 to clients that ask for it
    /// (`EIO=3`: socket.io-client 2.x), as Socket.IO's `allowEIO3` does.
    pub allow_eio3: bool,
    /// Origins allowed by CORS on the polling transport ("*" allows any);
    /// empty sends no CORS headers (same-origin pages only).
    pub cors_origins: Vec<String>,
    /// The methods a CORS preflight allows (`Access-Control-Allow-Methods`;
    /// empty: GET, HEAD, PUT, PATCH, POST and DELETE, as the Node server's `cors`).
    pub cors_methods: Vec<String>,
    /// The request headers a CORS preflight allows (empty: those the browser
    /// asks for, when they are plain header names).
    pub cors_allowed_headers: Vec<String>,
    /// Origins allowed to open a WebSocket (Socket.IO, Engine.IO or the raw
    /// endpoint) or to make a polling request: one whose `Origin` header is
    /// not listed gets 403 (`{"code":4,"message":"Forbidden"}`). Empty (or
    /// `"*"`) allows any origin, as the Socket.IO server does; a request
    /// without `Origin` (not a browser) is always allowed.
    pub allowed_origins: Vec<String>,
    /// PEM file with the TLS certificate chain (leaf first). With `tls_key`
    /// the hub serves https and wss only; read when the hub starts.
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the TLS private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Folder with the `socket.io-client` dist files served under `<path>`.
    pub client_bundle_dir: Option<PathBuf>,
    /// Folder served for every other GET.
    pub static_dir: Option<PathBuf>,
    /// Largest HTTP request head, in bytes.
    pub max_http_head: usize,
    /// Most simultaneous TCP connections; more are closed at accept.
    pub max_connections: usize,
    /// Most simultaneous TCP connections from one IP address (0: no limit).
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a whole HTTP request (head and
    /// body), and how long a keep-alive connection may idle between
    /// requests; a slow client gets 408 and is closed.
    pub http_timeout: Duration,
    /// Most binary attachments one packet may announce (the reference
    /// parser's default is 10); more closes the connection.
    pub max_attachments: usize,
    /// Most namespaces one connection may join at once.
    pub max_namespaces_per_connection: usize,
    /// A dynamic namespace (see `Hub::dynamic_namespaces`) goes away once
    /// it has no socket left, as with Socket.IO's `cleanupEmptyChildNamespaces`.
    pub cleanup_empty_child_namespaces: bool,
    /// Most acks one socket may be waited for at once (emits with an ack it
    /// has not answered yet); one more fails at once with
    /// `AckError::TooManyPending`, and nothing is sent.
    pub max_pending_acks: usize,
    /// Redis server of the cluster this hub joins (`redis://host:port/db`),
    /// wire-compatible with Node's `@socket.io/redis-adapter`; `None`: this
    /// hub alone. See docs/SCALING.md.
    pub redis_url: Option<String>,
    /// Prefix of the cluster's Redis channels (the Node adapter's `key`).
    pub redis_prefix: String,
    /// Speak the sharded protocol (`createShardedAdapter`, Redis 7 sharded
    /// pub/sub) instead of the classic one (`createAdapter`, the default,
    /// also that of `@socket.io/redis-emitter`). Every node of a cluster
    /// must use the same.
    pub redis_sharded: bool,
    /// `redis_url` is one node of a Redis Cluster (or several, comma-separated:
    /// `redis://10.0.0.1:7000,redis://10.0.0.2:7000`), from which the hub
    /// finds the others; each command goes to the master of its slot, and a
    /// failover is followed. Any protocol works; the sharded one spreads
    /// its channels over the shards.
    pub redis_cluster: bool,
    /// Speak `@socket.io/redis-streams-adapter`'s protocol instead: a Redis
    /// stream named `redis_prefix` carries the broadcasts, and with
    /// connection state recovery on, its entry ids are the offsets and the
    /// sessions are kept in Redis, so a client recovers on any hub of the
    /// cluster. Every node of a cluster must use the same.
    pub redis_streams: bool,
    /// With `redis_streams`: the stream is trimmed to about this many
    /// entries (`XADD MAXLEN ~`, the Node adapter's `maxLen`, default
    /// 10,000); a client that missed more gets a fresh session.
    pub redis_stream_max_len: usize,
    /// How long a cluster-wide query (`fetch_sockets`) waits for the other nodes.
    pub cluster_timeout: Duration,
    /// Path on the hub's listener that serves its metrics in the Prometheus
    /// text format (e.g. `/metrics`); `None` (the default) serves none. Needs
    /// `metrics_token` or `metrics_allow`, so it is never open by accident.
    pub metrics_path: Option<String>,
    /// A scrape must send `Authorization: Bearer <token>` (else 401).
    pub metrics_token: Option<String>,
    /// Client addresses allowed to scrape (else 403); empty: any address
    /// (then `metrics_token` is required).
    pub metrics_allow: Vec<IpAddr>,
    /// The server side of the Socket.IO admin UI (`@socket.io/admin-ui`):
    /// its namespace, credentials and mode. `None` (the default): off.
    pub admin_ui: Option<AdminUiConfig>,

    /// Worker threads of the hub's runtime.
    pub worker_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            path: "/socket.io/".into(),
            raw_path: Some("/ws".into()),
            engine_path: None,
            per_message_deflate: None,
            connection_state_recovery: None,
            raw_per_message_deflate: Some(DeflateConfig::default()),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(45_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            max_queued_frames: 4096,
            max_queued_bytes: 8 << 20,
            slow_consumer: SlowConsumerPolicy::Disconnect,
            max_packets_per_poll: 16,
            allow_polling: true,
            allow_websocket: true,
            allow_eio3: false,
            cors_origins: Vec::new(),
            cors_methods: Vec::new(),
            cors_allowed_headers: Vec::new(),
            allowed_origins: Vec::new(),
            tls_cert: None,
            tls_key: None,
            client_bundle_dir: None,
            static_dir: None,
            max_http_head: 16 * 1024,
            max_connections: 100_000,
            max_connections_per_ip: 0,
            http_timeout: Duration::from_secs(10),
            max_attachments: 10,
            max_namespaces_per_connection: 32,
            cleanup_empty_child_namespaces: false,
            max_pending_acks: 1024,
            redis_url: None,
            redis_prefix: "socket.io".into(),
            redis_sharded: false,
            redis_cluster: false,
            redis_streams: false,
            redis_stream_max_len: 10_000,
            cluster_timeout: Duration::from_secs(5),
            metrics_path: None,
            metrics_token: None,
            metrics_allow: Vec::new(),
            admin_ui: None,

            worker_threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        }
    }
}

impl Config {
    /// Checks the values that would make the hub misbehave.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let bad = |m: &str| Err(crate::Error::Config(m.to_string()));
        if !self.path.starts_with('/') || !self.path.ends_with('/') {
            return bad("path must start and end with '/'");
        }
        // They go into response headers as they are: HTTP tokens only.
        let token = |s: &String| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        if !self.cors_methods.iter().chain(&self.cors_allowed_headers).all(token) {
            return bad("cors_methods and cors_allowed_headers must be HTTP tokens (method and header names)");
        }
        if let Some(p) = &self.raw_path {
            if !p.starts_with('/') || p.starts_with(self.path.as_str()) {
                return bad("raw_path must start with '/' and lie outside path");
            }
        }
        if let Some(p) = &self.engine_path {
            if !p.starts_with('/') || !p.ends_with('/') || p == &self.path {
                return bad("engine_path must start and end with '/' and differ from path");
            }
        }
        if self.ping_interval.is_zero() || self.ping_timeout.is_zero() {
            return bad("ping_interval and ping_timeout must be positive");
        }
        if self.max_payload < 64 {
            return bad("max_payload must be at least 64 bytes");
        }
        if self.max_queued_frames == 0 || self.max_packets_per_poll == 0 {
            return bad("max_queued_frames and max_packets_per_poll must be positive");
        }
        if !self.allow_polling && !self.allow_websocket {
            return bad("at least one transport must be allowed");
        }
        if self.worker_threads == 0 {
            return bad("worker_threads must be positive");
        }
        for d in self.per_message_deflate.iter().chain(&self.raw_per_message_deflate) {
            if !(9..=15).contains(&d.server_max_window_bits) || !(9..=15).contains(&d.client_max_window_bits) {
                return bad("permessage-deflate window bits must lie in 9..=15");
            }
            if d.level > 9 {
                return bad("permessage-deflate level must lie in 0..=9");
            }
        }
        if self.redis_streams && self.redis_sharded {
            return bad("redis_streams and redis_sharded are two protocols: choose one");
        }
        if self.redis_stream_max_len == 0 {
            return bad("redis_stream_max_len must be at least 1");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert and tls_key go together: set both or neither");
        }
        if let Some(a) = &self.admin_ui {
            if a.username.is_empty() || a.password.is_empty() {
                return bad("admin_ui needs a username and a password");
            }
            if !a.namespace.starts_with('/') || a.namespace == "/" {
                return bad("admin_ui namespace must start with '/' and not be the main namespace");
            }
            let p = &a.ui_path;
            if a.ui_dir.is_some() && (!p.starts_with('/') || !p.ends_with('/') || p.starts_with(self.path.as_str())) {
                return bad("admin_ui ui_path must start and end with '/' and lie outside path");
            }
        }
        if let Some(p) = &self.metrics_path {
            let taken = p.starts_with(self.path.as_str())
                || self.raw_path.as_ref() == Some(p)
                || self.engine_path.as_ref().is_some_and(|e| p.starts_with(e.as_str()));
            if !p.starts_with('/') || taken {
                return bad("metrics_path must start with '/' and lie outside path, raw_path and engine_path");
            }
            if self.metrics_token.as_deref().unwrap_or("").is_empty() && self.metrics_allow.is_empty() {
                return bad("metrics_path needs metrics_token or metrics_allow (e.g. 127.0.0.1), or it is open to all");
            }
        }
        Ok(())
    }
}

/// The Socket.IO admin UI's server side: a namespace (`/admin`) that the
/// UI connects to with these credentials (its login form's username and
/// password; the UI then reconnects with the session id it was given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUiConfig {
    pub username: String,
    pub password: String,
    /// The UI sees everything but may change nothing (no emit, join, leave
    /// or disconnect from the UI), as the admin UI's `readonly`.
    pub read_only: bool,
    /// The namespace the UI connects to (default `/admin`).
    pub namespace: String,
    /// The folder of the UI's page (`ui/dist` of the `@socket.io/admin-ui`
    /// npm package), served under `ui_path`; `None`: the page is not served
    /// (use the hosted one at admin.socket.io).
    pub ui_dir: Option<PathBuf>,
    /// Where the page is served (default `/admin/`).
    pub ui_path: String,
}

impl AdminUiConfig {
    /// The UI on `/admin` with these credentials, not read-only, its page not served.
    pub fn new(username: &str, password: &str) -> AdminUiConfig {
        AdminUiConfig {
            username: username.to_string(),
            password: password.to_string(),
            read_only: false,
            namespace: "/admin".into(),
            ui_dir: None,
            ui_path: "/admin/".into(),
        }
    }
}

/// The settings of connection state recovery (off unless set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a disconnected client's session and the packets it may miss
    /// are kept (Socket.IO's default: 2 minutes).
    pub max_disconnection_duration: Duration,
    /// A recovered socket skips the namespace's connect guards (Socket.IO's
    /// `skipMiddlewares`, default true).
    pub skip_guards: bool,
    /// Most bytes of packets kept per namespace; past it the oldest go (and
    /// a client that missed one of them gets a fresh session).
    pub max_bytes: usize,
    /// Most disconnected sessions kept per namespace; past it the oldest go.
    pub max_sessions: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_guards: true,
            max_bytes: 64 << 20,
            max_sessions: 100_000,
        }
    }
}
