#!/usr/bin/env python3
"""wshub's Node binding against the socket.io npm server, side by side.

    python3 bench/node-binding/run.py        (about 2 minutes)

The two servers run the very same JavaScript handlers ("echo" back to the
sender, "broadcast" to everyone but the sender): bench/node-binding/server.js
over bindings/node, and bench/peers/node-socketio/server.js over socket.io 4.8.
The load is bench/loadgen (the Rust load generator of `make bench`): each run
starts a fresh server pinned to CPU 0 (`taskset -c 0`, every thread of it) and
the load generator pinned to CPU 1; RUNS runs per server and scenario, servers
in a rotated order, medians reported. Server CPU comes from /proc/<pid>/stat
(utime+stime of all its threads) over the measured window, as the load
generator reads it. Writes bench/node-binding/RESULTS.md and results.jsonl.

Only 127.0.0.1 is used; every run is bounded in time.

  BENCH_RUNS=3               runs per (server, scenario)
  BENCH_SCENARIOS=echo,...   only these scenarios (echo, bcast1k, bcast10k)
  BENCH_NO_BUILD=1           skip the builds (loadgen, peer packages, the addon)
"""

import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
TARGET = os.path.join(BENCH, "target")
LOADGEN = os.path.join(TARGET, "release", "loadgen")
BINDING = os.path.join(ROOT, "bindings", "node")
PEER = os.path.join(BENCH, "peers", "node-socketio")

SERVER_CPU = "0"
LOADGEN_CPU = "1"

SERVERS = [
    ("wshub-node", ["node", os.path.join(HERE, "server.js")],
     "wshub's Node binding: N-API addon over libwshub, JS handlers (bench/node-binding/server.js)"),
    ("wshub-node-attached", ["env", "WSHUB_ATTACH=1", "node", os.path.join(HERE, "server.js")],
     "the same, attached to the app's own http.Server (`new Server(httpServer)`): WebSocket upgrades "
     "adopted (the descriptor handed to the hub), as an express app would run it"),
    ("node-socketio", ["node", os.path.join(PEER, "server.js")],
     "socket.io 4.8 npm server attached to an http.Server, the same JS handlers (bench/peers/node-socketio/server.js)"),
]
# (server, baseline): each ratio is the median over runs of the ratio within one run.
RATIOS = [("wshub-node", "node-socketio"), ("wshub-node-attached", "node-socketio"),
          ("wshub-node-attached", "wshub-node")]

COMMON = ["--size", "32"]
SCENARIOS = [
    ("echo", ["--scenario", "echo", "--clients", "50", "--inflight", "4", "--warmup", "1", "--duration", "5",
              "--max-msgs", "20000000"],
     "50 clients x 4 `echo` events in flight, 32-byte JSON argument, back to the sender; 1 s + 5 s"),
    ("bcast1k", ["--scenario", "broadcast", "--receivers", "1000", "--inflight", "16", "--warmup", "1",
                 "--duration", "4", "--max-msgs", "50000000"],
     "1 sender keeping 16 `broadcast` events in flight to 1,000 receivers; 1 s + 4 s"),
    ("bcast10k", ["--scenario", "broadcast", "--receivers", "10000", "--inflight", "16", "--warmup", "2",
                  "--duration", "5", "--max-msgs", "50000000"],
     "the same with 10,000 receivers; 2 s + 5 s"),
]
DEFAULT_SCENARIOS = {"echo", "bcast1k"}


def log(msg):
    print(f"[node-binding bench] {msg}", file=sys.stderr, flush=True)


def build():
    if not os.path.exists(LOADGEN):
        log("building the load generator (CARGO_TARGET_DIR=bench/target)")
        subprocess.run(["cargo", "build", "--release", "--manifest-path", os.path.join(BENCH, "loadgen", "Cargo.toml")],
                       cwd=ROOT, env=dict(os.environ, CARGO_TARGET_DIR=TARGET), check=True)
    if not os.path.exists(os.path.join(PEER, "node_modules", "socket.io")):
        log("installing the socket.io peer's packages")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True)
    if not os.path.exists(os.path.join(BINDING, "build", "Release", "wshub.node")):
        log("building the Node binding (npm install in bindings/node)")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=BINDING, check=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(cmd):
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, env=dict(os.environ, PORT="0"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=raise_nofile, cwd=HERE)
    deadline = time.time() + 20
    port = None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("LISTENING "):
            port = int(line.split()[1])
            break
    if port is None:
        stop_server(proc)
        raise RuntimeError(f"{cmd}: no LISTENING line")
    return proc, port


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()  # the server this script started
            proc.wait(timeout=5)
    if proc.stdout:
        proc.stdout.close()


