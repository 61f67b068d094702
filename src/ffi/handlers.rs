//! Registering foreign callbacks. Each runs on the hub's dispatcher thread,
//! with the userdata given here; its finalizer runs once, after `wshub_stop`.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;

use super::args::wshub_bytes;
use super::event::{c_string, EventData};
use super::lifecycle::{usable, wshub_free_fn, wshub_t};
use super::{fail, guard, optional_str, run, wshub_event, wshub_status, wshub_status::*};
use crate::engineio::BoxFuture;
use crate::{ConnectRefusal, Namespace};

/// Receives an event. `event` is borrowed for the duration of the call.
pub type wshub_event_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const wshub_event)>;

/// A socket connected to a namespace (strings borrowed for the call).
pub type wshub_connection_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, socket_id: *const c_char, name_space: *const c_char)>;

/// A socket left a namespace; `reason` is the Socket.IO server's reason
/// string, e.g. "client namespace disconnect", "transport close",
/// "ping timeout", "server shutting down" (strings borrowed for the call).
/// `wshub_on_error` gives its callback a message in the same place.
pub type wshub_disconnect_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        socket_id: *const c_char,
        name_space: *const c_char,
        reason: *const c_char,
    ),
>;

/// One packet that a watched socket's connection handed its transport (see
/// `wshub_on_packets`); borrowed for the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_packet {
    /// Its Engine.IO type: "open", "close", "ping", "pong", "message",
    /// "upgrade" or "noop" (a binary packet is a "message").
    pub kind: *const c_char,
    /// A text packet's data without its type digit; a binary packet's bytes.
    pub data: wshub_bytes,
    pub binary: bool,
    /// The emit let it be deflated (`wshub_target.uncompressed` was false).
    pub compress: bool,
    /// Encoded once for all the receivers of a broadcast, and shared by them.
    pub shared: bool,
    /// Written as a WebSocket message (else in a polling response).
    pub websocket: bool,
    /// Written deflated (permessage-deflate on, and the packet past its threshold).
    pub deflated: bool,
}

/// Packets a watched socket's connection handed its transport, in order
/// (all borrowed for the call).
pub type wshub_packets_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        socket_id: *const c_char,
        name_space: *const c_char,
        packets: *const wshub_packet,
        count: usize,
    ),
>;

/// A client asks to join a namespace (fields borrowed for the call).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_connect_request {
    /// Pass it to `wshub_connect_decide`.
    pub request_id: u64,
    pub name_space: *const c_char,
    /// The client's auth payload as a JSON object ("{}" when none).
    pub auth_json: *const c_char,
    /// The peer's address, e.g. "127.0.0.1:50312".
    pub remote_addr: *const c_char,
    /// The request target of the connection's first HTTP request.
    pub url: *const c_char,
    /// The id the socket gets if it is let in ("" in a namespace resolver's
    /// request, which comes before there is a socket).
    pub socket_id: *const c_char,
}

/// Decides a connect request: call `wshub_connect_decide` exactly once for
/// `request->request_id`, inside the callback or later from any thread.
pub type wshub_guard_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, request: *const wshub_connect_request)>;

/// Checks the arguments every registration has: the hub, the namespace and
/// the callback. The caller then checks its own, and keeps the userdata last
/// (`keep_userdata`): a failed registration leaves the userdata to its caller.
unsafe fn register<'a, F>(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: Option<F>,
) -> Result<(&'a wshub_t, Namespace, F), wshub_status> {
    let h = usable(hub)?;
    let ns = h.hub.of(optional_str(name_space, "name_space")?.unwrap_or("/"));
    let cb = callback.ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "callback is NULL"))?;
    Ok((h, ns, cb))
}

/// `register` for a hub-wide callback (no namespace).
unsafe fn register_hub<'a, F>(hub: *mut wshub_t, callback: Option<F>) -> Result<(&'a wshub_t, F), wshub_status> {
    let h = usable(hub)?;
    let cb = callback.ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "callback is NULL"))?;
    Ok((h, cb))
}

/// Registers `callback` for `event` in namespace `name_space` (NULL: "/").
/// A NULL `event` registers the catch-all for events without a handler of
/// their own. Registering the same event again replaces the callback.
/// Any thread, before or after `wshub_start`.
#[no_mangle]
pub unsafe extern "C" fn wshub_on(
    hub: *mut wshub_t,
    name_space: *const c_char,
    event: *const c_char,
    callback: wshub_event_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        let event = optional_str(event, "event")?.map(str::to_string);
        let (ud, dispatcher) = (h.keep_userdata(userdata, free_userdata), h.dispatcher.clone());
        let handler = move |ev: crate::Event| {
            let socket = ev.socket();
            let data = EventData::new((socket.id(), socket.handle()), socket.namespace(), ev.name(), ev.args(), ev.ack_id());
            let ud = ud.clone();
            dispatcher.push(move || data.with_view(|view| unsafe { cb(ud.ptr, view) }));
        };
        match event {
            Some(name) => ns.on(&name, handler),
            None => ns.on_any(handler),
        }
        Ok(())
    })
}

