"""``Server.metrics()`` and the ``metrics_path`` option: the hub's counts, exact, while
python-socketio clients connect, chat and leave; the path refused without the token."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

import wshub
from conftest import Recorder


def _namespace(snapshot: dict, name: str) -> dict:
    [ns] = [n for n in snapshot["namespaces"] if n["name"] == name]
    return ns


def _disconnects(ns: dict, reason: str) -> int:
    [count] = [d["count"] for d in ns["disconnects"] if d["reason"] == reason]
    return count


def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_metrics_count_clients_that_chat_and_leave(make_server, make_client):
    sio = make_server()
    rec = Recorder()

    @sio.on("chat")
    def chat(sid, text):
        sio.emit("chat", text, skip_sid=sid)

    sio.start()
    url = f"http://127.0.0.1:{sio.port}"
    a = make_client(url, record=("chat",))
    b = make_client(url, record=("chat",), transports=["polling"])
    b.on("chat", rec.handler("chat"))
    a.emit("chat", "hello")
    a.emit("chat", "again")
    rec.wait_for("chat", 2)
    # A broadcast adds its receivers once all are queued: b may have read the last one before.
    _until(lambda: _namespace(sio.metrics(), "/")["events_sent"] == 2)

    m = sio.metrics()
    assert m["connections"] == {"polling": 1, "websocket": 1, "raw": 0}
    main = _namespace(m, "/")
    assert (main["sockets"], main["connects"], main["events_received"], main["events_sent"]) == (2, 2, 2, 2)
    assert m["bytes_received"] > 0 and m["bytes_sent"] > 0

    a.disconnect()
    _until(lambda: _namespace(sio.metrics(), "/")["sockets"] == 1)
    # The client sends DISCONNECT and closes its transport from two threads: either may be first.
    left = _namespace(sio.metrics(), "/")
    assert _disconnects(left, "client namespace disconnect") + _disconnects(left, "transport close") == 1
    sio.stop(timeout=1)
    after = sio.metrics()  # counters outlive the stop
    assert after["connections"] == {"polling": 0, "websocket": 0, "raw": 0}
    assert _namespace(after, "/")["connects"] == 2


def test_metrics_path_wants_the_bearer_token(make_server):
    sio = make_server(metrics_path="/metrics", metrics_token="t0ken")
    sio.start()
    url = f"http://127.0.0.1:{sio.port}/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 401
    req = urllib.request.Request(url, headers={"Authorization": "Bearer t0ken"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        text = resp.read().decode()
    assert "# TYPE wshub_connects_total counter" in text
    assert 'wshub_sockets{namespace="/"} 0' in text.splitlines()


def test_metrics_path_open_to_all_is_refused():
    with pytest.raises(wshub.WshubError, match="metrics_token or metrics_allow"):
        wshub.Server(port=0, metrics_path="/metrics")
    with pytest.raises(wshub.WshubError, match="not an IP address"):
        wshub.Server(port=0, metrics_path="/metrics", metrics_allow=["localhost"])
