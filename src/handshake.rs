/// The HTTP request that opened a client's connection.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The request target, path and query.
    pub url: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The peer's address.
    pub remote_addr: std::net::SocketAddr,
    /// When the connection was opened, in milliseconds since the Unix epoch.
    pub issued_ms: u64,
}

impl Handshake {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first query parameter of that name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Name/value pairs (headers, a query) as a JSON object, as Socket.IO shows
/// a handshake's (a repeated name keeps its last value).
pub(crate) fn pairs_object(list: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(list.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect())
}
