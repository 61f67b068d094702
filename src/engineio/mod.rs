//! Engine.IO v4: the packet codec (`packet`), the session with its queue
//! (`session`), and the two transports (`polling`, `websocket`) with the
//! upgrade between them. This module routes a request under the Engine.IO
//! path and runs each session's heartbeat.
//!
//! The layer knows sessions, transports and frames, nothing above them: each
//! session hands its messages, in order, to the [`Receiver`] that the
//! layer above gave it when it opened (the hub's connection, which reads
//! them as Socket.IO packets or as plain messages). What the layers above
//! keep of a session is its outbound queue ([`session::Outbound`]).

mod heartbeat;
pub mod packet;
pub mod polling;
pub mod session;
pub(crate) mod v3;
pub mod websocket;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tungstenite::Utf8Bytes;

use crate::config::Config;
use crate::http::{Request, Response};
use crate::metrics::{Carrier, HubCounters};
use crate::reason::DisconnectReason;
use crate::Handshake;
use heartbeat::Heartbeat;
use packet::{Frame, Packet};
use session::{EngineSession, PacketOptions, Protocol, Queued, Transport};

/// A future of the layer above that the session's reader waits for.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A packet whose handling goes on after the call: a namespace connect
/// running its guards. The packets after it wait for it.
pub type Connecting = BoxFuture<()>;

/// What the layer above does with new sessions.
pub trait Handler: Send + Sync + 'static {
    /// A session carrying `protocol` is being opened: what will receive its messages.
    fn receiver(&self, protocol: Protocol) -> Arc<dyn Receiver>;
    /// Before a Socket.IO or Engine.IO session is opened for this request: a
    /// future when it must first be allowed (Socket.IO's `allowRequest`);
    /// its `Err` holds the message of the 403 the client gets.
    fn allow(&self, _handshake: &Arc<Handshake>) -> Option<BoxFuture<Result<(), String>>> {
        None
    }
}

/// Whether a request may open a session (see `Handler::allow`): `Err` is
/// the 403 to answer.
pub async fn allowed(engine: &Engine, req: &Request, handshake: &Arc<Handshake>) -> Result<(), Response> {
    let Some(decision) = engine.handler.allow(handshake) else { return Ok(()) };
    let refused = tokio::select! {
        verdict = decision => verdict.err(),
        _ = engine.shutdown.cancelled() => Some(ErrorCode::Forbidden.message().to_string()),
    };
    match refused {
        None => Ok(()),
        Some(message) => {
            tracing::debug!(peer = %req.remote_addr, message, "a request was not allowed: 403");
            Err(ErrorCode::Forbidden.response_with(req, &engine.config, &message))
        }
    }
}

/// What receives the messages of one session, in order, from whichever
/// transport carries it at the time. An `Err` closes the session with that
/// reason; it never touches another session.
pub trait Receiver: Send + Sync {
    /// Before the first message: a future when the session must first be
    /// admitted (a plain client runs the main namespace's guards); its
    /// `Err` holds the refusal's message, and the session is closed.
    fn admit(&self, session: &Arc<EngineSession>) -> Option<BoxFuture<Result<(), String>>>;
    fn on_text(&self, session: &Arc<EngineSession>, text: Utf8Bytes) -> Result<Option<Connecting>, DisconnectReason>;
    fn on_binary(&self, session: &Arc<EngineSession>, data: Bytes) -> Result<(), DisconnectReason>;
    /// True once the client made use of the session (joined a namespace):
    /// `connect_timeout` no longer applies.
    fn established(&self) -> bool;
    /// The session ended, with this reason (called once, by its owner).
    fn closed(&self, reason: DisconnectReason);
    /// The session moved from polling to its WebSocket (called once, if ever).
    fn upgraded(&self) {}
    /// Packets just handed to the transport, in order: those queued while
    /// the session was watched (`EngineSession::set_watching`). Called by the
    /// task that writes them, outside every lock.
    fn packets_sent(&self, _session: &EngineSession, _packets: &[SentPacket<'_>]) {}
}

/// Tells a watching receiver of the packets just handed to a transport:
/// those queued while the session was watched, each with whether it went
/// deflated. One pass and no allocation while none was.
fn tell_sent<'a>(session: &EngineSession, sent: impl Iterator<Item = (&'a Queued, bool)>, websocket: bool) {
    let packets: Vec<SentPacket<'_>> = sent
        .filter(|(q, _)| q.watched)
        .map(|(q, deflated)| SentPacket { frame: &q.frame, options: q.options, websocket, deflated })
        .collect();
    if !packets.is_empty() {
        session.receiver.packets_sent(session, &packets);
    }
}

