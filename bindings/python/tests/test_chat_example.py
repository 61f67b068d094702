"""examples/python/chat.py: the chat protocol of examples/chat.rs, with python-socketio clients."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request

import pytest

from conftest import PYTHON, REPO_ROOT, python_env
from test_lifecycle import finish, read_port

EXAMPLE = REPO_ROOT / "examples" / "python" / "chat.py"


@pytest.fixture
def chat():
    if not EXAMPLE.is_file():
        pytest.skip("examples/python/chat.py is not here")
    env = python_env()
    env["PORT"] = "0"
    proc = subprocess.Popen([PYTHON, str(EXAMPLE)], cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc, f"http://127.0.0.1:{read_port(proc)}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_chat_example(chat, make_client):
    proc, url = chat
    assert len(EXAMPLE.read_text().splitlines()) < 40
    with urllib.request.urlopen(url + "/", timeout=5) as r:
        assert b"<html" in r.read().lower()
    with urllib.request.urlopen(url + "/socket.io/socket.io.js", timeout=5) as r:
        assert r.status == 200
    events = ("chat message", "user joined", "user left", "online")
    ann = make_client(url, record=events)
    joined = ann.call("join", "  ann ", timeout=5)
    assert joined["ok"] and joined["name"] == "ann" and joined["online"] == 1 and joined["history"] == []
    assert ann.call("join", "   ", timeout=5) == {"ok": False, "error": "Please pick a nickname."}
    bob = make_client(url, record=events)
    assert bob.call("join", "Ann", timeout=5)["name"] == "Ann 2"  # taken, case-insensitively
    [[notice]] = ann.rec.wait_for("user joined")
    assert notice["user"] == "Ann 2" and notice["online"] == 2
    assert ann.rec.wait_for("online", 2)[-1] == [{"online": 2, "users": ["ann", "Ann 2"]}]
    bob.emit("chat message", "  hello  ")
    for c in (ann, bob):
        [[msg]] = c.rec.wait_for("chat message")
        assert msg["user"] == "Ann 2" and msg["text"] == "hello" and isinstance(msg["time"], int)
    late = make_client(url)
    assert [m["text"] for m in late.call("join", "cy", timeout=5)["history"]] == ["hello"]
    bob.disconnect()
    [[left]] = ann.rec.wait_for("user left")
    assert left["user"] == "Ann 2" and left["online"] == 2
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc, 15)
    assert code == 0 and "Traceback" not in err, err
