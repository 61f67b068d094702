//! The accept loop and HTTP routing: Engine.IO requests under the configured
//! path, the client bundle, the raw WebSocket endpoint, and static files.

pub mod deflate;
pub mod files;
pub mod http;
pub mod tls;
pub mod ws_stream;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::engineio::session::{EngineSession, Protocol, Transport};
use crate::engineio::{self, polling, websocket, EioQuery, ErrorCode};
use crate::hub::HubCore;
use http::{Request, Response};
use ws_stream::WsStream;

/// A connection's byte stream: plain TCP, or TLS over TCP. The server code is
/// generic over it, so the plain path pays nothing for TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

pub async fn accept_loop(core: Arc<HubCore>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    loop {
        let accepted = tokio::select! {
            _ = core.shutdown.cancelled() => return,
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
        if core.open_connections.load(Ordering::Relaxed) >= core.config.max_connections {
            drop(stream);
            continue;
        }
        let per_ip_limit = core.config.max_connections_per_ip;
        if per_ip_limit > 0 {
            let mut counts = core.per_ip.lock();
            let n = counts.entry(peer.ip()).or_insert(0);
            if *n >= per_ip_limit {
                drop(counts);
                tracing::debug!(%peer, "too many connections from this address");
                drop(stream);
                continue;
            }
            *n += 1;
        }
        let _ = stream.set_nodelay(true);
        core.open_connections.fetch_add(1, Ordering::Relaxed);
        let conn = Counted { core: core.clone(), peer };
        // Two spawns, not one task with a match: a plain connection's task
        // stays the size it was, without room for the TLS handshake's state.
        match &tls {
            None => core.runtime.spawn(serve_connection(conn, stream)),
            Some(acceptor) => core.runtime.spawn(serve_tls(conn, acceptor.clone(), stream)),
        };
    }
}

/// An accepted connection, counted in `open_connections` (and per address)
/// until this drops, in whichever task holds it last.
struct Counted {
    core: Arc<HubCore>,
    peer: SocketAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let core = &self.core;
        core.open_connections.fetch_sub(1, Ordering::Relaxed);
        if core.config.max_connections_per_ip > 0 {
            let mut counts = core.per_ip.lock();
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
    let (core, peer) = (&conn.core, conn.peer);
    let handshake = tokio::time::timeout(core.config.http_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        _ = core.shutdown.cancelled() => return,
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
    Box::pin(serve_connection(conn, stream)).await
}

/// Serves HTTP requests on a connection until it closes, or until it
/// becomes a WebSocket: that goes on in a task of its own, and this one (with
/// the HTTP layer's state) ends.
async fn serve_connection<S: Stream>(conn: Counted, mut stream: S) {
    let (core, peer) = (&conn.core, conn.peer);
    let mut buf = BytesMut::new();
    loop {
        let read = http::read_request(&mut stream, &mut buf, peer, &core.config);
        let req = tokio::select! {
            _ = core.shutdown.cancelled() => return,
            r = tokio::time::timeout(core.config.http_timeout, read) => r,
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
        let mut resp = Box::pin(route(core, &req)).await;
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

/// Which Engine.IO endpoint a path names, if any (the trailing slash is optional).
fn engine_endpoint(cfg: &crate::Config, path: &str) -> Option<Protocol> {
    let matches = |p: &str| path == p || path.len() + 1 == p.len() && p.starts_with(path);
    if matches(&cfg.path) {
        Some(Protocol::SocketIo)
    } else if cfg.engine_path.as_deref().is_some_and(matches) {
        Some(Protocol::Engine)
    } else {
        None
    }
}

/// True when the request's `Origin` (if it has one) is in
/// `allowed_origins` (an empty list, or `"*"`, allows any).
fn origin_allowed(cfg: &crate::Config, req: &Request) -> bool {
    let Some(origin) = req.header("origin") else { return true };
    cfg.allowed_origins.is_empty() || cfg.allowed_origins.iter().any(|o| o == "*" || o == origin)
}

async fn route(core: &Arc<HubCore>, req: &Request) -> Response {
    let cfg = &core.config;
    if let Some(protocol) = engine_endpoint(cfg, &req.path) {
        if !origin_allowed(cfg, req) {
            tracing::debug!(peer = %req.remote_addr, "polling request from an origin not allowed: 403");
            return ErrorCode::Forbidden.response(req, core);
        }
        if req.method == "OPTIONS" {
            return preflight(req, cfg);
        }
        return match engineio::check_query(core, req) {
            Ok(q) if q.transport == Transport::Polling => polling::handle(core, req, protocol, q).await,
            Ok(_) => ErrorCode::BadRequest.response(req, core),
            Err(code) => code.response(req, core),
        };
    }
    if let Some(file) = req.path.strip_prefix(cfg.path.as_str()).filter(|f| files::is_bundle_file(f)) {
        return match &cfg.client_bundle_dir {
            Some(dir) => files::serve(dir, file, req).await,
            None => Response::not_found(),
        };
    }
    match &cfg.static_dir {
        Some(dir) => files::serve(dir, &req.path, req).await,
        None => Response::not_found(),
    }
}

fn preflight(req: &Request, cfg: &crate::Config) -> Response {
    let mut resp =
        Response::new(204).cors(req, cfg).header("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
    // Echoed only when it is a plain list of header names.
    if let Some(h) = req.header("access-control-request-headers").filter(|h| http::is_token_list(h)) {
        resp = resp.header("Access-Control-Allow-Headers", h.to_string());
    }
    resp
}

/// Answers a WebSocket upgrade request and starts the WebSocket's task.
async fn upgrade<S: Stream>(conn: Counted, mut stream: S, req: Request, leftover: Vec<u8>) {
    let core = &conn.core.clone(); // `conn` moves into the WebSocket's task
    let cfg = &core.config;
    let dest = if let Some(protocol) = engine_endpoint(cfg, &req.path) {
        match engineio::check_query(core, &req) {
            Ok(EioQuery { transport: Transport::WebSocket, session: Some(session), .. }) => WsDest::Upgrade(session),
            Ok(EioQuery { transport: Transport::WebSocket, .. }) => WsDest::Open(protocol),
            Ok(_) => return reject(&mut stream, ErrorCode::BadRequest.response(&req, core)).await,
            Err(code) => return reject(&mut stream, code.response(&req, core)).await,
        }
    } else if cfg.raw_path.as_deref() == Some(req.path.as_str()) {
        WsDest::Open(Protocol::Raw)
    } else {
        return reject(&mut stream, Response::not_found()).await;
    };
    // Cross-site WebSocket hijacking: browsers send Origin on every upgrade.
    if !origin_allowed(cfg, &req) {
        tracing::debug!(peer = %req.remote_addr, "WebSocket upgrade from an origin not allowed: 403");
        return reject(&mut stream, ErrorCode::Forbidden.response(&req, core)).await;
    }
    let key = req.header("sec-websocket-key").map(str::to_string);
    let version_ok = req.header("sec-websocket-version").is_some_and(|v| v.trim() == "13");
    let (Some(key), true, "GET") = (key, version_ok, req.method.as_str()) else {
        let resp = Response::new(426).header("Sec-WebSocket-Version", "13").body(b"Upgrade Required".to_vec());
        return reject(&mut stream, resp).await;
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = Response::new(101)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Accept", accept);
    // permessage-deflate when this endpoint allows it and the client offers it.
    let deflate_cfg = match dest {
        WsDest::Open(Protocol::Raw) => cfg.raw_per_message_deflate.as_ref(),
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
        WsDest::Upgrade(session) => core.runtime.spawn(websocket::upgrade(core.clone(), ws, session, conn)),
        WsDest::Open(protocol) => {
            let session = engineio::open_session(core, Arc::new(req.handshake()), protocol, Transport::WebSocket);
            core.runtime.spawn(websocket::serve(core.clone(), ws, session, conn))
        }
    };
}

/// Where an accepted WebSocket goes.
enum WsDest {
    /// A polling session's upgrade.
    Upgrade(Arc<EngineSession>),
    /// A new session: Socket.IO, plain Engine.IO, or the raw endpoint.
    Open(Protocol),
}

async fn reject<S: Stream>(stream: &mut S, resp: Response) {
    let _ = resp.close().write(stream).await;
}
