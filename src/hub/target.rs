//! Targets: which sockets of a namespace an emit reaches.

use std::collections::HashSet;
use std::sync::Arc;

use once_cell::sync::OnceCell;

use super::{Namespace, Registry, Socket, SocketState};
use crate::engineio::packet::Frame;
use crate::engineio::session::Protocol;
use crate::payload::Payload;
use crate::rawws;
use crate::socketio::packet as sio;

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
}

impl Target {
    pub(crate) fn new(ns: Arc<Namespace>) -> Target {
        Target { ns, rooms: Vec::new(), except_rooms: Vec::new(), except_sockets: Vec::new() }
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

    fn excluded(&self, reg: &Registry, id: &Arc<str>) -> bool {
        self.except_sockets.iter().any(|s| s == id)
            || self.except_rooms.iter().any(|r| &**r == &**id || reg.rooms.get(r).is_some_and(|m| m.contains(id)))
    }

    /// Calls `f` for every receiver, under the namespace's read lock.
    fn for_each(&self, mut f: impl FnMut(&Arc<SocketState>)) {
        let reg = self.ns.registry.read();
        let mut visit = |id: &Arc<str>| {
            if !self.excluded(&reg, id) {
                if let Some(s) = reg.sockets.get(id) {
                    f(s);
                }
            }
        };
        match self.rooms.as_slice() {
            [] => reg.sockets.keys().for_each(&mut visit),
            [room] => members(&reg, room).for_each(&mut visit),
            rooms => {
                let mut seen: HashSet<&Arc<str>> = HashSet::new();
                for room in rooms {
                    for id in members(&reg, room) {
                        if seen.insert(id) {
                            visit(id);
                        }
                    }
                }
            }
        }
    }

    /// Sends an event to every receiver; returns how many got it queued.
    /// The packet is encoded once per protocol and the buffer shared.
    pub fn emit(&self, event: &str, args: &Payload) -> usize {
        let socketio: OnceCell<Vec<Frame>> = OnceCell::new();
        let raw: OnceCell<Vec<Frame>> = OnceCell::new();
        let engine: OnceCell<Vec<Frame>> = OnceCell::new();
        let mut delivered = 0;
        self.for_each(|s| {
            let frames = match s.session.protocol {
                Protocol::SocketIo => socketio.get_or_init(|| sio::encode_event(&self.ns.name, event, args, None)),
                Protocol::Raw => raw.get_or_init(|| rawws::encode_event(event, args, Protocol::Raw)),
                Protocol::Engine => engine.get_or_init(|| rawws::encode_event(event, args, Protocol::Engine)),
            };
            if s.session.push(frames) {
                delivered += 1;
            }
        });
        delivered
    }

    /// The receivers, as socket handles.
    pub fn sockets(&self) -> Vec<Socket> {
        let mut out = Vec::new();
        self.for_each(|s| out.push(Socket(s.clone())));
        out
    }

    /// Makes every receiver join `room`.
    pub fn join(&self, room: &str) {
        self.sockets().iter().for_each(|s| s.join(room));
    }

    /// Makes every receiver leave `room`.
    pub fn leave(&self, room: &str) {
        self.sockets().iter().for_each(|s| s.leave(room));
    }

    /// Disconnects every receiver from the namespace.
    pub fn disconnect(&self) {
        self.sockets().iter().for_each(Socket::disconnect);
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
