//! Emits, acks, rooms and socket queries from C. Every call here is
//! non-blocking and may be made from any thread, inside a callback too.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::args::{payload_from_c, wshub_bytes};
use super::dispatcher::Dispatcher;
use super::event::EventData;
use super::lifecycle::{usable, wshub_t};
use super::{fail, optional_str, owned_c_string, required_str, run, wshub_event, wshub_status, wshub_status::*};
use crate::{AckError, Socket, Target};

/// Who an emit reaches, within one namespace. All fields may be NULL/0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_target {
    /// The namespace (NULL: "/").
    pub name_space: *const c_char,
    /// Rooms to reach (a socket id names a room of one); none: everyone.
    pub rooms: *const *const c_char,
    pub room_count: usize,
    /// Rooms whose members are left out.
    pub except_rooms: *const *const c_char,
    pub except_count: usize,
    /// One socket left out (e.g. the sender), or NULL.
    pub except_socket: *const c_char,
    /// Sent as it is, never deflated, even on connections that negotiated
    /// permessage-deflate (Socket.IO's `compress(false)`): for data that is
    /// compressed already. false (zero): deflated as the connection allows.
    pub uncompressed: bool,
}

unsafe fn str_list<'a>(list: *const *const c_char, count: usize, what: &str) -> Result<Vec<&'a str>, wshub_status> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if list.is_null() {
        return Err(fail(WSHUB_NULL_ARGUMENT, format!("{what} is NULL with a count of {count}")));
    }
    (0..count).map(|i| required_str(*list.add(i), what)).collect()
}

unsafe fn resolve_target(h: &wshub_t, target: *const wshub_target) -> Result<Target, wshub_status> {
    let Some(t) = target.as_ref() else { return Ok(h.hub.of("/").to_all()) };
    let ns = optional_str(t.name_space, "name_space")?.unwrap_or("/");
    let mut target = h.hub.of(ns).to_all();
    for room in str_list(t.rooms, t.room_count, "rooms")? {
        target = target.to(room);
    }
    for room in str_list(t.except_rooms, t.except_count, "except_rooms")? {
        target = target.except(room);
    }
    if let Some(id) = optional_str(t.except_socket, "except_socket")? {
        target = target.except(id);
    }
    Ok(target.compress(!t.uncompressed))
}

unsafe fn find_socket(
    h: &wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
) -> Result<Socket, wshub_status> {
    let ns = optional_str(name_space, "name_space")?.unwrap_or("/");
    let id = required_str(socket_id, "socket_id")?;
    h.hub.of(ns).socket(id).ok_or_else(|| fail(WSHUB_NOT_FOUND, format!("no socket {id} in namespace {ns}")))
}

/// Emits `event` to a target (NULL: everyone in "/"). The arguments are
/// copied once and the encoded packet shared by every receiver; they are
/// borrowed only for the call. `args_json` is a JSON array (NULL or length 0:
/// no arguments); `attachments` are its binary arguments. Writes the number
/// of receivers to `*out_delivered` when not NULL.
#[no_mangle]
pub unsafe extern "C" fn wshub_emit(
    hub: *mut wshub_t,
    target: *const wshub_target,
    event: *const c_char,
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
    out_delivered: *mut usize,
) -> wshub_status {
    run(|| emit_to_target(hub, target, event, args_json, args_len, attachments, attachment_count, out_delivered, false))
}

/// Like `wshub_emit`, but volatile: a receiver whose outbound queue is full
/// (a slow consumer) misses this packet and keeps its connection, whatever
/// the hub's `slow_consumer` policy. For data the next packet supersedes.
/// `*out_delivered` counts only the receivers that got it queued. To one
/// socket: a target whose only room is the socket's id.
#[no_mangle]
pub unsafe extern "C" fn wshub_emit_volatile(
    hub: *mut wshub_t,
    target: *const wshub_target,
    event: *const c_char,
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
    out_delivered: *mut usize,
) -> wshub_status {
    run(|| emit_to_target(hub, target, event, args_json, args_len, attachments, attachment_count, out_delivered, true))
}

#[allow(clippy::too_many_arguments)]
unsafe fn emit_to_target(
    hub: *mut wshub_t,
    target: *const wshub_target,
    event: *const c_char,
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
    out_delivered: *mut usize,
    volatile: bool,
) -> Result<(), wshub_status> {
    let h = usable(hub)?;
    let event = required_str(event, "event")?;
    let payload = payload_from_c(args_json, args_len, attachments, attachment_count)?;
    let mut target = resolve_target(h, target)?;
    if volatile {
        target = target.volatile();
    }
    let n = target.emit(event, &payload);
    if !out_delivered.is_null() {
        *out_delivered = n;
    }
    Ok(())
}

