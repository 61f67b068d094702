//! Registering foreign callbacks. Each runs on the hub's dispatcher thread,
//! with the userdata given here; its finalizer runs once, after `wshub_stop`.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;

use super::event::{c_string, EventData};
use std::sync::Arc;

use super::dispatcher::Dispatcher;
use super::lifecycle::{wshub_free_fn, wshub_t, Userdata};
use super::{fail, guard, optional_str, wshub_event, wshub_status, wshub_status::*};
use crate::{ConnectRefusal, Namespace};

/// Receives an event. `event` is borrowed for the duration of the call.
pub type wshub_event_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const wshub_event)>;

/// A socket connected to a namespace (strings borrowed for the call).
pub type wshub_connection_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, socket_id: *const c_char, name_space: *const c_char)>;

/// A socket left a namespace; `reason` is the Socket.IO server's reason
/// string, e.g. "client namespace disconnect", "transport close",
/// "ping timeout", "server shutting down" (strings borrowed for the call).
pub type wshub_disconnect_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        socket_id: *const c_char,
        name_space: *const c_char,
        reason: *const c_char,
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
}

/// Decides a connect request: call `wshub_connect_decide` exactly once for
/// `request->request_id`, inside the callback or later from any thread.
pub type wshub_guard_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, request: *const wshub_connect_request)>;

/// What every registration needs: the namespace, the callback, its
/// userdata (finalized at stop) and the dispatcher that will run it.
struct Registration<F> {
    hub: &'static wshub_t,
    ns: Namespace,
    cb: F,
    ud: Arc<Userdata>,
    dispatcher: Arc<Dispatcher>,
}

/// Checks a registration's arguments and keeps its userdata.
unsafe fn register<F>(
    hub: *mut wshub_t,
    name_space: *const c_char,
    callback: Option<F>,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
) -> Result<Registration<F>, wshub_status> {
    // 'static: the handle outlives every registration (they end at stop).
    let Some(h) = hub.as_ref() else { return Err(fail(WSHUB_NULL_ARGUMENT, "hub is NULL")) };
    h.check_usable()?;
    let ns = h.hub.of(optional_str(name_space, "name_space")?.unwrap_or("/"));
    let cb = callback.ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "callback is NULL"))?;
    let ud = h.keep_userdata(Userdata::new(userdata, free_userdata));
    Ok(Registration { hub: h, ns, cb, ud, dispatcher: h.dispatcher.clone() })
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
    guard(|| {
        let Registration { ns, cb, ud, dispatcher, .. } =
            match register(hub, name_space, callback, userdata, free_userdata) {
                Ok(r) => r,
                Err(s) => return s,
            };
        let event = match optional_str(event, "event") {
            Ok(e) => e.map(str::to_string),
            Err(s) => return s,
        };
        let handler = move |ev: crate::Event| {
            let data = EventData::new(ev.socket().id(), ev.socket().namespace(), ev.name(), ev.args(), ev.ack_id());
            let ud = ud.clone();
            dispatcher.push(Box::new(move || data.with_view(|view| unsafe { cb(ud.ptr, view) })));
        };
        match event {
            Some(name) => ns.on(&name, handler),
            None => ns.on_any(handler),
        }
        WSHUB_OK
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
    guard(|| {
        let Registration { ns, cb, ud, dispatcher, .. } =
            match register(hub, name_space, callback, userdata, free_userdata) {
                Ok(r) => r,
                Err(s) => return s,
            };
        ns.on_connect(move |socket| {
            let (id, ns) = (c_string(socket.id()), c_string(socket.namespace()));
            let ud = ud.clone();
            dispatcher.push(Box::new(move || unsafe { cb(ud.ptr, id.as_ptr(), ns.as_ptr()) }));
        });
        WSHUB_OK
    })
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
    guard(|| {
        let Registration { ns, cb, ud, dispatcher, .. } =
            match register(hub, name_space, callback, userdata, free_userdata) {
                Ok(r) => r,
                Err(s) => return s,
            };
        ns.on_disconnect(move |socket, reason| {
            let (id, ns) = (c_string(socket.id()), c_string(socket.namespace()));
            let reason = c_string(reason.as_str());
            let ud = ud.clone();
            dispatcher.push(Box::new(move || unsafe { cb(ud.ptr, id.as_ptr(), ns.as_ptr(), reason.as_ptr()) }));
        });
        WSHUB_OK
    })
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
    guard(|| {
        let Registration { hub: h, ns, cb, ud, dispatcher } =
            match register(hub, name_space, callback, userdata, free_userdata) {
                Ok(r) => r,
                Err(s) => return s,
            };
        let pending = h.pending.clone();
        let counter = h.next_request.clone();
        ns.guard_async(move |req| {
            let id = counter.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            pending.lock().insert(id, tx);
            let strings: [CString; 4] = [
                c_string(&req.namespace),
                c_string(&req.auth),
                c_string(&req.handshake.remote_addr.to_string()),
                c_string(&req.handshake.url),
            ];
            let ud = ud.clone();
            let queued = dispatcher.push(Box::new(move || {
                let request = wshub_connect_request {
                    request_id: id,
                    name_space: strings[0].as_ptr(),
                    auth_json: strings[1].as_ptr(),
                    remote_addr: strings[2].as_ptr(),
                    url: strings[3].as_ptr(),
                };
                unsafe { cb(ud.ptr, &request) };
            }));
            if !queued {
                pending.lock().remove(&id);
            }
            async move { rx.await.unwrap_or_else(|_| Err(ConnectRefusal::new("server shutting down"))) }
        });
        WSHUB_OK
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
        let Some(h) = hub.as_ref() else { return fail(WSHUB_NULL_ARGUMENT, "hub is NULL") };
        let message = match optional_str(message, "message") {
            Ok(m) => m.unwrap_or("refused").to_string(),
            Err(s) => return s,
        };
        let Some(tx) = h.pending.lock().remove(&request_id) else {
            return fail(WSHUB_NOT_FOUND, format!("no pending connect request {request_id}"));
        };
        let verdict = if accept { Ok(()) } else { Err(ConnectRefusal::new(message)) };
        if tx.send(verdict).is_err() {
            return fail(WSHUB_NOT_FOUND, "the client left before the decision");
        }
        WSHUB_OK
    })
}
