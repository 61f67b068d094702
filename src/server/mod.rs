//! The listener: the accept loop with its connection limits, TLS, and the
//! HTTP routing: Engine.IO requests under the configured path, the client
//! bundle, the raw WebSocket endpoint (the upgrade answered here, the
//! WebSocket then served by `engineio::websocket`), and static files. It
//! reaches the hub only through the Engine.IO layer it is given.

pub mod bundle;
pub mod files;
pub mod host;
pub mod relay;
mod scrape;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::engineio::session::{EngineSession, Protocol, Transport};
use crate::engineio::{self, polling, websocket, EioQuery, Engine, ErrorCode};
use crate::http::{self, Request, Response};
use crate::ws::{deflate, Stream, WsStream};

/// A listening server: the Engine.IO layer it serves, and its counts of
/// open connections (for `max_connections` and `max_connections_per_ip`).
pub struct Server {
    pub engine: Arc<Engine>,
    pub open_connections: AtomicUsize,
    /// Open connections per IP address (kept only when a per-IP limit is set).
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// The client bundle, when `client_bundle_dir` is set.
    bundle: Option<Arc<bundle::Bundle>>,
    /// The figures the metrics path serves (the hub's).
    metrics: Arc<dyn crate::metrics::Source>,
}

impl Server {
    pub fn new(engine: Arc<Engine>, metrics: Arc<dyn crate::metrics::Source>) -> Server {
        let bundle = engine.config.client_bundle_dir.clone().map(|dir| Arc::new(bundle::Bundle::new(dir)));
        let per_ip = Mutex::new(HashMap::new());
        Server { engine, open_connections: AtomicUsize::new(0), per_ip, bundle, metrics }
    }
}

impl std::ops::Deref for Server {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

pub async fn accept_loop(server: Arc<Server>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    loop {
        let accepted = tokio::select! {
            _ = server.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(conn) = server.admit(peer) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Two spawns, not one task with a match: a plain connection's task
        // stays the size it was, without room for the TLS handshake's state.
        match &tls {
            None => server.runtime.spawn(serve_connection(conn, stream, BytesMut::new())),
            Some(acceptor) => server.runtime.spawn(serve_tls(conn, acceptor.clone(), stream)),
        };
    }
}

impl Server {
    /// Counts a new connection from `peer`, or refuses it (None) when
    /// `max_connections` or `max_connections_per_ip` is reached.
    fn admit(self: &Arc<Server>, peer: SocketAddr) -> Option<Counted> {
        if self.open_connections.load(Ordering::Relaxed) >= self.config.max_connections {
            return None;
        }
        let per_ip_limit = self.config.max_connections_per_ip;
        if per_ip_limit > 0 {
            let mut counts = self.per_ip.lock();
            let n = counts.entry(peer.ip()).or_insert(0);
            if *n >= per_ip_limit {
                drop(counts);
                tracing::debug!(%peer, "too many connections from this address");
                return None;
            }
            *n += 1;
        }
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        Some(Counted { server: self.clone(), peer })
    }
}

/// An accepted connection, counted in `open_connections` (and per address)
/// until this drops, in whichever task holds it last.
struct Counted {
    server: Arc<Server>,
    peer: SocketAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let server = &self.server;
        server.open_connections.fetch_sub(1, Ordering::Relaxed);
        if server.config.max_connections_per_ip > 0 {
            let mut counts = server.per_ip.lock();
            if let Some(n) = counts.get_mut(&self.peer.ip()) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&self.peer.ip());
                }
            }
        }
    }
}

/// The TLS handshake (bounded by `http_timeout`, like a request head), then
/// the same HTTP layer as plain TCP.
async fn serve_tls(conn: Counted, acceptor: TlsAcceptor, stream: TcpStream) {
    let (server, peer) = (&conn.server, conn.peer);
    let handshake = tokio::time::timeout(server.config.http_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        _ = server.shutdown.cancelled() => return,
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_elapsed) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    // Boxed: the TLS state (a few buffers) lives on the heap, not in the task.
    Box::pin(serve_connection(conn, stream, BytesMut::new())).await
}

