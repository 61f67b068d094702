//! One Engine.IO session: its id, its outbound queue and its life.
//!
//! The queue is independent of the transport, so frames queued during an
//! upgrade are neither lost nor reordered: the polling GET or the WebSocket
//! task, whichever carries the session at the time, drains it. Only the
//! session's owner tears it down (`engineio::end_session`), so cleanup runs
//! once: the WebSocket task of a session opened on a WebSocket, the session
//! task of one opened by polling (it keeps that role after an upgrade).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::packet::{Frame, Packet};
use super::Receiver;
use crate::config::{Config, SlowConsumerPolicy};
use crate::metrics::{CountedAs, HubCounters};
use crate::reason::DisconnectReason;
use crate::Handshake;

/// Which transport currently carries the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Transport {
    Polling = 0,
    /// A WebSocket probe succeeded and the polling side was told to pause.
    Upgrading = 1,
    WebSocket = 2,
}

/// What the session carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Socket.IO packets over Engine.IO.
    SocketIo,
    /// Plain Engine.IO messages (the `engine_path` endpoint).
    Engine,
    /// Plain WebSocket messages (the `raw_path` endpoint).
    Raw,
}

impl Protocol {
    /// Plain protocols carry bare messages: each is a `message` event of a
    /// socket of the main namespace.
    pub fn is_plain(self) -> bool {
        self != Protocol::SocketIo
    }

    /// Engine.IO protocols have sids, heartbeats and the polling transport.
    pub fn is_engine_io(self) -> bool {
        self != Protocol::Raw
    }
}

/// How a packet is to travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOptions {
    /// Deflated when the connection negotiated permessage-deflate (Socket.IO's
    /// per-emit `compress` flag, on unless an emit turns it off).
    pub compress: bool,
    /// Encoded once for several receivers (a broadcast): the frame is shared.
    pub shared: bool,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions { compress: true, shared: false }
    }
}

/// Most packets, and bytes of them, that wait for a namespace connect: a
/// WebSocket stops reading there; a polling client that sends more is closed.
const DEFERRED_PACKETS: usize = 256;
const DEFERRED_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Deferred {
    packets: VecDeque<Packet>,
    bytes: usize,
}

/// What a packet weighs in the wait for a connect.
fn deferred_bytes(packet: &Packet) -> usize {
    match packet {
        Packet::Message(t) => t.len(),
        Packet::Binary(b) => b.len(),
        _ => 0,
    }
}

/// A frame in a session's queue, with how it is to travel.
#[derive(Debug, Clone)]
pub struct Queued {
    pub frame: Frame,
    pub options: PacketOptions,
    /// Queued while the session was watched: the receiver hears of it when
    /// it is sent (one made before the watch began is not told, even if sent after).
    pub watched: bool,
}

struct Outbox {
    frames: VecDeque<Queued>,
    /// Payload bytes of the queued frames.
    bytes: usize,
    /// Whoever drains the queue (one consumer at a time: the WebSocket task
    /// or the polling GET), woken by the next push, a close or a transport change.
    waker: Option<Waker>,
    /// The task of `waker`. Its own pushes (the handlers a WebSocket task
    /// runs for the messages it reads) do not wake it: it takes the queue
    /// before it sleeps, and a wake-up would only make it poll again for nothing.
    consumer: Option<tokio::task::Id>,
}

impl Outbox {
    /// The first `n` frames.
    fn take(&mut self, n: usize) -> Vec<Queued> {
        let taken: Vec<Queued> = self.frames.drain(..n).collect();
        self.bytes =
            if self.frames.is_empty() { 0 } else { self.bytes - taken.iter().map(|q| q.frame.len()).sum::<usize>() };
        taken
    }
}

