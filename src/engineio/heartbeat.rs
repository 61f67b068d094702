//! The heartbeat of a session, as a state machine its owner drives: the
//! WebSocket task of a session opened on a WebSocket (no task of its own for
//! it), or the session task of one opened by polling.
//!
//! As in the reference server: a ping every `ping_interval` after the last
//! pong, the session closed when a pong is `ping_timeout` late (the first
//! other packet received while waiting extends the wait once), and a client
//! that joins no namespace within `connect_timeout` is let go.
//!
//! An Engine.IO v3 client pings instead (the server answers each ping with
//! a pong in `on_packet`); the session closes when no ping came within
//! `ping_interval + ping_timeout` of the last one (or of the handshake).

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::packet::Frame;
use super::session::EngineSession;
use crate::config::Config;
use crate::reason::DisconnectReason;

pub struct Heartbeat {
    ping_at: Instant,
    /// While a pong is awaited: when it is late.
    pong_deadline: Option<Instant>,
    /// The wait was extended once by a packet that was not the pong.
    extended: bool,
    /// Until a namespace is joined.
    connect_deadline: Option<Instant>,
    /// Engine.IO v3: when the client's next ping is late (the server never pings).
    client_ping_deadline: Option<Instant>,
}

impl Heartbeat {
    pub fn new(session: &EngineSession, cfg: &Config) -> Heartbeat {
        Heartbeat {
            // The first ping is due ping_interval after the handshake, not
            // after the owner first ran.
            ping_at: session.opened + cfg.ping_interval,
            pong_deadline: None,
            extended: false,
            connect_deadline: Some(session.opened + cfg.connect_timeout),
            client_ping_deadline: session.eio3.then(|| session.opened + cfg.ping_interval + cfg.ping_timeout),
        }
    }

    /// Packets arrived: a pong (the session's `pong_received`) ends the wait
    /// for it; another packet extends the wait once. Between pings they need
    /// no attention.
    pub fn on_activity(&mut self, session: &EngineSession, cfg: &Config) {
        if let Some(deadline) = &mut self.client_ping_deadline {
            // (Set by `on_packet` for a v3 client's ping.)
            if session.pong_received.swap(false, Ordering::AcqRel) {
                *deadline = Instant::now() + cfg.ping_interval + cfg.ping_timeout;
            }
            return;
        }
        if self.pong_deadline.is_none() {
            return;
        }
        let now = Instant::now();
        if session.pong_received.load(Ordering::Acquire) {
            self.pong_deadline = None;
            self.ping_at = now + cfg.ping_interval;
        } else if !self.extended {
            self.extended = true;
            self.pong_deadline = Some(now + cfg.ping_timeout);
        }
    }

    /// Does what is due now (a ping, closing for a late pong or the connect
    /// timeout); returns when to come back, or `None` once it closed the session.
    pub fn tick(&mut self, session: &EngineSession, cfg: &Config) -> Option<Instant> {
        let now = Instant::now();
        if let Some(deadline) = self.connect_deadline.filter(|d| now >= *d) {
            if !session.receiver.established() {
                tracing::debug!(sid = %session.sid, ?deadline, "no namespace joined before the connect timeout");
                session.close(DisconnectReason::TransportClose);
                return None;
            }
            self.connect_deadline = None;
        }
        if let Some(late) = self.client_ping_deadline {
            if now >= late {
                session.close(DisconnectReason::PingTimeout);
                return None;
            }
            return Some(self.connect_deadline.map_or(late, |c| c.min(late)));
        }
        match self.pong_deadline {
            Some(late) if now >= late => {
                session.close(DisconnectReason::PingTimeout);
                return None;
            }
            None if now >= self.ping_at => {
                session.pong_received.store(false, Ordering::Release);
                session.push([Frame::PING]);
                // The pong is due ping_timeout after the ping was due (timer
                // rounding must not give a silent client extra time), but a
                // ping that went out late on a busy server still leaves the
                // client at least half of ping_timeout to answer.
                self.pong_deadline = Some((self.ping_at + cfg.ping_timeout).max(now + cfg.ping_timeout / 2));
                self.extended = false;
            }
            _ => {}
        }
        let next = self.pong_deadline.unwrap_or(self.ping_at);
        Some(self.connect_deadline.map_or(next, |c| c.min(next)))
    }
}
