"""wshub inside the app's own web server, as python-socketio does it:
``wshub.ASGIApp(sio, other_asgi_app)`` under uvicorn (FastAPI, Starlette) and
``sio.attach(aiohttp_app)``. The web server keeps its sockets; the hub
(started without a listener of its own) answers the long-polling requests
through ``wshub_handle_request`` and serves each WebSocket through a relay
(``wshub_relay_open``): the app's server hands in what the client sends, the
hub says what to send back. The hub's own upgrade, limits, heartbeat and
close codes apply, so a client sees the same server either way.

Everything here runs on the app's asyncio loop, except the two C callbacks,
which run on the hub's dispatcher thread and only copy what they are given
and post it to the loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import itertools
import logging
import mimetypes
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Union

from . import _ffi
from ._ffi import lib

__all__ = ["ASGIApp", "HostBridge"]

log = logging.getLogger("wshub")

# What a relay's events may hold on the loop before the bridge gives up on a
# client that does not read (the hub's credit is returned as soon as the
# callback has copied an event, so the binding bounds its own queue).
_MAX_QUEUED_BYTES = 8 << 20


class HostRequest:
    """An HTTP request (or WebSocket upgrade) the app's server read."""

    __slots__ = ("method", "url", "headers", "body", "remote_addr")

    def __init__(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes,
                 remote_addr: Optional[str]) -> None:
        self.method, self.url, self.headers, self.body, self.remote_addr = method, url, headers, body, remote_addr

    def to_c(self) -> tuple[_ffi.wshub_http_request, list[Any]]:
        """The C struct, and the objects that must live as long as it does."""
        keep: list[Any] = []

        def b(s: Optional[str]) -> Optional[bytes]:
            v = None if s is None else s.encode("latin-1", "replace")
            keep.append(v)
            return v

        headers = (_ffi.wshub_header * max(1, len(self.headers)))()
        for i, (k, v) in enumerate(self.headers):
            headers[i].name, headers[i].value = b(k), b(v)
        keep.append(headers)
        body = ctypes.create_string_buffer(self.body, len(self.body)) if self.body else None
        keep.append(body)
        req = _ffi.wshub_http_request()
        req.method, req.url = b(self.method), b(self.url)
        req.headers = ctypes.cast(headers, ctypes.POINTER(_ffi.wshub_header)) if self.headers else None
        req.header_count = len(self.headers)
        req.body.data = ctypes.cast(body, ctypes.POINTER(ctypes.c_uint8)) if body is not None else None
        req.body.len = len(self.body)
        req.remote_addr = b(self.remote_addr)
        return req, keep


def remote_addr(client: Optional[tuple[str, int]]) -> Optional[str]:
    """``"ip:port"`` / ``"[ipv6]:port"`` of an ASGI ``client`` or a peername."""
    if not client or not client[0]:
        return None
    host, port = client[0], client[1]
    if ":" in host:
        return f"[{host}]:{port}"
    try:  # the hub takes addresses, not names (a test client may say "testclient")
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return f"{host}:{port}"


class Relay:
    """One relayed WebSocket, on the loop: ``next()`` gives the hub's events
    ``(kind, code, data)`` in order; ``send`` and ``close`` go the other way."""

    def __init__(self, bridge: "HostBridge", key: int) -> None:
        self._bridge, self._key = bridge, key
        self.id = 0
        self._events: asyncio.Queue[tuple[int, int, bytes]] = asyncio.Queue()
        self._queued = 0
        self.overflowed = False

    def _put(self, kind: int, code: int, data: bytes) -> None:
        if self.overflowed:
            return
        self._queued += len(data)
        if self._queued > _MAX_QUEUED_BYTES:
            # The client reads slower than the hub sends: end it, as the hub
            # ends a slow consumer of its own listener.
            self.overflowed = True
            self.close()
            self._events.put_nowait((_ffi.RELAY_CLOSED, 1008, b""))
            return
        self._events.put_nowait((kind, code, data))

    async def next(self) -> tuple[int, int, bytes]:
        kind, code, data = await self._events.get()
        self._queued -= len(data)
        return kind, code, data

    def send(self, message: Union[str, bytes]) -> None:
        binary = isinstance(message, (bytes, bytearray, memoryview))
        data = bytes(message) if binary else str(message).encode("utf-8")
        status = lib.wshub_relay_send(self._bridge.handle, self.id, binary, data, len(data))
        if status not in (_ffi.Status.OK, _ffi.Status.NOT_FOUND, _ffi.Status.STOPPED):
            # LIMIT: more handed in than the hub read; the hub closes it (CLOSED follows).
            log.debug("wshub: wshub_relay_send: %s", _ffi.status_str(status))

    def close(self) -> None:
        if self.id:
            lib.wshub_relay_close(self._bridge.handle, self.id)  # NOT_FOUND once ended: fine