pub struct EngineSession {
    pub sid: Arc<str>,
    pub protocol: Protocol,
    /// When the handshake happened: the first ping is due `ping_interval` after it.
    pub opened: tokio::time::Instant,
    pub handshake: Arc<Handshake>,
    outbox: Mutex<Outbox>,
    transport: AtomicU8,
    /// Cancelled when the session ends; every task of the session watches it.
    pub closed: CancellationToken,
    /// Set with `closed`: the check on every enqueue (once per receiver of a
    /// broadcast) reads this atomic instead of the token, which takes a mutex.
    is_closed: AtomicBool,
    reason: Mutex<Option<DisconnectReason>>,
    pub pong_received: AtomicBool,
    /// Wakes the session task's heartbeat when a packet arrives.
    pub activity: Notify,
    /// Opened by polling: a task of its own keeps the heartbeat (and waits on
    /// `activity`), whatever the transport later. A session opened on a
    /// WebSocket has its WebSocket task do it, and `activity` is not used.
    pub opened_by_polling: bool,
    /// A WebSocket is probing to take the session over: a second one is
    /// refused until that probe fails (as in the reference server).
    upgrade_claimed: AtomicBool,
    pub poll_active: AtomicBool,
    pub post_active: AtomicBool,
    noop_pending: AtomicBool,
    /// Packets that arrived while a namespace connect ran its guards: they
    /// wait here, in order, and are handled once it is decided
    /// (`engineio::resume`). Boxed: rare, and an idle session keeps a pointer.
    deferred: Mutex<Option<Box<Deferred>>>,
    /// `deferred` is Some: the check on every packet reads this, not the lock.
    deferring: AtomicBool,
    /// The receiver wants to hear of every packet handed to the transport
    /// (`Receiver::packets_sent`); off, the writers skip that at one load.
    watching: AtomicBool,
    /// A polling GET took the close packet of a session the server closed.
    close_taken: AtomicBool,
    /// Signalled when a polling GET takes the pending noop or the close packet.
    noop_taken: Notify,
    max_frames: usize,
    max_bytes: usize,
    policy: SlowConsumerPolicy,
    /// What the layer above does with the session's messages.
    pub receiver: Arc<dyn Receiver>,
    /// Engine.IO v3 (`allow_eio3`): the client pings, polling payloads are
    /// length-prefixed, binary WebSocket frames start with the packet type;
    /// the layer above speaks Socket.IO v2 to it.
    pub eio3: bool,
    /// The hub's counters (bytes, drops), and how this session is counted in them.
    pub counters: Arc<HubCounters>,
    pub counted_as: CountedAs,
}

impl Drop for EngineSession {
    /// A session whose end no owner saw (the runtime stopped first) leaves the count here.
    fn drop(&mut self) {
        self.counters.ended(&self.counted_as);
    }
}

/// The result of taking frames for a polling response.
pub enum PollBatch {
    Frames(Vec<Queued>),
    Noop,
    Closed(Vec<Queued>),
    Empty,
}

/// What a new session speaks, and over what it starts.
#[derive(Debug, Clone, Copy)]
pub struct Opening {
    pub protocol: Protocol,
    pub transport: Transport,
    /// Engine.IO v3 (see `EngineSession::eio3`).
    pub eio3: bool,
}

impl EngineSession {
    pub fn new(
        sid: Arc<str>,
        Opening { protocol, transport, eio3 }: Opening,
        handshake: Arc<Handshake>,
        receiver: Arc<dyn Receiver>,
        limits: &Config,
        counters: &Arc<HubCounters>,
    ) -> Arc<EngineSession> {
        Arc::new(EngineSession {
            sid,
            protocol,
            opened: tokio::time::Instant::now(),
            handshake,
            outbox: Mutex::new(Outbox { frames: VecDeque::new(), bytes: 0, waker: None, consumer: None }),
            transport: AtomicU8::new(transport as u8),
            closed: CancellationToken::new(),
            is_closed: AtomicBool::new(false),
            reason: Mutex::new(None),
            pong_received: AtomicBool::new(true),
            activity: Notify::new(),
            opened_by_polling: transport == Transport::Polling,
            upgrade_claimed: AtomicBool::new(false),
            poll_active: AtomicBool::new(false),
            post_active: AtomicBool::new(false),
            noop_pending: AtomicBool::new(false),
            deferred: Mutex::new(None),
            deferring: AtomicBool::new(false),
            watching: AtomicBool::new(false),
            close_taken: AtomicBool::new(false),
            noop_taken: Notify::new(),
            max_frames: limits.max_queued_frames,
            max_bytes: limits.max_queued_bytes,
            policy: limits.slow_consumer,
            receiver,
            eio3,
            counters: counters.clone(),
            counted_as: CountedAs::default(),
        })
    }

