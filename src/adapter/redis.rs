//! The Redis adapter: wshub's side of `@socket.io/redis-adapter`, on the
//! hub's runtime, in its classic protocol (`classic.rs`, the default) or its
//! sharded one (`sharded.rs`, Redis 7 SPUBLISH/SSUBSCRIBE).
//!
//! Two Redis connections per hub, as the Node adapter uses, both redis-rs
//! `ConnectionManager`s, which reconnect by themselves:
//! - one publishes: messages go through a queue bounded in bytes to one task
//!   that writes them in pipelined batches, in order, so an emit never blocks
//!   the thread that makes it;
//! - one subscribes (RESP3, the messages arrive as pushes) and subscribes
//!   again after a reconnection; a PING every second is this node's
//!   heartbeat to Redis, and makes a lost connection noticed.
//!
//! Nodes are counted as the Node adapter counts them: subscribers of the
//! namespace's request channel (`PUBSUB NUMSUB`, or `SHARDNUMSUB`). A node
//! that dies drops its subscriptions with its connection and stops counting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::classic::{self, Channels};
use super::message::{Answer, Inbound, Kind, Opts, Outbound};
use super::{local_remote_socket, sharded, Adapter, RemoteSocket, Scope, ServerEvent};
use crate::hub::{BoxFuture, HubCore, Namespace, Target};
use crate::metrics::HubCounters;
use crate::socketio::payload::Payload;
use crate::Error;

/// Messages waiting for Redis beyond this many bytes are dropped (with a
/// warning): a Redis outage must not grow the hub's memory without bound.
const MAX_QUEUED_BYTES: usize = 32 << 20;
/// Messages written to Redis in one pipelined batch, at most.
const BATCH: usize = 256;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_secs(1);

struct Outgoing {
    channel: String,
    message: Vec<u8>,
}

/// What the subscribing task is asked to do.
enum Subscription {
    /// A namespace was created: subscribe to its channels.
    Namespace(String),
    /// Sharded protocol: a room appeared (true) or went away on this node.
    Room { namespace: String, room: String, exists: bool },
}

/// The running side of one `start`: the queues into the two tasks.
#[derive(Clone)]
struct Link {
    publish: mpsc::UnboundedSender<Outgoing>,
    subscriptions: mpsc::UnboundedSender<Subscription>,
    queued: Arc<AtomicUsize>,
    /// The publishing connection, once Redis answered (for counting nodes).
    conn: Arc<Mutex<Option<ConnectionManager>>>,
    counters: Arc<HubCounters>,
}

impl Link {
    fn send(&self, (channel, message): (String, Vec<u8>)) {
        let len = message.len();
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            tracing::warn!(channel, "Redis is not keeping up: a cluster message was dropped");
            return;
        }
        if self.publish.send(Outgoing { channel, message }).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel); // the hub stopped
        } else {
            self.counters.cluster_messages_sent.add(1);
        }
    }
}

/// A `fetch_sockets` waiting for the other nodes' answers.
struct Fetch {
    remaining: usize,
    sockets: Vec<RemoteSocket>,
    done: oneshot::Sender<Vec<RemoteSocket>>,
}

pub(crate) struct RedisAdapter {
    /// This node's id in the cluster.
    uid: String,
    prefix: String,
    sharded: bool,
    client: redis::Client,
    requests_timeout: Duration,
    link: Mutex<Option<Link>>,
    fetches: Arc<Mutex<HashMap<String, Fetch>>>,
}

impl RedisAdapter {
    /// Checks the URL; nothing connects before `start`.
    pub fn new(url: &str, prefix: &str, sharded: bool, timeout: Duration) -> Result<Arc<RedisAdapter>, Error> {
        let client = redis::Client::open(url).map_err(|e| Error::Config(format!("redis_url {url:?}: {e}")))?;
        Ok(Arc::new(RedisAdapter {
            uid: random_id(),
            prefix: prefix.to_string(),
            sharded,
            client,
            requests_timeout: timeout,
            link: Mutex::new(None),
            fetches: Arc::new(Mutex::new(HashMap::new())),
        }))
    }

    fn link(&self) -> Option<Link> {
        self.link.lock().clone()
    }

