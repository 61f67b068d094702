"""Both server flavours against the official socket.io-client (Node), driven
by js/scenario.mjs (WebSocket and long-polling)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest

import wshub
from conftest import JS, NODE, REPO_ROOT, Recorder, b, run_node, run_node_async


def install_handlers(sio: Any, rec: Recorder, is_async: bool) -> None:
    """The same application on either flavour."""

    if is_async:
        @sio.event
        async def connect(sid, environ, auth):
            await asyncio.sleep(0)
            if not auth or auth.get("token") != "secret":  # no auth (or {}) is None
                raise wshub.ConnectionRefusedError("unauthorized")
            rec.add("connect", sid)

        @sio.event
        async def echo(sid, *args):
            await sio.emit("echo", args, to=sid)
            return args

        @sio.event
        async def ask(sid):
            answer = await sio.call("question", "6*7?", to=sid, timeout=5)
            await sio.emit("answer", answer, to=sid)

        @sio.on("*")
        async def other(event, sid, *args):
            return {"caught": event, "args": list(args)}

        @sio.on("join", namespace="/chat")
        async def join(sid, room):
            await sio.enter_room(sid, room, namespace="/chat")
            await sio.emit("joined", room, room=room, namespace="/chat")
            return True
    else:
        @sio.event
        def connect(sid, environ, auth):
            if not auth or auth.get("token") != "secret":
                raise wshub.ConnectionRefusedError("unauthorized")
            rec.add("connect", sid)

        @sio.event
        def echo(sid, *args):
            sio.emit("echo", args, to=sid)
            return args

        @sio.event
        def ask(sid):
            def ask_in_thread() -> None:  # call() blocks: not on the dispatcher thread
                sio.emit("answer", sio.call("question", "6*7?", to=sid, timeout=5), to=sid)
            sio.start_background_task(ask_in_thread)

        @sio.on("*")
        def other(event, sid, *args):
            return {"caught": event, "args": list(args)}

        @sio.on("join", namespace="/chat")
        def join(sid, room):
            sio.enter_room(sid, room, namespace="/chat")
            sio.emit("joined", room, room=room, namespace="/chat")
            return True

    @sio.event
    def disconnect(sid, reason):
        rec.add("disconnect", sid, reason)


def main_plan(url: str, transports: list[str]) -> dict[str, Any]:
    return {
        "url": url,
        "auth": {"token": "secret"},
        "transports": transports,
        "ackReplies": {"question": [42]},
        "steps": [
            {"emit": "echo", "args": ["hi", 1, b(b"\x00\x01\xfe"), {"nested": b(b"zz")}], "ack": True},
            {"wait": "echo"},
            {"emit": "unknown-event", "args": [True, None], "ack": True},
            {"emit": "ask"},
            {"wait": "answer"},
        ],
    }


def check_main(result: dict[str, Any], rec: Recorder) -> None:
    assert result["connectError"] is None, result
    echoed = ["hi", 1, b(b"\x00\x01\xfe"), {"nested": b(b"zz")}]
    assert result["acks"][0] == echoed
    assert result["acks"][1] == [{"caught": "unknown-event", "args": [True, None]}]
    events = {e[0]: e[1:] for e in result["events"]}
    assert events["echo"] == echoed
    assert events["question"] == ["6*7?"]
    assert events["answer"] == [42]
    [[sid]] = rec.wait_for("connect")
    [[dsid, reason]] = rec.wait_for("disconnect")
    assert dsid == sid and reason in ("client namespace disconnect", "transport close")


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]])
def test_sync_server_with_node_client(make_server, rec, transports):
    sio = make_server()
    install_handlers(sio, rec, is_async=False)
    sio.start()
    check_main(run_node(main_plan(sio.url, transports)), rec)


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
def test_async_server_with_node_client(rec, transports):
    async def main() -> None:
        sio = wshub.AsyncServer(port=0)
        install_handlers(sio, rec, is_async=True)
        async with sio:
            result = await run_node_async(main_plan(sio.url, transports))
            check_main(result, rec)

    asyncio.run(asyncio.wait_for(main(), 40))


def test_node_client_refused_gets_the_message(make_server, rec):
    sio = make_server()
    install_handlers(sio, rec, is_async=False)
    sio.start()
    result = run_node({"url": sio.url, "auth": {"token": "wrong"}})
    assert result["connectError"] == "unauthorized"
    assert rec.got("connect") == []


def test_async_node_client_refused_gets_the_message(rec):
    async def main() -> None:
        sio = wshub.AsyncServer(port=0)
        install_handlers(sio, rec, is_async=True)
        async with sio:
            result = await run_node_async({"url": sio.url, "auth": {}})
            assert result["connectError"] == "unauthorized"

    asyncio.run(asyncio.wait_for(main(), 30))


def test_rooms_across_node_clients(make_server, rec):
    """Two Node clients in one room of /chat: once both joined, each one's
    message reaches both (and a client outside the room gets nothing)."""
    sio = make_server()
    install_handlers(sio, rec, is_async=False)
    members: list[str] = []

    @sio.on("enter", namespace="/chat")
    def enter(sid):
        sio.enter_room(sid, "room1", namespace="/chat")
        members.append(sid)
        if len(members) == 2:
            sio.emit("go", room="room1", namespace="/chat")
        return len(members)

    @sio.on("shout", namespace="/chat")
    def shout(sid, text):
        sio.emit("said", text, room="room1", namespace="/chat")

    sio.start()
    plans = [{
        "url": sio.url, "namespace": "/chat", "auth": {"token": "secret"},
        "steps": [{"emit": "enter", "ack": True}, {"wait": "go", "timeout": 15000},
                  {"emit": "shout", "args": [f"from {i}"]}, {"wait": "said", "count": 2, "timeout": 10000}],
    } for i in range(2)]
    assert NODE is not None
    procs = [subprocess.Popen([NODE, str(JS / "scenario.mjs"), json.dumps(plan)], cwd=str(REPO_ROOT),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for plan in plans]
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, (out, err)
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    for result in results:
        said = sorted(e[1] for e in result["events"] if e[0] == "said")
        assert said == ["from 0", "from 1"]
    alone = run_node({"url": sio.url, "namespace": "/chat", "auth": {"token": "secret"},
                      "steps": [{"emit": "shout", "args": ["nobody hears"]}, {"sleep": 300}]})
    assert [e for e in alone["events"] if e[0] == "said"] == []