    pub fn transport(&self) -> Transport {
        match self.transport.load(Ordering::Acquire) {
            0 => Transport::Polling,
            1 => Transport::Upgrading,
            _ => Transport::WebSocket,
        }
    }

    pub fn set_transport(&self, t: Transport) {
        self.transport.store(t as u8, Ordering::Release);
        self.wake();
    }

    /// True for the one WebSocket that may now try to take this polling
    /// session over; false while another one does, or after one did.
    pub fn claim_upgrade(&self) -> bool {
        self.transport() == Transport::Polling
            && !self.is_closed()
            && !self.upgrade_claimed.swap(true, Ordering::AcqRel)
    }

    /// A probe that failed lets the next WebSocket try.
    pub fn release_upgrade(&self) {
        self.upgrade_claimed.store(false, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.is_closed.load(Ordering::Acquire)
    }

    /// Queues frames (one packet: they stay together). Returns false when
    /// the session is closed or the frames were dropped by the slow-consumer policy.
    /// The frames are moved in: a buffer nobody else holds is not made shared.
    pub fn push(&self, frames: impl IntoIterator<Item = Frame, IntoIter: ExactSizeIterator>) -> bool {
        self.enqueue(frames.into_iter(), false, PacketOptions::default())
    }

    /// Queues a packet with how it is to travel. A volatile one is dropped
    /// (and false returned) when the queue is full, whatever the
    /// slow-consumer policy says.
    pub fn push_with(
        &self,
        frames: impl IntoIterator<Item = Frame, IntoIter: ExactSizeIterator>,
        volatile: bool,
        options: PacketOptions,
    ) -> bool {
        self.enqueue(frames.into_iter(), volatile, options)
    }

    /// Packets from now on wait until `next_deferred` has handed them all out
    /// (a namespace connect started; a no-op while they wait already).
    pub fn begin_deferring(&self) {
        let mut d = self.deferred.lock();
        if d.is_none() {
            *d = Some(Box::default());
            self.deferring.store(true, Ordering::Release);
        }
    }

    /// Keeps `packet` for after the running connect, if one runs; gives it
    /// back when none does (handle it now).
    pub fn defer(&self, packet: Packet) -> Option<Packet> {
        if !self.deferring.load(Ordering::Acquire) {
            return Some(packet);
        }
        let mut guard = self.deferred.lock();
        let Some(d) = guard.as_mut() else { return Some(packet) };
        d.bytes += deferred_bytes(&packet);
        d.packets.push_back(packet);
        None
    }

    /// The first packet waiting; none left, the wait ends.
    pub fn next_deferred(&self) -> Option<Packet> {
        let mut guard = self.deferred.lock();
        let d = guard.as_mut()?;
        let next = d.packets.pop_front();
        match &next {
            Some(p) => d.bytes -= deferred_bytes(p),
            None => {
                *guard = None;
                self.deferring.store(false, Ordering::Release);
            }
        }
        next
    }

    /// Whether the wait for a connect is full (a reader pauses).
    pub fn deferral_full(&self) -> bool {
        self.deferring.load(Ordering::Acquire)
            && self
                .deferred
                .lock()
                .as_ref()
                .is_some_and(|d| d.packets.len() >= DEFERRED_PACKETS || d.bytes >= DEFERRED_BYTES)
    }

    /// Whether the receiver hears of the packets sent (see `Receiver::packets_sent`).
    pub fn set_watching(&self, on: bool) {
        self.watching.store(on, Ordering::Relaxed);
    }

    pub fn watching(&self) -> bool {
        self.watching.load(Ordering::Relaxed)
    }

    fn enqueue(&self, frames: impl ExactSizeIterator<Item = Frame>, volatile: bool, options: PacketOptions) -> bool {
        if self.is_closed() {
            return false;
        }
        let waker = {
            let mut out = self.outbox.lock();
            let (queued_frames, queued_bytes) = (out.frames.len(), out.bytes);
            // An empty queue always takes one packet, however large (it is
            // within max_payload); past that, both bounds hold. The byte
            // bound is checked once the frames are in, and undone if broken.
            let mut over = queued_frames + frames.len() > self.max_frames;
            if !over {
                let watched = self.watching();
                for frame in frames {
                    out.bytes += frame.len();
                    out.frames.push_back(Queued { frame, options, watched });
                }
                over = queued_frames > 0 && out.bytes > self.max_bytes;
                if over {
                    out.frames.truncate(queued_frames);
                    out.bytes = queued_bytes;
                }
            }
            if over {
                drop(out);
                if volatile || self.policy != SlowConsumerPolicy::Disconnect {
                    self.counters.queue_drops.add(1);
                } else {
                    self.counters.slow_consumer_disconnects.add(1);
                    tracing::warn!(
                        sid = %self.sid, queued_frames, queued_bytes,
                        "slow consumer: outbound queue full, closing the connection (reason \"transport error\")"
                    );
                    self.close(DisconnectReason::TransportError);
                }
                return false;
            }
            if out.consumer.is_some() && out.consumer == tokio::task::try_id() {
                None
            } else {
                out.waker.take()
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// Wakes the consumer of the queue, if one waits.
    fn wake(&self) {
        let waker = self.outbox.lock().waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes every queued frame (the WebSocket task sends them in one
    /// write), or, when none is queued, registers `cx` to be woken by the
    /// next push. The queue's buffer goes with the frames: an idle session keeps none.
    pub fn take_frames(&self, cx: &Context<'_>) -> Option<VecDeque<Queued>> {
        let mut out = self.outbox.lock();
        if out.frames.is_empty() {
            register(&mut out, cx);
            return None;
        }
        out.bytes = 0;
        Some(std::mem::take(&mut out.frames))
    }

    /// Registers `cx` to be woken by the next push or a close (a writer
    /// that cannot take frames now, its socket being full).
    pub fn watch(&self, cx: &Context<'_>) {
        register(&mut self.outbox.lock(), cx);
    }

    /// Takes what one polling response carries.
    pub fn take_poll_batch(&self, max_packets: usize) -> PollBatch {
        if self.noop_pending.swap(false, Ordering::AcqRel) {
            self.noop_taken.notify_one();
            return PollBatch::Noop;
        }
        // Every GET of an upgrade in progress gets a noop, not only the one
        // pending at the probe: a client that got that noop before "3probe"
        // polls again, and it pauses (and sends "5") only once this GET ends.
        // Queued frames wait for the WebSocket.
        if self.transport() == Transport::Upgrading && !self.is_closed() {
            return PollBatch::Noop;
        }
        let mut out = self.outbox.lock();
        if self.is_closed() {
            // A client the server closes for what it did gets what was queued
            // first, then (on its next GET) the close, as from the reference
            // server; other closes send all with the close at once.
            if !out.frames.is_empty() && self.drains_before_close() {
                let n = out.frames.len().min(max_packets);
                return PollBatch::Frames(out.take(n));
            }
            self.close_taken.store(true, Ordering::Release);
            self.noop_taken.notify_one();
            let n = out.frames.len();
            return PollBatch::Closed(out.take(n));
        }
        if out.frames.is_empty() {
            return PollBatch::Empty;
        }
        // A binary attachment must travel with its packet only in order, not
        // in the same response, so a plain count cap is safe.
        let n = out.frames.len().min(max_packets);
        PollBatch::Frames(out.take(n))
    }

    /// Asks the pending (or next) polling GET to answer with a noop, so the
    /// client can finish an upgrade.
    pub fn send_noop(&self) {
        self.noop_pending.store(true, Ordering::Release);
        self.wake();
    }

    pub fn noop_pending(&self) -> bool {
        self.noop_pending.load(Ordering::Acquire)
    }

    /// True for a closed polling session whose client is still owed its
    /// close packet: the server closed it for a protocol violation or on
    /// request (`ForcedClose`), and no GET has taken the close yet.
    pub fn close_owed(&self) -> bool {
        self.is_closed()
            && self.transport() == Transport::Polling
            && self.drains_before_close()
            && !self.close_taken.load(Ordering::Acquire)
    }

    fn drains_before_close(&self) -> bool {
        matches!(self.close_reason(), DisconnectReason::ParseError | DisconnectReason::ForcedClose)
    }

    /// Waits until a GET took the pending noop, or `limit` passed.
    pub async fn noop_delivered(&self, limit: std::time::Duration) {
        self.until_taken(limit, Self::noop_pending).await
    }

    /// Waits until a GET took the close packet, or `limit` passed.
    pub async fn close_delivered(&self, limit: std::time::Duration) {
        self.until_taken(limit, Self::close_owed).await
    }

    /// Waits while `owed` holds (a GET takes what is owed and signals
    /// `noop_taken`), at most `limit`. notify_one keeps a permit, so a GET
    /// that came first is not missed; a stale permit only wakes this early.
    async fn until_taken(&self, limit: std::time::Duration, owed: fn(&Self) -> bool) {
        let taken = async {
            while owed(self) {
                self.noop_taken.notified().await;
            }
        };
        let _ = tokio::time::timeout(limit, taken).await;
    }

    /// Waits until there may be something to send, a noop is owed, the
    /// transport changed or the session closed.
    pub async fn wait_for_frames(&self) {
        let transport = self.transport();
        poll_fn(|cx| {
            {
                let mut out = self.outbox.lock();
                if !out.frames.is_empty() {
                    return Poll::Ready(());
                }
                register(&mut out, cx);
            }
            // Checked after registering: a change made meanwhile also woke us.
            if self.is_closed() || self.noop_pending() || self.transport() != transport {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await
    }

    /// Marks the session closed with a reason (the first reason wins).
    /// Cheap for callers; the cleanup is the session owner's.
    pub fn close(&self, reason: DisconnectReason) {
        {
            let mut r = self.reason.lock();
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.is_closed.store(true, Ordering::Release);
        self.closed.cancel();
        self.wake();
    }

    pub fn close_reason(&self) -> DisconnectReason {
        self.reason.lock().unwrap_or(DisconnectReason::TransportClose)
    }
}

/// What the layers above hold of a session: its outbound queue, its close
/// and what it was opened with; nothing of its transports. Cloning it is
/// one reference count.
#[derive(Clone)]
pub struct Outbound(Arc<EngineSession>);

impl Outbound {
    pub fn new(session: &Arc<EngineSession>) -> Outbound {
        Outbound(session.clone())
    }

    pub fn protocol(&self) -> Protocol {
        self.0.protocol
    }

    pub fn handshake(&self) -> &Arc<Handshake> {
        &self.0.handshake
    }

    /// The Engine.IO session id (the connection's; a socket has its own id).
    pub fn sid(&self) -> &str {
        &self.0.sid
    }

    /// The transport as the Socket.IO server names it: "polling" (also while
    /// an upgrade is being probed), "websocket", or "raw" for the plain endpoint.
    pub fn transport_name(&self) -> &'static str {
        match (self.0.protocol, self.0.transport()) {
            (Protocol::Raw, _) => "raw",
            (_, Transport::WebSocket) => "websocket",
            _ => "polling",
        }
    }

    /// See [`EngineSession::push`].
    #[inline]
    pub fn push(&self, frames: impl IntoIterator<Item = Frame, IntoIter: ExactSizeIterator>) -> bool {
        self.0.push(frames)
    }

    /// See [`EngineSession::push_with`].
    #[inline]
    pub fn push_with(
        &self,
        frames: impl IntoIterator<Item = Frame, IntoIter: ExactSizeIterator>,
        volatile: bool,
        options: PacketOptions,
    ) -> bool {
        self.0.push_with(frames, volatile, options)
    }

    /// See [`EngineSession::set_watching`].
    pub fn set_watching(&self, on: bool) {
        self.0.set_watching(on)
    }

    /// See [`EngineSession::close`].
    pub fn close(&self, reason: DisconnectReason) {
        self.0.close(reason)
    }
}

/// Makes `cx`'s task the queue's consumer (no clone of a waker already kept).
fn register(out: &mut Outbox, cx: &Context<'_>) {
    match &out.waker {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => {
            out.waker = Some(cx.waker().clone());
            out.consumer = tokio::task::try_id();
        }
    }
}