    fn send(&self, out: &Outbound) {
        if let Some(link) = self.link() {
            link.send(self.encode(out));
        }
    }

    fn encode(&self, out: &Outbound) -> (String, Vec<u8>) {
        if self.sharded {
            sharded::encode(&self.prefix, &self.uid, out)
        } else {
            classic::encode(&Channels::new(&self.prefix, out.namespace()), &self.uid, out)
        }
    }

    /// Answers request `request_id` of node `to`, in namespace `ns`.
    fn answer(&self, ns: &str, to: Option<&str>, request_id: &str, answer: &Answer) {
        let Some(link) = self.link() else { return };
        let out = if self.sharded {
            let Some(out) =
                to.and_then(|to| sharded::encode_answer(&self.prefix, &self.uid, ns, to, request_id, answer))
            else {
                return;
            };
            out
        } else {
            classic::encode_answer(&Channels::new(&self.prefix, ns), request_id, answer)
        };
        link.send(out);
    }

    /// The channel whose subscribers are the nodes of namespace `ns`, and how to count them.
    fn node_count(&self, ns: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("PUBSUB");
        if self.sharded {
            cmd.arg("SHARDNUMSUB").arg(sharded::channel(&self.prefix, ns));
        } else {
            cmd.arg("NUMSUB").arg(Channels::new(&self.prefix, ns).request);
        }
        cmd
    }
}

fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Adapter for RedisAdapter {
    fn start(self: Arc<Self>, core: &Arc<HubCore>) {
        let (publish, publish_rx) = mpsc::unbounded_channel();
        let (subscriptions, subscriptions_rx) = mpsc::unbounded_channel();
        let counters = core.counters.clone();
        let link = Link { publish, subscriptions, queued: Arc::default(), conn: Arc::default(), counters };
        *self.link.lock() = Some(link.clone());
        core.runtime.spawn(publisher(self.client.clone(), self.sharded, publish_rx, link, core.clone()));
        core.runtime.spawn(subscriber(self, core.clone(), subscriptions_rx));
    }

    fn watch_namespace(&self, name: &str) {
        if let Some(link) = self.link() {
            let _ = link.subscriptions.send(Subscription::Namespace(name.to_string()));
        }
    }

    fn room_changed(&self, namespace: &str, room: &str, exists: bool) {
        if !self.sharded {
            return; // the classic protocol listens to every room with one pattern
        }
        if let Some(link) = self.link() {
            let (namespace, room) = (namespace.to_string(), room.to_string());
            let _ = link.subscriptions.send(Subscription::Room { namespace, room, exists });
        }
    }

    fn broadcast(&self, scope: &Scope, event: &str, args: &Payload) {
        self.send(&Outbound::Broadcast { scope, event, args });
    }

    fn join(&self, scope: &Scope, rooms: &[&str]) {
        self.send(&Outbound::Join { scope, rooms });
    }

    fn leave(&self, scope: &Scope, rooms: &[&str]) {
        self.send(&Outbound::Leave { scope, rooms });
    }

    fn disconnect(&self, scope: &Scope, close: bool) {
        self.send(&Outbound::Disconnect { scope, close });
    }

    fn fetch_sockets(&self, scope: &Scope, local: Vec<RemoteSocket>) -> BoxFuture<Result<Vec<RemoteSocket>, Error>> {
        let Some(link) = self.link() else { return Box::pin(async { Ok(local) }) };
        let request_id = random_id();
        let request = self.encode(&Outbound::Fetch { scope, request_id: &request_id });
        let count = self.node_count(scope.namespace);
        let (fetches, timeout) = (self.fetches.clone(), self.requests_timeout);
        Box::pin(async move {
            let conn = link.conn.lock().clone();
            let Some(mut conn) = conn else { return Err(Error::Cluster("Redis is not reachable".into())) };
            let (_, nodes): (String, usize) =
                count.query_async(&mut conn).await.map_err(|e| Error::Cluster(format!("counting the nodes: {e}")))?;
            if nodes <= 1 {
                return Ok(local);
            }
            let (done, answers) = oneshot::channel();
            fetches.lock().insert(request_id.clone(), Fetch { remaining: nodes - 1, sockets: local, done });
            link.send(request);
            match tokio::time::timeout(timeout, answers).await {
                Ok(Ok(sockets)) => Ok(sockets),
                _ => {
                    let missing = fetches.lock().remove(&request_id).map_or(0, |f| f.remaining);
                    Err(Error::Cluster(format!(
                        "fetch_sockets: {missing} of {} nodes did not answer in time",
                        nodes - 1
                    )))
                }
            }
        })
    }

    fn server_side_emit(&self, namespace: &str, event: &str, args: &Payload) {
        self.send(&Outbound::ServerSideEmit { namespace, event, args });
    }
}

