//! A small HTTP/1.1 layer: request heads parsed by `httparse`, bodies by
//! Content-Length, responses written whole. Keep-alive is supported; the
//! read buffer grows only as a request needs and is dropped after an upgrade.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::Config;
use crate::Handshake;

/// Most headers in a request (more: 431).
pub const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path, percent-encoded as received.
    pub path: String,
    pub raw_query: String,
    /// The decoded query parameters, parsed once.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub remote_addr: SocketAddr,
    pub keep_alive: bool,
}

/// Why a request could not be read; each maps to one answer.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed or the socket failed: answer nothing.
    Closed,
    Malformed,
    HeadTooLarge,
    BodyTooLarge,
    LengthRequired,
    /// The request did not arrive within `http_timeout`.
    Timeout,
}

impl ReadError {
    pub fn response(&self) -> Option<Response> {
        let status = match self {
            ReadError::Closed => return None,
            ReadError::Malformed => 400,
            ReadError::HeadTooLarge => 431,
            ReadError::BodyTooLarge => 413,
            ReadError::LengthRequired => 411,
            ReadError::Timeout => 408,
        };
        let resp = Response::new(status);
        let text = resp.status_text();
        Some(resp.content_type("text/plain").body(text.as_bytes().to_vec()).close())
    }
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        self.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    }

    pub fn handshake(&self) -> Handshake {
        let url =
            if self.raw_query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.raw_query) };
        Handshake {
            url,
            headers: self.headers.clone(),
            query: self.query.clone(),
            remote_addr: self.remote_addr,
            issued_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }
}

fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` and `+` (as in a query string); invalid escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    decode(s, true)
}

/// Decodes `%XX` in a URL path, where `+` is a plus, not a space.
pub fn percent_decode_path(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // A path's `+` is never part of an escape (`from_str_radix` reads "+4" as 4).
            b'%' if i + 2 < bytes.len() && (plus_is_space || bytes[i + 1] != b'+') => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request (head and body) from the connection.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    remote_addr: SocketAddr,
    config: &Config,
) -> Result<Request, ReadError> {
    loop {
        if !buf.is_empty() {
            // Parsed in a plain function: httparse's header array must not
            // live in this future (every connection's task would carry it).
            if let Some((mut req, head_len)) = parse_head(buf, remote_addr)? {
                let _ = buf.split_to(head_len);
                req.body = read_body(stream, buf, &req, config).await?;
                return Ok(req);
            }
            if buf.len() > config.max_http_head {
                return Err(ReadError::HeadTooLarge);
            }
        }
        buf.reserve(1024);
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(_) => {}
        }
    }
}

/// Parses a complete request head, or says it is not complete yet.
pub(crate) fn parse_head(buf: &[u8], remote_addr: SocketAddr) -> Result<Option<(Request, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) => Ok(Some((head_to_request(&parsed, remote_addr)?, head_len))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(ReadError::HeadTooLarge),
        Err(_) => Err(ReadError::Malformed),
    }
}

fn head_to_request(parsed: &httparse::Request, remote_addr: SocketAddr) -> Result<Request, ReadError> {
    let method = parsed.method.ok_or(ReadError::Malformed)?;
    let target = parsed.path.ok_or(ReadError::Malformed)?;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    let connection = headers.iter().find(|(k, _)| k == "connection").map(|(_, v)| v.to_ascii_lowercase());
    let keep_alive = match parsed.version {
        Some(0) => connection.as_deref().is_some_and(|c| c.contains("keep-alive")),
        _ => !connection.as_deref().is_some_and(|c| c.contains("close")),
    };
    Ok(Request::from_parts(method, target, headers, Bytes::new(), remote_addr, keep_alive))
}

impl Request {
    /// A request from its parts: `target` is the request target as sent
    /// (path and query, percent-encoded), `headers` have lower-case names.
    /// Both our own parser and a host's server (see `server::host`) build
    /// requests here, so a request means the same whoever read it.
    pub fn from_parts(
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        remote_addr: SocketAddr,
        keep_alive: bool,
    ) -> Request {
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: parse_query(raw_query),
            raw_query: raw_query.to_string(),
            headers,
            body,
            remote_addr,
            keep_alive,
        }
    }
}

async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    req: &Request,
    config: &Config,
) -> Result<Bytes, ReadError> {
    match req.header("transfer-encoding").map(|t| t.trim().to_ascii_lowercase()) {
        None => {}
        Some(t) if t == "chunked" => return read_chunked(stream, buf, config.max_payload).await,
        Some(_) => return Err(ReadError::LengthRequired),
    }
    let len = match req.header("content-length") {
        None => return Ok(Bytes::new()),
        Some(v) => v.trim().parse::<usize>().map_err(|_| ReadError::Malformed)?,
    };
    if len > config.max_payload {
        return Err(ReadError::BodyTooLarge);
    }
    while buf.len() < len {
        buf.reserve(len - buf.len());
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(_) => {}
        }
    }
    Ok(buf.split_to(len).freeze())
}

/// Reads more bytes into `buf`; an EOF or error ends the request.
async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> Result<(), ReadError> {
    buf.reserve(4096);
    match stream.read_buf(buf).await {
        Ok(0) | Err(_) => Err(ReadError::Closed),
        Ok(_) => Ok(()),
    }
}

/// Decodes a `Transfer-Encoding: chunked` body (RFC 9112 §7.1), trailers skipped.
async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    limit: usize,
) -> Result<Bytes, ReadError> {
    let mut body = BytesMut::new();
    loop {
        let line_end = loop {
            if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
                break pos;
            }
            if buf.len() > 1024 {
                return Err(ReadError::Malformed);
            }
            fill(stream, buf).await?;
        };
        let line = std::str::from_utf8(&buf[..line_end]).map_err(|_| ReadError::Malformed)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| ReadError::Malformed)?;
        let _ = buf.split_to(line_end + 2);
        if size == 0 {
            // Trailer lines end with an empty line.
            loop {
                if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
                    let _ = buf.split_to(pos + 2);
                    if pos == 0 {
                        return Ok(body.freeze());
                    }
                    continue;
                }
                if buf.len() > 8192 {
                    return Err(ReadError::Malformed);
                }
                fill(stream, buf).await?;
            }
        }
        if body.len() + size > limit {
            return Err(ReadError::BodyTooLarge);
        }
        while buf.len() < size + 2 {
            fill(stream, buf).await?;
        }
        body.extend_from_slice(&buf[..size]);
        if &buf[size..size + 2] != b"\r\n" {
            return Err(ReadError::Malformed);
        }
        let _ = buf.split_to(size + 2);
    }
}

/// A whole response, written in one go.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    pub close: bool,
    head_only: bool,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new(), close: false, head_only: false }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn content_type(self, value: &str) -> Response {
        self.header("Content-Type", value)
    }

    pub fn body(mut self, body: Vec<u8>) -> Response {
        self.body = body;
        self
    }

    /// Closes the connection after this response.
    pub fn close(mut self) -> Response {
        self.close = true;
        self
    }

    /// Sends the headers (with the body's length) but not the body, for HEAD.
    pub fn head_only(mut self) -> Response {
        self.head_only = true;
        self
    }

    /// Adds the CORS headers when the request's origin is allowed: it is
    /// listed exactly, or the list has `"*"` and the origin is a plain
    /// `scheme://host[:port]` (so nothing else is ever echoed).
    pub fn cors(self, req: &Request, config: &Config) -> Response {
        let Some(origin) = req.header("origin") else { return self };
        let listed = config.cors_origins.iter().any(|o| o == origin);
        let any = config.cors_origins.iter().any(|o| o == "*");
        if !(listed || any && is_plain_origin(origin)) || !is_safe_header_value(origin) {
            return self;
        }
        let origin = origin.to_string();
        self.header("Access-Control-Allow-Origin", origin)
            .header("Access-Control-Allow-Credentials", "true")
            .header("Vary", "Origin")
    }

    pub fn not_found() -> Response {
        Response::new(404).content_type("text/plain; charset=UTF-8").body(b"Not Found".to_vec())
    }

    pub fn status_text(&self) -> &'static str {
        match self.status {
            101 => "Switching Protocols",
            200 => "OK",
            204 => "No Content",
            304 => "Not Modified",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Payload Too Large",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Unknown",
        }
    }

    /// The headers to send, but for Content-Length and Connection (which
    /// belong to whoever writes the response on its connection).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let nosniff = (self.status != 101).then_some(("X-Content-Type-Options", "nosniff"));
        self.headers
            .iter()
            .filter(|(name, value)| {
                // Last line of defence against response splitting: a value with a
                // control character (CR, LF, NUL...) is never written.
                let safe = is_safe_header_value(value);
                if !safe {
                    tracing::debug!(header = name, "dropped a response header with control characters");
                }
                safe
            })
            .map(|(name, value)| (*name, value.as_str()))
            // No browser may guess a type (say HTML) for a body we label.
            .chain(nosniff)
    }

    /// The body to send: none for HEAD.
    pub fn body_to_send(&self) -> &[u8] {
        if self.head_only {
            &[]
        } else {
            &self.body
        }
    }

    /// The body, taken out (for a host that writes the response itself).
    pub fn into_body(self) -> Vec<u8> {
        if self.head_only {
            Vec::new()
        } else {
            self.body
        }
    }

    pub async fn write<S: AsyncWrite + Unpin>(&self, stream: &mut S) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", self.status, self.status_text()).as_bytes());
        for (name, value) in self.headers() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.status != 101 {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
            if self.close {
                out.extend_from_slice(b"Connection: close\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body_to_send());
        stream.write_all(&out).await?;
        // A TLS stream holds records until flushed; for TCP this is a no-op.
        stream.flush().await
    }
}

/// True when `value` may be written as a header value: visible ASCII,
/// spaces and tabs only (no CR, LF or other control characters).
pub fn is_safe_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// True when `origin` is a serialized origin (`scheme://host[:port]` or
/// `null`) that can be echoed in `Access-Control-Allow-Origin` as it is.
pub fn is_plain_origin(origin: &str) -> bool {
    if origin == "null" {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    origin.len() <= 255
        && !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']' | b'_'))
}

/// True when `list` is a comma-separated list of HTTP header names (as in
/// `Access-Control-Request-Headers`), so it can be echoed as it is.
pub fn is_token_list(list: &str) -> bool {
    list.len() <= 1024
        && list.split(',').all(|name| {
            let name = name.trim_matches([' ', '\t']);
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        })
}
