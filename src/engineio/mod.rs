//! Engine.IO v4: the packet codec (`packet`), the session with its queue
//! (`session`), and the two transports (`polling`, `websocket`) with the
//! upgrade between them. This module routes a request under the Engine.IO
//! path and runs each session's heartbeat.

pub mod packet;
pub mod polling;
pub mod session;
pub mod websocket;

use std::sync::Arc;

use crate::hub::{DisconnectReason, HubCore};
use crate::server::http::{Request, Response};
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
    pub sid: Option<String>,
}

/// Validates `EIO`, `transport` and `sid` as the reference server does.
pub fn check_query(core: &HubCore, req: &Request) -> Result<EioQuery, ErrorCode> {
    let transport = match req.query_param("transport").as_deref() {
        Some("polling") if core.config.allow_polling => Transport::Polling,
        Some("websocket") if core.config.allow_websocket => Transport::WebSocket,
        _ => return Err(ErrorCode::UnknownTransport),
    };
    if req.query_param("EIO").as_deref() != Some("4") {
        return Err(ErrorCode::UnsupportedProtocolVersion);
    }
    let sid = req.query_param("sid");
    match &sid {
        Some(sid) if core.session(sid).is_none() => return Err(ErrorCode::UnknownSid),
        None if req.method != "GET" => return Err(ErrorCode::BadHandshakeMethod),
        _ => {}
    }
    Ok(EioQuery { transport, sid })
}

/// Creates a session, registers it and starts its heartbeat task.
pub fn open_session(core: &Arc<HubCore>, req: &Request, protocol: Protocol, transport: Transport) -> Arc<EngineSession> {
    let sid = crate::sid::generate();
    let handshake = Arc::new(req.handshake());
    let session = EngineSession::new(
        sid.clone(),
        protocol,
        transport,
        handshake,
        core.config.max_queued_frames,
        core.config.slow_consumer,
    );
    if protocol == Protocol::SocketIo {
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

/// Owns a session's life: pings, the ping timeout, the connect timeout,
/// and the single cleanup when it ends.
async fn run_session(core: Arc<HubCore>, session: Arc<EngineSession>) {
    if session.protocol == Protocol::SocketIo {
        heartbeat(&core, &session).await;
    }
    session.closed.cancelled().await;
    let reason = session.close_reason();
    if session.protocol == Protocol::SocketIo {
        core.sessions.lock().remove(&session.sid);
    }
    conn::detach_all(&session, reason);
}

async fn heartbeat(core: &HubCore, session: &EngineSession) {
    let cfg = &core.config;
    let connect_deadline = tokio::time::sleep(cfg.connect_timeout);
    tokio::pin!(connect_deadline);
    let mut connect_checked = false;
    loop {
        let ping_at = tokio::time::sleep(cfg.ping_interval);
        tokio::pin!(ping_at);
        loop {
            tokio::select! {
                _ = session.closed.cancelled() => return,
                _ = &mut ping_at => break,
                _ = &mut connect_deadline, if !connect_checked => {
                    connect_checked = true;
                    if !session.sio.lock().connected_once {
                        tracing::debug!(sid = %session.sid, "no namespace joined before the connect timeout");
                        session.close(DisconnectReason::TransportClose);
                        return;
                    }
                }
            }
        }
        session.pong_received.store(false, std::sync::atomic::Ordering::Release);
        session.push(&[Frame::PING]);
        tokio::select! {
            _ = session.closed.cancelled() => return,
            _ = tokio::time::sleep(cfg.ping_timeout) => {}
        }
        if !session.pong_received.load(std::sync::atomic::Ordering::Acquire) {
            session.close(DisconnectReason::PingTimeout);
            return;
        }
    }
}

/// Handles one decoded packet from either transport.
pub async fn on_packet(core: &Arc<HubCore>, session: &Arc<EngineSession>, packet: Packet) -> Result<(), DisconnectReason> {
    match packet {
        Packet::Pong(_) => {
            session.pong_received.store(true, std::sync::atomic::Ordering::Release);
            Ok(())
        }
        Packet::Message(text) => conn::on_text(core, session, text).await,
        Packet::Binary(data) => conn::on_binary(session, data),
        Packet::Close => Err(DisconnectReason::TransportClose),
        Packet::Ping(data) => {
            let mut pong = String::from("3");
            pong.push_str(data.as_str());
            session.push(&[Frame::text(pong)]);
            Ok(())
        }
        Packet::Noop | Packet::Upgrade => Ok(()),
        Packet::Open => Err(DisconnectReason::ParseError),
    }
}
