//! The WebSocket transport: one task per connection reads and dispatches in
//! order, writes every queued frame in one write, and keeps the heartbeat of
//! a session opened on it. One task, not a reader and a writer joined: a
//! broadcast wakes it once, and an idle connection keeps one small future.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::{Context, Poll};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error, Message};

use super::heartbeat::Heartbeat;
use super::packet::{self, Frame, Packet};
use smallvec::SmallVec;

use super::session::{EngineSession, Protocol, Queued, Transport};
use super::{end_session, Connecting, Engine};
use crate::reason::DisconnectReason;
use crate::ws::{FrameWriter, Stream, WsStream};

/// Batches written per poll before the task yields to others.
const WRITES_PER_POLL: usize = 8;

/// Serves a session opened on this WebSocket, from its first packet to its
/// end: this task is the session's owner (heartbeat and cleanup). `conn` is
/// the server's count of the connection, dropped at the end. (The task is
/// this future itself, not a block around it: a block would keep a second,
/// moved-from copy of `ws` for the connection's life.)
pub async fn serve<S: Stream>(
    engine: Arc<Engine>,
    mut ws: WsStream<S>,
    session: Arc<EngineSession>,
    conn: impl Send + 'static,
) {
    let _conn = conn;
    // (Boxed by the receiver: the guards' state must not enlarge the task of every idle connection.)
    if let Some(admit) = session.receiver.admit(&session) {
        if let Err(refusal) = admit.await {
            // A raw client reads why it was refused; a plain Engine.IO one gets a bare close.
            match session.protocol {
                Protocol::Raw => ws.close(Some(CloseCode::Policy), &refusal).await,
                _ => ws.close(None, "").await,
            }
            end_session(&engine, &session);
            return;
        }
    }
    run(&engine, &mut ws, &session, true).await;
}

/// The upgrade of a polling session: `2probe` → `3probe`, the polling side
/// gets a noop, then `5` hands the session over to this WebSocket. The
/// session task keeps the heartbeat and the cleanup. Only one WebSocket may
/// try at a time; another is closed at once, as the reference server does.
pub async fn upgrade<S: Stream>(
    engine: Arc<Engine>,
    mut ws: WsStream<S>,
    session: Arc<EngineSession>,
    conn: impl Send + 'static,
) {
    let _conn = conn;
    if !session.claim_upgrade() {
        ws.close(None, "").await;
        return;
    }
    // Boxed: the probe's state is needed once, not while the connection idles.
    if !Box::pin(probe(&engine, &mut ws, &session)).await {
        if session.transport() == Transport::Upgrading {
            session.set_transport(Transport::Polling);
        }
        session.release_upgrade();
        ws.close(None, "").await;
        return;
    }
    session.set_transport(Transport::WebSocket);
    session.counters.upgraded(&session.counted_as);
    session.receiver.upgraded();
    run(&engine, &mut ws, &session, false).await;
}

/// True once the client finished the upgrade within `upgrade_timeout`.
/// Messages that arrived together are handled in one poll, so a client that
/// sends `2probe` and `5` at once finds the session upgraded by its next
/// request, as with the reference server's single thread.
async fn probe<S: Stream>(engine: &Engine, ws: &mut WsStream<S>, session: &EngineSession) -> bool {
    let mut probes_to_answer = 0;
    let exchange = poll_fn(|cx| loop {
        let mut done = None;
        let read = ws.poll_read(cx, |msg| match msg {
            Message::Text(t) if t.as_str() == "2probe" => {
                probes_to_answer += 1;
                session.set_transport(Transport::Upgrading);
                session.send_noop();
                ControlFlow::Continue(())
            }
            Message::Text(t) if t.as_str() == "5" => {
                done = Some(session.transport() == Transport::Upgrading);
                ControlFlow::Break(())
            }
            _ => {
                done = Some(false);
                ControlFlow::Break(())
            }
        });
        if probes_to_answer > 0 {
            let answers = std::mem::take(&mut probes_to_answer);
            if ws.send(cx, |w| (0..answers).for_each(|_| w.text("3probe"))).is_err() {
                return Poll::Ready(false);
            }
        }
        if let Some(ok) = done {
            return Poll::Ready(ok);
        }
        match read {
            Poll::Ready(Ok(())) => continue,
            Poll::Ready(Err(_)) => return Poll::Ready(false),
            Poll::Pending => return Poll::Pending,
        }
    });
    tokio::select! {
        r = tokio::time::timeout(engine.config.upgrade_timeout, exchange) => r.unwrap_or(false),
        _ = session.closed.cancelled() => false,
    }
}

