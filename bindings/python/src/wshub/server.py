"""``wshub.Server``: python-socketio's ``Server`` API, handlers on the hub's dispatcher thread."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from types import TracebackType
from typing import Any, Callable, Iterator, Optional

from . import _base
from ._base import Handler, Rooms, _AckSlot, _ServerBase
from ._ffi import Status
from .exceptions import TimeoutError
from .namespace import Namespace

__all__ = ["Server"]


class _WaitSlot(_AckSlot):
    __slots__ = ("done", "status", "args")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.status: int = Status.TIMEOUT
        self.args: list[Any] = []

    def resolve(self, status: int, args: list[Any]) -> None:
        self.status, self.args = status, args
        self.done.set()


class _CallbackSlot(_AckSlot):
    __slots__ = ("callback",)

    def __init__(self, callback: Handler) -> None:
        self.callback = callback

    def resolve(self, status: int, args: list[Any]) -> None:
        if status != Status.OK:
            return  # python-socketio never calls back a client that did not answer
        try:
            self.callback(*args)
        except Exception:  # noqa: BLE001
            _base.log.exception("wshub: exception in an emit callback")


class Server(_ServerBase):
    """A Socket.IO server running in this process on wshub's native hub.

    The API is python-socketio's ``socketio.Server``; there is no web framework
    to attach it to: ``start()`` listens on ``host:port`` (``port=0`` picks a
    free one, see ``sio.port``) and serves the Socket.IO endpoint, the
    ``static_files`` folder and the client bundle itself.

    Handlers run one at a time on the hub's dispatcher thread, in the order the
    events happened (so in order per client); a slow handler delays later
    events but never the network I/O. Every method may be called from any
    thread, from inside a handler too, except ``call()`` (which would block the
    dispatcher thread that must deliver its answer; use it from another thread,
    e.g. ``start_background_task``).

    Options: ``host`` ("127.0.0.1"), ``port`` (3000), ``path`` ("/socket.io/"),
    ``cors_allowed_origins`` ("*", an origin or a list), ``ping_interval`` and
    ``ping_timeout`` (seconds, 25 and 20), ``connect_timeout`` (45 s),
    ``max_http_buffer_size`` (1,000,000 bytes), ``static_files`` (a folder
    served for other GET requests), ``client_bundle`` (the socket.io-client
    ``dist`` folder served at /socket.io/socket.io.js; default
    node_modules/socket.io-client/dist if found, None for none), ``raw_path``
    ("/ws", plain WebSocket clients; None turns it off), ``transports``,
    ``namespaces`` (namespaces to accept besides those with handlers),
    ``max_queued_frames``, ``max_packets_per_poll``, ``max_connections``,
    ``worker_threads``, ``drop_when_full``, ``tls_cert`` and ``tls_key`` (PEM
    files: the hub serves https and wss only), ``allowed_origins`` (an origin
    or a list: browsers on other origins get 403 on WebSocket and polling
    requests; default any).
    """

    _namespace_class = Namespace

    # ---- life -------------------------------------------------------------

    def start(self) -> "Server":
        """Starts listening; returns at once (the hub runs on its own threads)."""
        self._start_hub()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Closes every connection (disconnect handlers run, reason "server
        shutting down"), gives them up to ``timeout`` seconds to flush and
        joins the hub's threads. No handler runs after it returns. Called from
        a handler, it returns at once and the hub stops when the handler is done."""
        if self._state != "running":
            if self._state == "created":
                self._stop_blocking(0)
            return
        if self.on_dispatcher_thread():
            self._stop_after = int(timeout * 1000)  # once this handler (and its ack) is done
            return
        self._stop_blocking(int(timeout * 1000))

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the server is stopped (or ``timeout`` passed); True if stopped."""
        return self._stopped.wait(timeout)

    def serve_forever(self) -> None:
        """Starts the server if needed and serves until Ctrl-C (SIGINT) or
        SIGTERM, then stops it cleanly and returns."""
        if self._state == "created":
            self.start()
        previous = None
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            def on_term(signum: int, frame: Any) -> None:
                raise KeyboardInterrupt

            previous = signal.signal(signal.SIGTERM, on_term)
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
            self.stop()

    def __enter__(self) -> "Server":
        if self._state == "created":
            self.start()
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    # ---- dispatch (dispatcher thread) ---------------------------------------

    def _event(self, ns: str, hub_sid: str, name: str, args: list[Any], ack_id: Optional[int]) -> None:
        sid = self._py_of.get(hub_sid, hub_sid) if self._py_of else hub_sid
        found = self._event_handler(ns, name, sid, args)
        if found is None:
            return
        fn, call_args = found
        try:
            result = fn(*call_args)
        except Exception:  # noqa: BLE001
            self._log_handler_error(name, ns)
            return
        if ack_id is not None:
            self._send_ack(ns, hub_sid, ack_id, result)

    def _disconnect(self, ns: str, hub_sid: str, reason: str) -> None:
        sid = self._py_sid(hub_sid)
        fn = self._special_handler(ns, "disconnect")
        try:
            if fn is not None:
                fn(*_base.trimmed(fn, (sid, reason), 1))
        except Exception:  # noqa: BLE001
            self._log_handler_error("disconnect", ns)
        finally:
            self._forget(ns, hub_sid)

    def _connect(self, request_id: int, ns: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
        fn = self._special_handler(ns, "connect")
        verdict: Optional[str] = None
        if fn is not None:
            try:
                result = _base.run_connect_handler(fn, sid, environ, auth)
            except Exception as exc:  # noqa: BLE001
                verdict = self._connect_verdict(ns, None, exc)
            else:
                verdict = self._connect_verdict(ns, result, None)
        self._decide(request_id, sid, verdict)

    def _callback_slot(self, callback: Handler) -> _AckSlot:
        return _CallbackSlot(callback)

    # ---- the verbs ----------------------------------------------------------

    def emit(self, event: str, data: Any = None, to: Rooms = None, room: Rooms = None, skip_sid: Rooms = None,
             namespace: Optional[str] = None, callback: Optional[Handler] = None, volatile: bool = False,
             **kwargs: Any) -> None:
        """Emits ``event`` to one client (``to=sid``), a room, a list of rooms,
        or everyone in the namespace (no ``to``), minus ``skip_sid`` (a sid or
        a list). ``data`` is one argument, or a tuple of several; bytes go as
        binary attachments. ``callback`` (one client only) gets the client's ack.
        ``volatile=True`` (wshub's own, like Socket.IO's ``volatile`` flag): a
        client whose outbound queue is full (it stopped reading) misses this
        emit and stays connected, instead of being disconnected."""
        self._emit(event, data, to, room, skip_sid, namespace, callback, volatile)

    def send(self, data: Any, to: Rooms = None, room: Rooms = None, skip_sid: Rooms = None,
             namespace: Optional[str] = None, callback: Optional[Handler] = None, **kwargs: Any) -> None:
        """Emits a ``'message'`` event."""
        self._emit("message", data, to, room, skip_sid, namespace, callback)

    def call(self, event: str, data: Any = None, to: Optional[str] = None, sid: Optional[str] = None,
             namespace: Optional[str] = None, timeout: float = 60, **kwargs: Any) -> Any:
        """Emits ``event`` to one client and waits for its acknowledgement:
        returns the ack's argument (None for none, a tuple for several).
        Raises ``wshub.TimeoutError`` after ``timeout`` seconds and
        ``wshub.DisconnectedError`` if the client is not (or no longer) connected.
        Not from inside a handler (it would block the thread that delivers the answer)."""
        target = to or sid
        if target is None:
            raise ValueError("call() needs the client's sid (to=sid)")
        if self.on_dispatcher_thread():
            raise RuntimeError(
                "wshub: Server.call() cannot be used inside a handler: handlers run on the hub's "
                "dispatcher thread, which is the thread that would deliver the answer. Call it from "
                "another thread (sio.start_background_task(...)), use emit(..., callback=...), "
                "or use AsyncServer.")
        slot = _WaitSlot()
        self._send_call(event, data, target, namespace, timeout, slot)
        if not slot.done.wait(timeout + 5.0):
            raise TimeoutError(f"no acknowledgement of {event!r} within {timeout} s")
        return self._call_outcome(slot.status, slot.args, event, target, timeout)

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Puts a client in a room."""
        self._enter_room(sid, room, namespace)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Takes a client out of a room."""
        self._leave_room(sid, room, namespace)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        """Takes every client out of a room."""
        self._close_room(room, namespace)

    def disconnect(self, sid: str, namespace: Optional[str] = None, ignore_queue: bool = False) -> None:
        """Disconnects a client from the namespace (it sees "io server
        disconnect"; its disconnect handler runs with "server namespace disconnect")."""
        self._disconnect_sid(sid, namespace)

    def get_session(self, sid: str, namespace: Optional[str] = None) -> dict[Any, Any]:
        """The client's session dict (kept in Python; dropped when it disconnects)."""
        return self._get_session(sid, namespace)

    def save_session(self, sid: str, session: dict[Any, Any], namespace: Optional[str] = None) -> None:
        """Replaces the client's session dict."""
        self._save_session(sid, session, namespace)

    @contextlib.contextmanager
    def session(self, sid: str, namespace: Optional[str] = None) -> Iterator[dict[Any, Any]]:
        """``with sio.session(sid) as session:`` edits the session and saves it."""
        session = self.get_session(sid, namespace)
        yield session
        self.save_session(sid, session, namespace)

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> threading.Thread:
        """Runs ``target(*args, **kwargs)`` on a new daemon thread (returned; ``join()`` it)."""
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float = 0) -> None:
        """``time.sleep``."""
        time.sleep(seconds)
