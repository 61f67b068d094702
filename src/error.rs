//! The library's error type.

/// Everything that can go wrong in the library's API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error("the socket is disconnected")]
    Disconnected,
    #[error("the hub is already running")]
    AlreadyRunning,
    #[error("stop() cannot be called from the hub's own threads (it joins them)")]
    InsideRuntime,
    #[error("the hub is not running")]
    NotRunning,
    #[error("limit reached: {0}")]
    Limit(String),
    #[error("cluster: {0}")]
    Cluster(String),
}
