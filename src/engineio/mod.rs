//! Engine.IO v4: the packet codec (`packet`), the session with its queue
//! (`session`), and the two transports (`polling`, `websocket`) with the
//! upgrade between them. This module routes a request under the Engine.IO
//! path and runs each session's heartbeat.

mod heartbeat;
pub mod packet;
pub mod polling;
pub mod session;
pub mod websocket;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::hub::{DisconnectReason, HubCore};
use crate::server::http::{Request, Response};

use crate::rawws;
use crate::socketio::conn;
use crate::Handshake;
use heartbeat::Heartbeat;
use packet::{Frame, Packet};
use session::{EngineSession, Protocol, Transport};

/// The Engine.IO error codes and messages of the reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    Forbidden = 4,
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    pub fn response(self, req: &Request, core: &HubCore) -> Response {
        let status = if self == ErrorCode::Forbidden { 403 } else { 400 };
        let body = format!("{{\"code\":{},\"message\":\"{}\"}}", self as u8, self.message());
        Response::new(status).content_type("application/json").cors(req, &core.config).body(body.into_bytes())
    }
}

/// The checked query of an Engine.IO request.
pub struct EioQuery {
    pub transport: Transport,
    /// The live session the request names (`sid`), if any.
    pub session: Option<Arc<EngineSession>>,
}

/// Validates `EIO`, `transport` and `sid` as the reference server does.
pub fn check_query(core: &HubCore, req: &Request) -> Result<EioQuery, ErrorCode> {
    let transport = match req.query_param("transport") {
        Some("polling") if core.config.allow_polling => Transport::Polling,
        Some("websocket") if core.config.allow_websocket => Transport::WebSocket,
        _ => return Err(ErrorCode::UnknownTransport),
    };
    if req.query_param("EIO") != Some("4") {
        return Err(ErrorCode::UnsupportedProtocolVersion);
    }
    let session = match req.query_param("sid") {
        // A closed session is gone, except for the noop its last GET is owed.
        Some(sid) => match core.session(sid) {
            Some(s) if !s.is_closed() || s.noop_pending() => Some(s),
            _ => return Err(ErrorCode::UnknownSid),
        },
        None if req.method != "GET" => return Err(ErrorCode::BadHandshakeMethod),
        None => None,
    };
    Ok(EioQuery { transport, session })
}

/// Creates a session and registers it. A polling session gets a task of its
/// own for its heartbeat and its end; a WebSocket's task does both for a
/// session opened on it (see `websocket::serve`).
pub fn open_session(
    core: &Arc<HubCore>,
    handshake: Arc<Handshake>,
    protocol: Protocol,
    transport: Transport,
) -> Arc<EngineSession> {
    let sid = crate::sid::generate();
    let session = EngineSession::new(
        sid.clone(),
        protocol,
        transport,
        handshake,
        core.config.max_queued_frames,
        core.config.max_queued_bytes,
        core.config.slow_consumer,
    );
    if protocol.is_engine_io() {
        let upgrades: &[&str] =
            if transport == Transport::Polling && core.config.allow_websocket { &["websocket"] } else { &[] };
        let cfg = &core.config;
        session.push([packet::open_packet(
            &sid,
            upgrades,
            cfg.ping_interval.as_millis(),
            cfg.ping_timeout.as_millis(),
            cfg.max_payload,
        )]);
        core.sessions.lock().insert(sid, session.clone());
    }
    if transport == Transport::Polling {
        core.runtime.spawn(run_session(core.clone(), session.clone()));
    }
    session
}

/// The task of a session opened by polling: its heartbeat, then its end.
async fn run_session(core: Arc<HubCore>, session: Arc<EngineSession>) {
    if session.protocol.is_engine_io() {
        let cfg = &core.config;
        let mut heartbeat = Heartbeat::new(&session, cfg);
        while let Some(next) = heartbeat.tick(&session, cfg) {
            tokio::select! {
                _ = session.closed.cancelled() => break,
                _ = tokio::time::sleep_until(next) => {}
                _ = session.activity.notified() => heartbeat.on_activity(&session, cfg),
            }
        }
    }
    session.closed.cancelled().await;
    if session.close_reason() == DisconnectReason::TransportClose && session.transport() == Transport::Polling {
        // A polling client that sent "close" may have its last GET in flight:
        // keep the sid briefly so that GET gets its noop, not "unknown sid".
        session.noop_delivered(std::time::Duration::from_millis(200)).await;
    }
    end_session(&core, &session);
}

/// The single cleanup of a session that closed: it leaves the registry and
/// every socket of it is detached with the session's reason.
pub fn end_session(core: &HubCore, session: &EngineSession) {
    if session.protocol.is_engine_io() {
        core.sessions.lock().remove(&session.sid);
    }
    conn::detach_all(session, session.close_reason());
}

/// A packet whose handling goes on after the call: a namespace connect
/// running its guards. The packets after it wait for it.
pub type Connecting = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Handles one decoded packet from either transport.
pub fn on_packet(
    core: &Arc<HubCore>,
    session: &Arc<EngineSession>,
    packet: Packet,
) -> Result<Option<Connecting>, DisconnectReason> {
    if let Packet::Pong(_) = packet {
        session.pong_received.store(true, Ordering::Release);
    }
    if session.opened_by_polling {
        session.activity.notify_one();
    }
    match packet {
        Packet::Pong(_) | Packet::Noop | Packet::Upgrade => Ok(None),
        Packet::Message(text) if session.protocol.is_plain() => rawws::on_text(session, text).map(|()| None),
        Packet::Binary(data) if session.protocol.is_plain() => rawws::on_binary(session, data).map(|()| None),
        Packet::Message(text) => conn::on_text(core, session, text),
        Packet::Binary(data) => conn::on_binary(session, data).map(|()| None),
        Packet::Close => {
            // A pending poll of a client that closes gets a noop, as in the reference server.
            session.send_noop();
            Err(DisconnectReason::TransportClose)
        }
        Packet::Ping(data) => {
            let mut pong = String::from("3");
            pong.push_str(data.as_str());
            session.push([Frame::text(pong)]);
            Ok(None)
        }
        Packet::Open => Err(DisconnectReason::ParseError),
    }
}
