//! Relayed WebSockets across the ABI: for a host whose server keeps its
//! sockets and speaks WebSocket itself (an ASGI server, aiohttp). The host
//! opens one per upgrade request, hands in what the client sends, and gets
//! back, on the dispatcher thread, whether to accept, what to send and when
//! to close. Handles are ids in a table, so a stale or foreign id is a
//! WSHUB_NOT_FOUND, never a dangling pointer.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::args::slice;
use super::host::{request_from_c, wshub_http_request};
use super::lifecycle::{usable, wshub_free_fn, wshub_t, Userdata};
use super::{fail, run, wshub_status, wshub_status::*};
use crate::{RelayError, RelayEvent, RelayHandle, RelayMessage};

/// Accept the client's WebSocket (`code` 0, no data).
pub const WSHUB_RELAY_ACCEPTED: u32 = 0;
/// Refuse it: `code` is the HTTP status, `data` the body.
pub const WSHUB_RELAY_REFUSED: u32 = 1;
/// Send a text message (`data`: UTF-8, not NUL-terminated).
pub const WSHUB_RELAY_TEXT: u32 = 2;
/// Send a binary message.
pub const WSHUB_RELAY_BINARY: u32 = 3;
/// Close with the WebSocket close code `code`; the last event.
pub const WSHUB_RELAY_CLOSED: u32 = 4;

/// Receives the events of one relayed WebSocket, in order, on the
/// dispatcher thread: ACCEPTED or REFUSED first, then TEXT and BINARY, then
/// CLOSED; REFUSED and CLOSED are the last (exactly one of them comes, also
/// when the hub stops). `data` is borrowed for the call (NULL when `len` is 0).
pub type wshub_relay_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, kind: u32, code: u16, data: *const u8, len: usize)>;

/// The open relays of one hub.
#[derive(Default)]
pub(crate) struct Relays {
    open: Mutex<HashMap<u64, RelayHandle>>,
    next: AtomicU64,
}

/// Serves a WebSocket whose connection the host keeps: `request` is the
/// upgrade request its server read (copied before the call returns; its
/// Origin, cookies and query count as on the hub's own listener). Writes the
/// relay's id to `*out_id`. `on_event` then says whether to accept, what to
/// send and when to close (see `wshub_relay_cb`); `free_userdata` (may be
/// NULL) runs on the dispatcher thread right after the last event. The same
/// limits as on the hub's own listener apply; a host that can hand over the
/// socket itself uses `wshub_adopt`, the faster path. WSHUB_LIMIT:
/// `max_connections` reached (`on_event` is never called). Any thread,
/// including a callback.
#[no_mangle]
pub unsafe extern "C" fn wshub_relay_open(
    hub: *mut wshub_t,
    request: *const wshub_http_request,
    on_event: wshub_relay_cb,
    userdata: *mut c_void,
    free_userdata: wshub_free_fn,
    out_id: *mut u64,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let r = request.as_ref().ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "request is NULL"))?;
        let on_event = on_event.ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "on_event is NULL"))?;
        let out_id = out_id.as_mut().ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "out_id is NULL"))?;
        let req = request_from_c(r)?;
        let id = h.relays.next.fetch_add(1, Ordering::Relaxed) + 1;
        // The table is locked across the open, so the first event (which may
        // remove the entry) cannot come before the entry is there.
        let mut open = h.relays.open.lock();
        let (dispatcher, relays) = (h.dispatcher.clone(), h.relays.clone());
        let ud = Arc::new(Userdata::new(userdata, free_userdata));
        let handle = h
            .hub
            .relay_websocket(req, move |m: RelayMessage| {
                let (ud, relays) = (ud.clone(), relays.clone());
                dispatcher.push(move || deliver(on_event, &ud, &relays, id, m));
            })
            .map_err(|e| fail(status_of(&e), e.to_string()))?;
        open.insert(id, handle);
        *out_id = id;
        Ok(())
    })
}

/// Hands the hub a message the client sent on relay `id` (`binary` false:
/// `data` is UTF-8 text). Copied before the call returns. WSHUB_NOT_FOUND:
/// the relay has ended (its CLOSED or REFUSED is delivered or on its way).
/// WSHUB_LIMIT: the host handed in more than the hub has read (four times
/// `max_payload`, at least 256 KiB): the hub closes that connection with
/// 1009, as it does a client that floods. Any thread, including a callback.
#[no_mangle]
pub unsafe extern "C" fn wshub_relay_send(
    hub: *mut wshub_t,
    id: u64,
    binary: bool,
    data: *const u8,
    len: usize,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let data = slice(data, len, || "data".into())?;
        let open = h.relays.open.lock();
        let relay = open.get(&id).ok_or_else(|| fail(WSHUB_NOT_FOUND, format!("no open relay {id}")))?;
        let sent = if binary {
            relay.send_binary(Bytes::copy_from_slice(data))
        } else {
            let text = std::str::from_utf8(data).map_err(|_| fail(WSHUB_INVALID_ARGUMENT, "text is not UTF-8"))?;
            relay.send_text(text.to_string())
        };
        sent.map_err(|e| match e {
            RelayError::Closed => fail(WSHUB_NOT_FOUND, format!("relay {id} has ended")),
            RelayError::Flooded => fail(WSHUB_LIMIT, "more handed in than the hub has read: the connection is closed"),
        })
    })
}

/// The client of relay `id` is gone (or the host gives up on it): the hub
/// ends its session ("transport close") and delivers CLOSED. WSHUB_NOT_FOUND
/// once the relay has ended. Any thread, including a callback.
#[no_mangle]
pub unsafe extern "C" fn wshub_relay_close(hub: *mut wshub_t, id: u64) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let relay = h.relays.open.lock().remove(&id);
        relay.map(drop).ok_or_else(|| fail(WSHUB_NOT_FOUND, format!("no open relay {id}")))
    })
}

fn status_of(e: &crate::Error) -> wshub_status {
    match e {
        crate::Error::NotRunning => WSHUB_NOT_RUNNING,
        crate::Error::Limit(_) => WSHUB_LIMIT,
        _ => WSHUB_IO_ERROR,
    }
}

/// On the dispatcher: one event to the host; after the last, the entry and the userdata go.
fn deliver(
    on_event: unsafe extern "C" fn(*mut c_void, u32, u16, *const u8, usize),
    ud: &Userdata,
    relays: &Relays,
    id: u64,
    m: RelayMessage,
) {
    let (kind, code, data): (u32, u16, &[u8]) = match &m.event {
        RelayEvent::Accepted => (WSHUB_RELAY_ACCEPTED, 0, &[]),
        RelayEvent::Refused(resp) => (WSHUB_RELAY_REFUSED, resp.status, &resp.body),
        RelayEvent::Text(t) => (WSHUB_RELAY_TEXT, 0, t.as_bytes()),
        RelayEvent::Binary(b) => (WSHUB_RELAY_BINARY, 0, b),
        RelayEvent::Closed(code) => (WSHUB_RELAY_CLOSED, *code, &[]),
    };
    let last = matches!(kind, WSHUB_RELAY_REFUSED | WSHUB_RELAY_CLOSED);
    if last {
        relays.open.lock().remove(&id);
    }
    let ptr = if data.is_empty() { std::ptr::null() } else { data.as_ptr() };
    // SAFETY: the host's callback, with the userdata it gave for it and data
    // borrowed for the call.
    unsafe { on_event(ud.ptr(), kind, code, ptr, data.len()) };
    if last {
        // SAFETY: the last use of this userdata (its relay has ended).
        unsafe { ud.finalize() };
    }
    // `m` drops here: its credit goes back once the host has taken it.
}