def run_one(loadgen, server, scenario, clk_tck):
    name, cmd, _ = server
    sname, args, _ = scenario
    proc, port = start_server(cmd)
    try:
        time.sleep(0.3)
        lg = ["taskset", "-c", LOADGEN_CPU, loadgen, "--label", name, "--proto", "sio", "--port", str(port),
              "--server-pid", str(proc.pid), "--clk-tck", str(clk_tck)] + COMMON + args
        out = subprocess.run(lg, capture_output=True, text=True, timeout=240, preexec_fn=raise_nofile)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        try:
            res = json.loads(line)
        except json.JSONDecodeError:
            res = {"server": name, "error": f"load generator exit {out.returncode}: {out.stderr.strip()[-300:]}"}
    finally:
        stop_server(proc)
    res["case"] = sname
    return res


def median(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def main():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    wanted = os.environ.get("BENCH_SCENARIOS")
    names = {s.strip() for s in wanted.split(",")} if wanted else DEFAULT_SCENARIOS
    scenarios = [s for s in SCENARIOS if s[0] in names]
    if not os.environ.get("BENCH_NO_BUILD"):
        build()
    clk_tck = os.sysconf("SC_CLK_TCK")
    tmp = tempfile.mkdtemp(prefix="wshub-node-bench-")
    loadgen = os.path.join(tmp, "loadgen")
    shutil.copy2(LOADGEN, loadgen)  # others may rebuild bench/target meanwhile
    results = []
    try:
        for run in range(runs):
            order = SERVERS[run % len(SERVERS):] + SERVERS[:run % len(SERVERS)]
            for scenario in scenarios:
                for server in order:
                    log(f"run {run + 1}/{runs}: {server[0]} {scenario[0]}")
                    res = run_one(loadgen, server, scenario, clk_tck)
                    res["run"] = run + 1
                    results.append(res)
                    if res.get("error"):
                        log(f"  error: {res['error']}")
                    else:
                        log(f"  {res.get('rate', 0):,.0f}/s, {res.get('per_cpu_s', 0):,.0f} per server-CPU-s, "
                            f"server CPU {res.get('server_cpu_frac', 0):.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(HERE, "results.jsonl"), "w") as f:
        for r in results:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    write_report(results, scenarios, runs)


def write_report(results, scenarios, runs):
    lines = [
        "# wshub's Node binding vs the socket.io npm server",
        "",
        "Written by `python3 bench/node-binding/run.py` (" + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) +
        f"); medians of {runs} runs. Both servers run the same JavaScript handlers; server pinned to CPU 0,",
        "load generator (bench/loadgen) to CPU 1. *rate*: round trips (echo) or deliveries (broadcast) per",
        "second; *per CPU-s*: the same per second of server CPU time (all its threads, from /proc); *CPU*:",
        "server CPU time over the measured window (1.00 = one core).",
        "",
        "| scenario | server | rate /s | per CPU-s | CPU | p50 ms | p99 ms | RSS MB | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for sname, _, _ in scenarios:
        med = {}
        for name, _, _ in SERVERS:
            rows = [r for r in results if r.get("case") == sname and r.get("server") == name and not r.get("error")]
            errs = sum(1 for r in results if r.get("case") == sname and r.get("server") == name and r.get("error"))
            lost = sum(r.get("lost", 0) or 0 for r in rows)
            m = {k: median(rows, k) for k in ("rate", "per_cpu_s", "server_cpu_frac", "p50_us", "p99_us", "rss_kb")}
            med[name] = m
            lines.append(
                f"| {sname} | {name} | {fmt(m['rate'])} | {fmt(m['per_cpu_s'])} | {fmt(m['server_cpu_frac'], 2)} | "
                f"{fmt(m['p50_us'] and m['p50_us'] / 1000, 1)} | {fmt(m['p99_us'] and m['p99_us'] / 1000, 1)} | "
                f"{fmt(m['rss_kb'] and m['rss_kb'] / 1024, 0)} | {errs} failed runs, {lost} lost |")
        for top, base in RATIOS:
            paired = {"rate": [], "per_cpu_s": []}
            for run in range(1, runs + 1):
                a = [r for r in results if r.get("case") == sname and r.get("server") == top and r.get("run") == run]
                b = [r for r in results if r.get("case") == sname and r.get("server") == base and r.get("run") == run]
                if a and b and not a[0].get("error") and not b[0].get("error"):
                    for k in paired:
                        if a[0].get(k) and b[0].get(k):
                            paired[k].append(a[0][k] / b[0][k])
            if paired["rate"] and paired["per_cpu_s"]:
                ratios.append((sname, f"{top} ÷ {base}", statistics.median(paired["rate"]),
                               statistics.median(paired["per_cpu_s"]), len(paired["per_cpu_s"])))
    lines += ["", "## Ratios (median of the ratios within each run)", "",
              "| scenario | servers | rate | per server-CPU-second | runs |", "|---|---|---:|---:|---:|"]
    for sname, pair, r1, r2, n in ratios:
        lines.append(f"| {sname} | {pair} | {r1:.2f}× | {r2:.2f}× | {n} |")
    lines += ["", "## Scenarios", ""]
    for sname, _, what in scenarios:
        lines.append(f"- **{sname}**: {what}")
    lines += ["", "## Servers", ""]
    for name, _, what in SERVERS:
        lines.append(f"- **{name}**: {what}")
    lines.append("")
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))
    log("wrote bench/node-binding/RESULTS.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