/// A packet handed to a transport, as a watching receiver hears of it.
#[derive(Debug, Clone, Copy)]
pub struct SentPacket<'a> {
    pub frame: &'a Frame,
    pub options: PacketOptions,
    /// Written as a WebSocket message (else in a polling response).
    pub websocket: bool,
    /// Written deflated (permessage-deflate negotiated, compress allowed,
    /// and the frame past the threshold).
    pub deflated: bool,
}

/// The Engine.IO server: the live sessions (by sid, for polling requests and
/// upgrades) and what their tasks share.
pub struct Engine {
    pub config: Config,
    sessions: Mutex<HashMap<Arc<str>, Arc<EngineSession>>>,
    pub shutdown: CancellationToken,
    pub runtime: tokio::runtime::Handle,
    handler: Arc<dyn Handler>,
    /// The hub's counters: every session counts into them.
    pub counters: Arc<HubCounters>,
}

impl Engine {
    pub fn new(
        config: Config,
        runtime: tokio::runtime::Handle,
        shutdown: CancellationToken,
        handler: Arc<dyn Handler>,
        counters: Arc<HubCounters>,
    ) -> Engine {
        Engine { config, sessions: Mutex::new(HashMap::new()), shutdown, runtime, handler, counters }
    }

    pub fn session(&self, sid: &str) -> Option<Arc<EngineSession>> {
        self.sessions.lock().get(sid).cloned()
    }

    /// How many Engine.IO sessions are open.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Closes every session with `reason` (their owners clean up).
    pub fn close_all(&self, reason: DisconnectReason) {
        let sessions: Vec<_> = self.sessions.lock().values().cloned().collect();
        for s in sessions {
            s.close(reason);
        }
    }

    /// Forgets every session (after the runtime ended, when no owner is left to).
    pub fn clear(&self) {
        self.sessions.lock().clear();
    }
}

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

    pub fn response(self, req: &Request, cfg: &Config) -> Response {
        self.response_with(req, cfg, self.message())
    }

    /// The error with a message of the layer above's (e.g. `allowRequest`'s).
    pub fn response_with(self, req: &Request, cfg: &Config, message: &str) -> Response {
        let status = if self == ErrorCode::Forbidden { 403 } else { 400 };
        let body = serde_json::json!({ "code": self as u8, "message": message }).to_string();
        Response::new(status).content_type("application/json").cors(req, cfg).body(body.into_bytes())
    }
}

/// The checked query of an Engine.IO request.
pub struct EioQuery {
    pub transport: Transport,
    /// The live session the request names (`sid`), if any.
    pub session: Option<Arc<EngineSession>>,
    /// The client speaks Engine.IO v3 (`EIO=3`, with `allow_eio3`).
    pub eio3: bool,
}

/// Validates `EIO`, `transport` and `sid` as the reference server does.
pub fn check_query(engine: &Engine, req: &Request) -> Result<EioQuery, ErrorCode> {
    let transport = match req.query_param("transport") {
        Some("polling") if engine.config.allow_polling => Transport::Polling,
        Some("websocket") if engine.config.allow_websocket => Transport::WebSocket,
        _ => return Err(ErrorCode::UnknownTransport),
    };
    let eio3 = match req.query_param("EIO") {
        Some("4") => false,
        Some("3") if engine.config.allow_eio3 => true,
        _ => return Err(ErrorCode::UnsupportedProtocolVersion),
    };
    let session = match req.query_param("sid") {
        // A closed session is gone, except for the noop or the close packet
        // its next GET is owed.
        Some(sid) => match engine.session(sid) {
            Some(s) if !s.is_closed() || s.noop_pending() || (req.method == "GET" && s.close_owed()) => Some(s),
            _ => return Err(ErrorCode::UnknownSid),
        },
        None if req.method != "GET" => return Err(ErrorCode::BadHandshakeMethod),
        None => None,
    };
    Ok(EioQuery { transport, session, eio3 })
}

/// Creates a session and registers it. A polling session gets a task of its
/// own for its heartbeat and its end; a WebSocket's task does both for a
/// session opened on it (see `websocket::serve`).
pub fn open_session(
    engine: &Arc<Engine>,
    handshake: Arc<Handshake>,
    protocol: Protocol,
    transport: Transport,
    eio3: bool,
) -> Arc<EngineSession> {
    let sid = crate::sid::generate();
    let cfg = &engine.config;
    let receiver = engine.handler.receiver(protocol);
    let opening = session::Opening { protocol, transport, eio3 };
    let session = EngineSession::new(sid.clone(), opening, handshake, receiver, cfg, &engine.counters);
    let carrier = match (protocol, transport) {
        (Protocol::Raw, _) => Carrier::Raw,
        (_, Transport::Polling) => Carrier::Polling,
        _ => Carrier::WebSocket,
    };
    engine.counters.opened(&session.counted_as, carrier);
    if protocol.is_engine_io() {
        let upgrades: &[&str] =
            if transport == Transport::Polling && cfg.allow_websocket { &["websocket"] } else { &[] };
        session.push([packet::open_packet(
            &sid,
            upgrades,
            cfg.ping_interval.as_millis(),
            cfg.ping_timeout.as_millis(),
            cfg.max_payload,
        )]);
        engine.sessions.lock().insert(sid, session.clone());
    }
    if transport == Transport::Polling {
        engine.runtime.spawn(run_session(engine.clone(), session.clone()));
    }
    session
}