/// Registers a callback for each socket that joins `name_space` (NULL: "/").
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_on_connection(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: wshub_connection_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        ns.on_connect(socket_callback(h, cb, h.keep_userdata(userdata, free_userdata)));
        Ok(())
    })
}

/// Registers a callback for each socket of `name_space` (NULL: "/") whose
/// connection moves from HTTP long-polling to WebSocket (Engine.IO's
/// upgrade). Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_on_upgrade(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: wshub_connection_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        ns.on_upgrade(socket_callback(h, cb, h.keep_userdata(userdata, free_userdata)));
        Ok(())
    })
}

/// Registers a callback told of the packets that the connection of each
/// watched socket of `name_space` (NULL: "/"; see `wshub_watch_packets`)
/// hands its transport: Socket.IO's `packetCreate`. A connection's packets
/// are those of all its namespaces. For looking at the wire: nothing is
/// copied while no socket watches. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_on_packets(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: wshub_packets_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        let (ud, dispatcher) = (h.keep_userdata(userdata, free_userdata), h.dispatcher.clone());
        ns.on_packets(move |socket, packets| {
            let (id, ns) = (c_string(socket.id()), c_string(socket.namespace()));
            let (ud, packets) = (ud.clone(), packets.to_vec()); // the data is shared, not copied
            dispatcher.push(move || {
                let views: Vec<wshub_packet> = packets.iter().map(packet_view).collect();
                unsafe { cb(ud.ptr, id.as_ptr(), ns.as_ptr(), views.as_ptr(), views.len()) }
            });
        });
        Ok(())
    })
}

fn packet_view(p: &crate::Packet) -> wshub_packet {
    let kind: &'static std::ffi::CStr = match p.kind {
        "open" => c"open",
        "close" => c"close",
        "ping" => c"ping",
        "pong" => c"pong",
        "upgrade" => c"upgrade",
        "noop" => c"noop",
        _ => c"message",
    };
    wshub_packet {
        kind: kind.as_ptr(),
        data: wshub_bytes::of(&p.data),
        binary: p.binary,
        compress: p.compress,
        shared: p.shared,
        websocket: p.websocket,
        deflated: p.deflated,
    }
}

/// A socket handler that calls `cb` with the socket's id and namespace on the dispatcher.
fn socket_callback(
    h: &wshub_t,
    cb: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char),
    ud: std::sync::Arc<super::lifecycle::Userdata>,
) -> impl Fn(crate::Socket) + Send + Sync + 'static {
    let dispatcher = h.dispatcher.clone();
    move |socket| {
        let (id, ns) = (c_string(socket.id()), c_string(socket.namespace()));
        let ud = ud.clone();
        dispatcher.push(move || unsafe { cb(ud.ptr, id.as_ptr(), ns.as_ptr()) });
    }
}

/// Registers a callback for each socket that leaves `name_space` (NULL: "/").
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_on_disconnect(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: wshub_disconnect_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        let tell = socket_text_callback(h, cb, h.keep_userdata(userdata, free_userdata));
        ns.on_disconnect(move |socket, reason| tell(socket, reason.as_str()));
        Ok(())
    })
}

/// Registers a callback told why a socket's client broke the protocol
/// (`message`, e.g. "Illegal attachments" for a packet that does not
/// decode); its disconnect callback, with "forced close", follows.
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_on_error(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: wshub_disconnect_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        ns.on_error(socket_text_callback(h, cb, h.keep_userdata(userdata, free_userdata)));
        Ok(())
    })
}

/// Registers a callback told of a client whose connection closed while the
/// guards of `name_space` (NULL: "/") ran for it: `socket_id` is its
/// request's, the text is the connection's reason ("transport close", …).
/// Its request may still be decided; that lets nobody in. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_on_guard_abandoned(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: wshub_disconnect_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        let (ud, dispatcher) = (h.keep_userdata(userdata, free_userdata), h.dispatcher.clone());
        let name = std::sync::Arc::new(c_string(ns.name()));
        ns.on_guard_abandoned(move |id, reason| {
            let (id, reason, ud, name) = (c_string(id), c_string(reason.as_str()), ud.clone(), name.clone());
            dispatcher.push(move || unsafe { cb(ud.ptr, id.as_ptr(), name.as_ptr(), reason.as_ptr()) });
        });
        Ok(())
    })
}