/// Writes queued messages to Redis, in order, in pipelined batches.
async fn publisher(
    client: redis::Client,
    sharded: bool,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    link: Link,
    core: Arc<HubCore>,
) {
    let Some(mut conn) = connect(&client, manager_config(), &core, "publish").await else { return };
    *link.conn.lock() = Some(conn.clone());
    let command = if sharded { "SPUBLISH" } else { "PUBLISH" };
    let mut failing = false;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, BATCH) => if n == 0 { return },
            _ = core.shutdown.cancelled() => return,
        }
        let mut pipe = redis::pipe();
        for m in batch.drain(..) {
            link.queued.fetch_sub(m.message.len(), Ordering::AcqRel);
            pipe.cmd(command).arg(m.channel).arg(m.message).ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) if std::mem::replace(&mut failing, false) => tracing::info!("publishing to Redis again"),
            Ok(()) => {}
            Err(e) if !std::mem::replace(&mut failing, true) => {
                tracing::warn!(error = %e, "cannot publish to Redis: cluster messages are lost until it is back")
            }
            Err(_) => {}
        }
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(MAX_BACKOFF)
}

/// The first connection, retried with backoff until it works or the hub stops.
async fn connect(
    client: &redis::Client,
    config: ConnectionManagerConfig,
    core: &HubCore,
    what: &str,
) -> Option<ConnectionManager> {
    let mut backoff = MIN_BACKOFF;
    loop {
        match client.get_connection_manager_with_config(config.clone()).await {
            Ok(conn) => return Some(conn),
            Err(e) => tracing::warn!(error = %e, "cannot reach Redis to {what}; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = core.shutdown.cancelled() => return None,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A namespace this node listens to.
struct Watched {
    ns: Arc<Namespace>,
    classic: Channels,
}

/// Keeps the subscriptions (the connection manager renews them after a
/// reconnection) and hands what arrives to the hub.
async fn subscriber(adapter: Arc<RedisAdapter>, core: Arc<HubCore>, mut todo: mpsc::UnboundedReceiver<Subscription>) {
    // Pushes (subscription messages) need RESP3.
    let info = adapter.client.get_connection_info().clone();
    let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
    let Ok(client) = redis::Client::open(info.set_redis_settings(resp3)) else { return };
    let (push_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
    let config = manager_config().set_push_sender(push_tx).set_automatic_resubscription();
    let Some(mut conn) = connect(&client, config, &core, "subscribe").await else { return };
    let mut watched: Vec<Watched> = Vec::new();
    for ns in core.namespaces.all() {
        adapter.watch(&mut conn, &mut watched, ns).await;
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut lost = false;
    loop {
        tokio::select! {
            Some(push) = pushes.recv() => match push.kind {
                PushKind::Message | PushKind::SMessage | PushKind::PMessage => {
                    // [pattern,] channel, payload
                    let mut data = push.data.into_iter().rev();
                    if let (Some(Value::BulkString(payload)), Some(Value::BulkString(channel))) = (data.next(), data.next()) {
                        adapter.on_message(&watched, &String::from_utf8_lossy(&channel), &payload, &core.counters);
                    }
                }
                PushKind::Disconnection if !lost => {
                    lost = true;
                    tracing::warn!("the Redis subscription was lost; reconnecting");
                }
                _ => {}
            },
            Some(job) = todo.recv() => match job {
                Subscription::Namespace(name) => {
                    if let Some(ns) = core.namespaces.get(&name).filter(|_| !watched.iter().any(|w| *w.ns.name == *name)) {
                        adapter.watch(&mut conn, &mut watched, ns).await;
                    }
                }
                Subscription::Room { namespace, room, exists } => {
                    let channel = sharded::sub_channel(&adapter.prefix, &namespace, &room);
                    let verb = if exists { "SSUBSCRIBE" } else { "SUNSUBSCRIBE" };
                    if let Err(e) = redis::cmd(verb).arg(&channel).exec_async(&mut conn).await {
                        tracing::warn!(error = %e, channel, "cannot {verb}");
                    }
                }
            },
            _ = heartbeat.tick() => {
                let alive = redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok();
                if alive && std::mem::take(&mut lost) {
                    tracing::info!("subscribed to Redis again");
                }
            }
            _ = core.shutdown.cancelled() => return,
        }
    }
}

impl RedisAdapter {
    /// Subscribes to a namespace's channels.
    async fn watch(&self, conn: &mut ConnectionManager, watched: &mut Vec<Watched>, ns: Arc<Namespace>) {
        let classic = Channels::new(&self.prefix, &ns.name);
        let result = if self.sharded {
            let answers = sharded::sub_channel(&self.prefix, &ns.name, &self.uid);
            let channels = [sharded::channel(&self.prefix, &ns.name), answers];
            redis::cmd("SSUBSCRIBE").arg(&channels).exec_async(conn).await
        } else {
            let specific = format!("{}{}#", classic.response, self.uid);
            let channels = [classic.request.as_str(), classic.response.as_str(), specific.as_str()];
            match conn.psubscribe(classic.broadcast_pattern()).await {
                Ok(()) => conn.subscribe(&channels).await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = result {
            // The connection manager subscribes again to what it knows of once Redis is back.
            tracing::warn!(error = %e, namespace = %ns.name, "cannot subscribe to the namespace's channels");
        }
        watched.push(Watched { ns, classic });
    }

    fn on_message(self: &Arc<Self>, watched: &[Watched], channel: &str, payload: &[u8], counters: &HubCounters) {
        let decoded = if self.sharded {
            // Requests, room broadcasts and the answers to this node all carry their kind.
            let Some(w) = watched.iter().find(|w| channel.starts_with(&*sharded::channel(&self.prefix, &w.ns.name)))
            else {
                return;
            };
            sharded::decode(payload).map(|m| (w, m))
        } else {
            let Some((w, decoded)) =
                watched.iter().find_map(|w| self.decode_classic(w, channel, payload).map(|d| (w, d)))
            else {
                return;
            };
            decoded.map(|m| (w, m))
        };
        match decoded {
            Ok((w, m)) if m.namespace == *w.ns.name && m.uid.as_deref() != Some(self.uid.as_str()) => {
                // Not what was skipped undecoded: our own broadcast back, or one for a room nobody here is in.
                if !matches!(m.kind, Kind::Other) {
                    counters.cluster_messages_received.add(1);
                }
                self.handle(&w.ns, m)
            }
            Ok(_) => {} // our own message back from Redis, or another namespace's
            Err(e) => tracing::debug!(error = %e, channel, "ignoring an undecodable cluster message"),
        }
    }

    /// `None` when `channel` is not one of `w`'s, or when the broadcast is
    /// not worth decoding (a room nobody here is in, or our own).
    fn decode_classic(&self, w: &Watched, channel: &str, payload: &[u8]) -> Option<Result<Inbound, String>> {
        let ch = &w.classic;
        if channel == ch.request {
            return Some(classic::decode_request(&w.ns.name, payload));
        }
        if channel.starts_with(ch.response.as_str()) {
            return Some(classic::decode_response(&w.ns.name, payload));
        }
        let room = ch.room_of(channel)?;
        let nothing = || Inbound { uid: None, namespace: w.ns.name.to_string(), kind: Kind::Other };
        if (!room.is_empty() && !w.ns.has_room(room)) || classic::broadcast_uid(payload) == Some(self.uid.as_str()) {
            return Some(Ok(nothing()));
        }
        Some(classic::decode_broadcast(payload).map(|b| b.unwrap_or_else(nothing)))
    }

    /// Does what another node asked, on this node's sockets.
    fn handle(self: &Arc<Self>, ns: &Arc<Namespace>, m: Inbound) {
        let from = m.uid.as_deref();
        match m.kind {
            Kind::Broadcast { opts, event, args } => {
                target_of(ns, &opts).emit(&event, &args);
            }
            Kind::BroadcastWithAck { request_id, opts, event, args } => {
                self.broadcast_with_ack(ns, from, &request_id, &opts, &event, &args)
            }
            Kind::Join { opts, rooms } => rooms.iter().for_each(|r| target_of(ns, &opts).join(r)),
            Kind::Leave { opts, rooms } => rooms.iter().for_each(|r| target_of(ns, &opts).leave(r)),
            Kind::Disconnect { opts, close } => {
                for s in target_of(ns, &opts).sockets() {
                    if close {
                        s.close()
                    } else {
                        s.disconnect()
                    }
                }
            }
            Kind::Fetch { request_id, opts } => {
                let sockets: Vec<RemoteSocket> =
                    target_of(ns, &opts).sockets().iter().map(local_remote_socket).collect();
                self.answer(&ns.name, from, &request_id, &Answer::Fetched(&sockets));
            }
            Kind::SocketIds { request_id, rooms } => {
                let opts = Opts { rooms, ..Opts::default() };
                let ids = target_of(ns, &opts).sockets().iter().map(|s| s.id().to_string()).collect();
                self.answer(&ns.name, from, &request_id, &Answer::SocketIds(ids));
            }
            Kind::AllRooms { request_id } => {
                self.answer(&ns.name, from, &request_id, &Answer::AllRooms(ns.room_names()))
            }
            Kind::ServerSideEmit { request_id, event, args } => {
                let reply = request_id.map(|id| {
                    let (me, ns, to) = (self.clone(), ns.name.to_string(), m.uid.clone());
                    Box::new(move |answer: &Payload| {
                        me.answer(&ns, to.as_deref(), &id, &Answer::ServerSideEmit(answer))
                    }) as super::Reply
                });
                ns.dispatch_server_event(ServerEvent { name: event, args, reply: Mutex::new(reply) });
            }
            Kind::Fetched { request_id, sockets } => self.fetched(&request_id, sockets),
            Kind::Other => {}
        }
    }

    /// Another node's emit with an ack: deliver to our sockets, say how many
    /// answers to expect, then forward each answer.
    fn broadcast_with_ack(
        self: &Arc<Self>,
        ns: &Arc<Namespace>,
        from: Option<&str>,
        request_id: &str,
        opts: &Opts,
        event: &str,
        args: &Payload,
    ) {
        let sockets: Vec<_> = target_of(ns, opts).sockets().into_iter().filter(|s| !s.is_raw()).collect();
        self.answer(&ns.name, from, request_id, &Answer::ClientCount(sockets.len()));
        let timeout = opts.flags.timeout.map_or(self.requests_timeout, Duration::from_millis);
        for s in sockets {
            let (me, ns, to, id) = (self.clone(), ns.name.to_string(), from.map(String::from), request_id.to_string());
            s.emit_with_ack_callback(event, args, timeout, move |answer| {
                if let Ok(answer) = answer {
                    me.answer(&ns, to.as_deref(), &id, &Answer::BroadcastAck(&answer));
                }
            });
        }
    }

    fn fetched(&self, request_id: &str, sockets: Vec<RemoteSocket>) {
        let mut fetches = self.fetches.lock();
        let Some(fetch) = fetches.get_mut(request_id) else { return };
        fetch.sockets.extend(sockets);
        fetch.remaining -= 1;
        if fetch.remaining == 0 {
            let fetch = fetches.remove(request_id).expect("present above");
            let _ = fetch.done.send(fetch.sockets);
        }
    }
}

/// The local sockets a message from another node is about.
fn target_of(ns: &Arc<Namespace>, opts: &Opts) -> Target {
    let mut t = Target::new(ns.clone()).local();
    for r in &opts.rooms {
        t = t.to(r);
    }
    for e in &opts.except {
        t = t.except(e);
    }
    if opts.flags.volatile {
        t = t.volatile();
    }
    t
}
