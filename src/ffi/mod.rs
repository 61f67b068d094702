//! The C ABI: the only place with `extern "C"`.
//!
//! Discipline (after rustls-ffi): one prefix `wshub_`; opaque handles; every
//! fallible call returns a [`wshub_status`] and writes its out-params only on
//! success; every entry runs inside a panic boundary, so no unwind reaches C;
//! every pointer argument is checked. Foreign callbacks run on ONE
//! dispatcher thread per hub (see `dispatcher`), never on the runtime.
//!
//! The header include/wshub.h is generated from this module by cbindgen
//! (tests/c_header.rs fails when the committed header is stale).

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod args;
mod dispatcher;
mod emit;
mod event;
mod handlers;
mod host;
mod lifecycle;
mod metrics;
mod relay;
mod sigpipe;

pub use args::*;
pub use emit::*;
pub use event::*;
pub use handlers::*;
pub use host::*;
pub use lifecycle::*;
pub use metrics::*;
pub use relay::*;

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

/// The result of every fallible call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wshub_status {
    /// Success.
    WSHUB_OK = 0,
    /// A required pointer argument was NULL.
    WSHUB_NULL_ARGUMENT = 1,
    /// An argument was malformed: a string not UTF-8, args not a JSON array, ...
    WSHUB_INVALID_ARGUMENT = 2,
    /// The configuration was refused (see `wshub_last_error`).
    WSHUB_INVALID_CONFIG = 3,
    /// The operating system refused (e.g. the port is taken).
    WSHUB_IO_ERROR = 4,
    /// No socket with that id in that namespace (or no such pending request).
    WSHUB_NOT_FOUND = 5,
    /// The socket disconnected.
    WSHUB_DISCONNECTED = 6,
    /// `wshub_start` on a running hub.
    WSHUB_ALREADY_RUNNING = 7,
    /// The call needs a running hub.
    WSHUB_NOT_RUNNING = 8,
    /// The hub was stopped; it cannot be started again.
    WSHUB_STOPPED = 9,
    /// The call cannot be made from this thread (e.g. `wshub_stop` inside a callback).
    WSHUB_WRONG_THREAD = 10,
    /// An acknowledgement did not arrive in time.
    WSHUB_TIMEOUT = 11,
    /// A limit of the configuration was reached (e.g. too many acks pending on one socket).
    WSHUB_LIMIT = 12,
    /// The library caught a panic (a bug in wshub); the hub may go on.
    WSHUB_PANIC = 99,
}

use wshub_status::*;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(message: impl Into<String>) {
    let text = message.into().replace('\0', " ");
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::new(text).unwrap_or_default());
}

/// Records `message` as this thread's last error and returns `status`.
pub(crate) fn fail(status: wshub_status, message: impl Into<String>) -> wshub_status {
    set_last_error(message);
    status
}

/// Runs an entry's body inside the panic boundary.
pub(crate) fn guard(body: impl FnOnce() -> wshub_status) -> wshub_status {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            fail(WSHUB_PANIC, format!("panic inside wshub: {what}"))
        }
    }
}

/// Runs an entry's body that reports errors through `Result`, inside the panic boundary.
pub(crate) fn run(body: impl FnOnce() -> Result<(), wshub_status>) -> wshub_status {
    guard(|| match body() {
        Ok(()) => WSHUB_OK,
        Err(s) => s,
    })
}

/// Borrows a required C string argument as UTF-8.
pub(crate) unsafe fn required_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, wshub_status> {
    if ptr.is_null() {
        return Err(fail(WSHUB_NULL_ARGUMENT, format!("{what} is NULL")));
    }
    CStr::from_ptr(ptr).to_str().map_err(|_| fail(WSHUB_INVALID_ARGUMENT, format!("{what} is not valid UTF-8")))
}

/// Borrows an optional C string argument (NULL gives `None`).
pub(crate) unsafe fn optional_str<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, wshub_status> {
    if ptr.is_null() {
        Ok(None)
    } else {
        required_str(ptr, what).map(Some)
    }
}

/// The message of this thread's last failed call ("" if none).
///
/// Owned by the library: valid until the next wshub call on this thread.
/// Any thread.
#[no_mangle]
pub extern "C" fn wshub_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// A static, human-readable name of a status (never NULL; do not free).
/// Any thread.
#[no_mangle]
pub extern "C" fn wshub_status_str(status: wshub_status) -> *const c_char {
    let s: &'static CStr = match status {
        WSHUB_OK => c"ok",
        WSHUB_NULL_ARGUMENT => c"null argument",
        WSHUB_INVALID_ARGUMENT => c"invalid argument",
        WSHUB_INVALID_CONFIG => c"invalid config",
        WSHUB_IO_ERROR => c"I/O error",
        WSHUB_NOT_FOUND => c"not found",
        WSHUB_DISCONNECTED => c"disconnected",
        WSHUB_ALREADY_RUNNING => c"already running",
        WSHUB_NOT_RUNNING => c"not running",
        WSHUB_STOPPED => c"stopped",
        WSHUB_WRONG_THREAD => c"wrong thread",
        WSHUB_TIMEOUT => c"timeout",
        WSHUB_LIMIT => c"limit reached",
        WSHUB_PANIC => c"panic",
    };
    s.as_ptr()
}

/// Frees a string the library returned (e.g. by `wshub_socket_info`).
/// NULL is fine. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}

/// Makes the library panic inside its panic boundary and returns what a
/// caller sees: `WSHUB_PANIC`. A testing aid for hosts' error paths.
#[no_mangle]
pub extern "C" fn wshub_test_panic() -> wshub_status {
    guard(|| panic!("wshub_test_panic was called"))
}

/// Returns a string to C, owned by the caller (free with `wshub_string_free`).
pub(crate) fn owned_c_string(s: String) -> *mut c_char {
    CString::new(s.replace('\0', " ")).unwrap_or_default().into_raw()
}