/// Runs a session over a WebSocket until either side closes it; with
/// `owner`, this task also keeps the session's heartbeat and ends it.
async fn run<S: Stream>(engine: &Arc<Engine>, ws: &mut WsStream<S>, session: &Arc<EngineSession>, owner: bool) {
    // Two steps, two futures: the timer and the state of the first are gone
    // (their space reused) by the second.
    let invalid_utf8 = serve_frames(engine, ws, session, owner).await;
    finish(engine, ws, session, owner, invalid_utf8).await;
}

/// Reads, dispatches, writes and keeps the heartbeat until the session
/// closes; true when it closed for text that was not UTF-8.
async fn serve_frames<S: Stream>(
    engine: &Arc<Engine>,
    ws: &mut WsStream<S>,
    session: &Arc<EngineSession>,
    owner: bool,
) -> bool {
    let cfg = &engine.config;
    let mut heartbeat = (owner && session.protocol.is_engine_io()).then(|| Heartbeat::new(session, cfg));
    // Due at once: the first tick says when the heartbeat is next due.
    let timer = tokio::time::sleep_until(session.opened);
    tokio::pin!(timer);
    let mut connecting: Option<Connecting> = None;
    // Text that is not UTF-8 closes with 1007, other protocol errors with 1002 (RFC 6455 7.4.1).
    let mut invalid_utf8 = false;
    poll_fn(|cx| {
        loop {
            // Packets are handled in order: while a namespace connect runs its
            // guards, the next messages wait for it in the session (a client
            // that closes meanwhile is noticed), and past the wait's bound, or
            // from a plain client, in the socket.
            if let Some(c) = connecting.as_mut() {
                if c.as_mut().poll(cx).is_pending() {
                    if session.protocol == Protocol::Raw || session.deferral_full() {
                        break;
                    }
                } else {
                    connecting = None;
                    match super::resume(session) {
                        Ok(None) => {}
                        Ok(Some(c)) => {
                            connecting = Some(c);
                            continue;
                        }
                        Err(reason) => {
                            session.close(reason);
                            break;
                        }
                    }
                }
            }
            if session.is_closed() {
                break;
            }
            let mut seen = false;
            let read = ws.poll_read(cx, |msg| {
                seen = true;
                match on_message(session, msg) {
                    Ok(None) if connecting.is_some() && session.deferral_full() => ControlFlow::Break(()),
                    Ok(None) => ControlFlow::Continue(()),
                    Ok(Some(c)) => {
                        connecting = Some(c);
                        ControlFlow::Break(())
                    }
                    Err(reason) => {
                        session.close(reason);
                        ControlFlow::Break(())
                    }
                }
            });
            if let (true, Some(hb)) = (seen, heartbeat.as_mut()) {
                hb.on_activity(session, cfg);
            }
            match read {
                Poll::Ready(Ok(())) => continue, // stopped for a connect, or the session closed
                Poll::Ready(Err(e)) => {
                    if !matches!(e, Error::ConnectionClosed) {
                        tracing::debug!(sid = %session.sid, error = %e, "websocket read failed");
                    }
                    invalid_utf8 = matches!(e, Error::Utf8(_));
                    session.close(close_reason_for(&e));
                    break;
                }
                Poll::Pending => break,
            }
        }
        if let Some(hb) = heartbeat.as_mut() {
            while timer.as_mut().poll(cx).is_ready() {
                match hb.tick(session, cfg) {
                    Some(next) => timer.as_mut().reset(next),
                    None => {
                        heartbeat = None; // it closed the session
                        break;
                    }
                }
            }
        }
        if write_queued(cx, ws, session).is_err() {
            session.close(DisconnectReason::TransportError);
        }
        if session.is_closed() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    invalid_utf8
}

/// Ends a closed session's WebSocket.
async fn finish<S: Stream>(
    engine: &Arc<Engine>,
    ws: &mut WsStream<S>,
    session: &Arc<EngineSession>,
    owner: bool,
    invalid_utf8: bool,
) {
    // What was queued before the close still goes out (a disconnect packet,
    // a connect error), then the close frame; a client that does not read
    // gets ping_timeout for it.
    let rest = poll_fn(|cx| Poll::Ready(session.take_frames(cx))).await;
    if let Some(frames) = rest {
        let _ = poll_fn(|cx| Poll::Ready(ws.send(cx, |w| write_frames(w, &frames, session)))).await;
    }
    if owner {
        // Now, not after the close below: a client that does not read must
        // not hold back the disconnect handlers.
        end_session(engine, session);
    }
    let code = match session.close_reason() {
        DisconnectReason::ParseError if invalid_utf8 => CloseCode::Invalid,
        DisconnectReason::ParseError => CloseCode::Protocol,
        DisconnectReason::TransportError => CloseCode::Size,
        DisconnectReason::ServerShuttingDown => CloseCode::Away,
        _ => CloseCode::Normal,
    };
    let _ = tokio::time::timeout(engine.config.ping_timeout, ws.close(Some(code), "")).await;
}

/// Sends what the session queued, a batch per write, until the queue is
/// empty (the session will wake this task for more) or the socket is full
/// (its readiness will).
fn write_queued<S: Stream>(cx: &mut Context<'_>, ws: &mut WsStream<S>, session: &EngineSession) -> Result<(), Error> {
    for _ in 0..WRITES_PER_POLL {
        if let Poll::Ready(Err(e)) = ws.poll_flush(cx) {
            return Err(e.into());
        }
        if ws.has_pending_output() {
            session.watch(cx); // a close must still wake this task
            return Ok(());
        }
        let Some(frames) = session.take_frames(cx) else { return Ok(()) };
        ws.send(cx, |w| write_frames(w, &frames, session))?;
    }
    cx.waker().wake_by_ref(); // more keeps coming: yield, then go on
    Ok(())
}

fn write_frames(w: &mut FrameWriter<'_>, frames: &VecDeque<Queued>, session: &EngineSession) {
    // Whether each watched packet went deflated (none is kept for the others).
    let mut deflated: SmallVec<[bool; 4]> = SmallVec::new();
    let mut bytes = 0;
    for q in frames {
        bytes += q.frame.len();
        let compress = q.options.compress;
        let d = match &q.frame {
            Frame::Text(t) => w.message(1, t.as_bytes(), compress),
            Frame::Binary(b) if session.eio3 => w.message(2, &super::v3::binary_frame(b), compress),
            Frame::Binary(b) => w.message(2, b, compress),
        };
        if q.watched {
            deflated.push(d);
        }
    }
    session.counters.bytes_sent.add(bytes as u64);
    if !deflated.is_empty() {
        super::tell_sent(session, frames.iter().filter(|q| q.watched).zip(deflated), true);
    }
}

fn close_reason_for(e: &Error) -> DisconnectReason {
    match e {
        Error::ConnectionClosed | Error::AlreadyClosed => DisconnectReason::TransportClose,
        Error::Io(_) => DisconnectReason::TransportClose,
        Error::Capacity(_) => DisconnectReason::TransportError,
        _ => DisconnectReason::ParseError,
    }
}

fn on_message(session: &Arc<EngineSession>, msg: Message) -> Result<Option<Connecting>, DisconnectReason> {
    if let Message::Text(_) | Message::Binary(_) = &msg {
        session.counters.bytes_received.add(msg.len() as u64);
    }
    if session.protocol == Protocol::Raw {
        // The raw endpoint's messages are the client's own, with no Engine.IO packet type.
        return match msg {
            Message::Text(text) => session.receiver.on_text(session, text),
            Message::Binary(data) => session.receiver.on_binary(session, data).map(|()| None),
            Message::Close(_) => Err(DisconnectReason::TransportClose),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
        };
    }
    let packet = match msg {
        Message::Text(text) => packet::decode_text(text).map_err(|e| {
            tracing::debug!(sid = %session.sid, error = %e, "undecodable Engine.IO packet");
            DisconnectReason::ParseError
        })?,
        Message::Binary(data) if session.eio3 => super::v3::binary_message(data).map_err(|e| {
            tracing::debug!(sid = %session.sid, error = %e, "undecodable Engine.IO v3 binary packet");
            DisconnectReason::ParseError
        })?,
        Message::Binary(data) => Packet::Binary(data),
        Message::Close(_) => return Err(DisconnectReason::TransportClose),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Ok(None),
    };
    super::on_packet(session, packet)
}
