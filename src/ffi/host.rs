//! Host-served mode across the ABI: the host program's own HTTP server hands
//! the hub connections (`wshub_adopt`) and requests (`wshub_handle_request`)
//! that arrive under the hub's paths (`wshub_serves_path`); relayed
//! WebSockets (a host that keeps its sockets) are in `relay`.

use std::ffi::{c_char, c_int, c_void, CString};
use std::net::SocketAddr;
use std::os::fd::FromRawFd;

use bytes::Bytes;

use super::args::{slice, wshub_bytes};
use super::event::c_string;
use super::lifecycle::{usable, wshub_t, Userdata};
use super::{fail, optional_str, required_str, run, wshub_status, wshub_status::*};
use crate::{HostRequest, HostResponse};

/// One HTTP header: two borrowed NUL-terminated strings.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_header {
    pub name: *const c_char,
    pub value: *const c_char,
}

/// An HTTP request the host's server read, borrowed for the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_http_request {
    /// "GET", "POST", "OPTIONS", ...
    pub method: *const c_char,
    /// The request target as received, path and query, percent-encoded
    /// (e.g. "/socket.io/?EIO=4&transport=polling").
    pub url: *const c_char,
    /// `header_count` headers (NULL when 0), names in any case.
    pub headers: *const wshub_header,
    pub header_count: usize,
    /// The whole body.
    pub body: wshub_bytes,
    /// The client's address, "ip:port" or "[ipv6]:port" (NULL: unknown).
    pub remote_addr: *const c_char,
}

/// The hub's answer, borrowed for the duration of the callback: every
/// header but Content-Length (the body's length) and Connection, which are
/// the host server's to write.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_http_response {
    pub status: u16,
    pub headers: *const wshub_header,
    pub header_count: usize,
    pub body: wshub_bytes,
}

/// Receives the answer to a `wshub_handle_request`.
pub type wshub_respond_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, response: *const wshub_http_response)>;

/// Writes to `*out` whether the hub answers requests for `path` (the path
/// only, percent-encoded, no query): its Socket.IO and Engine.IO paths, the
/// client bundle's files and the raw WebSocket endpoint. A host hands the hub
/// exactly those (and others only if the hub's static folder should serve
/// them). Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_serves_path(hub: *mut wshub_t, path: *const c_char, out: *mut bool) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let path = required_str(path, "path")?;
        let out = out.as_mut().ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "out is NULL"))?;
        *out = h.hub.serves_path(path);
        Ok(())
    })
}

/// Hands the hub a TCP connection that the host's server accepted, with the
/// `read_len` bytes it already read from it (`read`; NULL when 0): typically
/// the head of a WebSocket upgrade request, whole or in part. The hub then
/// owns `fd` exactly as a connection it accepted itself (the same parser,
/// limits, timeouts and upgrade) and closes it when done. Ownership passes
/// on every call with `fd >= 0`, whatever the result: on an error the hub
/// has closed it (WSHUB_LIMIT: `max_connections` reached; WSHUB_IO_ERROR:
/// not a connected TCP socket; WSHUB_NOT_RUNNING). The host must not read,
/// write or close `fd` afterwards, nor keep another descriptor of it that it
/// reads from. Plain TCP only: a host that terminates TLS hands over
/// requests instead. Any thread, including a callback.
#[no_mangle]
pub unsafe extern "C" fn wshub_adopt(hub: *mut wshub_t, fd: c_int, read: *const u8, read_len: usize) -> wshub_status {
    run(|| {
        if fd < 0 {
            return Err(fail(WSHUB_INVALID_ARGUMENT, format!("fd {fd} is not a descriptor")));
        }
        // Owned from here: every early return below closes it.
        let stream = std::net::TcpStream::from_raw_fd(fd);
        let h = usable(hub)?;
        let read = slice(read, read_len, || "read".into())?;
        h.hub.adopt(stream, read).map_err(|e| {
            let status = match &e {
                crate::Error::NotRunning => WSHUB_NOT_RUNNING,
                crate::Error::Limit(_) => WSHUB_LIMIT,
                _ => WSHUB_IO_ERROR,
            };
            fail(status, e.to_string())
        })
    })
}

/// Hands the hub an HTTP request the host's server read (a long-polling GET
/// or POST, a CORS preflight, a file of the client bundle; WebSocket
/// upgrades go to `wshub_adopt`). Everything in `request` is copied before
/// the call returns. On WSHUB_OK, `respond` is called exactly once, on the
/// dispatcher thread, with `userdata`: maybe much later (a long-poll waits for
/// packets), with 503 if the hub is not running or stops first. The same
/// limits as on the hub's own listener apply (431, 413, 400 answers). On any
/// other status `respond` is never called. Any thread, including a callback.
#[no_mangle]
pub unsafe extern "C" fn wshub_handle_request(
    hub: *mut wshub_t,
    request: *const wshub_http_request,
    respond: wshub_respond_cb,
    userdata: *mut c_void,
) -> wshub_status {
    run(|| {
        let h = usable(hub)?;
        let r = request.as_ref().ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "request is NULL"))?;
        let respond = respond.ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "respond is NULL"))?;
        let req = request_from_c(r)?;
        let dispatcher = h.dispatcher.clone();
        let ud = Userdata::new(userdata, None);
        h.hub.handle_request(req, move |resp| {
            // The host's code runs on the dispatcher, never on a runtime worker.
            dispatcher.push(move || {
                let ud = ud;
                respond_to_c(respond, ud.ptr(), &resp);
            });
        });
        Ok(())
    })
}

pub(crate) unsafe fn request_from_c(r: &wshub_http_request) -> Result<HostRequest, wshub_status> {
    let method = required_str(r.method, "request.method")?.to_string();
    let url = required_str(r.url, "request.url")?.to_string();
    let list: &[wshub_header] = match r.header_count {
        0 => &[],
        _ if r.headers.is_null() => return Err(fail(WSHUB_NULL_ARGUMENT, "request.headers is NULL")),
        n => std::slice::from_raw_parts(r.headers, n),
    };
    let mut headers = Vec::with_capacity(list.len());
    for (i, hd) in list.iter().enumerate() {
        let name = required_str(hd.name, &format!("request.headers[{i}].name"))?;
        let value = required_str(hd.value, &format!("request.headers[{i}].value"))?;
        headers.push((name.to_string(), value.to_string()));
    }
    let body = Bytes::copy_from_slice(slice(r.body.data, r.body.len, || "request.body".into())?);
    let remote_addr = match optional_str(r.remote_addr, "request.remote_addr")? {
        None => SocketAddr::from(([0, 0, 0, 0], 0)),
        Some(a) => a.parse().map_err(|_| fail(WSHUB_INVALID_ARGUMENT, format!("remote_addr {a:?} is not ip:port")))?,
    };
    Ok(HostRequest { method, url, headers, body, remote_addr })
}

unsafe fn respond_to_c(
    respond: unsafe extern "C" fn(*mut c_void, *const wshub_http_response),
    userdata: *mut c_void,
    resp: &HostResponse,
) {
    let strings: Vec<(CString, CString)> = resp.headers.iter().map(|(k, v)| (c_string(k), c_string(v))).collect();
    let headers: Vec<wshub_header> =
        strings.iter().map(|(k, v)| wshub_header { name: k.as_ptr(), value: v.as_ptr() }).collect();
    let c = wshub_http_response {
        status: resp.status,
        headers: if headers.is_empty() { std::ptr::null() } else { headers.as_ptr() },
        header_count: headers.len(),
        body: wshub_bytes::of(&resp.body),
    };
    respond(userdata, &c);
}
