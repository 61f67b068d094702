"""The ctypes mirror of include/wshub.h (the C ABI of libwshub).

Every struct, callback type and function of the header is declared here with
the same fields in the same order; tests/test_ffi.py compiles the
header and checks sizes and offsets against these declarations. Nothing here
knows about Socket.IO: it is the raw ABI, used by server.py/async_server.py.

Where the header has ``char **out`` (a string the library returns and the
caller frees with ``wshub_string_free``) the out-parameter is declared as a
``c_void_p`` pointer so that the exact address can be handed back to
``wshub_string_free`` (same ABI: a pointer to a pointer).
"""

from __future__ import annotations

import ctypes
import enum
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Optional

# uintptr_t: ctypes has no name for it; it is as wide as a pointer.
c_uintptr = c_uint64 if ctypes.sizeof(c_void_p) == 8 else c_uint32


class Status(enum.IntEnum):
    """``wshub_status``: the result of every fallible call."""

    OK = 0
    NULL_ARGUMENT = 1
    INVALID_ARGUMENT = 2
    INVALID_CONFIG = 3
    IO_ERROR = 4
    NOT_FOUND = 5
    DISCONNECTED = 6
    ALREADY_RUNNING = 7
    NOT_RUNNING = 8
    STOPPED = 9
    WRONG_THREAD = 10
    TIMEOUT = 11
    LIMIT = 12
    PANIC = 99


# A C enum is an int on every ABI wshub targets.
wshub_status = c_int


class wshub_target(Structure):
    """Who an emit reaches, within one namespace. All fields may be NULL/0."""

    _fields_ = [
        ("name_space", c_char_p),
        ("rooms", POINTER(c_char_p)),
        ("room_count", c_uintptr),
        ("except_rooms", POINTER(c_char_p)),
        ("except_count", c_uintptr),
        ("except_socket", c_char_p),
        ("uncompressed", c_bool),
    ]


class wshub_bytes(Structure):
    """A borrowed byte buffer: ``len`` bytes at ``data``."""

    _fields_ = [
        ("data", POINTER(c_uint8)),
        ("len", c_uintptr),
    ]


class wshub_event(Structure):
    """An event received from a client (or the reply to an emit with an ack)."""

    _fields_ = [
        ("socket_id", c_char_p),
        ("name_space", c_char_p),
        ("name", c_char_p),
        ("args_json", c_char_p),
        ("args_len", c_uintptr),
        ("attachments", POINTER(wshub_bytes)),
        ("attachment_count", c_uintptr),
        ("has_ack", c_bool),
        ("ack_id", c_uint64),
        ("socket_handle", c_uint64),
    ]


class wshub_connect_request(Structure):
    """A client asks to join a namespace (fields borrowed for the call)."""

    _fields_ = [
        ("request_id", c_uint64),
        ("name_space", c_char_p),
        ("auth_json", c_char_p),
        ("remote_addr", c_char_p),
        ("url", c_char_p),
        ("socket_id", c_char_p),
    ]


class wshub_config(Structure):
    """The hub's settings (get the defaults from ``wshub_config_default``)."""

    _fields_ = [
        ("host", c_char_p),
        ("port", c_uint16),
        ("path", c_char_p),
        ("raw_path", c_char_p),
        ("static_dir", c_char_p),
        ("client_bundle_dir", c_char_p),
        ("cors_origins", c_char_p),
        ("ping_interval_ms", c_uint32),
        ("ping_timeout_ms", c_uint32),
        ("connect_timeout_ms", c_uint32),
        ("max_payload", c_uint32),
        ("max_queued_frames", c_uint32),
        ("max_packets_per_poll", c_uint32),
        ("max_connections", c_uint32),
        ("worker_threads", c_uint32),
        ("allow_polling", c_bool),
        ("allow_websocket", c_bool),
        ("drop_when_full", c_bool),
        ("tls_cert", c_char_p),
        ("tls_key", c_char_p),
        ("allowed_origins", c_char_p),
        ("redis_url", c_char_p),
        ("per_message_deflate", c_bool),
        ("raw_per_message_deflate", c_bool),
        ("recovery_ms", c_uint32),
        ("recovery_skip_guards", c_bool),
        ("recovery_max_bytes", c_uint32),
        ("cors_methods", c_char_p),
        ("cors_allowed_headers", c_char_p),
        ("cleanup_empty_child_namespaces", c_bool),
        ("allow_eio3", c_bool),
        ("redis_cluster", c_bool),
        ("redis_streams", c_bool),
        ("redis_stream_max_len", c_uint32),
        ("metrics_path", c_char_p),
        ("metrics_token", c_char_p),
        ("metrics_allow", c_char_p),
        ("admin_username", c_char_p),
        ("admin_password", c_char_p),
        ("admin_read_only", c_bool),
        ("admin_ui_dir", c_char_p),
    ]


