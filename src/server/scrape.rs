//! The metrics path (`Config::metrics_path`): the hub's figures in the
//! Prometheus text format, for a scraper that shows the bearer token and/or
//! comes from an address on the allow-list. Off unless configured.

use crate::http::{Request, Response};
use crate::metrics::Source;
use crate::secret::same_secret;

/// The content type of the text format, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers a request for the metrics path.
pub fn serve(source: &dyn Source, req: &Request, cfg: &crate::Config) -> Response {
    if let Err(refused) = check_access(req, cfg) {
        return refused;
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Response::new(405).header("Allow", "GET, HEAD").body(b"Method Not Allowed".to_vec());
    }
    let resp = Response::new(200).content_type(TEXT_FORMAT).body(source.metrics().to_prometheus().into_bytes());
    if req.method == "HEAD" {
        resp.head_only()
    } else {
        resp
    }
}

/// An address not on the list gets 403 (whatever it sends: a token does not
/// open the list); with a token configured, a request without that token gets 401.
fn check_access(req: &Request, cfg: &crate::Config) -> Result<(), Response> {
    let ip = req.remote_addr.ip().to_canonical();
    if !cfg.metrics_allow.is_empty() && !cfg.metrics_allow.iter().any(|a| a.to_canonical() == ip) {
        tracing::debug!(peer = %req.remote_addr, "metrics scrape from an address not allowed: 403");
        return Err(Response::new(403).body(b"Forbidden".to_vec()));
    }
    let Some(token) = cfg.metrics_token.as_deref().filter(|t| !t.is_empty()) else { return Ok(()) };
    let given = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
    if given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
        return Ok(());
    }
    tracing::debug!(peer = %req.remote_addr, "metrics scrape without the right token: 401");
    Err(Response::new(401).header("WWW-Authenticate", "Bearer").body(b"Unauthorized".to_vec()))
}
