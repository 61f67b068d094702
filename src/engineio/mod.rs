//! Engine.IO v4: the packet codec (`packet`), the session with its queue
//! (`session`), and the two transports (`polling`, `websocket`) with the
//! upgrade between them. This module routes a request under the Engine.IO
//! path and runs each session's heartbeat.

pub mod packet;
pub mod polling;
pub mod session;
pub mod websocket;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::hub::{DisconnectReason, HubCore};
use crate::server::http::{Request, Response};

use crate::rawws;
use crate::socketio::conn;
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

/// Creates a session, registers it and starts its heartbeat task.
pub fn open_session(
    core: &Arc<HubCore>,
    req: &Request,
    protocol: Protocol,
    transport: Transport,
) -> Arc<EngineSession> {
    let sid = crate::sid::generate();
    let handshake = Arc::new(req.handshake());
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
        session.push(&[packet::open_packet(
            &sid,
            upgrades,
            cfg.ping_interval.as_millis(),
            cfg.ping_timeout.as_millis(),
            cfg.max_payload,
        )]);
        core.sessions.lock().insert(sid, session.clone());
    }
    core.runtime.spawn(run_session(core.clone(), session.clone()));
    session
}

/// Owns a session's life: the heartbeat, the connect timeout, and the single
/// cleanup when it ends.
async fn run_session(core: Arc<HubCore>, session: Arc<EngineSession>) {
    if session.protocol.is_engine_io() {
        heartbeat(&core, &session).await;
    }
    session.closed.cancelled().await;
    let reason = session.close_reason();
    if reason == DisconnectReason::TransportClose && session.transport() == Transport::Polling {
        // A polling client that sent "close" may have its last GET in flight:
        // keep the sid briefly so that GET gets its noop, not "unknown sid".
        session.noop_delivered(std::time::Duration::from_millis(200)).await;
    }
    if session.protocol.is_engine_io() {
        core.sessions.lock().remove(&session.sid);
    }
    conn::detach_all(&session, reason);
}

/// Pings every `ping_interval` after the last pong and closes the session
/// when a pong is `ping_timeout` late. As in the reference server, the first
/// other packet received while waiting for a pong extends the wait once.
async fn heartbeat(core: &HubCore, session: &EngineSession) {
    let cfg = &core.config;
    let connect_deadline = tokio::time::Instant::now() + cfg.connect_timeout;
    let connect_pending = || !session.sio.lock().connected_once;
    // The first ping is due ping_interval after the handshake, not after
    // this task first ran.
    let mut ping_at = session.opened + cfg.ping_interval;
    loop {
        if !wait_until(session, ping_at, connect_deadline, &connect_pending).await {
            return;
        }
        session.pong_received.store(false, Ordering::Release);
        session.push(&[Frame::PING]);
        // The pong is due ping_timeout after the ping was due (timer
        // rounding must not give a silent client extra time), but a ping
        // that went out late on a busy server still leaves the client at
        // least half of ping_timeout to answer.
        let mut pong_deadline = (ping_at + cfg.ping_timeout).max(tokio::time::Instant::now() + cfg.ping_timeout / 2);
        let mut extended = false;
        loop {
            tokio::select! {
                _ = session.closed.cancelled() => return,
                _ = tokio::time::sleep_until(pong_deadline) => {
                    session.close(DisconnectReason::PingTimeout);
                    return;
                }
                _ = tokio::time::sleep_until(connect_deadline), if connect_pending() => {
                    return close_for_connect_timeout(session);
                }
                _ = session.activity.notified() => {
                    if session.pong_received.load(Ordering::Acquire) {
                        ping_at = tokio::time::Instant::now() + cfg.ping_interval;
                        break;
                    }
                    if !extended {
                        extended = true;
                        pong_deadline = tokio::time::Instant::now() + cfg.ping_timeout;
                    }
                }
            }
        }
    }
}

/// Sleeps until `at`; false if the session closed (or timed out connecting) first.
async fn wait_until(
    session: &EngineSession,
    at: tokio::time::Instant,
    connect_deadline: tokio::time::Instant,
    connect_pending: &impl Fn() -> bool,
) -> bool {
    loop {
        tokio::select! {
            _ = session.closed.cancelled() => return false,
            _ = tokio::time::sleep_until(at) => return true,
            _ = tokio::time::sleep_until(connect_deadline), if connect_pending() => {
                close_for_connect_timeout(session);
                return false;
            }
            // Packets arriving between pings need no attention here.
            _ = session.activity.notified() => {}
        }
    }
}

fn close_for_connect_timeout(session: &EngineSession) {
    tracing::debug!(sid = %session.sid, "no namespace joined before the connect timeout");
    session.close(DisconnectReason::TransportClose);
}

/// Handles one decoded packet from either transport.
pub async fn on_packet(
    core: &Arc<HubCore>,
    session: &Arc<EngineSession>,
    packet: Packet,
) -> Result<(), DisconnectReason> {
    if let Packet::Pong(_) = packet {
        session.pong_received.store(true, Ordering::Release);
    }
    session.activity.notify_one();
    match packet {
        Packet::Pong(_) | Packet::Noop | Packet::Upgrade => Ok(()),
        Packet::Message(text) if session.protocol.is_plain() => rawws::on_text(session, text),
        Packet::Binary(data) if session.protocol.is_plain() => rawws::on_binary(session, data),
        Packet::Message(text) => conn::on_text(core, session, text).await,
        Packet::Binary(data) => conn::on_binary(session, data),
        Packet::Close => {
            // A pending poll of a client that closes gets a noop, as in the reference server.
            session.send_noop();
            Err(DisconnectReason::TransportClose)
        }
        Packet::Ping(data) => {
            let mut pong = String::from("3");
            pong.push_str(data.as_str());
            session.push(&[Frame::text(pong)]);
            Ok(())
        }
        Packet::Open => Err(DisconnectReason::ParseError),
    }
}
