//! Host-served mode: the host program has an HTTP server of its own (express,
//! an ASGI server, a C++ server) and hands the hub what arrives under the
//! hub's paths. Two ways in, both ending in the same code as our listener:
//!
//! - `adopt`: a connected TCP descriptor and the bytes the host already read
//!   from it (typically an upgrade request's head). The hub owns it from then
//!   on exactly as if it had accepted it: the same HTTP parser and limits, the
//!   same upgrade, the same WebSocket task (the fast path stays the fast path).
//! - `handle`: one HTTP request, already read by the host (a long-polling GET
//!   or POST, a preflight, the client bundle). The hub answers through a
//!   completion that it calls exactly once, later for a long-poll.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{route, serve_connection, Server};
use crate::http::{self, Request, Response};

/// An HTTP request read by the host's server.
#[derive(Debug, Clone)]
pub struct HostRequest {
    /// "GET", "POST", "OPTIONS", ...
    pub method: String,
    /// The request target as received: path and query, percent-encoded
    /// (`/socket.io/?EIO=4&transport=polling`).
    pub url: String,
    /// The headers as received (names in any case).
    pub headers: Vec<(String, String)>,
    /// The whole body (the host has read it).
    pub body: Bytes,
    /// The client's address.
    pub remote_addr: SocketAddr,
}

/// The hub's answer to a [`HostRequest`], for the host to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostResponse {
    pub status: u16,
    /// Every header but Content-Length (the body's length) and Connection,
    /// which belong to the host's server.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HostResponse {
    pub(super) fn from_response(resp: Response) -> HostResponse {
        let headers = resp.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HostResponse { status: resp.status, headers, body: resp.into_body() }
    }

    /// The answer when the hub cannot serve: not running, or stopped before
    /// the request completed.
    pub(crate) fn unavailable() -> HostResponse {
        let resp = Response::new(503).content_type("text/plain; charset=UTF-8").body(b"wshub is not running".to_vec());
        HostResponse::from_response(resp)
    }
}

/// The completion of a host request: called exactly once, with the hub's
/// answer or, if the request's task is dropped unanswered (the hub stopped),
/// with 503.
pub(crate) struct Completion(Option<Box<dyn FnOnce(HostResponse) + Send>>);

impl Completion {
    pub fn new(respond: impl FnOnce(HostResponse) + Send + 'static) -> Completion {
        Completion(Some(Box::new(respond)))
    }

    pub fn complete(mut self, resp: HostResponse) {
        if let Some(respond) = self.0.take() {
            respond(resp);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(respond) = self.0.take() {
            respond(HostResponse::unavailable());
        }
    }
}

/// Checks a host request against the limits our own parser enforces and
/// builds the request the router takes; the error is the answer.
pub(super) fn to_request(req: HostRequest, cfg: &crate::Config) -> Result<Request, Response> {
    let plain = |status: u16| {
        let resp = Response::new(status);
        let text = resp.status_text();
        resp.content_type("text/plain").body(text.as_bytes().to_vec())
    };
    let head_len: usize =
        req.method.len() + req.url.len() + req.headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>();
    if req.headers.len() > http::MAX_HEADERS || head_len > cfg.max_http_head {
        return Err(plain(431));
    }
    if req.body.len() > cfg.max_payload {
        return Err(plain(413));
    }
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !token(&req.method) || !req.url.starts_with('/') || !http::is_safe_header_value(&req.url) {
        return Err(plain(400));
    }
    let headers = req.headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    Ok(Request::from_parts(&req.method, &req.url, headers, req.body, req.remote_addr, true))
}

/// Answers a request the host read, on the hub's runtime.
pub(crate) fn handle(server: &Arc<Server>, req: HostRequest, done: Completion) {
    let server = server.clone();
    server.runtime.clone().spawn(async move {
        let resp = match to_request(req, &server.config) {
            Ok(req) if req.is_websocket_upgrade() => {
                // An upgrade needs the connection itself: see `adopt`.
                tracing::debug!(peer = %req.remote_addr, "a host handed over an upgrade as a plain request: 400");
                Response::new(400)
                    .content_type("text/plain")
                    .body(b"WebSocket upgrades are adopted, not handled".to_vec())
            }
            Ok(req) => Box::pin(route(&server, &req)).await,
            Err(resp) => resp,
        };
        done.complete(HostResponse::from_response(resp));
    });
}

/// Why a connection could not be adopted (it is closed in every case).
#[derive(Debug)]
pub(crate) enum AdoptError {
    /// The descriptor is not a connected TCP socket (or the OS refused).
    Io(std::io::Error),
    /// `max_connections` or `max_connections_per_ip` is reached.
    Limit,
}

/// Takes over a connection the host accepted; `read` is what the host
/// already read from it (a request head, whole or in part, or nothing).
pub(crate) fn adopt(server: &Arc<Server>, stream: std::net::TcpStream, read: &[u8]) -> Result<(), AdoptError> {
    let peer = stream.peer_addr().map_err(AdoptError::Io)?;
    stream.set_nonblocking(true).map_err(AdoptError::Io)?;
    let _ = stream.set_nodelay(true);
    let conn = server.admit(peer).ok_or(AdoptError::Limit)?;
    let stream = {
        let _runtime = server.runtime.enter();
        tokio::net::TcpStream::from_std(stream).map_err(AdoptError::Io)?
    };
    server.runtime.spawn(serve_connection(conn, stream, BytesMut::from(read)));
    Ok(())
}
