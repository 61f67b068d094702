"""connection_state_recovery through the Python binding, driven over
Engine.IO long-polling by hand as socket.io's own tests drive it: a session
closed with "1", a new one that claims it with {"pid", "offset"}."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest


def request(url: str, data: bytes | None = None) -> str:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "text/plain;charset=UTF-8"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


class Polling:
    def __init__(self, base: str) -> None:
        open_packet = request(base + "/socket.io/?EIO=4&transport=polling")
        self.url = base + "/socket.io/?EIO=4&transport=polling&sid=" + json.loads(open_packet[1:])["sid"]

    def push(self, body: str) -> None:
        assert request(self.url, body.encode()) == "ok"

    def poll(self) -> list[str]:
        """The packets of one GET, pings answered and left out: the test
        server pings every second, so a ping may come before what we wait for."""
        packets = request(self.url).split("\x1e")
        if "2" in packets:
            self.push("3")
        return [p for p in packets if p != "2"]

    def wait_for(self, prefix: str) -> list[str]:
        """Every packet up to and including the first that starts with prefix."""
        packets: list[str] = []
        while not any(p.startswith(prefix) for p in packets):
            packets += self.poll()
        return packets


@pytest.mark.parametrize("skip", [False, True])
def test_a_client_that_comes_back_gets_its_rooms_and_missed_events(make_server, rec, skip: bool) -> None:
    sio = make_server(connection_state_recovery={"max_disconnection_duration": 30, "skip_middlewares": skip})

    @sio.event
    def connect(sid, environ, auth):
        rec.add("connect", sid)

    @sio.event
    def disconnect(sid, reason):
        rec.add("disconnect", sid, reason)

    sio.start()
    base = f"http://127.0.0.1:{sio.port}"
    first = Polling(base)
    first.push("40")
    hello = json.loads(first.wait_for("40")[-1][2:])
    assert "pid" in hello
    sid = rec.wait_for("connect")[0][0]
    sio.enter_room(sid, "readers")
    # A join made before the binding has seen its connect complete is applied
    # when it does (under load, after this thread's next call): wait for it.
    deadline = time.monotonic() + 5
    while "readers" not in sio.rooms(sid):
        assert time.monotonic() < deadline, "the join never took effect"
        time.sleep(0.01)
    sio.emit("tick", 0, room="readers")
    offset = json.loads(first.wait_for("42")[-1][2:])[-1]
    first.push("1")
    assert rec.wait_for("disconnect")[0][1] == "transport close"
    for i in range(1, 101):
        sio.emit("tick", i, room="readers")

    again = Polling(base)
    again.push(f'40{{"pid":"{hello["pid"]}","offset":"{offset}"}}')
    packets = again.wait_for("40")
    events = [json.loads(p[2:]) for p in packets if p.startswith("42")]
    assert [e[1] for e in events] == list(range(1, 101)), "every missed tick, in order, before the CONNECT answer"
    assert json.loads(packets[-1][2:]) == {"sid": hello["sid"], "pid": hello["pid"]}
    connects = rec.wait_for("connect", count=1 if skip else 2)
    if not skip:
        back = connects[1][0]
        assert sio.recovered(back)
        assert sio.get_environ(back)["wshub.recovered"] is True
        assert "readers" in sio.rooms(back)
    assert not sio.recovered("no-such-sid")