class HostBridge:
    """The calls a host's server makes into one AsyncServer's hub: requests
    answered through a future, WebSockets relayed. One C thunk of each kind
    per hub; the userdata is a key into this bridge's tables."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._keys = itertools.count(1)
        self._answers: dict[int, asyncio.Future[tuple[int, list[tuple[str, str]], bytes]]] = {}
        self._relays: dict[int, Relay] = {}
        self._c_respond = _ffi.wshub_respond_cb(self._on_c_respond)
        self._c_relay = _ffi.wshub_relay_cb(self._on_c_relay)

    @property
    def handle(self) -> Any:
        return self.server._handle

    async def ensure_started(self) -> None:
        if self.server._state == "created":
            await self.server.start_hosted()

    def serves_path(self, path: str) -> bool:
        out = ctypes.c_bool(False)
        _ffi.check(lib.wshub_serves_path(self.handle, path.encode("utf-8", "replace"), ctypes.byref(out)))
        return bool(out.value)

    # ---- requests ----------------------------------------------------------

    async def handle_request(self, req: HostRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        """The hub's answer ``(status, headers, body)``: later for a long-poll.
        Its headers leave Content-Length (and Connection) to the host."""
        loop = asyncio.get_running_loop()
        key = next(self._keys)
        future = loop.create_future()
        self._answers[key] = future
        c_req, keep = req.to_c()
        status = lib.wshub_handle_request(self.handle, ctypes.byref(c_req), self._c_respond, ctypes.c_void_p(key))
        del keep
        if status != _ffi.Status.OK:
            self._answers.pop(key, None)
            return 503, [("Content-Type", "text/plain; charset=UTF-8")], _ffi.status_str(status).encode()
        try:
            return await future
        finally:
            self._answers.pop(key, None)

    def _on_c_respond(self, ud: Optional[int], resp: Any) -> None:
        r = resp.contents
        headers = [(r.headers[i].name.decode("latin-1"), r.headers[i].value.decode("latin-1"))
                   for i in range(r.header_count)]
        body = ctypes.string_at(r.body.data, r.body.len) if r.body.len else b""
        self.server._post(self._answered, ud or 0, (r.status, headers, body))

    def _answered(self, key: int, answer: tuple[int, list[tuple[str, str]], bytes]) -> None:
        future = self._answers.get(key)
        if future is not None and not future.done():
            future.set_result(answer)

    # ---- WebSockets ----------------------------------------------------------

    def open_relay(self, req: HostRequest) -> Optional[Relay]:
        """A relay for an upgrade request, or None when the hub refuses at once (connection limit)."""
        key = next(self._keys)
        relay = Relay(self, key)
        self._relays[key] = relay
        c_req, keep = req.to_c()
        out_id = ctypes.c_uint64()
        status = lib.wshub_relay_open(self.handle, ctypes.byref(c_req), self._c_relay, ctypes.c_void_p(key),
                                      _ffi.NO_FREE, ctypes.byref(out_id))
        del keep
        if status != _ffi.Status.OK:
            self._relays.pop(key, None)
            return None
        relay.id = out_id.value
        return relay

    def _on_c_relay(self, ud: Optional[int], kind: int, code: int, data: Any, length: int) -> None:
        payload = ctypes.string_at(data, length) if length else b""
        self.server._post(self._relay_event, ud or 0, kind, code, payload)

    def _relay_event(self, key: int, kind: int, code: int, data: bytes) -> None:
        relay = self._relays.get(key)
        if relay is None:
            return
        if kind in (_ffi.RELAY_CLOSED, _ffi.RELAY_REFUSED):
            del self._relays[key]
        relay._put(kind, code, data)


def _status_line_headers(headers: list[tuple[str, str]], body: bytes) -> list[tuple[bytes, bytes]]:
    out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    out.append((b"content-length", str(len(body)).encode()))
    return out


class ASGIApp:
    """An ASGI application: wshub under its path, ``other_asgi_app`` (FastAPI,
    Starlette, ...) for the rest, as ``socketio.ASGIApp`` does::

        sio = wshub.AsyncServer()
        app = wshub.ASGIApp(sio, fastapi_app)
        # uvicorn module:app

    ``static_files`` maps URL paths to files or folders (``{"/": "index.html",
    "/static": "public"}``), served for GET before ``other_asgi_app``. The hub
    starts with the first request or the ASGI lifespan startup, without a
    listener of its own, and stops at lifespan shutdown.
    ``on_startup`` / ``on_shutdown``: callables (or coroutines) run then.
    """

    def __init__(self, socketio_server: Any, other_asgi_app: Any = None, static_files: Optional[dict[str, str]] = None,
                 socketio_path: str = "socket.io", on_startup: Optional[Callable[[], Any]] = None,
                 on_shutdown: Optional[Callable[[], Any]] = None) -> None:
        if not hasattr(socketio_server, "_host_bridge"):
            raise TypeError("wshub.ASGIApp serves a wshub.AsyncServer (its handlers run on the ASGI server's loop), "
                            f"not {type(socketio_server).__name__}")
        self.sio = socketio_server
        self.bridge: HostBridge = socketio_server._host_bridge()
        self.other_asgi_app = other_asgi_app
        self.static_files = dict(static_files or {})
        _check_path(socketio_server, socketio_path)
        self.on_startup, self.on_shutdown = on_startup, on_shutdown

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return await self._lifespan(scope, receive, send)
        path = scope.get("path", "/")
        if kind in ("http", "websocket"):
            await self.bridge.ensure_started()
            if self.bridge.serves_path(path):
                if kind == "http":
                    return await self._http(scope, receive, send)
                return await self._websocket(scope, receive, send)
        if kind == "http" and scope.get("method") in ("GET", "HEAD"):
            file = _static_file(self.static_files, path)
            if file is not None:
                return await _send_file(send, file, head=scope["method"] == "HEAD")
        if self.other_asgi_app is not None:
            return await self.other_asgi_app(scope, receive, send)
        if kind == "http":
            # The hub's static folder (Server(static_files=...)) serves the rest, or 404s.
            return await self._http(scope, receive, send)
        await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                        send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        async def hooked() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.bridge.ensure_started()
                await _maybe_await(self.on_startup)
            elif message["type"] == "lifespan.shutdown":
                await _maybe_await(self.on_shutdown)
                await self.sio.stop()
            return message

        if self.other_asgi_app is not None:
            return await self.other_asgi_app(scope, hooked, send)
        while True:
            message = await hooked()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                    send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        body = bytearray()
        limit = self.sio._max_payload
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went: nothing to answer
            body += message.get("body", b"")
            if len(body) > limit:
                # Refused before the rest is read (the hub would answer 413 too).
                return await _send_plain(send, 413, b"Payload Too Large")
            if not message.get("more_body", False):
                break
        status, headers, answer = await self.bridge.handle_request(_asgi_request(scope, bytes(body)))
        await send({"type": "http.response.start", "status": status, "headers": _status_line_headers(headers, answer)})
        await send({"type": "http.response.body", "body": answer})

    async def _websocket(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                         send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        relay = self.bridge.open_relay(_asgi_request(scope, b""))
        if relay is None:
            return await send({"type": "websocket.close", "code": 1013})  # try again later: the hub is full
        kind, code, data = await relay.next()
        if kind != _ffi.RELAY_ACCEPTED:
            if "websocket.http.response" in scope.get("extensions", {}) and kind == _ffi.RELAY_REFUSED:
                await send({"type": "websocket.http.response.start", "status": code,
                            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(data)).encode())]})
                await send({"type": "websocket.http.response.body", "body": data})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})

        async def to_hub() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    relay.send(text if text is not None else message.get("bytes") or b"")
                elif message["type"] == "websocket.disconnect":
                    relay.close()
                    return

        reader = asyncio.ensure_future(to_hub())
        try:
            while True:
                kind, code, data = await relay.next()
                if kind == _ffi.RELAY_TEXT:
                    await send({"type": "websocket.send", "text": data.decode("utf-8")})
                elif kind == _ffi.RELAY_BINARY:
                    await send({"type": "websocket.send", "bytes": data})
                elif kind == _ffi.RELAY_CLOSED:
                    if not reader.done():
                        await send({"type": "websocket.close", "code": close_code(code)})
                    return
        except OSError:
            relay.close()  # the server could not send: the client is gone
        finally:
            reader.cancel()


def close_code(code: int) -> int:
    """The hub's close code as one a server may send (1005 and 1006 only say that none came: 1000)."""
    return code if 1000 <= code < 5000 and code not in (1005, 1006) else 1000