class wshub_handshake_request(Structure):
    """A client asks to open a connection (fields borrowed for the call)."""

    _fields_ = [
        ("request_id", c_uint64),
        ("remote_addr", c_char_p),
        ("url", c_char_p),
        ("headers_json", c_char_p),
    ]


class wshub_header(Structure):
    """One HTTP header: two borrowed NUL-terminated strings."""

    _fields_ = [("name", c_char_p), ("value", c_char_p)]


class wshub_http_request(Structure):
    """An HTTP request a host's server read, handed to ``wshub_handle_request``."""

    _fields_ = [
        ("method", c_char_p),
        ("url", c_char_p),
        ("headers", POINTER(wshub_header)),
        ("header_count", c_uintptr),
        ("body", wshub_bytes),
        ("remote_addr", c_char_p),
    ]


class wshub_http_response(Structure):
    """The hub's answer to a handed-over request (borrowed for the callback)."""

    _fields_ = [
        ("status", c_uint16),
        ("headers", POINTER(wshub_header)),
        ("header_count", c_uintptr),
        ("body", wshub_bytes),
    ]


class wshub_t(Structure):
    """The opaque hub handle (only ever used through a pointer)."""


wshub_t_p = POINTER(wshub_t)

# Callback types. Every one runs on the hub's dispatcher thread; ctypes takes
# the GIL around the Python code.
wshub_ack_cb = CFUNCTYPE(None, c_void_p, wshub_status, POINTER(wshub_event))
wshub_event_cb = CFUNCTYPE(None, c_void_p, POINTER(wshub_event))
wshub_free_fn = CFUNCTYPE(None, c_void_p)
wshub_ready_fn = CFUNCTYPE(None, c_void_p)  # wshub_deliver_inline: not used by this binding
wshub_connection_cb = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)
wshub_disconnect_cb = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p, c_char_p)
wshub_guard_cb = CFUNCTYPE(None, c_void_p, POINTER(wshub_connect_request))


class wshub_packet(Structure):
    """One packet a watched socket's connection handed its transport (``wshub_on_packets``)."""

    _fields_ = [
        ("kind", c_char_p),
        ("data", wshub_bytes),
        ("binary", c_bool),
        ("compress", c_bool),
        ("shared", c_bool),
        ("websocket", c_bool),
        ("deflated", c_bool),
    ]


wshub_packets_cb = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p, POINTER(wshub_packet), c_uintptr)
wshub_namespace_cb = CFUNCTYPE(None, c_void_p, c_char_p)
wshub_handshake_cb = CFUNCTYPE(None, c_void_p, POINTER(wshub_handshake_request))
wshub_respond_cb = CFUNCTYPE(None, c_void_p, POINTER(wshub_http_response))
wshub_relay_cb = CFUNCTYPE(None, c_void_p, c_uint32, c_uint16, POINTER(c_uint8), c_uintptr)

# The kinds of a relayed WebSocket's events (WSHUB_RELAY_* in the header).
RELAY_ACCEPTED, RELAY_REFUSED, RELAY_TEXT, RELAY_BINARY, RELAY_CLOSED = range(5)

#: A NULL ``wshub_free_fn`` (the binding's userdata is always NULL).
NO_FREE = wshub_free_fn()

_LIB_NAMES = {"linux": "libwshub.so", "darwin": "libwshub.dylib", "win32": "wshub.dll"}
LIB_NAME = _LIB_NAMES.get(sys.platform, "libwshub.so")