/// Emits `event` to one socket. `WSHUB_NOT_FOUND` if it is not connected to
/// `name_space` (NULL: "/"), except with connection state recovery on
/// (`recovery_ms`): then the event is kept for a client that may come back
/// under that id, and the call succeeds.
#[no_mangle]
pub unsafe extern "C" fn wshub_emit_to(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    event: *const c_char,
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let ns = optional_str(name_space, "name_space")?.unwrap_or("/");
        let id = required_str(socket_id, "socket_id")?;
        let event = required_str(event, "event")?;
        let payload = payload_from_c(args_json, args_len, attachments, attachment_count)?;
        let namespace = h.hub.of(ns);
        match namespace.socket(id) {
            Some(socket) => socket.emit(event, &payload).map_err(|e| fail(WSHUB_DISCONNECTED, e.to_string())),
            None if h.hub.config().connection_state_recovery.is_none() => {
                Err(fail(WSHUB_NOT_FOUND, format!("no socket {id} in namespace {ns}")))
            }
            None => {
                // Away: kept for its client, which may come back under that id.
                namespace.to(id).local().emit(event, &payload);
                Ok(())
            }
        }
    })
}

/// Emits `event` to the socket with this handle (`wshub_event.socket_handle`,
/// or "handle" in `wshub_socket_info`): as `wshub_emit_to`, found by one
/// number instead of its namespace and id. `WSHUB_NOT_FOUND` once it left
/// (a handle is never reused; with connection state recovery, keep an event
/// for a client that may come back with `wshub_emit_to`).
#[no_mangle]
pub unsafe extern "C" fn wshub_emit_to_socket(
    hub: *mut wshub_t,
    socket_handle: u64,
    event: *const c_char,
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let event = required_str(event, "event")?;
        let payload = payload_from_c(args_json, args_len, attachments, attachment_count)?;
        let socket = h
            .hub
            .socket_by_handle(socket_handle)
            .ok_or_else(|| fail(WSHUB_NOT_FOUND, format!("no socket with handle {socket_handle}")))?;
        socket.emit(event, &payload).map_err(|e| fail(WSHUB_DISCONNECTED, e.to_string()))
    })
}

/// Receives the client's answer to `wshub_emit_with_ack`, exactly once, on
/// the dispatcher thread: status `WSHUB_OK` with the reply's arguments in
/// `reply` (borrowed for the call), or `WSHUB_TIMEOUT` / `WSHUB_DISCONNECTED`
/// / `WSHUB_INVALID_ARGUMENT` (a plain client cannot ack) with `reply` NULL.
pub type wshub_ack_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, status: wshub_status, reply: *const wshub_event)>;

/// Calls the ack callback once: with the answer, or, if the library drops
/// the wait (the hub stops), with `WSHUB_DISCONNECTED`.
struct AckReply {
    callback: unsafe extern "C" fn(*mut c_void, wshub_status, *const wshub_event),
    userdata: super::lifecycle::Userdata,
    dispatcher: std::sync::Arc<Dispatcher>,
    reply: Option<(wshub_status, Option<EventData>)>,
}

impl AckReply {
    fn finish(mut self, status: wshub_status, data: Option<EventData>) {
        self.reply = Some((status, data));
    }
}

impl Drop for AckReply {
    fn drop(&mut self) {
        let (status, data) = self.reply.take().unwrap_or((WSHUB_DISCONNECTED, None));
        let (cb, ud) = (
            self.callback,
            std::mem::replace(&mut self.userdata, super::lifecycle::Userdata::new(std::ptr::null_mut(), None)),
        );
        self.dispatcher.push(move || unsafe {
            match &data {
                Some(d) => d.with_view(|view| cb(ud.ptr(), status, view)),
                None => cb(ud.ptr(), status, std::ptr::null()),
            }
        });
    }
}

/// Emits `event` to one socket and waits up to `timeout_ms` for its ack;
/// `callback` gets the outcome (see `wshub_ack_cb`). `userdata` is the
/// callback's; it gets no finalizer (the callback runs exactly once).
#[no_mangle]
pub unsafe extern "C" fn wshub_emit_with_ack(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    event: *const c_char,
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
    timeout_ms: u32,
    callback: wshub_ack_cb,
    userdata: *mut c_void,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let callback = callback.ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "callback is NULL"))?;
        let socket = find_socket(h, name_space, socket_id)?;
        let event = required_str(event, "event")?;
        let payload = payload_from_c(args_json, args_len, attachments, attachment_count)?;
        let reply = AckReply {
            callback,
            userdata: super::lifecycle::Userdata::new(userdata, None),
            dispatcher: h.dispatcher.clone(),
            reply: None,
        };
        let (id, ns) = (socket.id().to_string(), socket.namespace().to_string());
        socket.emit_with_ack_callback(event, &payload, Duration::from_millis(timeout_ms.into()), move |result| {
            match result {
                Ok(args) => reply.finish(WSHUB_OK, Some(EventData::new((&id, 0), &ns, "", &args, None))),
                Err(AckError::Timeout) => reply.finish(WSHUB_TIMEOUT, None),
                Err(AckError::Disconnected) => reply.finish(WSHUB_DISCONNECTED, None),
                Err(AckError::Unsupported) => reply.finish(WSHUB_INVALID_ARGUMENT, None),
                Err(AckError::TooManyPending) => reply.finish(WSHUB_LIMIT, None),
            }
        });
        Ok(())
    })
}

