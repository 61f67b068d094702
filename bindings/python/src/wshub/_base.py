"""What Server and AsyncServer share: the hub handle, its configuration, the
handler registry, the C callbacks, argument conversion, sessions and ids.

Threads: the C callbacks (``_c_*``) run on the hub's dispatcher thread with
the GIL (ctypes takes it). Server runs the user's handlers right there;
AsyncServer hands them to its asyncio loop. Every other method may be called
from any thread.

Socket ids. The hub creates a socket's id only after its connect guard
accepted it, while python-socketio's ``connect(sid, environ, auth)`` handler
runs before that and must already know the sid. So in a namespace that has a
``connect`` handler the binding gives the socket its own id when the guard
runs, and maps it to the hub's id when the socket appears (on_connection,
matched by the connection's address, first URL and namespace); whatever the
handler did with its sid meanwhile (emit to it, enter a room, disconnect) is
queued and replayed then. The Python side only ever sees that id; clients see
the hub's (``get_environ(sid)["wshub.socket_id"]``).
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import importlib
import inspect
import itertools
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar, Union

from . import _codec, _ffi
from ._ffi import Status, WshubError, lib
from .exceptions import DisconnectedError, SocketIOError, refusal_message
from .exceptions import TimeoutError as AckTimeoutError

log = logging.getLogger("wshub")

Handler = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])
Rooms = Union[str, Sequence[str], None]
PathLike = Union[str, "os.PathLike[str]"]

#: Disconnect reasons the hub reports (the Socket.IO server's strings).
REASONS = (
    "client namespace disconnect", "server namespace disconnect", "transport close",
    "transport error", "ping timeout", "parse error", "forced close", "server shutting down",
)
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
REJECTED = "Connection rejected by server"
# python-socketio's emit(callback=...) has no timeout; the C ABI wants one.
CALLBACK_TIMEOUT_MS = 0xFFFFFFFF
PENDING_TTL = 300.0  # seconds a connect that never completed is remembered

_DEFAULT = object()

# Running servers, kept alive (and stopped at exit) until they stop.
_LIVE: "set[_ServerBase]" = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    """Stops every running hub before the interpreter finalizes: after
    wshub_stop returns no callback runs, so none can reach a dying interpreter."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        try:
            server._stop_blocking(int(server._exit_grace * 1000))
        except BaseException:  # noqa: BLE001 - keep stopping the others
            log.exception("wshub: error stopping a hub at exit")


atexit.register(_stop_all_at_exit)

_thread_local = threading.local()
_PyGILState_Ensure = ctypes.pythonapi.PyGILState_Ensure
_PyGILState_Ensure.restype = ctypes.c_int
_PyGILState_Ensure.argtypes = []


def _pin_thread_state() -> None:
    """Keeps this foreign thread's Python thread state alive between callbacks.

    A ctypes callback on a thread Python did not start runs inside
    PyGILState_Ensure/Release; when the count drops back to 0, Release
    destroys the thread state, so every event would build and tear down a
    whole thread state (and lose thread-locals, profilers, ...). One extra
    Ensure, never released, keeps it for the dispatcher thread's life (the
    interpreter clears it at exit)."""
    if not getattr(_thread_local, "pinned", False):
        _PyGILState_Ensure()
        _thread_local.pinned = True


def _repo_root() -> Optional[Path]:
    try:  # written by setup.py at build time
        return Path(importlib.import_module(__package__ + "._build_info").REPO_ROOT)
    except ImportError:
        pass
    here = Path(__file__).resolve().parent
    if len(here.parents) > 3 and (here.parents[3] / "Cargo.toml").exists():
        return here.parents[3]  # a source checkout: bindings/python/src/wshub
    return None


def default_client_bundle() -> Optional[str]:
    """The socket.io-client ``dist`` folder served at /socket.io/socket.io.js:
    ``node_modules/socket.io-client/dist`` of the current directory or of the
    repository the package was built from, if it exists."""
    roots = [Path.cwd()]
    repo = _repo_root()
    if repo is not None:
        roots.append(repo)
    for root in roots:
        dist = root / "node_modules" / "socket.io-client" / "dist"
        if (dist / "socket.io.js").is_file():
            return str(dist)
    return None


def max_positional(fn: Callable[..., Any]) -> Optional[int]:
    """How many positional arguments ``fn`` takes (None: any number)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    n = 0
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def trimmed(fn: Callable[..., Any], args: tuple[Any, ...], minimum: int) -> tuple[Any, ...]:
    """``args`` cut to what ``fn`` accepts (for connect(sid, environ[, auth])
    and disconnect(sid[, reason]), whose last arguments are optional)."""
    n = max_positional(fn)
    if n is None or n >= len(args):
        return args
    return args[: max(n, minimum)]


def call_result(args: list[Any]) -> Any:
    """What ``call()`` returns: None, the one argument, or a tuple of them."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


def build_environ(remote_addr: str, url: str, headers: Optional[Mapping[str, str]] = None,
                  scheme: str = "http") -> dict[str, Any]:
    """A WSGI-style environ for a connection (as python-socketio passes to connect)."""
    path, _, query = url.partition("?")
    host, _, port = remote_addr.rpartition(":")
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": url,
        "REMOTE_ADDR": host.strip("[]"),
        "REMOTE_PORT": port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": scheme,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return env