/// A socket handler that calls `cb` with the socket's id, its namespace and
/// a text (a reason, a message) on the dispatcher.
fn socket_text_callback(
    h: &wshub_t,
    cb: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char),
    ud: std::sync::Arc<super::lifecycle::Userdata>,
) -> impl Fn(crate::Socket, &str) + Send + Sync + 'static {
    let dispatcher = h.dispatcher.clone();
    move |socket, text| {
        let (id, ns, text) = (c_string(socket.id()), c_string(socket.namespace()), c_string(text));
        let ud = ud.clone();
        dispatcher.push(move || unsafe { cb(ud.ptr, id.as_ptr(), ns.as_ptr(), text.as_ptr()) });
    }
}

/// Adds a connect guard to `name_space` (NULL: "/"): every client that asks
/// to join waits until the callback's request is decided with
/// `wshub_connect_decide`. A namespace with no guard admits everyone.
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_set_guard(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: wshub_guard_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, ns, cb) = register(hub, name_space, callback)?;
        let ud = h.keep_userdata(userdata, free_userdata);
        ns.guard_async(decided_by_callback(h, cb, ud));
        Ok(())
    })
}

/// Opens namespaces nobody registered (Socket.IO's dynamic namespaces): a
/// client naming one waits until the callback's request is decided with
/// `wshub_connect_decide`; accepted, the namespace is made for it (register
/// its handlers before deciding), refused, the client gets connect_error
/// with the message ("Invalid namespace" is what Socket.IO sends). A
/// second resolver replaces the first. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_set_namespace_resolver(
    hub: *mut wshub_t,
    callback: wshub_guard_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, cb) = register_hub(hub, callback)?;
        let ud = h.keep_userdata(userdata, free_userdata);
        h.hub.dynamic_namespaces_async(decided_by_callback(h, cb, ud));
        Ok(())
    })
}

/// A dynamic namespace went away (the name is borrowed for the call).
pub type wshub_namespace_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, name_space: *const c_char)>;

/// Registers a callback for each dynamic namespace that goes away empty
/// (`cleanup_empty_child_namespaces`); it comes after the disconnect
/// callback of its last socket. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_on_namespace_removed(
    hub: *mut wshub_t,
    callback: wshub_namespace_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, cb) = register_hub(hub, callback)?;
        let (ud, dispatcher) = (h.keep_userdata(userdata, free_userdata), h.dispatcher.clone());
        h.hub.on_namespace_removed(move |name| {
            let (ud, name) = (ud.clone(), c_string(name));
            dispatcher.push(move || unsafe { cb(ud.ptr, name.as_ptr()) });
        });
        Ok(())
    })
}

/// A connect decision made by a foreign callback (see `ask`).
fn decided_by_callback(
    h: &wshub_t,
    cb: unsafe extern "C" fn(*mut c_void, *const wshub_connect_request),
    ud: std::sync::Arc<super::lifecycle::Userdata>,
) -> impl Fn(crate::ConnectRequest) -> BoxFuture<Result<(), ConnectRefusal>> + Send + Sync + 'static {
    let asker = Asker::of(h);
    move |req| {
        let strings: [CString; 5] = [
            c_string(&req.namespace),
            c_string(&req.auth),
            c_string(&req.handshake.remote_addr.to_string()),
            c_string(&req.handshake.url),
            c_string(&req.socket_id),
        ];
        let ud = ud.clone();
        asker.ask(move |id| {
            let request = wshub_connect_request {
                request_id: id,
                name_space: strings[0].as_ptr(),
                auth_json: strings[1].as_ptr(),
                remote_addr: strings[2].as_ptr(),
                url: strings[3].as_ptr(),
                socket_id: strings[4].as_ptr(),
            };
            unsafe { cb(ud.ptr, &request) };
        })
    }
}

/// Asks a foreign callback for a decision: the request goes to the
/// dispatcher with an id, and waits for `wshub_connect_decide` (or for the
/// hub to stop) under that id.
struct Asker {
    dispatcher: std::sync::Arc<super::dispatcher::Dispatcher>,
    pending: std::sync::Arc<parking_lot::Mutex<std::collections::HashMap<u64, super::lifecycle::Verdict>>>,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Asker {
    fn of(h: &wshub_t) -> Asker {
        Asker { dispatcher: h.dispatcher.clone(), pending: h.pending.clone(), counter: h.next_request.clone() }
    }

    fn ask(&self, call: impl FnOnce(u64) + Send + 'static) -> BoxFuture<Result<(), ConnectRefusal>> {
        let id = self.counter.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        if !self.dispatcher.push(move || call(id)) {
            self.pending.lock().remove(&id);
        }
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(ConnectRefusal::new("server shutting down"))) })
    }
}

