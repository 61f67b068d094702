//! Targets: which sockets of a namespace an emit reaches.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use once_cell::sync::OnceCell;

use super::cluster::{local_remote_socket, Adapter, RemoteSocket, Scope};
use super::{Namespace, Registry, Socket, SocketState};
use crate::engineio::packet::Frames;
use crate::engineio::session::{PacketOptions, Protocol};
use crate::rawws;
use crate::socketio::packet as sio;
use crate::socketio::payload::Payload;
use crate::Error;

/// Receivers of one broadcast shown to a watching admin UI, at most: the UI
/// lists events per socket, and a broadcast to thousands must not become
/// thousands of messages to it.
const WATCHED_RECEIVERS: usize = 64;

/// A set of receivers: rooms (or everyone), minus rooms, minus sockets.
///
/// ```no_run
/// # fn f(hub: &wshub::Hub) -> Result<(), wshub::Error> {
/// let news = wshub::Payload::one(&"hello")?;
/// hub.to("lobby").except("muted").emit("news", &news);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Target {
    ns: Arc<Namespace>,
    rooms: Vec<Arc<str>>,
    except_rooms: Vec<Arc<str>>,
    except_sockets: Vec<Arc<str>>,
    /// This node's sockets only, even in a cluster.
    local: bool,
    /// Dropped for a receiver whose queue is full (see [`Target::volatile`]).
    volatile: bool,
    /// May be deflated (see [`Target::compress`]).
    compress: bool,
}

impl Target {
    pub(crate) fn new(ns: Arc<Namespace>) -> Target {
        Target {
            ns,
            rooms: Vec::new(),
            except_rooms: Vec::new(),
            except_sockets: Vec::new(),
            local: false,
            volatile: false,
            compress: true,
        }
    }

    /// Makes the emits of this target volatile: a receiver whose outbound
    /// queue is full (a slow consumer) misses the packet and keeps its
    /// connection, whatever [`crate::SlowConsumerPolicy`] the hub has. Fit for
    /// data that the next packet supersedes (positions, prices, typing).
    ///
    /// ```no_run
    /// # fn f(hub: &wshub::Hub) -> Result<(), wshub::Error> {
    /// hub.to("watchers").volatile().emit("price", &wshub::Payload::one(&101.5)?);
    /// # Ok(()) }
    /// ```
    pub fn volatile(mut self) -> Target {
        self.volatile = true;
        self
    }

    /// Whether the emits of this target may be deflated, on connections that
    /// negotiated permessage-deflate (Socket.IO's `compress` flag; on by
    /// default). Off, they go as they are: for data that is compressed already.
    pub fn compress(mut self, on: bool) -> Target {
        self.compress = on;
        self
    }

    /// Adds a room (or a socket id) to the receivers; with no room, the
    /// target is the whole namespace.
    pub fn to(mut self, room: &str) -> Target {
        self.rooms.push(Arc::from(room));
        self
    }

    /// Leaves out the sockets in `room` (or the socket with that id).
    pub fn except(mut self, room: &str) -> Target {
        self.except_rooms.push(Arc::from(room));
        self
    }

    pub(crate) fn except_socket(mut self, id: &str) -> Target {
        self.except_sockets.push(Arc::from(id));
        self
    }

    /// Only this node's sockets, when the hub is part of a cluster
    /// (Socket.IO's `local` flag); without a cluster, it changes nothing.
    pub fn local(mut self) -> Target {
        self.local = true;
        self
    }

    /// The cluster adapter and the scope to hand it, unless this target is local.
    fn cluster(&self) -> Option<(&dyn Adapter, Scope<'_>)> {
        let adapter = self.ns.cluster.as_deref().filter(|_| !self.local)?;
        let scope = Scope {
            namespace: &self.ns.name,
            rooms: self.rooms.iter().map(|r| &**r).collect(),
            except: self.except_rooms.iter().chain(&self.except_sockets).map(|r| &**r).collect(),
            volatile: self.volatile,
        };
        Some((adapter, scope))
    }

