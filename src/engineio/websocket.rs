//! The WebSocket transport: a reader that decodes and dispatches in order,
//! and a writer that drains the session's queue and sends every queued frame
//! in one flush (one write for many frames).

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::packet::{self, Frame, Packet};
use super::session::{EngineSession, Protocol, Transport};
use crate::hub::{DisconnectReason, HubCore};

/// Runs a session over a WebSocket until either side closes it.
pub async fn run<S>(core: Arc<HubCore>, ws: WebSocketStream<S>, session: Arc<EngineSession>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut sink, mut stream) = ws.split();
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
pub async fn upgrade<S>(core: Arc<HubCore>, mut ws: WebSocketStream<S>, session: Arc<EngineSession>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
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
        let _ = ws.close(None).await;
        return;
    }
    session.set_transport(Transport::WebSocket);
    run(core, ws, session).await;
}
