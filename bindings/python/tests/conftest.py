"""Fixtures for the wshub Python binding's tests.

Every server listens on 127.0.0.1 with port 0 (a free port) and is stopped at
teardown; every client and child process is ours and is ended by its handle.
The Node scripts in js/ use the repository's node_modules/socket.io-client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import socketio

import wshub

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent.parent
JS = HERE / "js"
NODE = shutil.which("node")


def pytest_report_header(config: Any) -> str:
    return f"wshub {wshub.__version__} from {Path(wshub.__file__).parent}, library {wshub.LIBRARY_PATH}"


class Recorder:
    """Collects calls (thread-safe) and waits for them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: dict[str, list[list[Any]]] = {}

    def add(self, event: str, *args: Any) -> None:
        with self._cond:
            self.events.setdefault(event, []).append(list(args))
            self._cond.notify_all()

    def handler(self, event: str) -> Callable[..., None]:
        return lambda *args: self.add(event, *args)

    def wait_for(self, event: str, count: int = 1, timeout: float = 5.0) -> list[list[Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events.get(event, [])) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {count} {event!r} "
                                         f"(have {self.events.get(event, [])})")
                self._cond.wait(remaining)
            return list(self.events[event])

    def got(self, event: str) -> list[list[Any]]:
        with self._cond:
            return list(self.events.get(event, []))


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def make_server() -> Iterator[Callable[..., wshub.Server]]:
    """``make_server(**options)``: a wshub.Server on a free port (not started)."""
    servers: list[wshub.Server] = []

    def factory(**options: Any) -> wshub.Server:
        options.setdefault("port", 0)
        options.setdefault("ping_interval", 1)
        options.setdefault("ping_timeout", 2)
        srv = wshub.Server(**options)
        servers.append(srv)
        return srv

    yield factory
    for srv in servers:
        srv.stop(timeout=0.2)


@pytest.fixture
def make_client() -> Iterator[Callable[..., socketio.Client]]:
    """``make_client(url, namespaces=..., auth=..., transports=...)``: a connected
    python-socketio client with ``.rec`` recording the events named in ``record``."""
    clients: list[socketio.Client] = []

    def factory(url: str, namespaces: tuple[str, ...] = ("/",), auth: Any = None,
                transports: Optional[list[str]] = None, record: tuple[str, ...] = (),
                handlers: Optional[dict[tuple[str, str], Callable[..., Any]]] = None,
                connect: bool = True) -> socketio.Client:
        client = socketio.Client(reconnection=False, request_timeout=10)
        r = Recorder()
        client.rec = r  # type: ignore[attr-defined]
        for nsp in namespaces:
            for event in record:
                key = event if nsp == "/" else f"{nsp} {event}"
                client.on(event, r.handler(key), namespace=nsp)
        for (event, nsp), fn in (handlers or {}).items():
            client.on(event, fn, namespace=nsp)
        clients.append(client)
        if connect:
            client.connect(url, namespaces=list(namespaces), auth=auth,
                           transports=transports or ["websocket"], wait_timeout=5)
        return client

    yield factory
    for client in clients:
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 - best effort
            pass


def b(data: bytes) -> dict[str, str]:
    """A binary value in a Node plan."""
    return {"$bytes": data.hex()}


def run_node(plan: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Runs js/scenario.mjs with ``plan``; returns its JSON result."""
    if NODE is None:
        pytest.fail("node is not installed (the Node client tests need it)")
    proc = subprocess.run([NODE, str(JS / "scenario.mjs"), json.dumps(plan)], cwd=str(REPO_ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    lines = proc.stdout.decode().strip().splitlines()
    if not lines:
        raise AssertionError(f"node printed nothing (code {proc.returncode}): {proc.stderr.decode()}")
    result: dict[str, Any] = json.loads(lines[-1])
    if proc.returncode != 0:
        raise AssertionError(f"node scenario failed: {result} {proc.stderr.decode()}")
    return result


async def run_node_async(plan: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """run_node for a test that runs an asyncio loop (the server's handlers need it running)."""
    import asyncio

    if NODE is None:
        pytest.fail("node is not installed (the Node client tests need it)")
    proc = await asyncio.create_subprocess_exec(
        NODE, str(JS / "scenario.mjs"), json.dumps(plan), cwd=str(REPO_ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = out.decode().strip().splitlines()
    if not lines:
        raise AssertionError(f"node printed nothing (code {proc.returncode}): {err.decode()}")
    result: dict[str, Any] = json.loads(lines[-1])
    if proc.returncode != 0:
        raise AssertionError(f"node scenario failed: {result} {err.decode()}")
    return result


def python_env() -> dict[str, str]:
    """The environment for a child Python that must import the same wshub."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(Path(wshub.__file__).parent.parent),
                                                    env.get("PYTHONPATH", "")] if p)
    return env


PYTHON = sys.executable
