//! The Redis adapter: wshub's side of `@socket.io/redis-adapter`, on the
//! hub's runtime, in its classic protocol (`classic.rs`, the default) or its
//! sharded one (`sharded.rs`, Redis 7 SPUBLISH/SSUBSCRIBE), and of
//! `@socket.io/redis-streams-adapter` (`streams.rs`: a Redis stream read by
//! `stream_reader.rs`, which is also the log of connection state recovery).
//!
//! Two Redis connections per hub, as the Node adapter uses, both of
//! `redis_conn.rs` (to one server or to a Redis Cluster), which reconnect by
//! themselves:
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
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::classic::{self, Channels};
use super::message::{Answer, Inbound, Kind, Opts, Outbound};
use super::redis_conn::{subscribers, Conn, Listen, Options, Server};
use super::streams::Route;
use super::{local_remote_socket, sharded, stream_reader, streams, Adapter, Log, RemoteSocket, Scope, ServerEvent};
use crate::hub::{BoxFuture, HubCore, Namespace, Target};
use crate::metrics::HubCounters;
use crate::socketio::payload::Payload;
use crate::Error;

/// Messages waiting for Redis beyond this many bytes are dropped (with a
/// warning): a Redis outage must not grow the hub's memory without bound.
const MAX_QUEUED_BYTES: usize = 32 << 20;
/// Messages written to Redis in one pipelined batch, at most.
const BATCH: usize = 256;
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Which of the Node adapters' protocols this node speaks (every node of a
/// cluster speaks the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Classic,
    Sharded,
    /// The streams adapter, its stream trimmed to about `max_len` entries.
    Streams {
        max_len: usize,
    },
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
pub(super) struct Link {
    publish: mpsc::UnboundedSender<Route>,
    subscriptions: mpsc::UnboundedSender<Subscription>,
    queued: Arc<AtomicUsize>,
    /// The publishing connection, once Redis answered (for counting nodes,
    /// and the streams protocol's queries).
    pub(super) conn: Arc<Mutex<Option<Conn>>>,
    /// Streams protocol: what the stream's reader is asked to do.
    pub(super) reader: mpsc::UnboundedSender<stream_reader::Job>,
    pub(super) runtime: tokio::runtime::Handle,
    /// The hub's counts of cluster messages.
    counters: Arc<HubCounters>,
}

impl Link {
    fn send(&self, route: Route) {
        let len = route.len();
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            tracing::warn!("Redis is not keeping up: a cluster message was dropped");
            return;
        }
        if self.publish.send(route).is_err() {
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
    pub(super) uid: String,
    /// Of channels, and the stream's name.
    pub(super) prefix: String,
    protocol: Protocol,
    pub(super) server: Server,
    pub(super) requests_timeout: Duration,
    link: Mutex<Option<Link>>,
    fetches: Arc<Mutex<HashMap<String, Fetch>>>,
}

impl RedisAdapter {
    /// Checks the URL (with `cluster`, nodes of a Redis Cluster); nothing connects before `start`.
    pub fn new(
        url: &str,
        cluster: bool,
        prefix: &str,
        protocol: Protocol,
        timeout: Duration,
    ) -> Result<Arc<RedisAdapter>, Error> {
        let server = Server::open(url, cluster)?;
        Ok(Arc::new(RedisAdapter {
            uid: random_id(),
            prefix: prefix.to_string(),
            protocol,
            server,
            requests_timeout: timeout,
            link: Mutex::new(None),
            fetches: Arc::new(Mutex::new(HashMap::new())),
        }))
    }

    pub(super) fn link(&self) -> Option<Link> {
        self.link.lock().clone()
    }

    pub(super) fn send(&self, out: &Outbound) {
        if let Some(link) = self.link() {
            link.send(self.encode(out));
        }
    }

    fn encode(&self, out: &Outbound) -> Route {
        let (channel, message) = match self.protocol {
            Protocol::Streams { .. } => return streams::encode(&self.prefix, &self.uid, out),
            Protocol::Sharded => sharded::encode(&self.prefix, &self.uid, out),
            Protocol::Classic => classic::encode(&Channels::new(&self.prefix, out.namespace()), &self.uid, out),
        };
        Route::Publish(channel, message)
    }

    /// Whether requests and their answers carry `{uid, nsp, type, data}`
    /// (socket.io-adapter's `ClusterAdapter`) on the namespace's channels.
    fn cluster_messages(&self) -> bool {
        self.protocol != Protocol::Classic
    }

    /// Answers request `request_id` of node `to`, in namespace `ns`.
    fn answer(&self, ns: &str, to: Option<&str>, request_id: &str, answer: &Answer) {
        let Some(link) = self.link() else { return };
        let encode = match self.protocol {
            Protocol::Classic => {
                let (channel, message) = classic::encode_answer(&Channels::new(&self.prefix, ns), request_id, answer);
                return link.send(Route::Publish(channel, message));
            }
            Protocol::Sharded => sharded::encode_answer,
            Protocol::Streams { .. } => streams::encode_answer,
        };
        if let Some((channel, message)) = to.and_then(|to| encode(&self.prefix, &self.uid, ns, to, request_id, answer))
        {
            link.send(Route::Publish(channel, message));
        }
    }

    /// The channel whose subscribers are the nodes of namespace `ns`, and how to count them.
    fn node_count(&self, ns: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("PUBSUB");
        match self.protocol {
            Protocol::Sharded => cmd.arg("SHARDNUMSUB").arg(sharded::channel(&self.prefix, ns)),
            Protocol::Streams { .. } => cmd.arg("NUMSUB").arg(sharded::channel(&self.prefix, ns)),
            Protocol::Classic => cmd.arg("NUMSUB").arg(Channels::new(&self.prefix, ns).request),
        };
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
        let (reader, jobs) = mpsc::unbounded_channel();
        let runtime = core.runtime.clone();
        let counters = core.counters.clone();
        let link =
            Link { publish, subscriptions, queued: Arc::default(), conn: Arc::default(), reader, runtime, counters };
        *self.link.lock() = Some(link.clone());
        core.runtime.spawn(publisher(self.clone(), publish_rx, link, core.clone()));
        if let Protocol::Streams { .. } = self.protocol {
            core.runtime.spawn(stream_reader::read(self.clone(), core.clone(), jobs));
        }
        core.runtime.spawn(subscriber(self, core.clone(), subscriptions_rx));
    }

    fn watch_namespace(&self, name: &str) {
        if let Some(link) = self.link() {
            let _ = link.subscriptions.send(Subscription::Namespace(name.to_string()));
        }
    }

    fn room_changed(&self, namespace: &str, room: &str, exists: bool) {
        if self.protocol != Protocol::Sharded {
            return; // the others listen to every room on one channel or pattern
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
            let answer: Value =
                count.query_async(&mut conn).await.map_err(|e| Error::Cluster(format!("counting the nodes: {e}")))?;
            let nodes =
                subscribers(&answer).ok_or_else(|| Error::Cluster(format!("counting the nodes: {answer:?}")))?;
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

    fn log(&self) -> Option<&dyn Log> {
        matches!(self.protocol, Protocol::Streams { .. }).then_some(self as &dyn Log)
    }
}

/// Writes queued messages to Redis, in order, in pipelined batches.
async fn publisher(
    adapter: Arc<RedisAdapter>,
    mut queue: mpsc::UnboundedReceiver<Route>,
    link: Link,
    core: Arc<HubCore>,
) {
    let Some(mut conn) = adapter.server.connect(Options::commands(), &core, "publish").await else { return };
    *link.conn.lock() = Some(conn.clone());
    let command = if adapter.protocol == Protocol::Sharded { "SPUBLISH" } else { "PUBLISH" };
    let mut failing = false;
    let mut batch = Vec::with_capacity(BATCH);
    // A PING when idle finds a dead connection (Redis restarted) before a
    // message or a query does: the manager reconnects meanwhile.
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, BATCH) => if n == 0 { return },
            _ = heartbeat.tick() => {
                let _ = redis::cmd("PING").query_async::<String>(&mut conn).await;
                continue;
            }
            _ = core.shutdown.cancelled() => return,
        }
        let mut commands = Vec::with_capacity(batch.len());
        for route in &batch {
            link.queued.fetch_sub(route.len(), Ordering::AcqRel);
            let mut cmd = redis::cmd(if matches!(route, Route::Append(_)) { "XADD" } else { command });
            match (route, adapter.protocol) {
                (Route::Publish(channel, message), _) => cmd.arg(channel).arg(message),
                (Route::Append(fields), Protocol::Streams { max_len }) => {
                    cmd.arg(&adapter.prefix).arg("MAXLEN").arg("~").arg(max_len).arg("*");
                    for (field, value) in fields {
                        cmd.arg(*field).arg(value);
                    }
                    &mut cmd
                }
                (Route::Append(_), _) => continue, // only the streams protocol appends
            };
            commands.push(cmd);
        }
        match conn.run_in_order(commands).await {
            Ok(()) if std::mem::replace(&mut failing, false) => tracing::info!("publishing to Redis again"),
            Ok(()) => {}
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "cannot publish to Redis: cluster messages are lost until it is back")
                }
                // The stream will not hand this node's own broadcasts back: its sockets get them now, without offsets.
                batch.iter().for_each(|route| stream_reader::deliver_unlogged(&adapter, &core, route));
            }
        }
        batch.clear();
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
    let (push_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
    let options = Options { pushes: Some(push_tx), ..Options::commands() };
    let Some(mut conn) = adapter.server.connect(options, &core, "subscribe").await else { return };
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
                    let how = if exists { Listen::Shard } else { Listen::ShardLeave };
                    if let Err(e) = conn.listen(how, &channel).await {
                        tracing::warn!(error = %e, channel, "cannot {how:?}");
                    }
                }
            },
            _ = heartbeat.tick() => {
                let alive = redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok();
                if alive && lost {
                    // The connection renews what it subscribed to, but after a
                    // Redis Cluster failover a shard channel's new master may
                    // be missed: subscribe again (until it works).
                    let mut again = Ok(());
                    for w in &watched {
                        again = again.and(adapter.listen(&mut conn, &w.ns).await);
                    }
                    match again {
                        Ok(()) => {
                            lost = false;
                            tracing::info!("subscribed to Redis again");
                        }
                        Err(e) => tracing::debug!(error = %e, "subscribing again; retrying"),
                    }
                }
            }
            _ = core.shutdown.cancelled() => return,
        }
    }
}

