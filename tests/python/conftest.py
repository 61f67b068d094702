"""Fixtures for the python-socketio end-to-end suite.

The server is the one described in tests/TEST_SERVER.md: the binary is
$WSHUB_TEST_SERVER (relative paths are taken from the repository root) or
target/debug/examples/test_server, run with cwd = repository root and
PORT=0; it prints ``LISTENING <port>`` once it listens. One server is
started per pytest process (so pytest-xdist workers each get their own).
"""

import os
import queue
import re
import signal
import subprocess
import threading
import time

import pytest
import socketio
from engineio.payload import Payload

# python-engineio's client refuses a polling payload with more than 16
# packets (Payload.max_decode_packets) and drops the connection. wshub caps
# its polling responses at 16 packets (Config::max_packets_per_poll), so the
# client runs here with its stock limit: the polling burst test shows the cap.
# (Another server, such as the Node reference, needs the limit raised:
# miguelgrinberg/python-engineio#142.)
if os.environ.get("WSHUB_TEST_SERVER"):
    Payload.max_decode_packets = 10_000

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
START_TIMEOUT = 30.0
LOG_LIMIT = 64 * 1024


def server_binary():
    from_env = os.environ.get("WSHUB_TEST_SERVER")
    if from_env:
        return os.path.join(REPO_ROOT, from_env)  # absolute paths stay absolute
    return os.path.join(REPO_ROOT, "target", "debug", "examples", "test_server")


class ServerProcess:
    """A running test server: ``port``, ``url``, ``pid``, ``log()``, ``stop()``."""

    def __init__(self, env=None):
        binary = server_binary()
        if not os.path.exists(binary):
            raise RuntimeError(
                f"test server binary not found: {binary}; build it with "
                "`cargo build --example test_server` or set WSHUB_TEST_SERVER")
        env = dict(os.environ, PORT="0", **(env or {}))
        self.proc = subprocess.Popen(
            [binary], cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self._log = []
        self._log_lock = threading.Lock()
        lines = queue.Queue()

        def drain(stream, forward):
            # keep draining for the server's whole life so it never blocks
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace")
                with self._log_lock:
                    self._log.append(line)
                    while sum(map(len, self._log)) > LOG_LIMIT:
                        self._log.pop(0)
                if forward:
                    lines.put(line)
            stream.close()
            if forward:
                lines.put(None)

        threading.Thread(target=drain, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=drain, args=(self.proc.stderr, False), daemon=True).start()

        deadline = time.monotonic() + START_TIMEOUT
        self.port = None
        while self.port is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                raise RuntimeError(f"test server did not print LISTENING within {START_TIMEOUT}s\n{self.log()}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self._kill()
                raise RuntimeError(f"test server exited before listening (code {self.proc.poll()})\n{self.log()}")
            m = re.match(r"^LISTENING (\d+)\s*$", line)
            if m:
                self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self):
        with self._log_lock:
            return "".join(self._log)

    def _kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)

    def stop(self):
        """Stops the server by its PID; fails if it had died on its own."""
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(f"test server exited on its own during the tests (code {code})\n{self.log()}")
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self._kill()


@pytest.fixture(scope="session")
def server():
    srv = ServerProcess()
    try:
        yield srv
    finally:
        srv.stop()


class Recorder:
    """Collects events of one client (thread-safe) and waits for them."""

    def __init__(self):
        self._cond = threading.Condition()
        self.events = {}

    def handler(self, event):
        def record(*args):
            with self._cond:
                self.events.setdefault(event, []).append(list(args))
                self._cond.notify_all()
        return record

    def wait_for(self, event, count=1, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events.get(event, [])) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {count} '{event}' "
                        f"events (have {len(self.events.get(event, []))})")
                self._cond.wait(remaining)
            return list(self.events[event])

    def got(self, event):
        with self._cond:
            return list(self.events.get(event, []))


@pytest.fixture
def make_client(server):
    """Factory: ``make_client(transports=..., namespaces=..., auth=...)``.

    Returns a connected ``socketio.Client`` with a ``.rec`` Recorder that
    records ``echo``, ``room-msg``, ``broadcast``, ``to-all``, ``ack-result``
    and ``ack-timeout`` in every requested namespace (as ``"<nsp> <event>"``
    for namespaces other than ``/``). All clients are disconnected at teardown.
    """
    clients = []

    def factory(transports=None, namespaces=("/",), auth=None, connect=True, handlers=None):
        sio = socketio.Client(reconnection=False, request_timeout=10)
        rec = Recorder()
        sio.rec = rec
        for nsp in namespaces:
            for event in ("echo", "room-msg", "broadcast", "to-all", "ack-result", "ack-timeout"):
                key = event if nsp == "/" else f"{nsp} {event}"
                sio.on(event, rec.handler(key), namespace=nsp)
        for (event, nsp), fn in (handlers or {}).items():
            sio.on(event, fn, namespace=nsp)
        clients.append(sio)
        if connect:
            sio.connect(server.url, transports=transports, namespaces=list(namespaces),
                        auth=auth, wait_timeout=5)
        return sio

    yield factory
    for sio in clients:
        try:
            sio.disconnect()
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass
