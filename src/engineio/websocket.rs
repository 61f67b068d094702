//! The WebSocket transport: a reader that decodes and dispatches in order,
//! and a writer that drains the session's queue and sends every queued frame
//! in one flush (one write for many frames).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::packet::{self, Frame, Packet};
use super::session::{EngineSession, Protocol, Transport};
use crate::hub::{DisconnectReason, HubCore};

/// A WebSocket as the transports use it: tokio-tungstenite's
/// `WebSocketStream`, or, when permessage-deflate was negotiated,
/// `server::deflate::DeflateStream`. Each gets its own copy of the code
/// (generics), so the plain one pays nothing for the other.
pub trait WsConn:
    Stream<Item = Result<Message, tungstenite::Error>> + Sink<Message, Error = tungstenite::Error> + Unpin + Send
{
}
impl<T> WsConn for T where
    T: Stream<Item = Result<Message, tungstenite::Error>> + Sink<Message, Error = tungstenite::Error> + Unpin + Send
{
}

/// Runs a session over a WebSocket until either side closes it.
pub async fn run<W: WsConn>(core: Arc<HubCore>, ws: W, session: Arc<EngineSession>) {
    let (mut sink, mut stream) = ws.split();
    // Text that is not UTF-8 closes with 1007, other protocol errors with 1002 (RFC 6455 7.4.1).
    let invalid_utf8 = AtomicBool::new(false);
    let reader = async {
        loop {
            let msg = tokio::select! {
                _ = session.closed.cancelled() => break,
                msg = stream.next() => msg,
            };
            let result = match msg {
                None => Err(DisconnectReason::TransportClose),
                Some(Err(e)) => {
                    tracing::debug!(sid = %session.sid, error = %e, "websocket read failed");
                    invalid_utf8.store(matches!(e, tungstenite::Error::Utf8(_)), Ordering::Relaxed);
                    Err(close_reason_for(&e))
                }
                Some(Ok(msg)) => on_message(&core, &session, msg).await,
            };
            if let Err(reason) = result {
                session.close(reason);
                break;
            }
        }
    };
    let writer = async {
        let mut batch = Vec::with_capacity(8);
        loop {
            session.drain_into(&mut batch);
            if batch.is_empty() {
                if session.is_closed() {
                    break;
                }
                session.wait_for_frames().await;
                continue;
            }
            let mut failed = false;
            for frame in batch.drain(..) {
                if sink.feed(to_message(frame)).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed || sink.flush().await.is_err() {
                batch.clear();
                session.close(DisconnectReason::TransportError);
                return;
            }
        }
        let code = match session.close_reason() {
            DisconnectReason::ParseError if invalid_utf8.load(Ordering::Relaxed) => CloseCode::Invalid,
            DisconnectReason::ParseError => CloseCode::Protocol,
            DisconnectReason::TransportError => CloseCode::Size,
            DisconnectReason::ServerShuttingDown => CloseCode::Away,
            _ => CloseCode::Normal,
        };
        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: "".into() }))).await;
        let _ = sink.close().await;
    };
    tokio::join!(reader, writer);
}

fn close_reason_for(e: &tungstenite::Error) -> DisconnectReason {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => DisconnectReason::TransportClose,
        tungstenite::Error::Io(_) => DisconnectReason::TransportClose,
        tungstenite::Error::Capacity(_) => DisconnectReason::TransportError,
        _ => DisconnectReason::ParseError,
    }
}

fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(t) => Message::Text(t),
        Frame::Binary(b) => Message::Binary(b),
    }
}

async fn on_message(core: &Arc<HubCore>, session: &Arc<EngineSession>, msg: Message) -> Result<(), DisconnectReason> {
    if session.protocol == Protocol::Raw {
        return crate::rawws::on_message(session, msg);
    }
    let packet = match msg {
        Message::Text(text) => packet::decode_text(text).map_err(|e| {
            tracing::debug!(sid = %session.sid, error = %e, "undecodable Engine.IO packet");
            DisconnectReason::ParseError
        })?,
        Message::Binary(data) => Packet::Binary(data),
        Message::Close(_) => return Err(DisconnectReason::TransportClose),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Ok(()),
    };
    super::on_packet(core, session, packet).await
}

/// The upgrade of a polling session: `2probe` → `3probe`, the polling side
/// gets a noop, then `5` hands the session over to this WebSocket.
pub async fn upgrade<W: WsConn>(core: Arc<HubCore>, mut ws: W, session: Arc<EngineSession>) {
    let timeout = core.config.upgrade_timeout;
    let probe = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "2probe" => {
                    ws.send(Message::Text("3probe".into())).await.ok()?;
                    session.set_transport(Transport::Upgrading);
                    session.send_noop();
                }
                Some(Ok(Message::Text(t))) if t.as_str() == "5" => {
                    return (session.transport() == Transport::Upgrading).then_some(());
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => return None,
            }
        }
    };
    let done = tokio::select! {
        r = tokio::time::timeout(timeout, probe) => matches!(r, Ok(Some(()))),
        _ = session.closed.cancelled() => false,
    };
    if !done {
        if session.transport() == Transport::Upgrading {
            session.set_transport(Transport::Polling);
        }
        let _ = ws.send(Message::Close(None)).await;
        return;
    }
    session.set_transport(Transport::WebSocket);
    run(core, ws, session).await;
}
