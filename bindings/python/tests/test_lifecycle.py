"""start/stop cycles, errors of the life cycle, Ctrl-C, and hubs left running
at interpreter exit (child processes, each with a Node client flooding it)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any, Optional

import pytest

import wshub
from conftest import JS, NODE, PYTHON, REPO_ROOT, Recorder, python_env


def test_start_stop_cycles_with_a_new_server_each_time(make_client):
    ports = []
    for cycle in range(5):
        rec = Recorder()
        sio = wshub.Server(port=0)

        @sio.event
        def echo(sid, x):
            return x

        @sio.event
        def disconnect(sid, reason):
            rec.add("disconnect", reason)

        sio.start()
        assert sio.running and sio.port > 0
        ports.append(sio.port)
        client = make_client(sio.url, record=())
        assert client.call("echo", cycle, timeout=5) == cycle
        sio.stop()
        assert not sio.running
        assert rec.got("disconnect") == [["server shutting down"]]  # ran before stop() returned
        deadline = time.monotonic() + 5
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not client.connected
    assert len(ports) == 5


def test_async_start_stop_cycles(make_client):
    async def main() -> None:
        for cycle in range(3):
            sio = wshub.AsyncServer(port=0)
            gone = Recorder()

            @sio.event
            async def echo(sid, x):
                await asyncio.sleep(0)
                return x

            @sio.event
            async def disconnect(sid, reason):
                gone.add("disconnect", reason)

            await sio.start()
            client = await asyncio.to_thread(make_client, sio.url)
            assert await asyncio.to_thread(client.call, "echo", cycle, timeout=5) == cycle
            await sio.stop()
            assert gone.got("disconnect") == [["server shutting down"]]

    asyncio.run(asyncio.wait_for(main(), 30))


def test_context_manager_and_state_errors():
    with wshub.Server(port=0) as sio:
        assert sio.running
        assert sio.url == f"http://127.0.0.1:{sio.port}"
        with pytest.raises(RuntimeError, match="already running"):
            sio.start()
        assert sio.wait(0.05) is False
    assert not sio.running
    assert sio.wait(0) is True
    sio.stop()  # twice is fine
    with pytest.raises(RuntimeError, match="cannot be started again"):
        sio.start()
    sio.emit("after", "stop")  # a no-op, not a crash
    never = wshub.Server(port=0)
    never.stop()  # never started: fine
    del never


def test_port_in_use_and_bad_config_raise():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        sio = wshub.Server(port=port)
        with pytest.raises(wshub.WshubError) as info:
            sio.start()
        assert info.value.status == wshub.Status.IO_ERROR
        assert not sio.running
    with pytest.raises(wshub.WshubError) as info:
        wshub.Server(host="not-an-ip", port=0)
    assert info.value.status == wshub.Status.INVALID_CONFIG
    with pytest.raises(ValueError):
        wshub.Server(port=70000)
    with pytest.raises(ValueError):
        wshub.Server(port=0, transports=["carrier-pigeon"])


def test_stop_from_inside_a_handler(make_client):
    sio = wshub.Server(port=0)

    @sio.event
    def shutdown(sid):
        sio.stop()  # returns at once; the hub stops after this handler
        return "bye"

    sio.start()
    client = make_client(sio.url)
    assert client.call("shutdown", timeout=5) == "bye"
    assert sio.wait(5)
    assert not sio.running


def test_static_files_and_client_bundle(tmp_path):
    import urllib.request

    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    bundle = REPO_ROOT / "node_modules" / "socket.io-client" / "dist"
    with wshub.Server(port=0, static_files=tmp_path, client_bundle=bundle) as sio:
        with urllib.request.urlopen(sio.url + "/", timeout=5) as r:
            assert r.read() == b"<h1>hi</h1>"
        with urllib.request.urlopen(sio.url + "/socket.io/socket.io.js", timeout=5) as r:
            assert b"io" in r.read(2000)


# ---- child processes -------------------------------------------------------

def spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PYTHON, "-c", textwrap.dedent(code), *args], cwd=str(REPO_ROOT), env=python_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_port(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        if line.startswith("LISTENING "):
            return int(line.split()[1])
    proc.kill()
    _, err = proc.communicate(timeout=5)
    raise AssertionError(f"the child did not listen: {err.decode()}")


def finish(proc: subprocess.Popen[Any], timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        raise AssertionError(f"the child did not exit in {timeout}s: {err.decode()}")
    return proc.returncode, out.decode(), err.decode()


def flood(port: int) -> subprocess.Popen[bytes]:
    assert NODE is not None, "node is needed"
    proc = subprocess.Popen([NODE, str(JS / "flood.mjs"), f"http://127.0.0.1:{port}"], cwd=str(REPO_ROOT),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc


def end(proc: Optional[subprocess.Popen[bytes]]) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
    if proc is not None:
        proc.communicate(timeout=10)


SYNC_EXIT = """
    import sys, threading, time, wshub
    sio = wshub.Server(port=0)
    n = 0
    enough = threading.Event()

    @sio.event
    def tick(sid, i, blob=None):
        global n
        n += 1
        sio.emit("tock", (i, b"\\x00" * 64), to=sid)
        if sys.argv[1] == "slow":
            time.sleep(0.002)
        if n >= 300:
            enough.set()
        return i

    @sio.event
    def disconnect(sid, reason):
        print("disconnect", reason, flush=True)

    sio.start()
    print("LISTENING", sio.port, flush=True)
    if not enough.wait(20):
        sys.exit(3)
    print("exiting with events in flight", n, flush=True)
    if sys.argv[2] == "sysexit":
        sys.exit(0)
