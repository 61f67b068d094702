//! The accept loop and HTTP routing: Engine.IO requests under the configured
//! path, the client bundle, the raw WebSocket endpoint, and static files.

pub mod files;
pub mod http;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::engineio::session::{Protocol, Transport};
use crate::engineio::{self, polling, websocket, EioQuery, ErrorCode};
use crate::hub::HubCore;
use http::{Request, Response};

pub async fn accept_loop(core: Arc<HubCore>, listener: TcpListener) {
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
        let core2 = core.clone();
        core.runtime.spawn(async move {
            serve_connection(&core2, stream, peer).await;
            core2.open_connections.fetch_sub(1, Ordering::Relaxed);
            if core2.config.max_connections_per_ip > 0 {
                let mut counts = core2.per_ip.lock();
                if let Some(n) = counts.get_mut(&peer.ip()) {
                    *n -= 1;
                    if *n == 0 {
                        counts.remove(&peer.ip());
                    }
                }
            }
        });
    }
}

async fn serve_connection(core: &Arc<HubCore>, mut stream: TcpStream, peer: SocketAddr) {
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
            // Boxed: an idle WebSocket keeps only what its transport needs,
            // not the largest state of every HTTP route.
            return Box::pin(upgrade(core, stream, req, leftover)).await;
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

async fn route(core: &Arc<HubCore>, req: &Request) -> Response {
    let cfg = &core.config;
    if let Some(protocol) = engine_endpoint(cfg, &req.path) {
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
    if let Some(h) = req.header("access-control-request-headers") {
        resp = resp.header("Access-Control-Allow-Headers", h.to_string());
    }
    resp
}

fn ws_config(core: &HubCore) -> WebSocketConfig {
    let mut c = WebSocketConfig::default();
    // A small read buffer keeps idle connections cheap (tungstenite allocates
    // it up front and zero-fills it on every read; a large message still
    // arrives whole, in more reads). Writes are buffered until the writer
    // flushes a whole batch, so many frames cost one syscall.
    c.read_buffer_size = 1024;
    c.max_message_size = Some(core.config.max_payload);
    c.max_frame_size = Some(core.config.max_payload);
    c
}

/// Answers a WebSocket upgrade request and hands the stream to its transport.
async fn upgrade(core: &Arc<HubCore>, mut stream: TcpStream, req: Request, leftover: Vec<u8>) {
    let cfg = &core.config;
    enum Dest {
        Engine(Protocol, EioQuery),
        Raw,
    }
    let dest = if let Some(protocol) = engine_endpoint(cfg, &req.path) {
        match engineio::check_query(core, &req) {
            Ok(q) if q.transport == Transport::WebSocket => Dest::Engine(protocol, q),
            Ok(_) => return reject(&mut stream, ErrorCode::BadRequest.response(&req, core)).await,
            Err(code) => return reject(&mut stream, code.response(&req, core)).await,
        }
    } else if cfg.raw_path.as_deref() == Some(req.path.as_str()) {
        Dest::Raw
    } else {
        return reject(&mut stream, Response::not_found()).await;
    };
    let key = req.header("sec-websocket-key").map(str::to_string);
    let version_ok = req.header("sec-websocket-version").is_some_and(|v| v.trim() == "13");
    let (Some(key), true, "GET") = (key, version_ok, req.method.as_str()) else {
        let resp = Response::new(426).header("Sec-WebSocket-Version", "13").body(b"Upgrade Required".to_vec());
        return reject(&mut stream, resp).await;
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = Response::new(101)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Accept", accept);
    if resp.write(&mut stream).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(ws_config(core))).await;
    match dest {
        // Only a polling session can upgrade; a second WebSocket for the same
        // sid is accepted and closed at once, as the reference server does.
        Dest::Engine(_, EioQuery { session: Some(session), .. }) => {
            if session.transport() == Transport::Polling && !session.is_closed() {
                websocket::upgrade(core.clone(), ws, session).await
            } else {
                let mut ws = ws;
                let _ = ws.close(None).await;
            }
        }
        Dest::Engine(protocol, _) => {
            let session = engineio::open_session(core, &req, protocol, Transport::WebSocket);
            drop(req); // the session keeps its handshake copy; the request's buffers go now
            if protocol.is_plain() && crate::rawws::attach(core, &session).await.is_err() {
                let mut ws = ws;
                let _ = ws.close(None).await;
                return;
            }
            websocket::run(core.clone(), ws, session).await;
        }
        Dest::Raw => {
            let session = engineio::open_session(core, &req, Protocol::Raw, Transport::WebSocket);
            drop(req);
            crate::rawws::serve(core, ws, session).await
        }
    }
}

async fn reject(stream: &mut TcpStream, resp: Response) {
    let _ = resp.close().write(stream).await;
}