/// A client asks to open a connection (fields borrowed for the call).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_handshake_request {
    /// Pass it to `wshub_connect_decide`; a refusal's message is the body of the 403.
    pub request_id: u64,
    /// The peer's address, e.g. "127.0.0.1:50312".
    pub remote_addr: *const c_char,
    /// The request target, path and query.
    pub url: *const c_char,
    /// The request's headers as a JSON object (lower-case names).
    pub headers_json: *const c_char,
}

/// Decides a handshake request: call `wshub_connect_decide` exactly once
/// for `request->request_id`, inside the callback or later from any thread.
pub type wshub_handshake_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, request: *const wshub_handshake_request)>;

/// Decides which requests may open a connection at all (Socket.IO's
/// `allowRequest`): every new Socket.IO or Engine.IO connection, polling or
/// WebSocket, waits until the callback's request is decided with
/// `wshub_connect_decide`; a refused one gets 403 with the message (NULL:
/// "refused") and no session. A second guard replaces the first. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_set_request_guard(
    hub: *mut wshub_t,
    callback: wshub_handshake_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> wshub_status {
    run(|| {
        let (h, cb) = register_hub(hub, callback)?;
        let (ud, asker) = (h.keep_userdata(userdata, free_userdata), Asker::of(h));
        h.hub.allow_request_async(move |hs| {
            let strings: [CString; 3] = [
                c_string(&hs.remote_addr.to_string()),
                c_string(&hs.url),
                c_string(&crate::handshake::pairs_object(&hs.headers).to_string()),
            ];
            let ud = ud.clone();
            let decision = asker.ask(move |id| {
                let request = wshub_handshake_request {
                    request_id: id,
                    remote_addr: strings[0].as_ptr(),
                    url: strings[1].as_ptr(),
                    headers_json: strings[2].as_ptr(),
                };
                unsafe { cb(ud.ptr, &request) };
            });
            async move { decision.await.map_err(|refusal| refusal.message) }
        });
        Ok(())
    })
}

/// Accepts (`accept` true) or refuses a pending connect request; a refused
/// client gets `connect_error` with `message` (NULL: "refused"). Any thread.
/// `WSHUB_NOT_FOUND` if the request was already decided or its client left.
#[no_mangle]
pub unsafe extern "C" fn wshub_connect_decide(
    hub: *mut wshub_t,
    request_id: u64,
    accept: bool,
    message: *const c_char,
) -> wshub_status {
    guard(|| {
        let message = match optional_str(message, "message") {
            Ok(m) => m.unwrap_or("refused").to_string(),
            Err(s) => return s,
        };
        let verdict = if accept { Ok(()) } else { Err(ConnectRefusal::new(message)) };
        decide(hub, request_id, verdict)
    })
}

/// Refuses a pending connect request with `message` (NULL: "refused") and
/// `data_json`, a JSON value (`data_len` bytes) the client finds in its
/// `connect_error` as `err.data`. WSHUB_INVALID_ARGUMENT: `data_json` is not
/// one JSON value (the request stays pending). Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_connect_refuse(
    hub: *mut wshub_t,
    request_id: u64,
    message: *const c_char,
    data_json: *const c_char,
    data_len: usize,
) -> wshub_status {
    guard(|| {
        let message = match optional_str(message, "message") {
            Ok(m) => m.unwrap_or("refused").to_string(),
            Err(s) => return s,
        };
        let data = match super::args::slice(data_json.cast::<u8>(), data_len, || "data_json".into()) {
            Ok(bytes) => bytes,
            Err(s) => return s,
        };
        let data = match std::str::from_utf8(data)
            .ok()
            .filter(|d| serde_json::from_str::<&serde_json::value::RawValue>(d).is_ok())
        {
            Some(d) => d.to_string(),
            None => return fail(WSHUB_INVALID_ARGUMENT, "data_json is not one JSON value"),
        };
        decide(hub, request_id, Err(ConnectRefusal { message, data: Some(data) }))
    })
}

unsafe fn decide(hub: *mut wshub_t, request_id: u64, verdict: Result<(), ConnectRefusal>) -> wshub_status {
    let Some(h) = hub.as_ref() else { return fail(WSHUB_NULL_ARGUMENT, "hub is NULL") };
    let Some(tx) = h.pending.lock().remove(&request_id) else {
        return fail(WSHUB_NOT_FOUND, format!("no pending connect request {request_id}"));
    };
    if tx.send(verdict).is_err() {
        return fail(WSHUB_NOT_FOUND, "the client left before the decision");
    }
    WSHUB_OK
}