def _b(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


def _ns_b(namespace: Optional[str]) -> Optional[bytes]:
    return None if namespace is None or namespace == "/" else namespace.encode("utf-8")


def _normalize_path(path: str) -> str:
    path = "/" + path.strip("/") + "/"
    return "/" if path == "//" else path


def _str_list(value: Rooms) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


#: Statuses that only mean the client (or the hub) is already gone.
_GONE = (Status.NOT_FOUND, Status.DISCONNECTED, Status.STOPPED)


def _check_unless_gone(status: int) -> None:
    """:func:`_ffi.check`, except that a client (or hub) already gone is no error."""
    if status != Status.OK and status not in _GONE:
        raise WshubError(status, _ffi.last_error())


def _c_strings(items: Sequence[str]) -> Any:
    arr = (ctypes.c_char_p * len(items))()
    for i, item in enumerate(items):
        arr[i] = item.encode("utf-8")
    return arr


def _c_target(namespace: Optional[str], rooms: Sequence[str] = (), except_rooms: Sequence[str] = (),
              except_socket: Optional[str] = None) -> _ffi.wshub_target:
    """A ``wshub_target`` (the struct keeps its strings and arrays alive: ctypes holds what a field was given)."""
    target = _ffi.wshub_target()
    target.name_space = _ns_b(namespace)
    if rooms:
        target.rooms = _c_strings(rooms)
        target.room_count = len(rooms)
    if except_rooms:
        target.except_rooms = _c_strings(except_rooms)
        target.except_count = len(except_rooms)
    if except_socket is not None:
        target.except_socket = except_socket.encode("utf-8")
    return target


class _Pending:
    """A socket whose connect handler ran (or runs) but that the hub has not created yet."""

    __slots__ = ("namespace", "key", "ops", "environ", "created")

    def __init__(self, namespace: str, key: tuple[str, str], environ: dict[str, Any]) -> None:
        self.namespace = namespace
        self.key = key
        self.ops: list[Callable[[], None]] = []
        self.environ = environ
        self.created = time.monotonic()


class _AckSlot:
    """Where the answer to one emit-with-ack goes."""

    def resolve(self, status: int, args: list[Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _ServerBase:
    """The parts of Server and AsyncServer that do not depend on the threading model."""

    _namespace_class: type = object

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        path: str = "/socket.io/",
        cors_allowed_origins: Union[str, Sequence[str], None] = None,
        ping_interval: float = 25,
        ping_timeout: float = 20,
        connect_timeout: float = 45,
        max_http_buffer_size: int = 1_000_000,
        static_files: Optional[PathLike] = None,
        client_bundle: Any = _DEFAULT,
        raw_path: Optional[str] = "/ws",
        transports: Optional[Sequence[str]] = None,
        namespaces: Optional[Sequence[str]] = None,
        max_queued_frames: Optional[int] = None,
        max_packets_per_poll: Optional[int] = None,
        max_connections: Optional[int] = None,
        worker_threads: Optional[int] = None,
        drop_when_full: bool = False,
        exit_grace: float = 0.25,
        tls_cert: Optional[PathLike] = None,
        tls_key: Optional[PathLike] = None,
        allowed_origins: Union[str, Sequence[str], None] = None,
        redis_url: Optional[str] = None,
        redis_cluster: bool = False,
        redis_streams: bool = False,
        redis_stream_max_len: Optional[int] = None,
        connection_state_recovery: Optional[Mapping[str, Any]] = None,
        metrics_path: Optional[str] = None,
        metrics_token: Optional[str] = None,
        metrics_allow: Union[str, Sequence[str], None] = None,
        admin_ui: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.handlers: dict[str, dict[str, Handler]] = {}
        self.namespace_handlers: dict[str, Any] = {}
        self.host = host
        self.port: int = int(port)
        self._exit_grace = exit_grace
        self._tls = tls_cert is not None
        self._handle: Any = None
        self._state = "created"  # created -> running -> stopped
        self._state_lock = threading.Lock()
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # ids, pending connects, acks
        self._registered: set[str] = set()
        self._guarded: set[str] = set()
        self._sessions: dict[tuple[str, str], dict[Any, Any]] = {}
        self._live: set[tuple[str, str]] = set()  # (namespace, hub socket id) connected
        self._py_of: dict[str, str] = {}   # hub socket id -> Python sid
        self._hub_of: dict[str, str] = {}  # Python sid -> hub socket id
        self._pending: dict[str, _Pending] = {}
        # (namespace, the hub's id for the socket) -> the Python sid its connect handler saw
        self._pending_by_key: dict[tuple[str, str], collections.deque[str]] = {}
        self._acks: dict[int, _AckSlot] = {}
        self._ack_ids = itertools.count(1)
        self._dispatcher_ident: Optional[int] = None
        self._stop_after: Optional[int] = None  # stop() called in a handler: grace (ms)
        self._path = _normalize_path(path)
        self._max_payload = int(max_http_buffer_size)

        # The C callbacks: kept alive as attributes for the hub's whole life
        # (ctypes would free the thunks with the objects).
        self._c_event = _ffi.wshub_event_cb(self._on_c_event)
        self._c_disconnect = _ffi.wshub_disconnect_cb(self._on_c_disconnect)
        self._c_connection = _ffi.wshub_connection_cb(self._on_c_connection)
        self._c_guard = _ffi.wshub_guard_cb(self._on_c_guard)
        self._c_ack = _ffi.wshub_ack_cb(self._on_c_ack)

        cfg = lib.wshub_config_default()
        keep: list[Optional[bytes]] = []  # strings are borrowed by wshub_new only

        def s(value: Optional[str]) -> Optional[bytes]:
            b = _b(value)
            keep.append(b)
            return b

        cfg.host = s(host)
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"port must be 0..65535, not {port}")
        cfg.port = int(port)
        cfg.path = s(_normalize_path(path))
        cfg.raw_path = s("" if raw_path is None else raw_path)
        if static_files is not None:
            if not isinstance(static_files, (str, os.PathLike)):
                raise TypeError("static_files is the path of a folder")
            cfg.static_dir = s(os.fspath(static_files))
        bundle = default_client_bundle() if client_bundle is _DEFAULT else client_bundle
        if bundle is not None:
            cfg.client_bundle_dir = s(os.fspath(bundle))
        if cors_allowed_origins is not None:
            cfg.cors_origins = s(",".join(_str_list(cors_allowed_origins)))
        cfg.ping_interval_ms = int(ping_interval * 1000)
        cfg.ping_timeout_ms = int(ping_timeout * 1000)
        cfg.connect_timeout_ms = int(connect_timeout * 1000)
        cfg.max_payload = int(max_http_buffer_size)
        if max_queued_frames is not None:
            cfg.max_queued_frames = max_queued_frames
        if max_packets_per_poll is not None:
            cfg.max_packets_per_poll = max_packets_per_poll
        if max_connections is not None:
            cfg.max_connections = max_connections
        if worker_threads is not None:
            cfg.worker_threads = worker_threads
        if transports is not None:
            unknown = set(transports) - {"polling", "websocket"}
            if unknown or not transports:
                raise ValueError(f"transports are 'polling' and/or 'websocket', not {list(transports)}")
            cfg.allow_polling = "polling" in transports
            cfg.allow_websocket = "websocket" in transports
        cfg.drop_when_full = bool(drop_when_full)
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together: pass both for https/wss, or neither")
        if tls_cert is not None and tls_key is not None:
            cfg.tls_cert = s(os.fspath(tls_cert))
            cfg.tls_key = s(os.fspath(tls_key))
        if allowed_origins is not None:
            cfg.allowed_origins = s(",".join(_str_list(allowed_origins)))
        if redis_url:
            # Joins the Redis cluster (wire-compatible with @socket.io/redis-adapter).
            cfg.redis_url = s(redis_url)
            # @socket.io/redis-streams-adapter's protocol instead: with
            # connection_state_recovery, clients recover on any hub.
            # redis_url names nodes of a Redis Cluster (comma-separated).
            cfg.redis_cluster = bool(redis_cluster)
            cfg.redis_streams = bool(redis_streams)
            if redis_stream_max_len is not None:
                if not 0 < int(redis_stream_max_len) < 2**32:
                    raise ValueError("redis_stream_max_len is a positive number of stream entries")
                cfg.redis_stream_max_len = int(redis_stream_max_len)
        if metrics_path is not None:
            # Prometheus text on the hub's own port, for a bearer token and/or listed addresses.
            cfg.metrics_path = s(metrics_path)
            cfg.metrics_token = s(metrics_token)
            cfg.metrics_allow = s(",".join(_str_list(metrics_allow)) if metrics_allow is not None else None)
        if admin_ui is not None:
            # The Socket.IO admin UI on /admin: {"username", "password", "read_only", "ui_dir"}.
            admin = dict(admin_ui)
            unknown = set(admin) - {"username", "password", "read_only", "ui_dir"}
            if unknown:
                raise ValueError(f"admin_ui takes username, password, read_only and ui_dir, not {sorted(unknown)}")
            cfg.admin_username = s(admin.get("username"))
            cfg.admin_password = s(admin.get("password"))
            cfg.admin_read_only = bool(admin.get("read_only", False))
            if admin.get("ui_dir") is not None:
                cfg.admin_ui_dir = s(os.fspath(admin["ui_dir"]))
        if connection_state_recovery is not None:
            csr = dict(connection_state_recovery)
            unknown = set(csr) - {"max_disconnection_duration", "skip_middlewares"}
            if unknown:
                raise ValueError(f"connection_state_recovery takes max_disconnection_duration and "
                                 f"skip_middlewares, not {sorted(unknown)}")
            ms = int(float(csr.get("max_disconnection_duration", 120)) * 1000)
            if not 1 <= ms <= 0xFFFFFFFF:
                raise ValueError("connection_state_recovery max_disconnection_duration must be 0.001 s .. 49 days")
            cfg.recovery_ms = ms
            # The connect handler is this binding's guard: it runs for a recovered
            # socket too unless asked otherwise (python-socketio has no such skip).
            cfg.recovery_skip_guards = bool(csr.get("skip_middlewares", False))

        handle = _ffi.wshub_t_p()
        _ffi.check(lib.wshub_new(ctypes.byref(cfg), ctypes.byref(handle)))
        self._handle = handle
        self._ensure_namespace("/")
        for ns in namespaces or ():
            self._ensure_namespace(ns)

    # ---- life -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._state == "running"

    def metrics(self) -> dict[str, Any]:
        """The hub's metrics as a dict (``wshub_metrics``' JSON): ``connections`` and
        ``connections_opened`` by transport, bytes, queue drops, slow consumers, cluster
        messages, and per namespace (``namespaces``, sorted by name) sockets, rooms, pending
        acks, connects, refusals, disconnects by reason and events both ways. Counters run
        from the server's creation, across stop and start. Any thread; non-blocking."""
        out = ctypes.c_void_p()
        _ffi.check(lib.wshub_metrics(self._handle, ctypes.byref(out)))
        snapshot: dict[str, Any] = json.loads(_ffi.take_string(out))
        return snapshot

    @property
    def url(self) -> str:
        """``http://host:port`` (``https`` with TLS; the port is the bound one after start())."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    def _start_hub(self, hosted: bool = False) -> None:
        """wshub_start, or with ``hosted`` wshub_start_hosted (no listener: the
        app's own web server hands the hub its requests, see hosted.py)."""
        with self._state_lock:
            if self._state == "running":
                raise RuntimeError("wshub: the server is already running")
            if self._state == "stopped":
                raise RuntimeError("wshub: a stopped server cannot be started again; create a new one")
            port = ctypes.c_uint16()
            with _LIVE_LOCK:
                _LIVE.add(self)
            if hosted:
                status = lib.wshub_start_hosted(self._handle)
            else:
                status = lib.wshub_start(self._handle, ctypes.byref(port))
            if status != Status.OK:
                with _LIVE_LOCK:
                    _LIVE.discard(self)
                raise WshubError(status, _ffi.last_error())
            if not hosted:
                self.port = port.value
            self._state = "running"

    def _stop_blocking(self, grace_ms: int) -> None:
        """wshub_stop: the remaining callbacks run meanwhile (ctypes releases
        the GIL); none runs after it returns. No Python lock is held across it."""
        with self._state_lock:
            if self._state == "stopped" or self._handle is None:
                return
            self._state = "stopped"
        try:
            lib.wshub_stop(self._handle, max(0, min(int(grace_ms), 0xFFFFFFFF)))
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)
            self._fail_pending_acks()
            self._late_disconnects()
            self._stopped.set()

    def _late_disconnects(self) -> None:
        """Runs the disconnect handlers that wshub_stop did not deliver.

        wshub_stop promises a disconnect callback ("server shutting down") for
        every socket before it returns (libwshub before 59c67e6 could end its
        runtime before a session's cleanup ran); a socket this binding saw
        connect and never saw leave gets its handler here, as a safety net."""
        with self._lock:
            left = sorted(self._live)
        for ns, hub_sid in left:
            try:
                self._disconnect(ns, hub_sid, "server shutting down")
            except Exception:  # noqa: BLE001
                log.exception("wshub: error delivering a disconnect at stop")

    def _stop_when_handler_done(self) -> None:
        """stop() was called inside a handler: the handler is done, stop now (from a thread of ours)."""
        grace, self._stop_after = self._stop_after, None
        if grace is not None:
            threading.Thread(target=self._stop_blocking, args=(grace,), name="wshub-stop").start()

    def _fail_pending_acks(self) -> None:
        with self._lock:
            slots = list(self._acks.values())
            self._acks.clear()
        for slot in slots:
            slot.resolve(Status.DISCONNECTED, [])

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is None or getattr(self, "_state", "") == "running":
            return
        self._handle = None
        try:
            lib.wshub_free(handle)  # stopped or never started: no callback can run
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _enter_dispatcher(self) -> None:
        _pin_thread_state()
        self._dispatcher_ident = threading.get_ident()

    def on_dispatcher_thread(self) -> bool:
        """True when called from this hub's dispatcher thread (inside a Server handler)."""
        return self._dispatcher_ident is not None and threading.get_ident() == self._dispatcher_ident

    # ---- registration -----------------------------------------------------

    def on(self, event: str, handler: Optional[Handler] = None, namespace: Optional[str] = None) -> Any:
        """Registers ``handler`` for ``event`` (a decorator when ``handler`` is omitted).

        ``'connect'`` handlers get ``(sid, environ, auth)`` (or ``(sid, environ)``)
        and refuse the client by returning False or raising
        ``ConnectionRefusedError(message)``; ``'disconnect'`` handlers get
        ``(sid, reason)`` (or ``(sid)``); ``'*'`` is the catch-all, called as
        ``(event, sid, *args)`` for events without a handler of their own;
        every other handler gets ``(sid, *args)`` and its return value is the
        acknowledgement (a tuple for several values).
        """
        ns = namespace or "/"
        if ns == "*":
            raise ValueError("wshub: catch-all namespaces ('*') are not supported; register each namespace")

        def set_handler(fn: F) -> F:
            if not callable(fn):
                raise TypeError("a handler must be callable")
            self.handlers.setdefault(ns, {})[event] = fn
            self._ensure_namespace(ns)
            if event == "connect":
                self._ensure_guard(ns)
            return fn

        if handler is None:
            return set_handler
        set_handler(handler)
        return handler

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """Registers a handler named after the function: ``@sio.event`` or
        ``@sio.event(namespace='/chat')``."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            fn = args[0]
            return self.on(fn.__name__)(fn)

        def set_handler(fn: F) -> F:
            return self.on(fn.__name__, *args, **kwargs)(fn)  # type: ignore[no-any-return]

        return set_handler

    def register_namespace(self, namespace_handler: Any) -> None:
        """Registers a class-based namespace (a ``wshub.Namespace`` subclass
        instance for Server, ``wshub.AsyncNamespace`` for AsyncServer)."""
        if not isinstance(namespace_handler, self._namespace_class):
            raise ValueError(f"not a {self._namespace_class.__name__} instance")
        handler: Any = namespace_handler
        handler._set_server(self)
        ns: str = handler.namespace
        self.namespace_handlers[ns] = namespace_handler
        self._ensure_namespace(ns)
        if callable(getattr(namespace_handler, "on_connect", None)):
            self._ensure_guard(ns)

    def _ensure_namespace(self, ns: str) -> None:
        with self._lock:
            if ns in self._registered:
                return
            self._registered.add(ns)
        nsb = _ns_b(ns)
        _ffi.check(lib.wshub_on(self._handle, nsb, None, self._c_event, None, _ffi.NO_FREE))
        _ffi.check(lib.wshub_on_connection(self._handle, nsb, self._c_connection, None, _ffi.NO_FREE))
        _ffi.check(lib.wshub_on_disconnect(self._handle, nsb, self._c_disconnect, None, _ffi.NO_FREE))

    def _ensure_guard(self, ns: str) -> None:
        with self._lock:
            if ns in self._guarded:
                return
            self._guarded.add(ns)
        nsb = _ns_b(ns)
        _ffi.check(lib.wshub_set_guard(self._handle, nsb, self._c_guard, None, _ffi.NO_FREE))

    # ---- handler lookup ---------------------------------------------------

    def _event_handler(self, ns: str, name: str, sid: str, args: list[Any]) -> Optional[tuple[Handler, tuple[Any, ...]]]:
        if name in RESERVED_EVENTS:
            return None
        handlers = self.handlers.get(ns)
        if handlers:
            fn = handlers.get(name)
            if fn is not None:
                return fn, (sid, *args)
            fn = handlers.get("*")
            if fn is not None:
                return fn, (name, sid, *args)
        nh = self.namespace_handlers.get(ns)
        if nh is not None:
            return nh.trigger_event, (name, sid, *args)
        return None

    def _special_handler(self, ns: str, name: str) -> Optional[Handler]:
        fn = self.handlers.get(ns, {}).get(name)
        if fn is None and ns in self.namespace_handlers:
            fn = getattr(self.namespace_handlers[ns], "on_" + name, None)
        return fn

    def _log_handler_error(self, what: str, ns: str, exc: Optional[BaseException] = None) -> None:
        """Logs a handler's exception (``exc``, or the one being handled) with its traceback."""
        log.error("wshub: exception in the %r handler (namespace %s); the hub goes on", what, ns,
                  exc_info=exc if exc is not None else True)

    # ---- ids ----------------------------------------------------------------

    def _py_sid(self, hub_sid: str) -> str:
        return self._py_of.get(hub_sid, hub_sid)

    def _hub_sid(self, sid: str) -> str:
        return self._hub_of.get(sid, sid)

    def _defer(self, sid: str, op: Callable[[], None]) -> bool:
        """Queues ``op`` if ``sid`` is a socket whose connect has not completed."""
        if not self._pending:
            return False
        with self._lock:
            p = self._pending.get(sid)
            if p is None:
                return False
            p.ops.append(op)
            return True

    def _new_pending(self, ns: str, hub_sid: str, environ: dict[str, Any]) -> str:
        sid = secrets.token_urlsafe(15)
        now = time.monotonic()
        with self._lock:
            for old in [k for k, p in self._pending.items() if now - p.created > PENDING_TTL]:
                self._drop_pending_locked(old)
            self._pending[sid] = _Pending(ns, (ns, hub_sid), environ)
        return sid

    def _drop_pending_locked(self, sid: str) -> None:
        p = self._pending.pop(sid, None)
        if p is None:
            return
        queue = self._pending_by_key.get(p.key)
        if queue is not None:
            try:
                queue.remove(sid)
            except ValueError:
                pass
            if not queue:
                del self._pending_by_key[p.key]
        self._sessions.pop((p.namespace, sid), None)

    def _decide(self, request_id: int, sid: str, verdict: Optional[str]) -> None:
        """Accepts (``verdict`` None) or refuses a connect request; from any thread."""
        if verdict is None:
            with self._lock:
                p = self._pending.get(sid)
                if p is not None:
                    self._pending_by_key.setdefault(p.key, collections.deque()).append(sid)
            status = lib.wshub_connect_decide(self._handle, request_id, True, None)
        else:
            with self._lock:
                self._drop_pending_locked(sid)
            status = lib.wshub_connect_decide(self._handle, request_id, False, verdict.encode("utf-8"))
        if status != Status.OK:
            with self._lock:
                self._drop_pending_locked(sid)
            if status not in (Status.NOT_FOUND, Status.STOPPED):
                log.warning("wshub: connect decision failed: %s", _ffi.last_error())

    def _connect_verdict(self, ns: str, result: Any, exc: Optional[BaseException]) -> Optional[str]:
        """The outcome of a connect handler: None accepts, a message refuses
        (returned False, or raised; an exception that is not a refusal is logged)."""
        if exc is None:
            return REJECTED if result is False else None
        message = refusal_message(exc)
        if message is None:
            self._log_handler_error("connect", ns, exc)
            message = REJECTED
        return message

    # ---- C callbacks (dispatcher thread) -----------------------------------

    def _on_c_event(self, _ud: Optional[int], evp: Any) -> None:
        try:
            if self._dispatcher_ident != threading.get_ident():
                self._enter_dispatcher()
            ev = evp[0]
            args = _codec.event_args(ev)
            self._event(
                ev.name_space.decode("utf-8"), ev.socket_id.decode("utf-8"), ev.name.decode("utf-8"),
                args, ev.ack_id if ev.has_ack else None,
            )
        except BaseException:  # noqa: BLE001 - nothing may escape into C
            log.exception("wshub: error delivering an event")
        if self._stop_after is not None:
            self._stop_when_handler_done()

    def _on_c_disconnect(self, _ud: Optional[int], sid: bytes, ns: bytes, reason: bytes) -> None:
        try:
            if self._dispatcher_ident != threading.get_ident():
                self._enter_dispatcher()
            namespace, hub_sid = ns.decode("utf-8"), sid.decode("utf-8")
            with self._lock:
                self._live.discard((namespace, hub_sid))
            self._disconnect(namespace, hub_sid, reason.decode("utf-8"))
        except BaseException:  # noqa: BLE001
            log.exception("wshub: error delivering a disconnect")
        if self._stop_after is not None:
            self._stop_when_handler_done()

    def _on_c_connection(self, _ud: Optional[int], sid: bytes, ns: bytes) -> None:
        try:
            if self._dispatcher_ident != threading.get_ident():
                self._enter_dispatcher()
            self._connected(ns.decode("utf-8"), sid.decode("utf-8"))
        except BaseException:  # noqa: BLE001
            log.exception("wshub: error delivering a connection")
        if self._stop_after is not None:
            self._stop_when_handler_done()

    def _on_c_guard(self, _ud: Optional[int], reqp: Any) -> None:
        try:
            if self._dispatcher_ident != threading.get_ident():
                self._enter_dispatcher()
            req = reqp[0]
            request_id = int(req.request_id)
            ns = req.name_space.decode("utf-8")
            remote = req.remote_addr.decode("utf-8")
            url = req.url.decode("utf-8")
            try:
                auth = json.loads(req.auth_json) if req.auth_json else None
            except ValueError:
                auth = None
        except BaseException:  # noqa: BLE001
            log.exception("wshub: error reading a connect request")
            return
        try:
            environ = build_environ(remote, url, scheme="https" if self._tls else "http")
            sid = self._new_pending(ns, req.socket_id.decode("utf-8"), environ)
            self._connect(request_id, ns, sid, environ, auth if auth != {} else None)
        except BaseException:  # noqa: BLE001
            log.exception("wshub: error handling a connect request")
            lib.wshub_connect_decide(self._handle, request_id, False, REJECTED.encode())
        if self._stop_after is not None:
            self._stop_when_handler_done()

    def _on_c_ack(self, ud: Optional[int], status: int, evp: Any) -> None:
        try:
            if self._dispatcher_ident != threading.get_ident():
                self._enter_dispatcher()
            with self._lock:
                slot = self._acks.pop(ud or 0, None)
            if slot is None:
                return
            args: list[Any] = []
            if status == Status.OK and evp:
                args = _codec.event_args(evp[0])
            slot.resolve(status, args)
        except BaseException:  # noqa: BLE001
            log.exception("wshub: error delivering an acknowledgement")
        if self._stop_after is not None:
            self._stop_when_handler_done()

    # Hooks of the two flavours.
    def _event(self, ns: str, hub_sid: str, name: str, args: list[Any], ack_id: Optional[int]) -> None:
        raise NotImplementedError

    def _disconnect(self, ns: str, hub_sid: str, reason: str) -> None:
        raise NotImplementedError

    def _connect(self, request_id: int, ns: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
        raise NotImplementedError

    def _connected(self, ns: str, hub_sid: str) -> None:
        """A socket exists: bind it to the sid its connect handler saw, replay what it queued."""
        with self._lock:
            self._live.add((ns, hub_sid))
        if not self._pending_by_key:
            return
        # The guard's request named the id the socket got: no lookup, and no
        # race with a client that is gone again already.
        key = (ns, hub_sid)
        with self._lock:
            queue = self._pending_by_key.get(key)
            if not queue:
                return
            sid = queue.popleft()
            if not queue:
                del self._pending_by_key[key]
            p = self._pending.pop(sid, None)
            self._hub_of[sid] = hub_sid
            self._py_of[hub_sid] = sid
        for op in p.ops if p is not None else ():
            try:
                op()
            except Exception:  # noqa: BLE001
                log.exception("wshub: error replaying an operation of a connect handler")

    def _forget(self, ns: str, hub_sid: str) -> str:
        """Drops a gone socket's id mapping and session; returns its Python sid."""
        with self._lock:
            self._live.discard((ns, hub_sid))
            sid = self._py_of.pop(hub_sid, hub_sid)
            self._hub_of.pop(sid, None)
            self._sessions.pop((ns, sid), None)
        return sid

    # ---- acks -------------------------------------------------------------

    def _send_ack(self, ns: str, hub_sid: str, ack_id: int, result: Any) -> None:
        try:
            payload, attachments = _codec.encode(_codec.to_args(result))  # python-socketio's rule for acks too
        except (TypeError, ValueError):
            log.exception("wshub: the handler's return value cannot be sent as an ack")
            return
        arr = _codec.attachment_array(attachments)
        status = lib.wshub_ack(self._handle, _ns_b(ns), hub_sid.encode(), ack_id, payload, len(payload),
                               arr, len(attachments))
        if status != Status.OK and status not in _GONE:
            log.warning("wshub: ack failed: %s", _ffi.last_error())

    def _emit_with_ack(self, event: str, data: Any, sid: str, ns: str, timeout_ms: int, slot: _AckSlot) -> int:
        """Sends an event that asks for an ack; ``slot`` gets the outcome. Returns the status."""
        payload, attachments = _codec.encode(_codec.to_args(data))
        arr = _codec.attachment_array(attachments)
        key = next(self._ack_ids)
        with self._lock:
            self._acks[key] = slot
        status = lib.wshub_emit_with_ack(
            self._handle, _ns_b(ns), self._hub_sid(sid).encode(), event.encode(), payload, len(payload),
            arr, len(attachments), max(1, min(timeout_ms, 0xFFFFFFFF)), self._c_ack, key)
        if status != Status.OK:
            with self._lock:
                self._acks.pop(key, None)
        return int(status)

    def _send_call(self, event: str, data: Any, target: str, namespace: Optional[str], timeout: float,
                   slot: _AckSlot) -> None:
        """call()'s send: raises if the client cannot be reached; ``slot`` gets the answer."""
        if target in self._pending:
            raise RuntimeError("wshub: call() cannot reach a client before its connect handler returned")
        status = self._emit_with_ack(event, data, target, namespace or "/", int(timeout * 1000), slot)
        if status in _GONE:
            raise DisconnectedError(f"no client {target} in namespace {namespace or '/'}")
        _ffi.check(status)

    @staticmethod
    def _call_outcome(status: int, args: list[Any], event: str, target: str, timeout: float) -> Any:
        """What call() returns (or raises) for the ack's status and arguments."""
        if status == Status.OK:
            return call_result(args)
        if status == Status.TIMEOUT:
            raise AckTimeoutError(f"no acknowledgement of {event!r} within {timeout} s")
        if status == Status.INVALID_ARGUMENT:
            raise SocketIOError("this client cannot acknowledge (a plain WebSocket client)")
        raise DisconnectedError(f"client {target} disconnected before acknowledging {event!r}")

    # ---- the verbs (synchronous core) --------------------------------------

    def _emit(self, event: str, data: Any, to: Rooms, room: Rooms, skip_sid: Rooms, namespace: Optional[str],
              callback: Optional[Handler], volatile: bool = False) -> None:
        target = to if to is not None else room
        ns = namespace or "/"
        if callback is None and skip_sid is None and type(target) is str and not self._pending and not volatile:
            hub_target = self._hub_of.get(target, target)
            if (ns, hub_target) in self._live:
                # The hot path: one connected client, no options (a room, or a
                # socket this thread has not seen connect yet, goes below: a
                # socket id is also a room of one).
                payload, attachments = _codec.encode(_codec.to_args(data))
                arr = _codec.attachment_array(attachments)
                status = lib.wshub_emit_to(self._handle, _ns_b(namespace), hub_target.encode(), event.encode(),
                                           payload, len(payload), arr, len(attachments))
                _check_unless_gone(status)
                return
        rooms = _str_list(target)
        if self._pending and rooms:
            later = [r for r in rooms if r in self._pending]
            for sid in later:
                def replay(s: str = sid) -> None:
                    self._emit(event, data, s, None, skip_sid, namespace, callback, volatile)
                self._defer(sid, replay)
            rooms = [r for r in rooms if r not in later]
            if not rooms:
                return
        if callback is not None:
            if len(rooms) != 1 or skip_sid:
                raise ValueError("wshub: an emit with a callback must address one client (to=sid)")
            status = self._emit_with_ack(event, data, rooms[0], ns, CALLBACK_TIMEOUT_MS, self._callback_slot(callback))
            _check_unless_gone(status)
            return
        payload, attachments = _codec.encode(_codec.to_args(data))
        arr = _codec.attachment_array(attachments)
        skip = [self._hub_sid(s) for s in _str_list(skip_sid)]
        hub_rooms = [self._hub_sid(r) for r in rooms]
        if len(skip) == 1:
            tgt = _c_target(ns, hub_rooms, except_socket=skip[0])
        else:
            tgt = _c_target(ns, hub_rooms, except_rooms=skip)  # a socket id is a room of one
        emit = lib.wshub_emit_volatile if volatile else lib.wshub_emit
        status = emit(self._handle, ctypes.byref(tgt), event.encode("utf-8"), payload, len(payload), arr,
                      len(attachments), None)
        if status not in (Status.OK, Status.STOPPED):
            raise WshubError(status, _ffi.last_error())

    def _callback_slot(self, callback: Handler) -> _AckSlot:
        raise NotImplementedError

    def _enter_room(self, sid: str, room: str, namespace: Optional[str]) -> None:
        if self._defer(sid, lambda: self._enter_room(sid, room, namespace)):
            return
        status = lib.wshub_join(self._handle, _ns_b(namespace), self._hub_sid(sid).encode(), room.encode())
        _check_unless_gone(status)

    def _leave_room(self, sid: str, room: str, namespace: Optional[str]) -> None:
        if self._defer(sid, lambda: self._leave_room(sid, room, namespace)):
            return
        status = lib.wshub_leave(self._handle, _ns_b(namespace), self._hub_sid(sid).encode(), room.encode())
        _check_unless_gone(status)

    def _close_room(self, room: str, namespace: Optional[str]) -> None:
        for hub_sid in self._sockets(namespace, room):
            lib.wshub_leave(self._handle, _ns_b(namespace), hub_sid.encode(), room.encode())

    def _sockets(self, namespace: Optional[str], room: Optional[str] = None) -> list[str]:
        """The hub ids of the sockets of a namespace (or of one room of it)."""
        target = _c_target(namespace, [] if room is None else [room])
        out = ctypes.c_void_p()
        status = lib.wshub_sockets(self._handle, ctypes.byref(target), ctypes.byref(out))
        if status == Status.STOPPED:
            return []
        _ffi.check(status)
        ids: list[str] = json.loads(_ffi.take_string(out))
        return ids

    def _disconnect_sid(self, sid: str, namespace: Optional[str]) -> None:
        if self._defer(sid, lambda: self._disconnect_sid(sid, namespace)):
            return
        status = lib.wshub_disconnect(self._handle, _ns_b(namespace), self._hub_sid(sid).encode(), False)
        _check_unless_gone(status)

    def _socket_info(self, namespace: Optional[str], hub_sid: str) -> Optional[dict[str, Any]]:
        out = ctypes.c_void_p()
        status = lib.wshub_socket_info(self._handle, _ns_b(namespace), hub_sid.encode(), ctypes.byref(out))
        if status != Status.OK:
            if status in _GONE:
                return None
            raise WshubError(status, _ffi.last_error())
        info: dict[str, Any] = json.loads(_ffi.take_string(out))
        return info

    def rooms(self, sid: str, namespace: Optional[str] = None) -> list[str]:
        """The rooms a client is in (its own sid included); [] if it is not connected."""
        with self._lock:
            if sid in self._pending:
                return [sid]
        hub_sid = self._hub_sid(sid)
        info = self._socket_info(namespace, hub_sid)
        if info is None:
            return []
        return [sid if r == hub_sid else r for r in info.get("rooms", [])]

    def get_environ(self, sid: str, namespace: Optional[str] = None) -> Optional[dict[str, Any]]:
        """A WSGI-style environ of the client's connection (headers as ``HTTP_*``),
        plus ``wshub.socket_id`` (the id the client knows), ``wshub.query`` and ``wshub.raw``."""
        with self._lock:
            p = self._pending.get(sid)
            if p is not None:
                return dict(p.environ)
        hub_sid = self._hub_sid(sid)
        info = self._socket_info(namespace, hub_sid)
        if info is None:
            return None
        env = build_environ(str(info.get("remote_address", "")), str(info.get("url", "")), info.get("headers") or {},
                            scheme="https" if self._tls else "http")
        env["wshub.socket_id"] = hub_sid
        env["wshub.query"] = info.get("query") or {}
        env["wshub.auth"] = info.get("auth")
        env["wshub.raw"] = bool(info.get("raw"))
        env["wshub.recovered"] = bool(info.get("recovered"))
        return env

    def recovered(self, sid: str, namespace: Optional[str] = None) -> bool:
        """True when the client came back and took over its earlier session
        (``connection_state_recovery``): the hub id (``wshub.socket_id``) and
        rooms are the session's, and it got the events it missed."""
        info = self._socket_info(namespace, self._hub_sid(sid))
        return bool(info and info.get("recovered"))

    def _get_session(self, sid: str, namespace: Optional[str]) -> dict[Any, Any]:
        with self._lock:
            return self._sessions.setdefault((namespace or "/", sid), {})

    def _save_session(self, sid: str, session: dict[Any, Any], namespace: Optional[str]) -> None:
        with self._lock:
            self._sessions[(namespace or "/", sid)] = session


def run_connect_handler(fn: Handler, sid: str, environ: dict[str, Any], auth: Any) -> Any:
    """Calls a connect handler with the arguments it takes."""
    return fn(*trimmed(fn, (sid, environ, auth), 2))