/// Serves HTTP requests on a connection until it closes, or until it
/// becomes a WebSocket: that goes on in a task of its own, and this one (with
/// the HTTP layer's state) ends. `buf` holds what was read from it already
/// (by a host that handed the connection over, see `host`).
async fn serve_connection<S: Stream>(conn: Counted, mut stream: S, mut buf: BytesMut) {
    let (server, peer) = (&conn.server, conn.peer);
    loop {
        let read = http::read_request(&mut stream, &mut buf, peer, &server.config);
        let req = tokio::select! {
            _ = server.shutdown.cancelled() => return,
            r = tokio::time::timeout(server.config.http_timeout, read) => r,
        };
        let req = match req {
            // A slow (or idle keep-alive) client: answer 408 and close.
            Err(_elapsed) => {
                if !buf.is_empty() {
                    if let Some(resp) = http::ReadError::Timeout.response() {
                        let _ = resp.write(&mut stream).await;
                    }
                }
                return;
            }
            Ok(Ok(req)) => req,
            Ok(Err(e)) => {
                if let Some(resp) = e.response() {
                    let _ = resp.write(&mut stream).await;
                }
                return;
            }
        };
        if req.is_websocket_upgrade() {
            let leftover = buf.to_vec();
            drop(buf);
            // Boxed: the upgrade's state is not part of every HTTP request's.
            return Box::pin(upgrade(conn, stream, req, leftover)).await;
        }
        let mut resp = Box::pin(route(server, &req)).await;
        if !req.keep_alive {
            resp = resp.close(); // say so, or a pooling client may reuse the socket
        }
        let close = resp.close;
        if resp.write(&mut stream).await.is_err() || close {
            return;
        }
        // Give back memory a large body needed before the connection idles.
        if buf.capacity() > 16 * 1024 && buf.is_empty() {
            buf = BytesMut::new();
        }
    }
}

/// Which Engine.IO endpoint a path names, if any: the path itself (its
/// trailing slash optional) or anything below it, as the reference server
/// routes (`/socket.io/default/` is the Engine.IO endpoint too), but for the
/// client bundle's files when the bundle is served.
fn engine_endpoint(cfg: &crate::Config, path: &str) -> Option<Protocol> {
    let matches = |p: &str| path.starts_with(p) || path.len() + 1 == p.len() && p.starts_with(path);
    if cfg.engine_path.as_deref().is_some_and(matches) {
        Some(Protocol::Engine)
    } else if matches(&cfg.path) && !is_bundle_path(cfg, path) {
        Some(Protocol::SocketIo)
    } else {
        None
    }
}

/// A file of the client bundle under the Socket.IO path, when the bundle is served.
fn is_bundle_path(cfg: &crate::Config, path: &str) -> bool {
    cfg.client_bundle_dir.is_some() && path.strip_prefix(cfg.path.as_str()).is_some_and(files::is_bundle_file)
}

/// The admin UI page's folder, and the path of `path` in it. Only under the
/// UI's path with its trailing slash: the page's links are relative to it.
fn admin_ui_file<'a>(cfg: &'a crate::Config, path: &'a str) -> Option<(&'a std::path::Path, &'a str)> {
    let ui = cfg.admin_ui.as_ref()?;
    let dir = ui.ui_dir.as_deref()?;
    let rest = path.strip_prefix(ui.ui_path.as_str())?;
    Some((dir, &path[path.len() - rest.len() - 1..]))
}

/// True when the hub answers `path` itself (not counting the static folder).
pub fn serves_path(cfg: &crate::Config, path: &str) -> bool {
    engine_endpoint(cfg, path).is_some()
        || cfg.raw_path.as_deref() == Some(path)
        || is_bundle_path(cfg, path)
        || cfg.metrics_path.as_deref() == Some(path)
        || admin_ui_file(cfg, path).is_some()
}

/// True when the request's `Origin` (if it has one) is in
/// `allowed_origins` (an empty list, or `"*"`, allows any).
fn origin_allowed(cfg: &crate::Config, req: &Request) -> bool {
    let Some(origin) = req.header("origin") else { return true };
    cfg.allowed_origins.is_empty() || cfg.allowed_origins.iter().any(|o| o == "*" || o == origin)
}

async fn route(server: &Arc<Server>, req: &Request) -> Response {
    let cfg = &server.config;
    if let Some(protocol) = engine_endpoint(cfg, &req.path) {
        if !origin_allowed(cfg, req) {
            tracing::debug!(peer = %req.remote_addr, "polling request from an origin not allowed: 403");
            return ErrorCode::Forbidden.response(req, cfg);
        }
        if req.method == "OPTIONS" {
            return preflight(req, cfg);
        }
        return match engineio::check_query(&server.engine, req) {
            Ok(q) if q.transport == Transport::Polling => polling::handle(&server.engine, req, protocol, q).await,
            Ok(_) => ErrorCode::BadRequest.response(req, cfg),
            Err(code) => code.response(req, cfg),
        };
    }
    if cfg.metrics_path.as_deref() == Some(req.path.as_str()) {
        return scrape::serve(&*server.metrics, req, cfg);
    }
    // The admin UI's page (the npm package's files), when its folder is given.
    if let Some((dir, file)) = admin_ui_file(cfg, &req.path) {
        return files::serve(dir, file, req).await;
    }
    if let Some(file) = req.path.strip_prefix(cfg.path.as_str()).filter(|f| files::is_bundle_file(f)) {
        return match &server.bundle {
            Some(bundle) => bundle.serve(file, req, cfg).await,
            None => Response::not_found(),
        };
    }
    match &cfg.static_dir {
        Some(dir) => files::serve(dir, &req.path, req).await,
        None => Response::not_found(),
    }
}

