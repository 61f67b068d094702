"""The README's "Use from Python" example runs as written (port 0 instead of 3000)."""

from __future__ import annotations

import re
import signal
import subprocess

import pytest
import socketio

from conftest import PYTHON, REPO_ROOT, Recorder, python_env
from test_lifecycle import finish, read_port

PRELUDE = '''
import wshub
_init = wshub.Server.__init__
def _any_port(self, **options):
    options["port"] = 0
    _init(self, **options)
wshub.Server.__init__ = _any_port
_serve = wshub.Server.serve_forever
def _serve_and_say(self):
    self.start()
    print("LISTENING", self.port, flush=True)
    _serve(self)
wshub.Server.serve_forever = _serve_and_say
'''


def readme_example() -> str:
    readme = REPO_ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("README.md is not here")
    section = readme.read_text().split("## Use from Python", 1)
    if len(section) < 2:
        pytest.fail("README.md has no 'Use from Python' section")
    blocks = re.findall(r"```python\n(.*?)```", section[1].split("\n## ", 1)[0], re.S)
    assert blocks, "no python block in the section"
    return blocks[0]


def test_readme_example(tmp_path, make_client):
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text("<p>hello</p>")
    proc = subprocess.Popen([PYTHON, "-c", PRELUDE + readme_example()], cwd=str(tmp_path), env=python_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{read_port(proc)}"
        refused = Recorder()
        intruder = make_client(url, connect=False, handlers={("connect_error", "/"): refused.handler("error")})
        with pytest.raises(socketio.exceptions.ConnectionError):
            intruder.connect(url, auth={"token": "nope"}, transports=["websocket"], wait_timeout=5)
        assert refused.wait_for("error") == [[{"message": "unauthorized"}]]
        ann = make_client(url, auth={"token": "secret", "name": "ann"}, record=("chat message", "stored"))
        bob = make_client(url, auth={"token": "secret", "name": "bob"}, record=("chat message",))
        assert ann.call("chat message", "hi bob", timeout=5) == "delivered"
        assert bob.rec.wait_for("chat message") == [[{"from": "ann", "text": "hi bob"}]]
        ann.emit("upload", ("notes.bin", b"\x00\x01\x02"))
        assert ann.rec.wait_for("stored") == [["notes.bin", 3]]
        assert ann.rec.got("chat message") == []  # skip_sid: not back to the sender
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc, 15)
        assert code == 0, err
        assert out.count("left: server shutting down") == 2, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
