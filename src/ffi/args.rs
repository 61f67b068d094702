//! Payload arguments as they cross the ABI: JSON text plus binary buffers.

use std::ffi::c_char;

use bytes::Bytes;

use super::{fail, wshub_status, wshub_status::*};
use crate::Payload;

/// A borrowed byte buffer: `len` bytes at `data` (`data` may be NULL when
/// `len` is 0). Valid for the duration of the call or callback it appears in.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wshub_bytes {
    pub data: *const u8,
    pub len: usize,
}

impl wshub_bytes {
    pub(crate) fn of(b: &[u8]) -> wshub_bytes {
        wshub_bytes { data: b.as_ptr(), len: b.len() }
    }
}

/// `what` names the argument in the error; it is built only on failure.
pub(crate) unsafe fn slice<'a>(
    data: *const u8,
    len: usize,
    what: impl Fn() -> String,
) -> Result<&'a [u8], wshub_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(fail(WSHUB_NULL_ARGUMENT, format!("{} is NULL with a length of {len}", what())));
    }
    Ok(std::slice::from_raw_parts(data, len))
}

/// Copies the caller's arguments into a payload (once; the copy is then shared).
///
/// `args_json` is a JSON array of `args_len` bytes (NULL or 0 bytes means `[]`);
/// binary arguments are referred to from it by `{"_placeholder":true,"num":N}`.
pub(crate) unsafe fn payload_from_c(
    args_json: *const c_char,
    args_len: usize,
    attachments: *const wshub_bytes,
    attachment_count: usize,
) -> Result<Payload, wshub_status> {
    let json = slice(args_json.cast(), args_len, || "args_json".into())?;
    let payload = if json.is_empty() {
        Payload::empty()
    } else {
        let text =
            std::str::from_utf8(json).map_err(|_| fail(WSHUB_INVALID_ARGUMENT, "args_json is not valid UTF-8"))?;
        Payload::from_json(text).map_err(|e| fail(WSHUB_INVALID_ARGUMENT, e.to_string()))?
    };
    let list: &[wshub_bytes] = match attachment_count {
        0 => &[],
        _ if attachments.is_null() => {
            return Err(fail(WSHUB_NULL_ARGUMENT, format!("attachments is NULL with a count of {attachment_count}")))
        }
        n => std::slice::from_raw_parts(attachments, n),
    };
    let mut buffers = Vec::with_capacity(list.len());
    for (i, b) in list.iter().enumerate() {
        buffers.push(Bytes::copy_from_slice(slice(b.data, b.len, || format!("attachments[{i}]"))?));
    }
    Ok(payload.with_attachments(buffers))
}
