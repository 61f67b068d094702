"""wshub inside the app's own web server: examples/python/fastapi_app.py
(``wshub.ASGIApp`` under uvicorn) and examples/python/aiohttp_app.py
(``sio.attach(app)``), each run as its own process on one port that serves
the app's routes and Socket.IO, driven by python-socketio's client and the
official socket.io-client over WebSocket, long-polling and the upgrade."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Iterator

import pytest
import websocket

from conftest import PYTHON, REPO_ROOT, python_env, run_node
from test_cluster import free_port

APPS = {
    "fastapi": REPO_ROOT / "examples" / "python" / "fastapi_app.py",
    "aiohttp": REPO_ROOT / "examples" / "python" / "aiohttp_app.py",
}
MODES = {"websocket": ["websocket"], "polling": ["polling"], "upgrade": ["polling", "websocket"]}


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "text/plain;charset=UTF-8"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(params=sorted(APPS))
def app(request: pytest.FixtureRequest) -> Iterator[str]:
    pytest.importorskip(request.param)
    port = free_port()
    env = python_env()
    env["PORT"] = str(port)
    proc = subprocess.Popen([PYTHON, str(APPS[request.param])], cwd=str(REPO_ROOT), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(url + "/api/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _, err = proc.communicate(timeout=10)
                raise AssertionError(f"{request.param} app did not serve: {err.decode()}")
            time.sleep(0.1)
        yield url
        assert proc.poll() is None, "the app died during the test"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=5)


def test_the_apps_own_routes_and_the_hub_share_one_port(app: str) -> None:
    status, body = get(app + "/api/health")
    assert (status, json.loads(body)) == (200, {"ok": True})
    status, body = get(app + "/")
    assert status == 200 and b"<html" in body.lower()
    status, body = get(app + "/socket.io/socket.io.js")
    assert status == 200 and len(body) > 10_000
    status, body = get(app + "/socket.io/?EIO=4&transport=polling")
    assert status == 200 and body.startswith(b'0{"sid":')


@pytest.mark.parametrize("mode", sorted(MODES))
def test_python_socketio_clients_chat_and_ack(app: str, mode: str, make_client) -> None:
    a = make_client(app, transports=MODES[mode], record=("chat message",))
    b = make_client(app, transports=MODES[mode], record=("chat message",))
    assert a.call("echo", {"n": 1}, timeout=10) == [{"n": 1}]
    a.emit("chat message", f"hello over {mode}")
    for client in (a, b):
        got = client.rec.wait_for("chat message", timeout=10)[0][0]
        assert got["text"] == f"hello over {mode}" and got["user"] == "anonymous"
    if mode == "upgrade":
        deadline = time.monotonic() + 5
        while a.transport() != "websocket" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert a.transport() == "websocket"
    assert b.call("echo", "still here", timeout=10) == ["still here"]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_socket_io_client_chats_and_acks(app: str, mode: str) -> None:
    result = run_node({"url": app, "transports": MODES[mode], "steps": [
        {"emit": "echo", "args": ["from node", {"x": [1, 2]}], "ack": True},
        {"emit": "chat message", "args": ["node says hi"]},
        {"wait": "chat message"},
    ]})
    assert result["connectError"] is None, result
    assert result["acks"] == [[["from node", {"x": [1, 2]}]]]
    assert result["events"][0][0] == "chat message" and result["events"][0][1]["text"] == "node says hi"


def test_bad_input_gets_the_hubs_answers_and_costs_nothing_else(app: str, make_client) -> None:
    bystander = make_client(app, record=("chat message",))
    host, port = app.removeprefix("http://").split(":")
    # An unknown session: refused (the WebSocket never opens).
    with pytest.raises(websocket.WebSocketException):
        websocket.create_connection(f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket&sid=nope", timeout=5)
    # A polling POST over the payload limit: 413; a bad query: 400.
    status, _ = get(app + "/socket.io/?EIO=4&transport=polling", None)
    assert status == 200
    status, _ = get(app + "/socket.io/?EIO=4&transport=polling&sid=nope", b"x" * 1_100_000)
    assert status == 413
    assert get(app + "/socket.io/?EIO=9&transport=polling")[0] == 400
    # A raw socket that sends half a frame and vanishes.
    raw = websocket.create_connection(f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket", timeout=5)
    assert raw.recv().startswith('0{"sid"')
    raw.sock.send(b"\x81\xfe\x10")
    raw.sock.shutdown(socket.SHUT_RDWR)
    raw.sock.close()
    # A WebSocket client that says something undecodable is closed; others go on.
    bad = websocket.create_connection(f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket", timeout=5)
    assert bad.recv().startswith('0{"sid"')
    bad.send("40")
    assert bad.recv().startswith("40{")
    bad.send("4zz not a packet")
    with pytest.raises((websocket.WebSocketException, OSError)):
        for _ in range(5):
            bad.recv()
    assert bystander.call("echo", "unharmed", timeout=10) == ["unharmed"]


def test_asgiapp_says_what_it_needs() -> None:
    import wshub

    with pytest.raises(TypeError, match="AsyncServer"):
        wshub.ASGIApp(wshub.Server(port=0))
    with pytest.raises(ValueError, match="path"):
        wshub.ASGIApp(wshub.AsyncServer(port=0), socketio_path="elsewhere")
