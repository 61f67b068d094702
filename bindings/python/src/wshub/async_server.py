"""``wshub.AsyncServer``: python-socketio's ``AsyncServer`` API on an asyncio loop."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import signal
import sys
import threading
from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

from . import _base
from ._base import Handler, Rooms, _AckSlot, _ServerBase
from ._ffi import Status
from .exceptions import TimeoutError
from .namespace import AsyncNamespace

__all__ = ["AsyncServer"]

# Python 3.12+: a handler's coroutine starts at once, and one that finishes
# without waiting never becomes a scheduled task (python-socketio's semantics
# otherwise: each handler is a task of its own).
_EAGER = sys.version_info >= (3, 12)


class _FutureSlot(_AckSlot):
    __slots__ = ("server", "future")

    def __init__(self, server: "AsyncServer", future: "asyncio.Future[tuple[int, list[Any]]]") -> None:
        self.server, self.future = server, future

    def resolve(self, status: int, args: list[Any]) -> None:
        self.server._post(self._set, status, args)

    def _set(self, status: int, args: list[Any]) -> None:
        if not self.future.done():
            self.future.set_result((status, args))


class _AsyncCallbackSlot(_AckSlot):
    __slots__ = ("server", "callback")

    def __init__(self, server: "AsyncServer", callback: Handler) -> None:
        self.server, self.callback = server, callback

    def resolve(self, status: int, args: list[Any]) -> None:
        if status == Status.OK:
            self.server._post(self.server._run, self.callback, tuple(args), "emit callback", "/", None)


class AsyncServer(_ServerBase):
    """A Socket.IO server on wshub's native hub for asyncio programs.

    The API is python-socketio's ``socketio.AsyncServer``: handlers may be
    coroutines (or plain functions) and run on the asyncio loop that called
    ``await sio.start()``; the verbs are coroutines (``await sio.emit(...)``)
    except ``rooms()``. Events leave the hub's dispatcher thread through
    ``loop.call_soon_threadsafe`` (one wake-up per batch of events), and each
    coroutine handler runs as its own task, like python-socketio's.

    The options are those of :class:`wshub.Server`.
    """

    _namespace_class = AsyncNamespace

    def __init__(self, **options: Any) -> None:
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._inbox: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = collections.deque()
        self._drain_scheduled = False
        self._tasks: set["asyncio.Task[Any]"] = set()
        self._stopped_async: Optional[asyncio.Event] = None
        self._stopping: Optional[asyncio.Future[None]] = None
        self._bridge: Any = None  # hosted.HostBridge, once hosted
        super().__init__(**options)

    # ---- life -------------------------------------------------------------

    async def start(self) -> "AsyncServer":
        """Starts listening; handlers will run on the running loop."""
        return self._start_on_loop(hosted=False)

    def _start_on_loop(self, hosted: bool) -> "AsyncServer":
        self._loop = asyncio.get_running_loop()
        self._stopped_async = asyncio.Event()
        self._start_hub(hosted=hosted)
        return self

    async def start_hosted(self) -> "AsyncServer":
        """Starts the hub without a listener of its own: an ASGI server
        (:class:`wshub.ASGIApp`) or aiohttp (:meth:`attach`) hands it what
        arrives under its path. Handlers run on the running loop."""
        return self._start_on_loop(hosted=True)

    def attach(self, app: Any, socketio_path: str = "socket.io") -> None:
        """Serves this hub inside an aiohttp ``web.Application``, on its port,
        beside its routes (python-socketio's ``sio.attach(app)``); the hub
        starts and stops with the app."""
        from .hosted import attach_aiohttp
        attach_aiohttp(self, app, socketio_path)

    def _host_bridge(self) -> Any:
        from .hosted import HostBridge
        if self._bridge is None:
            self._bridge = HostBridge(self)
        return self._bridge

    async def stop(self, timeout: float = 1.0) -> None:
        """Closes every connection (disconnect handlers run, reason "server
        shutting down"), gives them up to ``timeout`` seconds to flush, joins the
        hub's threads, then waits (up to ``timeout``) for the handlers still running."""
        if self._stopping is not None:  # a stop is under way (or done): wait for it
            await asyncio.shield(self._stopping)
            return
        if self._state != "running":
            if self._state == "created":
                self._stop_blocking(0)
            return
        loop = asyncio.get_running_loop()
        self._stopping = loop.create_future()
        try:
            await loop.run_in_executor(None, self._stop_blocking, int(timeout * 1000))
            await asyncio.sleep(0)  # the posted callbacks (disconnects, acks) run
            self._drain()
            tasks = [t for t in self._tasks if not t.done()]
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
        finally:
            if self._stopped_async is not None:
                self._stopped_async.set()
            self._stopping.set_result(None)

    async def wait(self) -> None:
        """Returns when the server is stopped."""
        if self._stopped_async is None:
            raise RuntimeError("wshub: the server was not started")
        await self._stopped_async.wait()

    async def serve_forever(self) -> None:
        """Starts the server if needed and serves until Ctrl-C (SIGINT) or
        SIGTERM, then stops it cleanly and returns (in the main thread; elsewhere
        until the task is cancelled)."""
        if self._state == "created":
            await self.start()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self._request_stop)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError):
                    pass
        try:
            await self.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await asyncio.shield(self.stop())

    def _request_stop(self) -> None:
        assert self._loop is not None
        self._loop.create_task(self.stop())

    async def __aenter__(self) -> "AsyncServer":
        if self._state == "created":
            await self.start()
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.stop()

    # ---- the hop onto the loop ----------------------------------------------

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        """From the dispatcher thread: runs ``fn(*args)`` on the loop, in order.
        One call_soon_threadsafe (one loop wake-up) per batch."""
        self._inbox.append((fn, args))
        if self._drain_scheduled:
            return
        self._drain_scheduled = True
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError("no loop")
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed (e.g. at interpreter exit): drop
            self._drain_scheduled = False
            self._inbox.clear()

    def _drain(self) -> None:
        self._drain_scheduled = False
        inbox = self._inbox
        while inbox:
            fn, args = inbox.popleft()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001
                _base.log.exception("wshub: error in a posted callback")

    def _run(self, fn: Handler, args: tuple[Any, ...], what: str, ns: str,
             done: Optional[Callable[[Any, Optional[BaseException]], None]]) -> None:
        """On the loop: calls a handler; a coroutine result becomes a task.
        ``done(result, exception)`` follows (for acks, connect decisions, cleanup)."""
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001
            self._finish(what, ns, done, None, exc)
            return
        if inspect.isawaitable(result):
            assert self._loop is not None
            coro = self._await(result, what, ns, done)
            if _EAGER:
                task = asyncio.Task(coro, loop=self._loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
                if task.done():
                    return
            else:
                task = self._loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._finish(what, ns, done, result, None)

    async def _await(self, awaitable: Awaitable[Any], what: str, ns: str,
                     done: Optional[Callable[[Any, Optional[BaseException]], None]]) -> None:
        try:
            result = await awaitable
        except Exception as exc:  # noqa: BLE001
            self._finish(what, ns, done, None, exc)
            return
        self._finish(what, ns, done, result, None)

    def _finish(self, what: str, ns: str, done: Optional[Callable[[Any, Optional[BaseException]], None]],
                result: Any, exc: Optional[BaseException]) -> None:
        if exc is not None and (done is None or what != "connect"):
            self._log_handler_error(what, ns, exc)
        if done is not None:
            try:
                done(result, exc)
            except Exception:  # noqa: BLE001
                _base.log.exception("wshub: error finishing the %r handler", what)

    # ---- dispatch (dispatcher thread -> loop) --------------------------------

    def _event(self, ns: str, hub_sid: str, name: str, args: list[Any], ack_id: Optional[int]) -> None:
        self._post(self._event_on_loop, ns, hub_sid, name, args, ack_id)

    def _event_on_loop(self, ns: str, hub_sid: str, name: str, args: list[Any], ack_id: Optional[int]) -> None:
        sid = self._py_of.get(hub_sid, hub_sid) if self._py_of else hub_sid
        found = self._event_handler(ns, name, sid, args)
        if found is None:
            return
        fn, call_args = found
        done = None
        if ack_id is not None:
            def done(result: Any, exc: Optional[BaseException]) -> None:
                if exc is None:
                    self._send_ack(ns, hub_sid, ack_id, result)
        self._run(fn, call_args, name, ns, done)

    def _disconnect(self, ns: str, hub_sid: str, reason: str) -> None:
        self._post(self._disconnect_on_loop, ns, hub_sid, reason)

    def _disconnect_on_loop(self, ns: str, hub_sid: str, reason: str) -> None:
        sid = self._py_sid(hub_sid)
        fn = self._special_handler(ns, "disconnect")

        def done(result: Any, exc: Optional[BaseException]) -> None:
            self._forget(ns, hub_sid)

        if fn is None:
            done(None, None)
        else:
            self._run(fn, _base.trimmed(fn, (sid, reason), 1), "disconnect", ns, done)

    def _connect(self, request_id: int, ns: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
        self._post(self._connect_on_loop, request_id, ns, sid, environ, auth)

    def _connect_on_loop(self, request_id: int, ns: str, sid: str, environ: dict[str, Any], auth: Any) -> None:
        fn = self._special_handler(ns, "connect")

        def done(result: Any, exc: Optional[BaseException]) -> None:
            self._decide(request_id, sid, self._connect_verdict(ns, result, exc))

        if fn is None:
            done(None, None)
        else:
            self._run(lambda: _base.run_connect_handler(fn, sid, environ, auth), (), "connect", ns, done)

    def _callback_slot(self, callback: Handler) -> _AckSlot:
        return _AsyncCallbackSlot(self, callback)

    # ---- the verbs ----------------------------------------------------------

    async def emit(self, event: str, data: Any = None, to: Rooms = None, room: Rooms = None,
                   skip_sid: Rooms = None, namespace: Optional[str] = None, callback: Optional[Handler] = None,
                   volatile: bool = False, **kwargs: Any) -> None:
        """See :meth:`wshub.Server.emit` (``callback`` may be a coroutine function)."""
        self._emit(event, data, to, room, skip_sid, namespace, callback, volatile)

    async def send(self, data: Any, to: Rooms = None, room: Rooms = None, skip_sid: Rooms = None,
                   namespace: Optional[str] = None, callback: Optional[Handler] = None, **kwargs: Any) -> None:
        """Emits a ``'message'`` event."""
        self._emit("message", data, to, room, skip_sid, namespace, callback)

    async def call(self, event: str, data: Any = None, to: Optional[str] = None, sid: Optional[str] = None,
                   namespace: Optional[str] = None, timeout: float = 60, **kwargs: Any) -> Any:
        """Emits ``event`` to one client and awaits its acknowledgement (see
        :meth:`wshub.Server.call`); usable inside handlers."""
        target = to or sid
        if target is None:
            raise ValueError("call() needs the client's sid (to=sid)")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        future: asyncio.Future[tuple[int, list[Any]]] = loop.create_future()
        self._send_call(event, data, target, namespace, timeout, _FutureSlot(self, future))
        try:
            ack_status, args = await asyncio.wait_for(future, timeout + 5.0)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no acknowledgement of {event!r} within {timeout} s") from None
        return self._call_outcome(ack_status, args, event, target, timeout)

    async def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Puts a client in a room."""
        self._enter_room(sid, room, namespace)

    async def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Takes a client out of a room."""
        self._leave_room(sid, room, namespace)

    async def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        """Takes every client out of a room."""
        self._close_room(room, namespace)

    async def disconnect(self, sid: str, namespace: Optional[str] = None, ignore_queue: bool = False) -> None:
        """Disconnects a client from the namespace."""
        self._disconnect_sid(sid, namespace)

    async def get_session(self, sid: str, namespace: Optional[str] = None) -> dict[Any, Any]:
        """The client's session dict (kept in Python; dropped when it disconnects)."""
        return self._get_session(sid, namespace)

    async def save_session(self, sid: str, session: dict[Any, Any], namespace: Optional[str] = None) -> None:
        """Replaces the client's session dict."""
        self._save_session(sid, session, namespace)

    @contextlib.asynccontextmanager
    async def session(self, sid: str, namespace: Optional[str] = None) -> AsyncIterator[dict[Any, Any]]:
        """``async with sio.session(sid) as session:`` edits the session and saves it."""
        session = self._get_session(sid, namespace)
        yield session
        self._save_session(sid, session, namespace)

    def start_background_task(self, target: Callable[..., Awaitable[Any]], *args: Any,
                              **kwargs: Any) -> "asyncio.Task[Any]":
        """Runs the coroutine ``target(*args, **kwargs)`` as a task (returned)."""
        return asyncio.ensure_future(target(*args, **kwargs))

    async def sleep(self, seconds: float = 0) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)
