/// Why a socket left its namespace (the Socket.IO server's reason strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The client sent a DISCONNECT for this namespace.
    ClientNamespaceDisconnect,
    /// The server disconnected the socket.
    ServerNamespaceDisconnect,
    /// The client closed the transport (or sent an Engine.IO close).
    TransportClose,
    /// The transport failed (I/O error, slow consumer over its queue limit).
    TransportError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The client sent something that does not decode.
    ParseError,
    /// The server closed the whole connection (`disconnect(true)`).
    ForcedClose,
    /// The hub is stopping.
    ServerShuttingDown,
}

impl DisconnectReason {
    /// The reason as the Socket.IO server names it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