def _candidates() -> list[Path]:
    found: list[Path] = []
    env = os.environ.get("WSHUB_LIBRARY")
    if env:
        found.append(Path(env))
    here = Path(__file__).resolve().parent
    found.append(here / LIB_NAME)
    # Running from a source checkout (bindings/python/src/wshub): the
    # repository's own build, release first.
    repo = here.parents[3] if len(here.parents) > 3 else None
    if repo is not None and (repo / "Cargo.toml").exists():
        target = Path(os.environ.get("CARGO_TARGET_DIR") or repo / "target")
        found += [target / "release" / LIB_NAME, target / "debug" / LIB_NAME]
    return found


def _load() -> ctypes.CDLL:
    tried = _candidates()
    for path in tried:
        if path.is_file():
            # CDLL (not PyDLL): every call releases the GIL, so a blocking
            # wshub_stop lets the dispatcher run the remaining Python callbacks.
            return ctypes.CDLL(str(path))
    raise ImportError(
        "wshub: cannot find the native library " + LIB_NAME + " (looked at: "
        + ", ".join(str(p) for p in tried) + "). Install the package with "
        "`pip install ./bindings/python` (it builds the library with cargo), or set "
        "WSHUB_LIBRARY to the path of a libwshub built with `cargo build --release --lib`."
    )


lib = _load()
LIBRARY_PATH: str = lib._name


def _fn(name: str, restype: Optional[type], argtypes: list[type]) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = argtypes


_u = c_uintptr
_fn("wshub_last_error", c_char_p, [])
_fn("wshub_status_str", c_char_p, [wshub_status])
_fn("wshub_string_free", None, [c_void_p])
_fn("wshub_test_panic", wshub_status, [])
_fn("wshub_emit", wshub_status,
    [wshub_t_p, POINTER(wshub_target), c_char_p, c_char_p, _u, POINTER(wshub_bytes), _u, POINTER(_u)])
_fn("wshub_emit_volatile", wshub_status,
    [wshub_t_p, POINTER(wshub_target), c_char_p, c_char_p, _u, POINTER(wshub_bytes), _u, POINTER(_u)])
_fn("wshub_emit_to", wshub_status,
    [wshub_t_p, c_char_p, c_char_p, c_char_p, c_char_p, _u, POINTER(wshub_bytes), _u])
_fn("wshub_emit_to_socket", wshub_status,
    [wshub_t_p, c_uint64, c_char_p, c_char_p, _u, POINTER(wshub_bytes), _u])
_fn("wshub_emit_with_ack", wshub_status,
    [wshub_t_p, c_char_p, c_char_p, c_char_p, c_char_p, _u, POINTER(wshub_bytes), _u,
     c_uint32, wshub_ack_cb, c_void_p])
_fn("wshub_ack", wshub_status,
    [wshub_t_p, c_char_p, c_char_p, c_uint64, c_char_p, _u, POINTER(wshub_bytes), _u])
