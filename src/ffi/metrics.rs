//! The hub's metrics for C: a JSON snapshot.

use std::ffi::c_char;

use super::lifecycle::wshub_t;
use super::{fail, owned_c_string, run, wshub_status, wshub_status::*};

/// Writes to `*out` a JSON object with the hub's metrics (see
/// `wshub::Metrics`): `connections` and `connections_opened` (objects with
/// `polling`, `websocket`, `raw`), `bytes_received`, `bytes_sent`,
/// `queue_drops`, `slow_consumer_disconnects`, `cluster_messages_sent`,
/// `cluster_messages_received`, and `namespaces`, an array sorted by `name`
/// of objects with `sockets`, `rooms`, `pending_acks`, `connects`,
/// `connect_refusals`, `events_received`, `events_sent` and `disconnects`
/// (an array of `{"reason", "count"}`, every reason listed). Counters run
/// from `wshub_new`, across stops and starts; gauges are as of the call.
/// Works on a hub not started or stopped (not freed). The string is owned
/// by the caller: free it with `wshub_string_free`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wshub_metrics(hub: *mut wshub_t, out: *mut *mut c_char) -> wshub_status {
    run(|| {
        let h = hub.as_ref().ok_or_else(|| fail(WSHUB_NULL_ARGUMENT, "hub is NULL"))?;
        if out.is_null() {
            return Err(fail(WSHUB_NULL_ARGUMENT, "out is NULL"));
        }
        *out = owned_c_string(h.hub.metrics().to_json());
        Ok(())
    })
}