/// Answers a client's event that asked for an ack (`event->has_ack`), with
/// `event->ack_id`; from inside the callback or later from any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_ack(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    ack_id: u64,
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let socket = find_socket(h, name_space, socket_id)?;
        let payload = payload_from_c(args_json, args_len, attachments, attachment_count)?;
        socket.ack(ack_id, &payload).map_err(|e| fail(WSHUB_DISCONNECTED, e.to_string()))
    })
}

/// Resolves a socket and a room name, then applies `op` (join or leave).
unsafe fn with_room(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    room: *const c_char,
    op: fn(&Socket, &str),
) -> Result<(), wshub_status> {
    let h = usable(hub)?;
    let socket = find_socket(h, name_space, socket_id)?;
    op(&socket, required_str(room, "room")?);
    Ok(())
}

/// Puts a socket in a room.
#[no_mangle]
pub unsafe extern "C" fn wshub_join(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    room: *const c_char,
) -> wshub_status {
    run(|| with_room(hub, name_space, socket_id, room, Socket::join))
}

/// Takes a socket out of a room.
#[no_mangle]
pub unsafe extern "C" fn wshub_leave(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    room: *const c_char,
) -> wshub_status {
    run(|| with_room(hub, name_space, socket_id, room, Socket::leave))
}

/// Whether the packets that the connection of socket `socket_id` of
/// `name_space` (NULL: "/") hands its transport from now on reach the
/// namespace's `wshub_on_packets` callbacks. `WSHUB_NOT_FOUND` if the socket
/// is not connected. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_watch_packets(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    on: bool,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        find_socket(h, name_space, socket_id)?.watch_packets(on);
        Ok(())
    })
}

/// Disconnects a socket from its namespace (the client sees
/// "io server disconnect"), or with `close_connection` closes the client's
/// whole connection.
#[no_mangle]
pub unsafe extern "C" fn wshub_disconnect(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    close_connection: bool,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let socket = find_socket(h, name_space, socket_id)?;
        if close_connection {
            socket.close();
        } else {
            socket.disconnect();
        }
        Ok(())
    })
}

/// Writes to `*out` a JSON object describing a socket: `id`, `namespace`,
/// `remote_address`, `url`, `headers` (object, lower-case names), `query`
/// (object), `auth` (the client's auth object), `rooms` (array), `raw`
/// (true for a plain WebSocket client), `recovered` (true when it took
/// over the session of a client that came back, see `recovery_ms`),
/// `transport` ("polling" or "websocket", what carries it now). The
/// string is owned by the caller: free it with `wshub_string_free`.
#[no_mangle]
pub unsafe extern "C" fn wshub_socket_info(
    hub: *mut wshub_t,
    name_space: *const c_char,
    socket_id: *const c_char,
    out: *mut *mut c_char,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        if out.is_null() {
            return Err(fail(WSHUB_NULL_ARGUMENT, "out is NULL"));
        }
        let socket = find_socket(h, name_space, socket_id)?;
        let hs = socket.handshake();
        let auth: serde_json::Value = serde_json::from_str(socket.auth()).unwrap_or_default();
        let info = serde_json::json!({
            "id": socket.id(),
            "handle": socket.handle(),
            "namespace": socket.namespace(),
            "remote_address": hs.remote_addr.to_string(),
            "url": hs.url,
            "headers": crate::handshake::pairs_object(&hs.headers),
            "query": crate::handshake::pairs_object(&hs.query),
            "auth": auth,
            "rooms": socket.rooms(),
            "raw": socket.is_raw(),
            "recovered": socket.recovered(),
            "transport": socket.transport(),
        });
        *out = owned_c_string(info.to_string());
        Ok(())
    })
}

/// Writes to `*out` the JSON array of the ids of the sockets a target
/// reaches (NULL target: every socket of "/"). Free with `wshub_string_free`.
#[no_mangle]
pub unsafe extern "C" fn wshub_sockets(
    hub: *mut wshub_t,
    target: *const wshub_target,
    out: *mut *mut c_char,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        if out.is_null() {
            return Err(fail(WSHUB_NULL_ARGUMENT, "out is NULL"));
        }
        let mut ids: Vec<String> = resolve_target(h, target)?.sockets().iter().map(|s| s.id().to_string()).collect();
        ids.sort();
        *out = owned_c_string(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()));
        Ok(())
    })
}