"""

ASYNC_EXIT = """
    import asyncio, sys, wshub

    async def main():
        sio = wshub.AsyncServer(port=0)
        enough = asyncio.Event()
        count = [0]

        @sio.event
        async def tick(sid, i, blob=None):
            count[0] += 1
            await sio.emit("tock", i, to=sid)
            if count[0] >= 300:
                enough.set()
            return i

        @sio.event
        async def disconnect(sid, reason):
            print("disconnect", reason, flush=True)

        await sio.start()
        print("LISTENING", sio.port, flush=True)
        await asyncio.wait_for(enough.wait(), 20)
        print("exiting with events in flight", count[0], flush=True)
        # no stop(): the loop closes, then the interpreter exits

    asyncio.run(main())
"""


@pytest.mark.parametrize("mode, how", [("fast", "return"), ("slow", "sysexit")])
def test_sync_hub_left_running_at_exit(mode, how):
    child = spawn(SYNC_EXIT, mode, how)
    client = None
    try:
        port = read_port(child)
        client = flood(port)
        code, out, err = finish(child)
    finally:
        end(child if child.poll() is None else None)
        end(client)
    assert code == 0, err
    assert "exiting with events in flight" in out
    assert "Fatal Python error" not in err and "Traceback" not in err, err
    assert "disconnect server shutting down" in out  # the atexit stop ran the handler


def test_async_hub_left_running_at_exit():
    child = spawn(ASYNC_EXIT)
    client = None
    try:
        port = read_port(child)
        client = flood(port)
        code, out, err = finish(child)
    finally:
        end(child if child.poll() is None else None)
        end(client)
    assert code == 0, err
    assert "exiting with events in flight" in out
    assert "Fatal Python error" not in err and "Traceback" not in err, err


def test_unstarted_and_unreferenced_servers_at_exit():
    child = spawn("""
        import gc, wshub
        a = wshub.Server(port=0)      # never started
        b = wshub.Server(port=0).start()
        del b                          # still running: kept alive until exit
        c = wshub.Server(port=0).start()
        c.stop(); del c; gc.collect()  # stopped and collected: freed
        print("done", flush=True)
    """)
    code, out, err = finish(child)
    assert code == 0 and "done" in out, err
    assert "Fatal Python error" not in err and "Traceback" not in err, err


SERVE_FOREVER = """
    import sys, wshub
    flavour = sys.argv[1]
    if flavour == "sync":
        sio = wshub.Server(port=0)

        @sio.event
        def connect(sid, environ):
            print("CONNECTED", flush=True)

        @sio.event
        def disconnect(sid, reason):
            print("disconnect", reason, flush=True)

        sio.start()
        print("LISTENING", sio.port, flush=True)
        sio.serve_forever()
    else:
        import asyncio
        sio = wshub.AsyncServer(port=0)

        @sio.event
        async def connect(sid, environ):
            print("CONNECTED", flush=True)

        @sio.event
        async def disconnect(sid, reason):
            print("disconnect", reason, flush=True)

        async def main():
            await sio.start()
            print("LISTENING", sio.port, flush=True)
            await sio.serve_forever()

        asyncio.run(main())
    print("clean exit", flush=True)
"""


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_forever_stops_cleanly_on_ctrl_c_and_sigterm(flavour, sig):
    child = spawn(SERVE_FOREVER, flavour)
    client = None
    try:
        port = read_port(child)
        client = flood(port)
        assert child.stdout is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if child.stdout.readline().decode().startswith("CONNECTED"):
                break
        time.sleep(0.2)
        child.send_signal(sig)
        code, out, err = finish(child, 20)
    finally:
        end(child if child.poll() is None else None)
        end(client)
    assert code == 0, err
    assert "disconnect server shutting down" in out and "clean exit" in out, (out, err)
    assert "Traceback" not in err, err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX")
def test_library_is_inside_the_installed_package_or_overridden():
    lib = wshub.LIBRARY_PATH
    assert os.path.isfile(lib)
    installed = "site-packages" in wshub.__file__
    if installed and "WSHUB_LIBRARY" not in os.environ:
        assert os.path.dirname(lib) == os.path.dirname(wshub.__file__), lib  # the build put it inside
    assert sys.modules["wshub"] is wshub