def _check_path(server: Any, socketio_path: str) -> None:
    """The path is the hub's (``AsyncServer(path=...)``); a different one here would serve nothing."""
    wanted = "/" + socketio_path.strip("/") + "/"
    if wanted != server._path:
        raise ValueError(f"socketio_path {socketio_path!r} is not the server's path {server._path!r}: "
                         f"create the server with AsyncServer(path={wanted!r})")


def _asgi_request(scope: dict[str, Any], body: bytes) -> HostRequest:
    raw = scope.get("raw_path") or scope.get("path", "/").encode("utf-8")
    target = raw.decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
    method = scope.get("method", "GET")
    return HostRequest(method, target, headers, body, remote_addr(scope.get("client")))


async def _maybe_await(fn: Optional[Callable[[], Any]]) -> None:
    if fn is not None:
        result = fn()
        if asyncio.iscoroutine(result):
            await result


def _static_file(mapping: dict[str, str], path: str) -> Optional[Path]:
    """The file ``mapping`` names for ``path`` (longest prefix first), inside its folder."""
    for prefix in sorted(mapping, key=len, reverse=True):
        target = Path(mapping[prefix])
        if path == prefix and target.is_file():
            return target
        if target.is_dir() and (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
            rest = path[len(prefix.rstrip("/")):].lstrip("/") or "index.html"
            candidate = (target / rest).resolve()
            if candidate.is_file() and target.resolve() in candidate.parents:
                return candidate
    return None


async def _send_file(send: Callable[[dict[str, Any]], Awaitable[None]], file: Path, head: bool) -> None:
    data = await asyncio.get_running_loop().run_in_executor(None, file.read_bytes)
    ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else data})


