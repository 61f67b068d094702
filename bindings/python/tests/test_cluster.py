"""``redis_url`` through the Python binding: two wshub.Server hubs on one real
redis-server (Debian's, on a free loopback port) are one cluster, so an emit
on one reaches the clients of the other, to everyone and to a room; on the
streams protocol with recovery on, a client that drops on one hub recovers
on the other."""

from __future__ import annotations

import shutil
import socket
import subprocess
import json
import re
import time
from typing import Any, Callable, Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Any) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.fail("the cluster test needs Debian's redis-server (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def until(emit: Callable[[], None], done: Callable[[], bool], timeout: float = 10.0) -> None:
    """Emits until `done` (the hubs subscribe to Redis just after they start)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the emit never crossed the cluster"
        emit()
        time.sleep(0.1)


def test_two_python_hubs_on_one_redis_are_one_cluster(make_server: Any, make_client: Any, redis_url: str) -> None:
    one = make_server(redis_url=redis_url)
    two = make_server(redis_url=redis_url)

    @two.on("connect")
    def joined(sid: str, environ: Any, auth: Any = None) -> None:
        two.enter_room(sid, "lobby")

    one.start()
    two.start()
    near = make_client(one.url, record=("news", "lobby news"))
    far = make_client(two.url, record=("news", "lobby news"))

    until(lambda: one.emit("news", {"from": "one"}), lambda: bool(far.rec.events.get("news")))
    assert far.rec.events["news"][0] == [{"from": "one"}]
    assert near.rec.wait_for("news")[0] == [{"from": "one"}]

    until(lambda: one.emit("lobby news", [1, 2], to="lobby"), lambda: bool(far.rec.events.get("lobby news")))
    assert far.rec.events["lobby news"][0] == [[1, 2]]
    assert "lobby news" not in near.rec.events, "the room is on the other hub only"


def redis_has(url: str, key: str) -> bool:
    """EXISTS `key`, over a socket of our own (RESP by hand: no client library needed)."""
    host, port = url.removeprefix("redis://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(f"*2\r\n$6\r\nEXISTS\r\n${len(key)}\r\n{key}\r\n".encode())
        return s.recv(16).startswith(b":1")


def test_on_the_streams_protocol_a_client_recovers_on_the_other_hub(make_server, rec, redis_url: str) -> None:
    # The hand-driven polling client of the recovery test: its pid and offset are plain to see.
    from test_recovery import Polling

    recovery = {"max_disconnection_duration": 30}
    one = make_server(redis_url=redis_url, redis_streams=True, connection_state_recovery=recovery)
    two = make_server(redis_url=redis_url, redis_streams=True, connection_state_recovery=recovery)

    @one.event
    def connect(sid, environ, auth):
        one.enter_room(sid, "readers")
        rec.add("connect", sid)

    @two.on("connect")
    def connect_two(sid, environ, auth):
        rec.add("back", sid)

    one.start()
    two.start()
    first = Polling(one.url)
    first.push("40")
    hello = json.loads(first.wait_for("40")[-1][2:])
    sid = rec.wait_for("connect")[0][0]
    deadline = time.monotonic() + 5
    while "readers" not in one.rooms(sid):
        assert time.monotonic() < deadline, "the join never took effect"
        time.sleep(0.01)
    # The hubs read the stream from where it was when they started: emit until one arrives.
    offset = None
    while offset is None:
        assert time.monotonic() < deadline + 5, "no tick came back from the stream"
        one.emit("tick", 0, room="readers")
        ticks = [json.loads(p[2:]) for p in first.poll() if p.startswith("42")]
        offset = ticks[0][-1] if ticks else None
    assert re.fullmatch(r"\d+-\d+", offset), f"a stream id: {offset}"
    first.push("1")
    for i in range(1, 51):
        one.emit("tick", i, room="readers")
    # Hub one keeps the session in Redis as the socket leaves, a moment later: a
    # client that came back before that would rightly get a fresh session.
    key = f"sio:session:{hello['pid']}"
    deadline = time.monotonic() + 5
    while not redis_has(redis_url, key):
        assert time.monotonic() < deadline, f"{key} never appeared in Redis"
        time.sleep(0.01)

    again = Polling(two.url)
    again.push(f'40{{"pid":"{hello["pid"]}","offset":"{offset}"}}')
    packets = again.wait_for("40")
    answer = json.loads(packets[-1][2:])
    assert answer == {"sid": hello["sid"], "pid": hello["pid"]}, "the same id and session"

    def missed() -> list[int]:
        ticks = [json.loads(p[2:]) for p in packets if p.startswith("42")]
        return [t[1] for t in ticks if t[1] != 0]

    # What hub two's stream reader had read comes before the CONNECT answer,
    # the rest as the reader gets to it: all of it, once, in order.
    deadline = time.monotonic() + 10
    while len(missed()) < 50 and time.monotonic() < deadline:
        packets += again.poll()
    assert missed() == list(range(1, 51)), "every missed tick, once, in order"
    back = rec.wait_for("back")[0][0]
    assert two.recovered(back) and "readers" in two.rooms(back)