/// The task of a session opened by polling: its heartbeat, then its end.
async fn run_session(engine: Arc<Engine>, session: Arc<EngineSession>) {
    if session.protocol.is_engine_io() {
        let cfg = &engine.config;
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
    // The layer above learns of the close at once; the sid may stay a moment
    // longer for the client's last GET.
    session.receiver.closed(session.close_reason());
    if session.close_reason() == DisconnectReason::TransportClose && session.transport() == Transport::Polling {
        // A polling client that sent "close" may have its last GET in flight:
        // keep the sid briefly so that GET gets its noop, not "unknown sid".
        session.noop_delivered(std::time::Duration::from_millis(200)).await;
    } else if session.close_owed() {
        // A client the server closed polls again at once for what it is
        // owed; one that does not is let go after a heartbeat window (at most 5 s).
        let cfg = &engine.config;
        let limit = (cfg.ping_interval + cfg.ping_timeout).min(std::time::Duration::from_secs(5));
        session.close_delivered(limit).await;
    }
    forget_session(&engine, &session);
}

/// The single cleanup of a session that closed: it leaves the registry and
/// its receiver learns the session's reason.
pub fn end_session(engine: &Engine, session: &EngineSession) {
    forget_session(engine, session);
    session.receiver.closed(session.close_reason());
}

fn forget_session(engine: &Engine, session: &EngineSession) {
    engine.counters.ended(&session.counted_as);
    if session.protocol.is_engine_io() {
        engine.sessions.lock().remove(&session.sid);
    }
}

/// Handles one decoded packet from either transport. While a namespace
/// connect runs its guards, messages wait for it (`resume` hands them out
/// after, in order); heartbeat and close packets are handled at once, so a
/// client that leaves meanwhile is noticed. `Ok(None)` for a packet that
/// waits when the wait is full too: the caller sees that with `deferral_full`.
pub fn on_packet(session: &Arc<EngineSession>, packet: Packet) -> Result<Option<Connecting>, DisconnectReason> {
    // The client's heartbeat: its pong to the server's ping, or (Engine.IO
    // v3, where the client pings) its ping.
    match packet {
        Packet::Pong(_) if !session.eio3 => session.pong_received.store(true, Ordering::Release),
        Packet::Ping(_) if session.eio3 => session.pong_received.store(true, Ordering::Release),
        _ => {}
    }
    if session.opened_by_polling {
        session.activity.notify_one();
    }
    let packet = match packet {
        Packet::Message(_) | Packet::Binary(_) => match session.defer(packet) {
            Some(p) => p,
            None => return Ok(None),
        },
        other => other,
    };
    dispatch(session, packet)
}

/// After a namespace connect ended: handles the packets that waited for it,
/// in order, until one starts another connect (returned: the rest wait on)
/// or none is left (then packets are handled as they come again).
pub fn resume(session: &Arc<EngineSession>) -> Result<Option<Connecting>, DisconnectReason> {
    while let Some(packet) = session.next_deferred() {
        if let Some(connecting) = dispatch(session, packet)? {
            return Ok(Some(connecting));
        }
    }
    Ok(None)
}

fn dispatch(session: &Arc<EngineSession>, packet: Packet) -> Result<Option<Connecting>, DisconnectReason> {
    let started = match packet {
        Packet::Pong(_) | Packet::Noop | Packet::Upgrade => return Ok(None),
        Packet::Message(text) => session.receiver.on_text(session, text)?,
        Packet::Binary(data) => {
            session.receiver.on_binary(session, data)?;
            return Ok(None);
        }
        Packet::Close => {
            // A pending poll of a client that closes gets a noop, as in the reference server.
            session.send_noop();
            return Err(DisconnectReason::TransportClose);
        }
        Packet::Ping(data) => {
            let mut pong = String::from("3");
            pong.push_str(data.as_str());
            session.push([Frame::text(pong)]);
            return Ok(None);
        }
        Packet::Open => return Err(DisconnectReason::ParseError),
    };
    if started.is_some() {
        session.begin_deferring();
    }
    Ok(started)
}