impl RedisAdapter {
    /// Subscribes to a namespace's channels.
    async fn watch(&self, conn: &mut Conn, watched: &mut Vec<Watched>, ns: Arc<Namespace>) {
        if let Err(e) = self.listen(conn, &ns).await {
            // The connection subscribes again to what it knows of once Redis is back.
            tracing::warn!(error = %e, namespace = %ns.name, "cannot subscribe to the namespace's channels");
        }
        let classic = Channels::new(&self.prefix, &ns.name);
        watched.push(Watched { ns, classic });
    }

    /// Subscribes to a namespace's channels (sharded: its rooms' too), one
    /// channel per command: in a Redis Cluster, shard channels of different
    /// slots cannot share an SSUBSCRIBE. Subscribing again is harmless.
    async fn listen(&self, conn: &mut Conn, ns: &Namespace) -> redis::RedisResult<()> {
        let classic = Channels::new(&self.prefix, &ns.name);
        let mut listens: Vec<(Listen, String)> = if self.cluster_messages() {
            let how = if self.protocol == Protocol::Sharded { Listen::Shard } else { Listen::Channel };
            let answers = sharded::sub_channel(&self.prefix, &ns.name, &self.uid);
            vec![(how, sharded::channel(&self.prefix, &ns.name)), (how, answers)]
        } else {
            let specific = format!("{}{}#", classic.response, self.uid);
            let channels = [classic.request.clone(), classic.response.clone(), specific];
            std::iter::once((Listen::Pattern, classic.broadcast_pattern()))
                .chain(channels.into_iter().map(|c| (Listen::Channel, c)))
                .collect()
        };
        if self.protocol == Protocol::Sharded {
            let rooms = ns.joined_rooms().into_iter();
            listens.extend(rooms.map(|room| (Listen::Shard, sharded::sub_channel(&self.prefix, &ns.name, &room))));
        }
        let mut result = Ok(());
        for (how, channel) in &listens {
            result = result.and(conn.listen(*how, channel).await);
        }
        result
    }

    fn on_message(self: &Arc<Self>, watched: &[Watched], channel: &str, payload: &[u8], counters: &HubCounters) {
        let decoded = if self.cluster_messages() {
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
    pub(super) fn handle(self: &Arc<Self>, ns: &Arc<Namespace>, m: Inbound) {
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
pub(super) fn target_of(ns: &Arc<Namespace>, opts: &Opts) -> Target {
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
