//! Events as C sees them: a struct of borrowed views, valid for the duration
//! of the callback; `wshub_event_retain` makes an owned copy.

use std::ffi::{c_char, CStr, CString};

use bytes::Bytes;

use super::args::wshub_bytes;
use crate::Payload;

/// An event received from a client (or the reply to an emit with an ack).
///
/// Every pointer is borrowed: valid only during the callback that received
/// it, unless the event was retained with `wshub_event_retain`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_event {
    /// The socket's id (NUL-terminated).
    pub socket_id: *const c_char,
    /// The namespace, e.g. "/" (NUL-terminated).
    pub name_space: *const c_char,
    /// The event name ("" for an ack reply).
    pub name: *const c_char,
    /// The arguments: a NUL-terminated JSON array of `args_len` bytes; binary
    /// arguments appear as `{"_placeholder":true,"num":N}`.
    pub args_json: *const c_char,
    pub args_len: usize,
    /// The binary attachments, in placeholder order.
    pub attachments: *const wshub_bytes,
    pub attachment_count: usize,
    /// True when the client waits for an ack: answer with `wshub_ack` and `ack_id`.
    pub has_ack: bool,
    pub ack_id: u64,
    /// The socket's handle: a number unique in the process, never reused,
    /// for `wshub_emit_to_socket` (0 in an ack reply).
    pub socket_handle: u64,
}

/// Owned data behind an event view (Send: no raw pointers inside).
pub(crate) struct EventData {
    /// The socket id, the namespace, the name and the args, each
    /// NUL-terminated, in one allocation: one copy per event, not four.
    text: Vec<u8>,
    /// Where the namespace, the name and the args start in `text`.
    starts: [usize; 3],
    attachments: Vec<Bytes>,
    ack_id: Option<u64>,
    socket_handle: u64,
}

/// A C copy of `s` (one allocation); an inner NUL, which C cannot carry,
/// becomes U+FFFD.
pub(crate) fn c_string(s: &str) -> CString {
    let mut bytes = Vec::with_capacity(s.len() + 1);
    push_c(&mut bytes, s.as_bytes());
    CString::from_vec_with_nul(bytes).expect("push_c ends with the only NUL")
}

/// Appends `s` and a NUL to `text`; an inner NUL, which C cannot carry, becomes U+FFFD.
fn push_c(text: &mut Vec<u8>, s: &[u8]) {
    if s.contains(&0) {
        for (i, chunk) in s.split(|&b| b == 0).enumerate() {
            if i > 0 {
                text.extend_from_slice("\u{fffd}".as_bytes());
            }
            text.extend_from_slice(chunk);
        }
    } else {
        text.extend_from_slice(s);
    }
    text.push(0);
}

impl EventData {
    /// An event of the socket with this id and handle (an ack reply: handle 0).
    pub fn new(
        socket: (&str, u64),
        namespace: &str,
        name: &str,
        args: &Payload,
        ack_id: Option<u64>,
    ) -> EventData {
        let parts = [socket.0.as_bytes(), namespace.as_bytes(), name.as_bytes(), args.json().as_bytes()];
        EventData::from_parts(parts, args.attachments().to_vec(), ack_id, socket.1)
    }

    fn from_parts(parts: [&[u8]; 4], attachments: Vec<Bytes>, ack_id: Option<u64>, socket_handle: u64) -> EventData {
        let mut text = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        let mut starts = [0; 3];
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                starts[i - 1] = text.len();
            }
            push_c(&mut text, part);
        }
        EventData { text, starts, attachments, ack_id, socket_handle }
    }

    fn c_str_at(&self, start: usize) -> *const c_char {
        self.text[start..].as_ptr().cast()
    }

    /// Runs `f` with a view of this event; the view lives as long as the call.
    pub fn with_view<R>(&self, f: impl FnOnce(&wshub_event) -> R) -> R {
        let views: Vec<wshub_bytes> = self.attachments.iter().map(|b| wshub_bytes::of(b)).collect();
        let ev = self.view(&views);
        f(&ev)
    }

    fn view(&self, views: &[wshub_bytes]) -> wshub_event {
        let [namespace, name, args] = self.starts;
        wshub_event {
            socket_id: self.c_str_at(0),
            name_space: self.c_str_at(namespace),
            name: self.c_str_at(name),
            args_json: self.c_str_at(args),
            args_len: self.text.len() - args - 1,
            attachments: if views.is_empty() { std::ptr::null() } else { views.as_ptr() },
            attachment_count: views.len(),
            has_ack: self.ack_id.is_some(),
            ack_id: self.ack_id.unwrap_or(0),
            socket_handle: self.socket_handle,
        }
    }
}

/// A retained event: the view first, so a pointer to it is a pointer to the view.
#[repr(C)]
struct RetainedEvent {
    view: wshub_event,
    views: Vec<wshub_bytes>,
    data: EventData,
}

/// The bytes of a C string (NULL: none).
unsafe fn c_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        &[]
    } else {
        CStr::from_ptr(p).to_bytes()
    }
}

/// Copies an event so it outlives its callback. Returns NULL if `event` is
/// NULL. The copy is owned by the caller: free it with `wshub_event_free`.
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_event_retain(event: *const wshub_event) -> *mut wshub_event {
    let Some(ev) = event.as_ref() else { return std::ptr::null_mut() };
    let result = std::panic::catch_unwind(|| {
        let mut attachments = Vec::with_capacity(ev.attachment_count);
        for i in 0..ev.attachment_count {
            let b = &*ev.attachments.add(i);
            let bytes = if b.len == 0 { &[][..] } else { std::slice::from_raw_parts(b.data, b.len) };
            attachments.push(Bytes::copy_from_slice(bytes));
        }
        let parts = [c_bytes(ev.socket_id), c_bytes(ev.name_space), c_bytes(ev.name), c_bytes(ev.args_json)];
        let data = EventData::from_parts(parts, attachments, ev.has_ack.then_some(ev.ack_id), ev.socket_handle);
        let views: Vec<wshub_bytes> = data.attachments.iter().map(|b| wshub_bytes::of(b)).collect();
        let mut retained = Box::new(RetainedEvent { view: *ev, views, data });
        retained.view = retained.data.view(&retained.views);
        Box::into_raw(retained).cast::<wshub_event>()
    });
    result.unwrap_or(std::ptr::null_mut())
}

/// Frees an event returned by `wshub_event_retain`. NULL is fine; freeing
/// anything else, or twice, is undefined. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_event_free(event: *mut wshub_event) {
    if !event.is_null() {
        drop(Box::from_raw(event.cast::<RetainedEvent>()));
    }
}
