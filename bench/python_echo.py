#!/usr/bin/env python3
"""wshub's Python binding against python-socketio's own server on aiohttp, side by side.

    make test-python-binding                      # once: .venv-binding with wshub installed
    (bindings/python/requirements-test.txt brings aiohttp and uvicorn)
    .venv-binding/bin/python bench/python_echo.py # about 4 minutes

Three servers run the same Python handlers ("echo" emits the args back to the
sender; "broadcast" emits them to everyone but the sender):

  wshub-py        wshub.Server: handlers on the hub's dispatcher thread
  wshub-py-async  wshub.AsyncServer: coroutine handlers on an asyncio loop
  socketio-aiohttp python-socketio's AsyncServer on aiohttp (one process, asyncio)
  wshub-asgi      wshub.ASGIApp under uvicorn: the hub inside the ASGI server,
                  WebSockets relayed (bindings/python/src/wshub/hosted.py)
  socketio-asgi   python-socketio's ASGIApp under uvicorn, the same handlers

The load is bench/loadgen (the Rust load generator of `make bench`; built with
CARGO_TARGET_DIR=bench/target if missing): each run starts a fresh server
pinned to CPU 0 (`taskset -c 0`, every thread of it) and the load generator
pinned to CPU 1; RUNS runs per server, servers in a rotated order, medians
reported. Events/s are echo round trips per second; server CPU is utime+stime
of all the server's threads from /proc/<pid>/stat over the measured window (as
the load generator reads it), reported as microseconds of server CPU per event.
Writes bench/python_echo.md and prints the ratios. Only 127.0.0.1 is used;
every run is bounded in time.

  BENCH_RUNS=3             runs per server
  BENCH_SCENARIOS=echo,bcast1k   the scenarios (default: both)
  BENCH_SERVERS=wshub-asgi,...   only these servers (default: all five)
  python3 bench/python_echo.py --serve KIND   runs one server (PORT from the environment)
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# The process handling of `make bench` (bench/run.py, next to this file).
from run import HERE, LOADGEN, LOADGEN_CPU, ROOT, SERVER_CPU, TARGET, note_exit, run_loadgen, start_server, stop_server

SERVERS = [
    ("wshub-py", "wshub.Server (handlers on the hub's dispatcher thread)"),
    ("wshub-py-async", "wshub.AsyncServer (coroutine handlers on asyncio)"),
    ("socketio-aiohttp", "python-socketio 5 AsyncServer on aiohttp (pure Python)"),
    ("wshub-asgi", "wshub.ASGIApp under uvicorn: polling handed over, WebSockets relayed (hosted.py)"),
    ("socketio-asgi", "python-socketio 5 ASGIApp under uvicorn (async_mode='asgi')"),
]
SCENARIOS = {
    "echo": (["--scenario", "echo", "--clients", "50", "--inflight", "4", "--warmup", "1", "--duration", "5",
              "--max-msgs", "20000000"],
             "50 clients x 4 `echo` events in flight, 32-byte JSON argument, emitted back to the sender; 1 s + 5 s"),
    "bcast1k": (["--scenario", "broadcast", "--receivers", "1000", "--inflight", "16", "--warmup", "1",
                 "--duration", "4", "--max-msgs", "50000000"],
                "1 sender keeping 16 `broadcast` events in flight to 1,000 receivers; 1 s + 4 s"),
}


# ------------------------------------------------------------------ the servers

def listening(port: int) -> None:
    print(f"LISTENING {port}", flush=True)


def serve_wshub() -> None:
    import wshub

    sio = wshub.Server(port=int(os.environ.get("PORT", "0")), ping_interval=600, ping_timeout=600)

    @sio.event
    def echo(sid, *args):
        sio.emit("echo", args, to=sid)

    @sio.event
    def broadcast(sid, *args):
        sio.emit("broadcast", args, skip_sid=sid)

    sio.start()
    listening(sio.port)
    sio.serve_forever()


def with_async_handlers(sio: object) -> None:
    """The same coroutine handlers on any AsyncServer (wshub's or python-socketio's)."""

    @sio.event  # type: ignore[attr-defined]
    async def echo(sid, *args):
        await sio.emit("echo", args, to=sid)  # type: ignore[attr-defined]

    @sio.event  # type: ignore[attr-defined]
    async def broadcast(sid, *args):
        await sio.emit("broadcast", args, skip_sid=sid)  # type: ignore[attr-defined]


def serve_wshub_async() -> None:
    import asyncio

    import wshub

    sio = wshub.AsyncServer(port=int(os.environ.get("PORT", "0")), ping_interval=600, ping_timeout=600)

    with_async_handlers(sio)

    async def main() -> None:
        await sio.start()
        listening(sio.port)
        await sio.serve_forever()

    asyncio.run(main())


def serve_aiohttp() -> None:
    import asyncio

    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=600, ping_timeout=600)
    app = web.Application()
    sio.attach(app)

    with_async_handlers(sio)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", int(os.environ.get("PORT", "0")))
        await site.start()
        listening(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


def serve_uvicorn(app: object) -> None:
    """Runs an ASGI app under uvicorn on PORT (0 picks one) and says which port it got."""
    import asyncio

    import uvicorn

    async def main() -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=int(os.environ.get("PORT", "0")), log_level="warning",
                                access_log=False, ws_ping_interval=None)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        listening(server.servers[0].sockets[0].getsockname()[1])
        await task

    asyncio.run(main())


def serve_wshub_asgi() -> None:
    import wshub

    sio = wshub.AsyncServer(ping_interval=600, ping_timeout=600)

    with_async_handlers(sio)

    serve_uvicorn(wshub.ASGIApp(sio))


def serve_socketio_asgi() -> None:
    import socketio

    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=600, ping_timeout=600)

    with_async_handlers(sio)

    serve_uvicorn(socketio.ASGIApp(sio))


SERVE = {"wshub-py": serve_wshub, "wshub-py-async": serve_wshub_async, "socketio-aiohttp": serve_aiohttp,
         "wshub-asgi": serve_wshub_asgi, "socketio-asgi": serve_socketio_asgi}


# ------------------------------------------------------------------ the runs

def log(msg: str) -> None:
    print(f"[python bench] {msg}", file=sys.stderr, flush=True)


def preflight() -> str:
    missing = [m for m in ("wshub", "socketio", "aiohttp", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"missing Python packages {missing}: run `make test-python-binding` and "
                 "then this script with .venv-binding/bin/python")
    if shutil.which("taskset") is None:
        sys.exit("taskset is needed (util-linux)")
    if not os.path.exists(LOADGEN):
        log("building the load generator (CARGO_TARGET_DIR=bench/target)")
        subprocess.run(["cargo", "build", "--release", "--manifest-path", os.path.join(HERE, "loadgen", "Cargo.toml")],
                       cwd=ROOT, env=dict(os.environ, CARGO_TARGET_DIR=TARGET), check=True)
    tmp = tempfile.mkdtemp(prefix="wshub-py-bench-")
    copy = os.path.join(tmp, "loadgen")
    shutil.copy2(LOADGEN, copy)  # a rebuild during the run does not disturb it
    return copy


def run_one(kind: str, scenario: str, loadgen: str, clk_tck: int) -> dict:
    proc, port = start_server([sys.executable, os.path.abspath(__file__), "--serve", kind])
    try:
        time.sleep(0.3)
        res = run_loadgen(loadgen, kind, "sio", port, proc.pid, clk_tck, SCENARIOS[scenario][0], timeout=180)
        note_exit(res, proc, "server")
    finally:
        stop_server(proc)
    res["case"] = scenario
    return res


def med(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not r.get("error")]
    return statistics.median(vals) if vals else None


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    scenarios = [s for s in os.environ.get("BENCH_SCENARIOS", "echo,bcast1k").split(",") if s]
    loadgen = preflight()
    try:
        run_all(runs, scenarios, loadgen)
    finally:
        shutil.rmtree(os.path.dirname(loadgen), ignore_errors=True)


def run_all(runs: int, scenarios: list[str], loadgen: str) -> None:
    clk_tck = os.sysconf("SC_CLK_TCK")
    results: list[dict] = []
    wanted = [k for k in os.environ.get("BENCH_SERVERS", "").split(",") if k]
    kinds = [k for k, _ in SERVERS if not wanted or k in wanted]
    for run in range(runs):
        order = kinds[run % len(kinds):] + kinds[:run % len(kinds)]
        for scenario in scenarios:
            for kind in order:
                log(f"run {run + 1}/{runs}: {kind} {scenario}")
                res = run_one(kind, scenario, loadgen, clk_tck)
                res["run"] = run + 1
                results.append(res)
                if res.get("error"):
                    log(f"  error: {res['error']}")
                else:
                    log(f"  {res.get('rate', 0):,.0f}/s, {res.get('per_cpu_s', 0):,.0f} per server-CPU-s")
    lines = ["# wshub's Python binding vs python-socketio (aiohttp and ASGI)", "",
             f"`bench/python_echo.py`, {time.strftime('%Y-%m-%d %H:%M')}, {runs} runs per server (medians), "
             f"server on CPU {SERVER_CPU}, load generator (bench/loadgen) on CPU {LOADGEN_CPU}; Python "
             f"{sys.version.split()[0]}.", ""]
    for scenario in scenarios:
        lines += [f"## {scenario}: {SCENARIOS[scenario][1]}", "",
                  ("| server | events/s | server CPU µs / event | events / server-CPU-s | p50 µs | p99 µs | server CPU share |"
                   if scenario == "echo" else
                   "| server | deliveries/s | server CPU µs / delivery | deliveries / server-CPU-s | p50 µs | p99 µs "
                   "| server CPU share |"),
                  "|---|---:|---:|---:|---:|---:|---:|"]
        table = {}
        for kind, what in SERVERS:
            if kind not in kinds:
                continue
            rows = [r for r in results if r.get("server") == kind and r.get("case") == scenario]
            per_cpu = med(rows, "per_cpu_s")
            table[kind] = (med(rows, "rate"), per_cpu)
            cells = [med(rows, "rate"), 1e6 / per_cpu if per_cpu else None, per_cpu, med(rows, "p50_us"),
                     med(rows, "p99_us"), med(rows, "server_cpu_frac")]
            lines.append(f"| {kind}: {what} | " + " | ".join("—" if c is None else f"{c:,.2f}" if c < 10 else f"{c:,.0f}"
                                                          for c in cells) + " |")
        lines.append("")
        # Each wshub flavour against the peer served the same way, and the
        # hosted (ASGI) path against wshub's own listener.
        for kind, base in (("wshub-py", "socketio-aiohttp"), ("wshub-py-async", "socketio-aiohttp"),
                           ("wshub-asgi", "socketio-asgi"), ("wshub-asgi", "wshub-py-async")):
            (rate, cpu), (base_rate, base_cpu) = table.get(kind, (None, None)), table.get(base, (None, None))
            if rate and base_rate and cpu and base_cpu:
                unit = "events" if scenario == "echo" else "deliveries"
                lines.append(f"- {kind} ÷ {base}: **{rate / base_rate:.2f}×** {unit}/s, "
                             f"**{cpu / base_cpu:.2f}×** {unit} per server-CPU-second")
        lines.append("")
    errors = [r for r in results if r.get("error")]
    if errors:
        lines += ["Errors:", ""] + [f"- {r.get('server')} {r.get('case')} run {r.get('run')}: {r['error']}"
                                    for r in errors] + [""]
    text = "\n".join(lines)
    with open(os.path.join(HERE, "python_echo.md"), "w") as f:
        f.write(text)
    with open(os.path.join(HERE, "python_echo.jsonl"), "w") as f:
        for r in results:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    print(text)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        SERVE[sys.argv[2]]()
    else:
        main()
