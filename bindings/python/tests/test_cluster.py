"""``redis_url`` through the Python binding: two wshub.Server hubs on one real
redis-server (Debian's, on a free loopback port) are one cluster, so an emit
on one reaches the clients of the other, to everyone and to a room."""

from __future__ import annotations

import shutil
import socket
import subprocess
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