    /// The sockets this target leaves out, as the addresses of the
    /// registry's own id strings, sorted: resolved once per emit, so each
    /// receiver costs a pointer comparison, not string compares and lookups.
    fn excluded(&self, reg: &Registry) -> Vec<usize> {
        let mut out = Vec::new();
        let rooms = self.except_rooms.iter().flat_map(|r| members(reg, r));
        for id in self.except_sockets.iter().chain(rooms) {
            if let Some((key, _)) = reg.sockets.get_key_value(id) {
                out.push(key.as_ptr() as usize);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Calls `f` for every receiver, under the namespace's read lock.
    fn for_each(&self, f: impl FnMut(&Arc<SocketState>)) {
        self.for_each_after(|| {}, f)
    }

    /// `first`, then `f` for every receiver, both under the namespace's read
    /// lock (so a recovered socket's insertion, under the write lock, comes
    /// wholly before or after them).
    fn for_each_after(&self, first: impl FnOnce(), mut f: impl FnMut(&Arc<SocketState>)) {
        let reg = self.ns.registry.read();
        first();
        let excluded = self.excluded(&reg);
        let mut visit = |id: &Arc<str>, s: &Arc<SocketState>| {
            if excluded.binary_search(&(id.as_ptr() as usize)).is_err() {
                f(s);
            }
        };
        // Room members are looked up in `sockets`, whose key is the id that `excluded` names.
        let mut visit_member = |id: &Arc<str>| {
            if let Some((key, s)) = reg.sockets.get_key_value(id) {
                visit(key, s);
            }
        };
        match self.rooms.as_slice() {
            [] => reg.sockets.iter().for_each(|(id, s)| visit(id, s)),
            [room] => members(&reg, room).for_each(&mut visit_member),
            rooms => {
                let mut seen: HashSet<&Arc<str>> = HashSet::new();
                for room in rooms {
                    for id in members(&reg, room) {
                        if seen.insert(id) {
                            visit_member(id);
                        }
                    }
                }
            }
        }
    }

    /// Sends an event to every receiver; returns how many got it queued
    /// (a volatile emit does not count the receivers that dropped it).
    /// The packet is encoded once per protocol and the buffer shared.
    ///
    /// With connection state recovery on a cluster that keeps a log (the
    /// Redis streams adapter), a packet that is neither volatile nor local
    /// goes to the log first, and this node's receivers get it when the
    /// log hands it back, with its offset: the count is of those receivers.
    pub fn emit(&self, event: &str, args: &Payload) -> usize {
        if let Some((log, scope)) = self.logged() {
            let mut receivers = 0;
            self.for_each(|_| receivers += 1);
            log.broadcast(&scope, event, args);
            return receivers;
        }
        // With recovery on (and no log), a packet that is neither volatile nor
        // acked carries an offset (Socket.IO clients only) and is kept here for
        // those who miss it; with a log, a local packet carries none (as in Node).
        let recovery = self.ns.recovery.as_ref().filter(|_| !self.volatile && self.ns.recovery_log().is_none());
        let delivered = match recovery {
            None => self.deliver(event, args, None, |_| {}),
            Some(recovery) => {
                let offset = recovery.next_offset();
                let except = || self.except_rooms.iter().chain(&self.except_sockets).cloned().collect();
                let keep = |frames: &Frames| recovery.keep(offset, self.rooms.clone(), except(), frames.clone());
                self.deliver(event, args, Some(&super::recovery::offset_text(offset)), keep)
            }
        };
        if let Some((cluster, scope)) = self.cluster() {
            cluster.broadcast(&scope, event, args);
        }
        delivered
    }

    /// A broadcast of the cluster's log, to this node's receivers, with its
    /// offset in the log (`None` when it could not be logged).
    pub(crate) fn emit_logged(&self, offset: Option<&str>, event: &str, args: &Payload) -> usize {
        self.deliver(event, args, offset, |_| {})
    }

    /// The cluster's log and the scope to hand it, for an emit it numbers.
    fn logged(&self) -> Option<(&dyn super::cluster::Log, Scope<'_>)> {
        let log = self.ns.recovery_log().filter(|_| !self.volatile)?;
        self.cluster().map(|(_, scope)| (log, scope))
    }

    /// Queues an event for this node's receivers, with `offset` as its last
    /// argument for the Socket.IO ones; `keep` gets their encoding first,
    /// under the same lock (see `for_each_after`).
    fn deliver(&self, event: &str, args: &Payload, offset: Option<&str>, keep: impl FnOnce(&Frames)) -> usize {
        let socketio: OnceCell<Frames> = OnceCell::new();
        let raw: OnceCell<Frames> = OnceCell::new();
        let engine: OnceCell<Frames> = OnceCell::new();
        let encode_sio = || match offset {
            None => sio::encode_event(&self.ns.name, event, args, None),
            Some(offset) => sio::encode_event_at(&self.ns.name, event, args, offset),
        };
        let options = PacketOptions { compress: self.compress, shared: true };
        let mut delivered = 0;
        let first = || {
            if offset.is_some() {
                keep(socketio.get_or_init(encode_sio));
            }
        };
        // The receivers a watcher is shown, at most WATCHED_RECEIVERS (none when nobody watches).
        let watched = self.ns.watched();
        let mut shown: Vec<Arc<str>> = Vec::new();
        self.for_each_after(first, |s| {
            let frames = match s.session.protocol() {
                Protocol::SocketIo => socketio.get_or_init(encode_sio),
                Protocol::Raw => raw.get_or_init(|| rawws::encode_event(event, args, Protocol::Raw)),
                Protocol::Engine => engine.get_or_init(|| rawws::encode_event(event, args, Protocol::Engine)),
            };
            let queued = s.session.push_with(frames.iter().cloned(), self.volatile, options);
            if queued {
                delivered += 1;
                if watched.is_some() && shown.len() < WATCHED_RECEIVERS {
                    shown.push(s.id.clone());
                }
            }
        });
        self.ns.counters.events_sent.add(delivered as u64);
        if let (Some(o), false) = (watched, shown.is_empty()) {
            o.event_sent(&self.ns.name, &shown, &super::event_array(event, args));
        }
        delivered
    }

    /// The receivers on this node, as socket handles (see
    /// [`Target::fetch_sockets`] for those of the whole cluster).
    pub fn sockets(&self) -> Vec<Socket> {
        let mut out = Vec::new();
        self.for_each(|s| out.push(Socket(s.clone())));
        out
    }

    /// The receivers on every node of the cluster (this node's only, without
    /// one). Fails when a node does not answer within the cluster's request
    /// timeout or Redis cannot be reached.
    pub fn fetch_sockets(&self) -> impl Future<Output = Result<Vec<RemoteSocket>, Error>> + Send + 'static {
        let local: Vec<RemoteSocket> = self.sockets().iter().map(local_remote_socket).collect();
        let fetch: super::BoxFuture<_> = match self.cluster() {
            Some((cluster, scope)) => cluster.fetch_sockets(&scope, local),
            None => Box::pin(async move { Ok(local) }),
        };
        fetch
    }

    /// Makes every receiver join `room` (on every node of the cluster).
    pub fn join(&self, room: &str) {
        self.sockets().iter().for_each(|s| s.join(room));
        if let Some((cluster, scope)) = self.cluster() {
            cluster.join(&scope, &[room]);
        }
    }

    /// Makes every receiver leave `room` (on every node of the cluster).
    pub fn leave(&self, room: &str) {
        self.sockets().iter().for_each(|s| s.leave(room));
        if let Some((cluster, scope)) = self.cluster() {
            cluster.leave(&scope, &[room]);
        }
    }

    /// Disconnects every receiver from the namespace (on every node of the cluster).
    pub fn disconnect(&self) {
        self.sockets().iter().for_each(Socket::disconnect);
        if let Some((cluster, scope)) = self.cluster() {
            cluster.disconnect(&scope, false);
        }
    }
}

/// The members of a room; a socket id names a room of one.
fn members<'a>(reg: &'a Registry, room: &'a Arc<str>) -> impl Iterator<Item = &'a Arc<str>> + 'a {
    let members = reg.rooms.get(room);
    let socket = match members {
        Some(_) => None,
        None => reg.sockets.get_key_value(room).map(|(id, _)| id),
    };
    members.into_iter().flatten().chain(socket)
}