fn preflight(req: &Request, cfg: &crate::Config) -> Response {
    let methods = match cfg.cors_methods.is_empty() {
        true => "GET,HEAD,PUT,PATCH,POST,DELETE".to_string(),
        false => cfg.cors_methods.join(","),
    };
    let mut resp = Response::new(204).cors(req, cfg).header("Access-Control-Allow-Methods", methods);
    if !cfg.cors_allowed_headers.is_empty() {
        resp = resp.header("Access-Control-Allow-Headers", cfg.cors_allowed_headers.join(","));
    } else if let Some(h) = req.header("access-control-request-headers").filter(|h| http::is_token_list(h)) {
        // Echoed only when it is a plain list of header names.
        resp = resp.header("Access-Control-Allow-Headers", h.to_string());
    }
    resp
}

/// Answers a WebSocket upgrade request and starts the WebSocket's task.
async fn upgrade<S: Stream>(conn: Counted, mut stream: S, req: Request, leftover: Vec<u8>) {
    let server = &conn.server.clone(); // `conn` moves into the WebSocket's task
    let cfg = &server.config;
    let dest = if let Some(protocol) = engine_endpoint(cfg, &req.path) {
        match engineio::check_query(&server.engine, &req) {
            Ok(EioQuery { transport: Transport::WebSocket, session: Some(session), .. }) => WsDest::Upgrade(session),
            Ok(EioQuery { transport: Transport::WebSocket, eio3, .. }) => WsDest::Open(protocol, eio3),
            Ok(_) => return reject(&mut stream, ErrorCode::BadRequest.response(&req, cfg)).await,
            Err(code) => return reject(&mut stream, code.response(&req, cfg)).await,
        }
    } else if cfg.raw_path.as_deref() == Some(req.path.as_str()) {
        WsDest::Open(Protocol::Raw, false)
    } else {
        return reject(&mut stream, Response::not_found()).await;
    };
    // Cross-site WebSocket hijacking: browsers send Origin on every upgrade.
    if !origin_allowed(cfg, &req) {
        tracing::debug!(peer = %req.remote_addr, "WebSocket upgrade from an origin not allowed: 403");
        return reject(&mut stream, ErrorCode::Forbidden.response(&req, cfg)).await;
    }
    let key = req.header("sec-websocket-key").map(str::to_string);
    let version_ok = req.header("sec-websocket-version").is_some_and(|v| v.trim() == "13");
    let (Some(key), true, "GET") = (key, version_ok, req.method.as_str()) else {
        let resp = Response::new(426).header("Sec-WebSocket-Version", "13").body(b"Upgrade Required".to_vec());
        return reject(&mut stream, resp).await;
    };
    // A new session keeps its handshake; a Socket.IO or Engine.IO one must be
    // allowed first (`allowRequest`).
    let handshake = match &dest {
        WsDest::Open(..) => Some(Arc::new(req.handshake())),
        WsDest::Upgrade(_) => None,
    };
    if let (WsDest::Open(protocol, _), Some(hs)) = (&dest, &handshake) {
        if protocol.is_engine_io() {
            if let Err(forbidden) = engineio::allowed(&server.engine, &req, hs).await {
                return reject(&mut stream, forbidden).await;
            }
        }
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = Response::new(101)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Accept", accept);
    // permessage-deflate when this endpoint allows it and the client offers it.
    let deflate_cfg = match dest {
        WsDest::Open(Protocol::Raw, _) => cfg.raw_per_message_deflate.as_ref(),
        _ => cfg.per_message_deflate.as_ref(),
    };
    let offers = req.headers.iter().filter(|(k, _)| k == "sec-websocket-extensions").map(|(_, v)| v.as_str());
    let deflate = deflate_cfg.and_then(|d| Some(deflate::Deflate::new(deflate::negotiate(offers, d)?, d)));
    if let Some(d) = &deflate {
        resp = resp.header("Sec-WebSocket-Extensions", d.response_header());
    }
    if resp.write(&mut stream).await.is_err() {
        return;
    }
    let ws = WsStream::new(stream, leftover, deflate, cfg.max_payload);
    // The request's buffers stay with this task, which ends here; a new
    // session keeps its handshake copy.
    match dest {
        WsDest::Upgrade(session) => server.runtime.spawn(websocket::upgrade(server.engine.clone(), ws, session, conn)),
        WsDest::Open(protocol, eio3) => {
            let engine = &server.engine;
            let handshake = handshake.unwrap_or_else(|| Arc::new(req.handshake()));
            let session = engineio::open_session(engine, handshake, protocol, Transport::WebSocket, eio3);
            server.runtime.spawn(websocket::serve(engine.clone(), ws, session, conn))
        }
    };
}

/// Where an accepted WebSocket goes.
enum WsDest {
    /// A polling session's upgrade.
    Upgrade(Arc<EngineSession>),
    /// A new session: Socket.IO, plain Engine.IO, or the raw endpoint; true
    /// for an Engine.IO v3 client.
    Open(Protocol, bool),
}

async fn reject<S: Stream>(stream: &mut S, resp: Response) {
    let _ = resp.close().write(stream).await;
}
