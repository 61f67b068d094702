//! The HTTP long-polling transport: a GET waits for queued packets and takes
//! up to `max_packets_per_poll` of them; a POST carries packets from the
//! client. One GET and one POST at a time per session, as the protocol says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::packet::{self, Frame};
use super::session::{EngineSession, PollBatch, Protocol, Queued, Transport};
use super::{allowed, on_packet, open_session, EioQuery, Engine, ErrorCode};
use crate::http::{Request, Response};
use crate::reason::DisconnectReason;

pub async fn handle(engine: &Arc<Engine>, req: &Request, protocol: Protocol, query: EioQuery) -> Response {
    let Some(session) = query.session else {
        let handshake = Arc::new(req.handshake());
        if let Err(forbidden) = allowed(engine, req, &handshake).await {
            return forbidden;
        }
        let session = open_session(engine, handshake, protocol, Transport::Polling, query.eio3);
        if let Some(admit) = session.receiver.admit(&session) {
            if admit.await.is_err() {
                return ErrorCode::Forbidden.response(req, &engine.config);
            }
        }
        return poll(engine, req, &session).await;
    };
    match req.method.as_str() {
        "GET" if session.transport() == Transport::WebSocket => ErrorCode::BadRequest.response(req, &engine.config),
        "GET" => exclusive(engine, req, &session, &session.poll_active, poll(engine, req, &session)).await,
        "POST" => exclusive(engine, req, &session, &session.post_active, post(engine, req, &session)).await,
        _ => ErrorCode::BadRequest.response(req, &engine.config),
    }
}

/// Runs a GET or POST while holding its one-at-a-time flag; a second
/// concurrent request of the same kind breaks the protocol and closes the session.
async fn exclusive(
    engine: &Engine,
    req: &Request,
    session: &EngineSession,
    active: &AtomicBool,
    request: impl std::future::Future<Output = Response>,
) -> Response {
    if active.swap(true, Ordering::AcqRel) {
        session.close(DisconnectReason::TransportError);
        return ErrorCode::BadRequest.response(req, &engine.config);
    }
    let response = request.await;
    active.store(false, Ordering::Release);
    response
}

/// Waits for frames and answers with a payload of them.
async fn poll(engine: &Engine, req: &Request, session: &EngineSession) -> Response {
    let frames: Vec<Frame> = loop {
        match session.take_poll_batch(engine.config.max_packets_per_poll) {
            PollBatch::Frames(queued) => break sent(session, queued),
            PollBatch::Noop => break vec![Frame::NOOP],
            PollBatch::Closed(queued) => {
                let mut frames = sent(session, queued);
                if frames.is_empty() {
                    frames.push(Frame::NOOP); // "6\x1e1", as the reference server answers
                }
                frames.push(Frame::CLOSE);
                break frames;
            }
            PollBatch::Empty => {
                if engine.shutdown.is_cancelled() {
                    break vec![Frame::CLOSE];
                }
                session.wait_for_frames().await;
            }
        }
    };
    let body = if session.eio3 { super::v3::encode_payload(&frames) } else { packet::encode_payload(&frames) };
    session.counters.bytes_sent.add(body.len() as u64);
    Response::new(200).content_type("text/plain; charset=UTF-8").cors(req, &engine.config).body(body)
}

/// Closes a session for what its client sent. The sockets leave now, before
/// the POST is answered, as in the reference server: a client that
/// reconnects at once finds them gone (and, with recovery, its session
/// saved). A session the client closed ("1") is gone at once too; one closed
/// for a protocol error stays until its owner task ends it, so that a poll
/// still gets what was queued and then the close packet.
fn fail(engine: &Engine, session: &EngineSession, reason: DisconnectReason) {
    session.close(reason);
    if reason == DisconnectReason::TransportClose {
        super::end_session(engine, session);
    } else {
        session.receiver.closed(reason);
    }
}

/// Waits for a namespace connect, then handles the packets that waited for
/// it (and any connect among them), in order.
async fn finish_connecting(engine: &Engine, session: &Arc<EngineSession>, mut connecting: super::Connecting) {
    loop {
        connecting.await;
        match super::resume(session) {
            Ok(None) => return,
            Ok(Some(next)) => connecting = next,
            Err(reason) => return fail(engine, session, reason),
        }
    }
}

/// The frames of queued packets, told to a watching receiver first.
fn sent(session: &EngineSession, queued: Vec<Queued>) -> Vec<Frame> {
    super::tell_sent(session, queued.iter().map(|q| (q, false)), false);
    queued.into_iter().map(|q| q.frame).collect()
}

async fn post(engine: &Arc<Engine>, req: &Request, session: &Arc<EngineSession>) -> Response {
    session.counters.bytes_received.add(req.body.len() as u64);
    let decoded = if session.eio3 {
        super::v3::decode_payload(req.body.clone())
    } else {
        packet::decode_payload(req.body.clone())
    };
    let packets = match decoded {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(sid = %session.sid, error = %e, "undecodable polling payload");
            session.close(DisconnectReason::ParseError);
            return ErrorCode::BadRequest.response(req, &engine.config);
        }
    };
    for p in packets {
        match on_packet(session, p) {
            Ok(None) if session.deferral_full() => {
                tracing::warn!(sid = %session.sid, "too many packets while a namespace connect runs: closing");
                fail(engine, session, DisconnectReason::TransportError);
                break;
            }
            Ok(None) => {}
            // Decided on a task of its own: the POST is answered now, and what
            // comes meanwhile waits for it (`engineio::resume`), as a close does not.
            Ok(Some(connecting)) => {
                let (engine, session) = (engine.clone(), session.clone());
                engine.runtime.clone().spawn(async move { finish_connecting(&engine, &session, connecting).await });
            }
            Err(reason) => {
                fail(engine, session, reason);
                break;
            }
        }
    }
    Response::new(200).content_type("text/html").cors(req, &engine.config).body(b"ok".to_vec())
}