async def _send_plain(send: Callable[[dict[str, Any]], Awaitable[None]], status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]})
    await send({"type": "http.response.body", "body": text})


def attach_aiohttp(server: Any, app: Any, socketio_path: str = "socket.io") -> None:
    """``sio.attach(app)`` for an aiohttp ``web.Application``: routes under the
    path go to the hub (polling answered, WebSockets relayed through
    aiohttp's own ``WebSocketResponse``); the hub starts and stops with the app."""
    from aiohttp import WSMsgType, web

    bridge: HostBridge = server._host_bridge()
    _check_path(server, socketio_path)
    path = server._path

    async def handler(request: "web.Request") -> "web.StreamResponse":
        await bridge.ensure_started()
        target = request.raw_path
        peer = request.transport.get_extra_info("peername") if request.transport else None
        headers = [(k, v) for k, v in request.headers.items()]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            relay = bridge.open_relay(HostRequest("GET", target, headers, b"", remote_addr(peer)))
            if relay is None:
                return web.Response(status=503, text="wshub: too many connections")
            kind, code, data = await relay.next()
            if kind != _ffi.RELAY_ACCEPTED:
                return web.Response(status=code if kind == _ffi.RELAY_REFUSED else 503, body=data)
            ws = web.WebSocketResponse(autoping=True)
            await ws.prepare(request)

            async def to_hub() -> None:
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT:
                        relay.send(msg.data)
                    elif msg.type == WSMsgType.BINARY:
                        relay.send(msg.data)
                relay.close()  # the client closed (or the connection broke)

            reader = asyncio.ensure_future(to_hub())
            try:
                while True:
                    kind, code, data = await relay.next()
                    if kind == _ffi.RELAY_TEXT:
                        await ws.send_str(data.decode("utf-8"))
                    elif kind == _ffi.RELAY_BINARY:
                        await ws.send_bytes(data)
                    elif kind == _ffi.RELAY_CLOSED:
                        if not ws.closed:
                            await ws.close(code=close_code(code))
                        return ws
            except (ConnectionError, RuntimeError):
                relay.close()
                return ws
            finally:
                reader.cancel()
        if request.content_length is not None and request.content_length > server._max_payload:
            return web.Response(status=413, text="Payload Too Large")
        body = await request.read()
        status, answer_headers, answer = await bridge.handle_request(
            HostRequest(request.method, target, headers, body, remote_addr(peer)))
        resp = web.Response(status=status, body=answer)
        for k, v in answer_headers:
            if k.lower() == "content-type":
                resp.content_type = v.split(";")[0].strip()
                if "charset=" in v:
                    resp.charset = v.split("charset=")[1].strip()
            else:
                resp.headers[k] = v
        return resp

    app.router.add_route("*", path, handler)
    app.router.add_route("*", path + "{tail:.*}", handler)

    async def on_startup(_app: Any) -> None:
        await bridge.ensure_started()

    async def on_cleanup(_app: Any) -> None:
        await server.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