_fn("wshub_join", wshub_status, [wshub_t_p, c_char_p, c_char_p, c_char_p])
_fn("wshub_leave", wshub_status, [wshub_t_p, c_char_p, c_char_p, c_char_p])
_fn("wshub_disconnect", wshub_status, [wshub_t_p, c_char_p, c_char_p, c_bool])
_fn("wshub_watch_packets", wshub_status, [wshub_t_p, c_char_p, c_char_p, c_bool])
_fn("wshub_socket_info", wshub_status, [wshub_t_p, c_char_p, c_char_p, POINTER(c_void_p)])
_fn("wshub_sockets", wshub_status, [wshub_t_p, POINTER(wshub_target), POINTER(c_void_p)])
_fn("wshub_metrics", wshub_status, [wshub_t_p, POINTER(c_void_p)])
_fn("wshub_event_retain", POINTER(wshub_event), [POINTER(wshub_event)])
_fn("wshub_event_free", None, [POINTER(wshub_event)])
_fn("wshub_on", wshub_status, [wshub_t_p, c_char_p, c_char_p, wshub_event_cb, c_void_p, wshub_free_fn])
_fn("wshub_on_connection", wshub_status, [wshub_t_p, c_char_p, wshub_connection_cb, c_void_p, wshub_free_fn])
_fn("wshub_on_disconnect", wshub_status, [wshub_t_p, c_char_p, wshub_disconnect_cb, c_void_p, wshub_free_fn])
_fn("wshub_set_guard", wshub_status, [wshub_t_p, c_char_p, wshub_guard_cb, c_void_p, wshub_free_fn])
_fn("wshub_on_upgrade", wshub_status, [wshub_t_p, c_char_p, wshub_connection_cb, c_void_p, wshub_free_fn])
_fn("wshub_on_error", wshub_status, [wshub_t_p, c_char_p, wshub_disconnect_cb, c_void_p, wshub_free_fn])
_fn("wshub_on_guard_abandoned", wshub_status, [wshub_t_p, c_char_p, wshub_disconnect_cb, c_void_p, wshub_free_fn])
_fn("wshub_on_packets", wshub_status, [wshub_t_p, c_char_p, wshub_packets_cb, c_void_p, wshub_free_fn])
_fn("wshub_set_namespace_resolver", wshub_status, [wshub_t_p, wshub_guard_cb, c_void_p, wshub_free_fn])
_fn("wshub_on_namespace_removed", wshub_status, [wshub_t_p, wshub_namespace_cb, c_void_p, wshub_free_fn])
_fn("wshub_set_request_guard", wshub_status, [wshub_t_p, wshub_handshake_cb, c_void_p, wshub_free_fn])
_fn("wshub_connect_decide", wshub_status, [wshub_t_p, c_uint64, c_bool, c_char_p])
_fn("wshub_connect_refuse", wshub_status, [wshub_t_p, c_uint64, c_char_p, c_char_p, _u])
_fn("wshub_config_default", wshub_config, [])
_fn("wshub_new", wshub_status, [POINTER(wshub_config), POINTER(wshub_t_p)])
_fn("wshub_start", wshub_status, [wshub_t_p, POINTER(c_uint16)])
_fn("wshub_start_hosted", wshub_status, [wshub_t_p])
_fn("wshub_serves_path", wshub_status, [wshub_t_p, c_char_p, POINTER(c_bool)])
_fn("wshub_adopt", wshub_status, [wshub_t_p, c_int, POINTER(c_uint8), _u])
_fn("wshub_handle_request", wshub_status,
    [wshub_t_p, POINTER(wshub_http_request), wshub_respond_cb, c_void_p])
_fn("wshub_relay_open", wshub_status,
    [wshub_t_p, POINTER(wshub_http_request), wshub_relay_cb, c_void_p, wshub_free_fn, POINTER(c_uint64)])
_fn("wshub_relay_send", wshub_status, [wshub_t_p, c_uint64, c_bool, c_char_p, _u])
_fn("wshub_relay_close", wshub_status, [wshub_t_p, c_uint64])
_fn("wshub_deliver_inline", wshub_status, [wshub_t_p, wshub_ready_fn, c_void_p])
_fn("wshub_stop", wshub_status, [wshub_t_p, c_uint32])
_fn("wshub_free", None, [wshub_t_p])


class WshubError(RuntimeError):
    """A libwshub call failed: ``status`` (a :class:`Status`) and the library's message."""

    def __init__(self, status: int, message: str) -> None:
        try:
            self.status: Status | int = Status(status)
        except ValueError:
            self.status = status
        self.message = message
        super().__init__(f"{message} ({status_str(status)})" if message else status_str(status))


def status_str(status: int) -> str:
    raw = lib.wshub_status_str(status)
    return raw.decode() if raw else str(status)


def last_error() -> str:
    raw = lib.wshub_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def check(status: int) -> None:
    """Raises :class:`WshubError` for a failed status (with this thread's last error)."""
    if status != 0:
        raise WshubError(status, last_error())


def take_string(ptr: c_void_p) -> str:
    """Copies and frees a string the library returned."""
    try:
        return ctypes.string_at(ptr.value).decode("utf-8") if ptr.value else ""
    finally:
        lib.wshub_string_free(ptr)
