"""wshub.AsyncServer (handlers on the asyncio loop) against python-socketio's
client (run in a worker thread so that the loop keeps serving)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Awaitable, Callable

import pytest
import socketio

import wshub
from conftest import Recorder


SERVER_DISCONNECT = ("server namespace disconnect", "transport close")


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 30) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro_fn(), timeout)

    asyncio.run(bounded())


def new_server(**options: Any) -> wshub.AsyncServer:
    options.setdefault("port", 0)
    options.setdefault("ping_interval", 1)
    options.setdefault("ping_timeout", 2)
    return wshub.AsyncServer(**options)


def test_coroutine_and_plain_handlers_with_acks(make_client):
    loop_threads: list[int] = []

    async def main() -> None:
        sio = new_server()

        @sio.event
        async def hello(sid, name):
            loop_threads.append(threading.get_ident())
            await asyncio.sleep(0.01)
            return f"hello {name}"

        @sio.on("pair")
        def pair(sid):
            loop_threads.append(threading.get_ident())
            return ("a", 1)

        @sio.on("*")
        async def anything(event, sid, *args):
            return [event, *args]

        async with sio:
            client = await asyncio.to_thread(make_client, sio.url)
            assert await asyncio.to_thread(client.call, "hello", "ann", timeout=5) == "hello ann"
            assert await asyncio.to_thread(client.call, "pair", timeout=5) == ("a", 1)
            assert await asyncio.to_thread(client.call, "other", (1, 2), timeout=5) == ["other", 1, 2]
            assert set(loop_threads) == {threading.get_ident()}  # the loop's thread
        assert not sio.running

    run(main)


def test_async_connect_auth_rejection_and_disconnect_reasons(make_client):
    rec = Recorder()

    async def main() -> None:
        sio = new_server()

        @sio.event
        async def connect(sid, environ, auth):
            await asyncio.sleep(0.05)  # e.g. an asynchronous token check
            if not auth or auth.get("token") != "secret":
                raise wshub.ConnectionRefusedError("unauthorized")
            await sio.save_session(sid, {"token": auth["token"]})
            await sio.emit("welcome", sid, to=sid)
            rec.add("connect", sid)

        @sio.event
        async def disconnect(sid, reason):
            rec.add("disconnect", sid, reason, (await sio.get_session(sid)).get("token"))

        @sio.event
        async def whoami(sid):
            return sid

        async with sio:
            bad = await asyncio.to_thread(make_client, sio.url, connect=False,
                                          handlers={("connect_error", "/"): rec.handler("error")})
            with pytest.raises(socketio.exceptions.ConnectionError):
                await asyncio.to_thread(bad.connect, sio.url, transports=["websocket"], wait_timeout=5)
            assert rec.got("error") == [[{"message": "unauthorized"}]]
            client = await asyncio.to_thread(make_client, sio.url, auth={"token": "secret"}, record=("welcome",))
            [[sid]] = await asyncio.to_thread(rec.wait_for, "connect")
            assert await asyncio.to_thread(client.rec.wait_for, "welcome") == [[sid]]
            assert await asyncio.to_thread(client.call, "whoami", timeout=5) == sid
            other = await asyncio.to_thread(make_client, sio.url, auth={"token": "secret"})
            await sio.disconnect(sid)
            [[dsid, reason, token]] = await asyncio.to_thread(rec.wait_for, "disconnect")
            # the hub pushes DISCONNECT before it detaches the socket: a client that closes at once can win (a hub race)
            assert (dsid, token) == (sid, "secret") and reason in SERVER_DISCONNECT
            assert other.connected
        # stop(): the others leave with "server shutting down"
        reasons = [r[1] for r in rec.got("disconnect")]
        assert reasons[0] in SERVER_DISCONNECT and reasons[1:] == ["server shutting down"]

    run(main)


def test_await_call_inside_a_handler(make_client):
    async def main() -> None:
        sio = new_server()

        @sio.event
        async def ask(sid, question):
            answer = await sio.call("question", question, to=sid, timeout=5)
            return f"client said {answer}"

        @sio.event
        async def ask_timeout(sid):
            try:
                await sio.call("slow", to=sid, timeout=0.2)
            except wshub.TimeoutError:
                return "timeout"
            return "no timeout"

        async with sio:
            client = await asyncio.to_thread(make_client, sio.url, handlers={
                ("question", "/"): lambda q: q * 2,
                ("slow", "/"): lambda: __import__("time").sleep(1),
            })
            assert await asyncio.to_thread(client.call, "ask", "ha", timeout=5) == "client said haha"
            assert await asyncio.to_thread(client.call, "ask_timeout", timeout=5) == "timeout"
            with pytest.raises(wshub.DisconnectedError):
                await sio.call("question", "x", to="nobody", timeout=1)

    run(main)


def test_rooms_binary_sessions_and_emit_callback(make_client):
    rec = Recorder()

    async def main() -> None:
        sio = new_server()

        @sio.event
        async def join(sid, room):
            await sio.enter_room(sid, room)
            async with sio.session(sid) as session:
                session["room"] = room
            return sorted(sio.rooms(sid))

        @sio.event
        async def leave(sid):
            await sio.leave_room(sid, (await sio.get_session(sid))["room"])

        @sio.event
        async def say(sid, data):
            room = (await sio.get_session(sid))["room"]
            await sio.emit("said", data, room=room, skip_sid=sid)

        @sio.event
        async def ping_back(sid):
            async def cb(*args):
                rec.add("cb", *args)
            await sio.emit("ping", b"\x00\xff", to=sid, callback=cb)

        async with sio:
            a = await asyncio.to_thread(make_client, sio.url, record=("said",))
            b = await asyncio.to_thread(make_client, sio.url, record=("said",),
                                        handlers={("ping", "/"): lambda data: {"len": len(data), "back": data}})
            c = await asyncio.to_thread(make_client, sio.url, record=("said",))
            rooms = await asyncio.to_thread(a.call, "join", "r1", timeout=5)
            assert rooms == sorted(["r1", a.get_sid("/")])
            await asyncio.to_thread(b.call, "join", "r1", timeout=5)
            await asyncio.to_thread(c.call, "join", "r2", timeout=5)
            await asyncio.to_thread(a.emit, "say", {"bin": b"\x01\x02", "n": 1})
            assert await asyncio.to_thread(b.rec.wait_for, "said") == [[{"bin": b"\x01\x02", "n": 1}]]
            await asyncio.to_thread(b.emit, "ping_back")
            assert await asyncio.to_thread(rec.wait_for, "cb") == [[{"len": 2, "back": b"\x00\xff"}]]
            await asyncio.to_thread(b.call, "leave", timeout=5)
            await asyncio.to_thread(a.emit, "say", "alone")
            await asyncio.sleep(0.3)
            assert a.rec.got("said") == [] and c.rec.got("said") == []
            assert len(b.rec.got("said")) == 1
            await sio.close_room("r1")
            assert sio.rooms(a.get_sid("/")) == [a.get_sid("/")]

    run(main)


def test_handler_exception_is_logged_and_others_run_concurrently(make_client, caplog):
    async def main() -> None:
        sio = new_server()
        order: list[str] = []

        @sio.event
        async def boom(sid):
            raise RuntimeError("coroutine failed on purpose")

        @sio.event
        async def slow(sid):
            await asyncio.sleep(0.5)
            order.append("slow")
            return "slow"

        @sio.event
        async def fast(sid):
            order.append("fast")
            return "fast"

        async with sio:
            client = await asyncio.to_thread(make_client, sio.url)
            with caplog.at_level(logging.ERROR, logger="wshub"):
                await asyncio.to_thread(client.emit, "boom")
                slow_call = asyncio.create_task(asyncio.to_thread(client.call, "slow", timeout=5))
                await asyncio.sleep(0.1)
                assert await asyncio.to_thread(client.call, "fast", timeout=5) == "fast"
                assert await slow_call == "slow"
            assert order == ["fast", "slow"]  # each coroutine handler is its own task
        assert "coroutine failed on purpose" in caplog.text
        assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)

    run(main)


def test_async_namespace_class(make_client):
    rec = Recorder()

    async def main() -> None:
        sio = new_server()

        class Game(wshub.AsyncNamespace):
            async def on_connect(self, sid, environ):
                await self.enter_room(sid, "players")

            def on_disconnect(self, sid, reason):
                rec.add("left", sid)

            async def on_move(self, sid, where):
                await self.emit("moved", {"who": sid, "where": where}, room="players")
                return "ok"

        sio.register_namespace(Game("/game"))
        with pytest.raises(ValueError):
            sio.register_namespace(wshub.Namespace("/sync"))  # the sync flavour does not fit
        async with sio:
            client = await asyncio.to_thread(make_client, sio.url, namespaces=("/game",), record=("moved",))
            assert await asyncio.to_thread(client.call, "move", "north", namespace="/game", timeout=5) == "ok"
            [[moved]] = await asyncio.to_thread(client.rec.wait_for, "/game moved")
            assert moved["where"] == "north"
            await asyncio.to_thread(client.disconnect)
            assert await asyncio.to_thread(rec.wait_for, "left") == [[moved["who"]]]

    run(main)


def test_serve_forever_returns_after_stop():
    async def main() -> None:
        sio = new_server()
        task = asyncio.create_task(sio.serve_forever())
        for _ in range(100):
            if sio.running:
                break
            await asyncio.sleep(0.02)
        assert sio.running and sio.port > 0
        await sio.stop()
        await asyncio.wait_for(task, 5)
        assert not sio.running

    run(main)
