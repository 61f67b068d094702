#!/usr/bin/env python3
"""wshub's benchmark against its peers: `make bench` runs this.

Builds every server and the load generator in release mode (cargo target
dir bench/target, so that the main target/ is never locked), installs the
Node peers' packages, then runs every scenario against every server side by
side: the server pinned to CPU 0 (`taskset -c 0`), the load generator to CPU 1,
a fresh server process per run, RUNS runs each (median taken), servers in a
rotated order from run to run. Writes bench/RESULTS.md (absolute figures and
the ratios wshub/peer), bench/ratios.svg (a chart of the ratios, drawn here)
and bench/results.jsonl (one line per run, as the load generator printed it).

Scenario cluster2 (two nodes of one Redis cluster) runs per run a redis-server
of its own on a free loopback port and two server processes of the same kind
with REDIS_URL pointing at it, all three pinned to CPU 0 (the server side of the
benchmark: the cluster shares one core as one server does elsewhere); the load
generator (on CPU 1) puts half of the receivers on the second server. Every
process is stopped by its PID at the end of the run. It runs for wshub and
node-socketio only (the servers with a Redis adapter speaking the protocol of
@socket.io/redis-adapter), and needs redis-server.

Only 127.0.0.1 is used; every run is bounded in time and count.

Environment knobs (for iterating; the defaults are the published run):
  BENCH_RUNS=3                  runs per (server, scenario)
  BENCH_SERVERS=wshub,...       only these servers
  BENCH_SCENARIOS=echo,...      only these scenarios
  BENCH_OUT=bench               where RESULTS.md, ratios.svg, results.jsonl go
  BENCH_NO_BUILD=1              skip the builds
  BENCH_BASELINE=<commit>       also run wshub as of that commit (built from a git worktree of it in
                                bench/target/), as `wshub-baseline`, beside wshub in every round: the
                                report then has a before/after table (a refactor's cost, same run)
"""

import json
import os
import socket
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.path.join(HERE, "target")
REL = os.path.join(TARGET, "release")
LOADGEN = os.path.join(REL, "loadgen")

SERVER_CPU = "0"
LOADGEN_CPU = "1"

# name, protocol, command, raw path, what it is, scenarios it skips
SERVERS = [
    ("wshub", "sio", [os.path.join(REL, "examples", "bench")], None,
     "wshub, Rust handlers (examples/bench.rs)", set()),
    ("wshub-c", "sio", [os.path.join(REL, "bench-c")], None,
     "wshub, C callbacks over include/wshub.h (bench/c-server/server.c)", {"idle10k"}),
    ("socketioxide", "sio", [os.path.join(REL, "bench-socketioxide")], None,
     "socketioxide on axum (bench/peers/socketioxide)", set()),
    ("node-socketio", "sio", ["node", os.path.join(HERE, "peers", "node-socketio", "server.js")], None,
     "socket.io npm server on Node (bench/peers/node-socketio)", set()),
    ("wshub-raw", "raw", [os.path.join(REL, "examples", "bench")], "/ws",
     "wshub's plain WebSocket endpoint /ws, same binary as wshub", set()),
    ("raw-tungstenite", "raw", [os.path.join(REL, "bench-raw-tungstenite")], "/",
     "plain tokio-tungstenite, no Socket.IO layer (bench/peers/raw-tungstenite)", set()),
    ("node-ws", "raw", ["node", os.path.join(HERE, "peers", "node-ws", "server.js")], "/",
     "ws npm server on Node, no Socket.IO layer (bench/peers/node-ws)", set()),
]

# The order the servers run in within a round (rotated from round to round):
# each server next to the ones it is compared with most closely, so that the
# two figures of a ratio are taken close together in time.
RUN_ORDER = ["wshub-c", "wshub-baseline", "wshub", "raw-tungstenite", "wshub-raw", "socketioxide", "node-socketio", "node-ws"]

# Rounds beyond BENCH_RUNS for the scenarios whose ratios are closest to their targets.
EXTRA_RUNS = {"echo": 2}

# name, load generator arguments, which servers
COMMON = ["--size", "32"]
SCENARIOS = [
    ("echo", ["--scenario", "echo", "--clients", "50", "--inflight", "4", "--warmup", "1", "--duration", "5",
              "--max-msgs", "20000000"], None),
    ("bcast1k", ["--scenario", "broadcast", "--receivers", "1000", "--inflight", "16", "--warmup", "1",
                 "--duration", "4", "--max-msgs", "50000000"], None),
    ("bcast10k", ["--scenario", "broadcast", "--receivers", "10000", "--inflight", "16", "--warmup", "2",
                  "--duration", "5", "--max-msgs", "50000000"], None),
    ("idle10k", ["--scenario", "idle", "--conns", "10000", "--concurrency", "256", "--sources", "8",
                 "--settle", "2"], None),
    ("idle19k", ["--scenario", "idle", "--conns", "19000", "--concurrency", "256", "--sources", "8",
                 "--settle", "2"], {"wshub", "wshub-baseline"}),
    # Two nodes on one Redis: 500 receivers on each, the sender on the first.
    ("cluster2", ["--scenario", "broadcast", "--receivers", "1000", "--inflight", "16", "--warmup", "1",
                  "--duration", "4", "--max-msgs", "50000000"], {"wshub", "node-socketio"}),
]

# The scenarios run on a two-node cluster (a redis-server and two servers).
CLUSTER = {"cluster2"}

# The peers wshub is compared with, and the ratio columns.
PEERS = ["socketioxide", "node-socketio", "raw-tungstenite", "node-ws"]


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def env_list(name):
    v = os.environ.get(name, "").strip()
    return {x.strip() for x in v.split(",") if x.strip()} if v else None


# ------------------------------------------------------------------ building

BASELINE_BIN = os.path.join(REL, "bench-baseline")


def baseline_server(commit):
    return ("wshub-baseline", "sio", [BASELINE_BIN], None,
            f"wshub as of {commit} (BENCH_BASELINE), Rust handlers (its examples/bench.rs)", set())


def build_baseline(commit):
    """examples/bench.rs as of `commit`, from a git worktree of it, into the same target folder (the
    dependencies are built once for both); the binary is copied aside before the current tree's
    build writes the same path."""
    tree = os.path.join(TARGET, "baseline-src")
    if os.path.exists(tree):
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], check=False)
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, commit], check=True)
    try:
        log(f"building wshub as of {commit} (examples/bench.rs)")
        subprocess.run(["cargo", "build", "--release", "--example", "bench"], cwd=tree,
                       env=dict(os.environ, CARGO_TARGET_DIR=TARGET), check=True)
        shutil.copy2(os.path.join(REL, "examples", "bench"), BASELINE_BIN)
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], check=False)


def build():
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    baseline = os.environ.get("BENCH_BASELINE")
    if baseline:
        build_baseline(baseline)
    steps = [
        # The library (libwshub.a, for the C-callback server) with the example in one build: built
        # apart, its dependencies get other features and each build compiles wshub again.
        ("wshub examples/bench.rs and libwshub.a", ["cargo", "build", "--release", "--lib", "--example", "bench"],
         ROOT),
        ("load generator", ["cargo", "build", "--release", "--manifest-path",
                            os.path.join(HERE, "loadgen", "Cargo.toml")], ROOT),
        ("socketioxide peer", ["cargo", "build", "--release", "--manifest-path",
                               os.path.join(HERE, "peers", "socketioxide", "Cargo.toml")], ROOT),
        ("raw tokio-tungstenite peer", ["cargo", "build", "--release", "--manifest-path",
                                        os.path.join(HERE, "peers", "raw-tungstenite", "Cargo.toml")], ROOT),
    ]
    for what, cmd, cwd in steps:
        log(f"building {what}")
        subprocess.run(cmd, cwd=cwd, env=env, check=True)
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc):
        log("building the C-callback server (bench/c-server) against the release libwshub.a")
        subprocess.run([cc, "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-Iinclude", os.path.join("bench", "c-server", "server.c"),
                        os.path.join(REL, "libwshub.a"), "-lpthread", "-ldl", "-lm",
                        "-o", os.path.join(REL, "bench-c")], cwd=ROOT, check=True)
    else:
        log(f"no C compiler ({cc}): the C-callback server is left out")
    for peer in ("node-socketio", "node-ws"):
        d = os.path.join(HERE, "peers", peer)
        marker = os.path.join(d, "node_modules", ".package-lock.json")
        lock = os.path.join(d, "package-lock.json")
        if not os.path.exists(marker) or os.path.getmtime(marker) < os.path.getmtime(lock):
            log(f"installing the {peer} peer's packages")
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d, check=True)


def snapshot(servers):
    """Copies the built binaries to a private folder for the run: others may
    rebuild or clean bench/target while the benchmark runs."""
    tmp = tempfile.mkdtemp(prefix="wshub-bench-")
    mapping = {}
    present = [s for s in servers if all(os.path.exists(c) for c in s[2] if c.startswith(REL + os.sep))]
    for s in servers:
        if s not in present:
            log(f"{s[0]}: not built, left out")
    servers = present
    for path in [LOADGEN] + [c for s in servers for c in s[2] if c.startswith(REL + os.sep)]:
        if path not in mapping:
            dst = os.path.join(tmp, os.path.relpath(path, REL).replace(os.sep, "-"))
            shutil.copy2(path, dst)
            mapping[path] = dst
    resolved = [(n, proto, [mapping.get(c, c) for c in cmd], raw, what, skip)
                for n, proto, cmd, raw, what, skip in servers]
    return tmp, mapping[LOADGEN], resolved


# ------------------------------------------------------------------ running

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(cmd, env=None):
    """Starts one server pinned to SERVER_CPU; returns (process, port)."""
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, env=dict(os.environ, PORT="0", **(env or {})),
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
        code = proc.poll()
        stop_server(proc)
        raise RuntimeError(f"the server did not print LISTENING (exit status {code})")
    return proc, port


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout:
        proc.stdout.close()


def run_loadgen(loadgen, name, proto, port, pid, clk_tck, args, raw_path=None, timeout=240):
    """Runs the load generator (pinned to LOADGEN_CPU) against the server
    `name` on `port` (process `pid`); returns the JSON line it printed, or
    {"server", "error"} when it printed none."""
    lg = ["taskset", "-c", LOADGEN_CPU, loadgen, "--label", name, "--proto", proto, "--port", str(port),
          "--server-pid", str(pid), "--clk-tck", str(clk_tck)] + COMMON + args
    if raw_path:
        lg += ["--raw-path", raw_path]
    out = subprocess.run(lg, capture_output=True, text=True, timeout=timeout, preexec_fn=raise_nofile)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return {"server": name, "error": f"load generator exit {out.returncode}: {out.stderr.strip()[-300:]}"}


def note_exit(res, proc, what):
    """Adds to res["error"] that `proc` (`what`) ended before the run did."""
    if proc.poll() is not None:
        res["error"] = (res.get("error") or "") + f" {what} exited with {proc.returncode}"


def run_one(server, scenario, clk_tck, loadgen):
    name, proto, cmd, raw_path, _, _ = server
    sname, args, _ = scenario
    proc, port = start_server(cmd)
    try:
        time.sleep(0.3)  # let the runtime settle before the baseline RSS
        res = run_loadgen(loadgen, name, proto, port, proc.pid, clk_tck, args, raw_path)
        note_exit(res, proc, "server")
    finally:
        stop_server(proc)
    res["case"] = sname
    return res


def free_port():
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_command(port, *args, timeout=2.0):
    """Sends one command to the redis-server on 127.0.0.1:port; returns its
    answer (RESP2: a str, an int, a list, or None)."""
    req = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req.encode())
        f = s.makefile("rb")

        def read():
            line = f.readline()
            if not line.endswith(b"\r\n"):
                raise OSError("redis-server closed the connection")
            kind, rest = line[:1], line[1:-2].decode(errors="replace")
            if kind in (b"+", b"-"):
                return rest if kind == b"+" else f"-{rest}"
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            raise OSError(f"unexpected answer from redis-server: {line!r}")

        return read()


def start_redis():
    """A redis-server without persistence on a free loopback port, pinned to
    SERVER_CPU; returns (process, port, its scratch folder)."""
    for _ in range(3):
        port = free_port()
        tmp = tempfile.mkdtemp(prefix="wshub-bench-redis-")
        proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, "redis-server", "--port", str(port),
                                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
        deadline = time.time() + 10
        while time.time() < deadline and proc.poll() is None:
            try:
                if redis_command(port, "PING") == "PONG":
                    return proc, port, tmp
            except OSError:
                pass
            time.sleep(0.05)
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    raise RuntimeError("redis-server did not start")


def wait_subscribed(redis_port, nodes):
    """Waits until `nodes` servers have joined the cluster of "/": a broadcast
    published before a node subscribes would miss it and never complete. Each
    node (wshub's adapter as @socket.io/redis-adapter) subscribes to the
    pattern of the broadcasts, then, on the same connection, to the request
    channel `socket.io-request#/#`, whose subscribers Redis counts
    (`PUBSUB NUMSUB`, which is how the adapters count the nodes too)."""
    channel = "socket.io-request#/#"
    deadline = time.time() + 15
    last = None
    while time.time() < deadline:
        last = redis_command(redis_port, "PUBSUB", "NUMSUB", channel)
        if isinstance(last, list) and len(last) == 2 and isinstance(last[1], int) and last[1] >= nodes:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the servers did not join the cluster (PUBSUB NUMSUB {channel}: {last})")


def run_cluster(server, scenario, clk_tck, loadgen):
    """One run of a two-node scenario: a redis-server, two servers of the same
    kind joined to it, the load generator with the second server's port."""
    name, proto, cmd, raw_path, _, _ = server
    sname, args, _ = scenario
    redis, redis_port, redis_dir = start_redis()
    procs = []
    try:
        env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}"}
        p1, port1 = start_server(cmd, env)
        procs.append(p1)
        p2, port2 = start_server(cmd, env)
        procs.append(p2)
        wait_subscribed(redis_port, 2)
        time.sleep(0.3)  # let the runtimes settle, as in run_one
        second = ["--port2", str(port2), "--server-pid2", str(p2.pid), "--redis-pid", str(redis.pid)]
        res = run_loadgen(loadgen, name, proto, port1, p1.pid, clk_tck, second + args, raw_path)
        for i, p in enumerate(procs, 1):
            note_exit(res, p, f"server {i}")
        note_exit(res, redis, "redis-server")
    finally:
        for p in procs:
            stop_server(p)
        stop_server(redis)
        shutil.rmtree(redis_dir, ignore_errors=True)
    res["case"] = sname
    return res


# ------------------------------------------------------------------ figures

def median(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not r.get("error")]
    return statistics.median(vals) if vals else None


# (column key, case, metric, label, unit, higher is better)
METRICS = [
    ("echo_cpu", "echo", "per_cpu_s", "echo round trips / server-CPU-s", "", True),
    ("echo_rate", "echo", "rate", "echo round trips / s", "", True),
    ("echo_p50", "echo", "p50_us", "echo p50", "us", False),
    ("echo_p99", "echo", "p99_us", "echo p99", "us", False),
    ("echo_p999", "echo", "p999_us", "echo p99.9", "us", False),
    ("b1k_cpu", "bcast1k", "per_cpu_s", "broadcast 1k: deliveries / server-CPU-s", "", True),
    ("b1k_p50", "bcast1k", "p50_us", "broadcast 1k p50", "us", False),
    ("b1k_p99", "bcast1k", "p99_us", "broadcast 1k p99", "us", False),
    ("b10k_cpu", "bcast10k", "per_cpu_s", "broadcast 10k: deliveries / server-CPU-s", "", True),
    ("b10k_p50", "bcast10k", "p50_us", "broadcast 10k p50", "us", False),
    ("b10k_p99", "bcast10k", "p99_us", "broadcast 10k p99", "us", False),
    ("idle10k", "idle10k", "rss_per_conn_bytes", "RSS / idle connection (10k)", "B", False),
    ("idle19k", "idle19k", "rss_per_conn_bytes", "RSS / idle connection (19k)", "B", False),
    ("c2_rate", "cluster2", "rate", "2-node broadcast: deliveries / s", "", True),
    ("c2_cross", "cluster2", "cross_rate", "2-node broadcast: cross-node deliveries / s", "", True),
    ("c2_cpu", "cluster2", "per_cpu_s", "2-node broadcast: deliveries / server-CPU-s (both servers)", "", True),
    ("c2_p50", "cluster2", "p50_us", "2-node broadcast p50", "us", False),
    ("c2_p99", "cluster2", "p99_us", "2-node broadcast p99", "us", False),
    ("c2_cross_p50", "cluster2", "cross_p50_us", "2-node broadcast p50, cross-node deliveries", "us", False),
    ("c2_cross_p99", "cluster2", "cross_p99_us", "2-node broadcast p99, cross-node deliveries", "us", False),
    ("c2_redis", "cluster2", "redis_cpu_frac", "2-node broadcast: redis-server CPU share", "", False),
]

# The ratios charted and tabled: (key, label, higher is better)
RATIOS = [
    ("echo_cpu", "echo / CPU-s", True),
    ("b1k_cpu", "bcast 1k / CPU-s", True),
    ("b10k_cpu", "bcast 10k / CPU-s", True),
    ("c2_cpu", "bcast 2 nodes / CPU-s", True),
    ("echo_p99", "echo p99", False),
    ("idle10k", "RSS / idle conn", False),
]


def summarize(results):
    by = {}
    for r in results:
        by.setdefault((r.get("server"), r.get("case")), []).append(r)
    table = {}
    for (srv, case), rows in by.items():
        for key, c, metric, *_ in METRICS:
            if c == case:
                table.setdefault(srv, {})[key] = median(rows, metric)
        table.setdefault(srv, {})[case + "_rows"] = rows
    return table


def fmt_num(v):
    if v is None:
        return "—"
    if v >= 100_000:
        return f"{v / 1000:,.0f}k"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def fmt_us(v):
    if v is None:
        return "—"
    if v >= 1000:
        return f"{v / 1000:.2f} ms"
    return f"{v:.0f} µs"


def fmt_bytes(v):
    if v is None:
        return "—"
    return f"{v / 1024:.1f} KiB"


def fmt(key, v):
    if key.endswith(("_p50", "_p99", "_p999")):
        return fmt_us(v)
    if key.startswith("idle"):
        return fmt_bytes(v)
    return fmt_num(v)


def ratio(table, key, peer, base="wshub"):
    """The median over rounds of base ÷ peer, each round's two figures taken
    one after the other or nearly: the machine's speed drifts over minutes,
    and a ratio of medians could pair figures from different moments."""
    case, metric = next((c, m) for k, c, m, *_ in METRICS if k == key)

    def by_round(server):
        rows = table.get(server, {}).get(case + "_rows", [])
        return {r["run"]: r[metric] for r in rows
                if isinstance(r.get(metric), (int, float)) and not r.get("error") and r.get("run")}
    a, b = by_round(base), by_round(peer)
    pairs = [a[k] / b[k] for k in a if k in b and b[k]]
    return statistics.median(pairs) if pairs else None


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


# ------------------------------------------------------------------ chart

def svg_chart(table, path, servers_present):
    """Grouped horizontal bars, log scale: wshub/peer per metric and peer."""
    peers = [p for p in PEERS if p in servers_present]
    colors = {"socketioxide": "#d95f02", "node-socketio": "#7570b3", "raw-tungstenite": "#1b9e77",
              "node-ws": "#e7298a"}
    rows = []
    for key, label, higher in RATIOS:
        for p in peers:
            rows.append((key, label, higher, p, ratio(table, key, p)))
    left, right, top, bar_h, gap, group_gap = 190, 40, 70, 16, 3, 14
    width = 820
    plot_w = width - left - right
    lo, hi = 1 / 16, 16.0
    import math

    def x_of(v):
        v = min(max(v, lo), hi)
        return left + (math.log2(v) - math.log2(lo)) / (math.log2(hi) - math.log2(lo)) * plot_w

    n_groups = len(RATIOS)
    height = top + n_groups * (len(peers) * (bar_h + gap) + group_gap) + 70
    out = []
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">')
    out.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    out.append(f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
               'wshub ÷ peer, medians of the same run (log scale)</text>')
    out.append(f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#444">'
               'throughput per server-CPU-second: right of 1 is wshub ahead; '
               'latency and memory: left of 1 is wshub ahead; faded bars: wshub behind</text>')
    y_axis_bottom = height - 50
    for v in [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16]:
        x = x_of(v)
        stroke = "#000" if v == 1 else "#ddd"
        out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{y_axis_bottom}" stroke="{stroke}"/>')
        lab = f"{v:g}" if v >= 1 else f"1/{int(1 / v)}"
        out.append(f'<text x="{x:.1f}" y="{y_axis_bottom + 14}" text-anchor="middle" fill="#444">{lab}</text>')
    y = top
    for key, label, higher in RATIOS:
        gh = len(peers) * (bar_h + gap)
        arrow = "higher is better" if higher else "lower is better"
        out.append(f'<text x="{left - 8}" y="{y + gh / 2 - 2:.1f}" text-anchor="end" font-weight="bold">{label}</text>')
        out.append(f'<text x="{left - 8}" y="{y + gh / 2 + 12:.1f}" text-anchor="end" fill="#666" font-size="10">'
                   f'({arrow})</text>')
        for p in peers:
            r = ratio(table, key, p)
            x1 = x_of(1)
            if r is not None:
                x2 = x_of(r)
                xa, xb = min(x1, x2), max(x1, x2)
                good = (r >= 1) if higher else (r <= 1)
                out.append(f'<rect x="{xa:.1f}" y="{y}" width="{max(xb - xa, 1):.1f}" height="{bar_h}" '
                           f'fill="{colors.get(p, "#888")}" fill-opacity="{0.95 if good else 0.45}"/>')
                tx = xb + 4 if x2 >= x1 else xa - 4
                anchor = "start" if x2 >= x1 else "end"
                out.append(f'<text x="{tx:.1f}" y="{y + bar_h - 4}" text-anchor="{anchor}" font-size="11">'
                           f'{r:.2f}</text>')
            else:
                out.append(f'<text x="{x1 + 4:.1f}" y="{y + bar_h - 4}" font-size="11" fill="#999">n/a</text>')
            y += bar_h + gap
        y += group_gap
    lx = left
    for p in peers:
        out.append(f'<rect x="{lx}" y="{height - 26}" width="12" height="12" fill="{colors.get(p, "#888")}"/>')
        out.append(f'<text x="{lx + 16}" y="{height - 16}">vs {p}</text>')
        lx += 150
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ------------------------------------------------------------------ report

def versions():
    def cmd(c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=20).stdout.strip()
        except Exception:
            return "?"

    def lock_version(path, name):
        try:
            text = open(path).read()
        except OSError:
            return "?"
        if path.endswith(".json"):
            try:
                return json.loads(text)["packages"][f"node_modules/{name}"]["version"]
            except KeyError:
                return "?"
        blocks = text.split("[[package]]")
        for b in blocks:
            if f'name = "{name}"\n' in b:
                for line in b.splitlines():
                    if line.startswith("version = "):
                        return line.split('"')[1]
        return "?"

    redis_version = "?"
    if shutil.which("redis-server"):
        out = cmd(["redis-server", "--version"])  # "Redis server v=7.0.15 sha=..."
        if " v=" in out:
            redis_version = out.split(" v=", 1)[1].split()[0]
    commit = cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = cmd(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "examples/bench.rs", "Cargo.toml"])
    return {
        "wshub": commit + (" + uncommitted changes" if dirty else ""),
        "baseline": cmd(["git", "-C", ROOT, "rev-parse", "--short", os.environ.get("BENCH_BASELINE", "HEAD")]),
        "rustc": cmd(["rustc", "--version"]),
        "node": cmd(["node", "--version"]),
        "kernel": cmd(["uname", "-r"]),
        "cpus": str(os.cpu_count()),
        "socketioxide": lock_version(os.path.join(HERE, "peers", "socketioxide", "Cargo.lock"), "socketioxide"),
        "tokio-tungstenite": lock_version(os.path.join(HERE, "peers", "raw-tungstenite", "Cargo.lock"),
                                          "tokio-tungstenite"),
        "socket.io": lock_version(os.path.join(HERE, "peers", "node-socketio", "package-lock.json"), "socket.io"),
        "ws": lock_version(os.path.join(HERE, "peers", "node-ws", "package-lock.json"), "ws"),
        "redis-adapter": lock_version(os.path.join(HERE, "peers", "node-socketio", "package-lock.json"),
                                      "@socket.io/redis-adapter"),
        "redis-client": lock_version(os.path.join(HERE, "peers", "node-socketio", "package-lock.json"), "redis"),
        "redis-server": redis_version,
    }


def write_report(path, table, results, servers, runs, elapsed, ver):
    present = [s for s in servers if s[0] in table]
    lines = []
    w = lines.append
    w("# wshub benchmark results")
    w("")
    w("Written by `make bench` (bench/run.py); do not edit by hand. "
      f"Medians of {runs} runs per server and scenario ({runs + EXTRA_RUNS['echo']} for echo); ratios are "
      "the medians of the ratios of each round, whose runs follow each other (the machine's speed drifts "
      "over minutes). Every run starts a fresh server process "
      f"pinned to CPU {SERVER_CPU} (`taskset -c {SERVER_CPU}`), the load generator (bench/loadgen) runs on "
      f"CPU {LOADGEN_CPU}; all traffic is on 127.0.0.1. The machine is shared and noisy: "
      "the ratios of one run are what count, absolute figures move from run to run.")
    w("")
    w(f"- wshub {ver['wshub']}; {ver['rustc']}; Node {ver['node']}; Linux {ver['kernel']}; {ver['cpus']} CPUs")
    w(f"- peers: socketioxide {ver['socketioxide']} (axum), socket.io {ver['socket.io']}, "
      f"tokio-tungstenite {ver['tokio-tungstenite']}, ws {ver['ws']}")
    if any(k.startswith("c2_") and v is not None for row in table.values() for k, v in row.items()):
        w(f"- cluster: redis-server {ver['redis-server']}; the Node nodes use @socket.io/redis-adapter "
          f"{ver['redis-adapter']} with the redis client {ver['redis-client']}")
    w(f"- the whole `make bench` run took {elapsed / 60:.1f} min")
    w("")
    w("Scenarios (payload: one JSON object argument of 32 bytes, `{\"t\":…,\"p\":\"xx…\"}`, carrying the send "
      "time; raw servers get a 32-byte text frame):")
    w("")
    w("- **echo**: 50 clients × 4 messages in flight; `echo` comes back to the sender; 1 s warm-up, 5 s measured.")
    w("- **bcast1k / bcast10k**: 1,000 / 10,000 receivers and one sender keeping 16 `broadcast` events in "
      "flight (one is done when every receiver has it); the server sends it to everyone but the sender; "
      "latency is per delivery; 1 s / 2 s warm-up, 4 s / 5 s measured.")
    w("- **idle10k / idle19k**: 10,000 / 19,000 connections (Socket.IO connected to `/`, or plain WebSocket) "
      "opened 256 at a time from 127.0.0.1–8, then 2 s idle; RSS growth over the fresh server's, per connection. "
      "19k only for wshub (a process here may hold 20,000 descriptors).")
    w("- **cluster2**: two servers of the same kind on one Redis (a redis-server of the run's own, "
      "wshub's Redis adapter / @socket.io/redis-adapter) and bcast1k's load across them: 1,000 receivers, "
      "500 on each server, the sender on the first; a broadcast is done when all 1,000 have it. The two "
      "servers and the redis-server all run on CPU "
      f"{SERVER_CPU} (the cluster gets the one core a single server gets elsewhere); per-CPU-second figures "
      "count the CPU of both servers, not Redis's (its share is shown apart). Only wshub and node-socketio: "
      "socketioxide has no Redis adapter compatible with Node's @socket.io/redis-adapter, and the raw servers "
      "have no cluster at all.")
    w("- Server CPU is utime+stime from /proc/<pid>/stat over the measured window; RSS is VmRSS.")
    w("- The load generator handshakes with tokio-tungstenite, then reads and writes frames itself (all the "
      "frames of one read answered in one write), so that it costs far less per message than a server; and it "
      "never sleeps while the load runs (it keeps polling), so that no server pays for waking an idle client "
      "CPU, which costs more the idler the client is and would widen every gap between servers. Its CPU share "
      "is therefore always near 100%.")
    w("- Raw servers (no Socket.IO layer): a text frame starting with `e` is echoed, one starting with `b` is "
      "sent to every other connection. `wshub-raw` is wshub's own plain WebSocket endpoint `/ws`.")
    w("- `wshub-c` is the same hub driven through the C ABI (every event hops to the dispatcher thread and "
      "back); its idle connections cost what wshub's do, so it skips the idle scenarios.")
    w("")
    w("## Absolute figures (medians)")
    w("")
    cols = ["echo_cpu", "echo_p50", "echo_p99", "echo_p999", "b1k_cpu", "b1k_p50", "b1k_p99",
            "b10k_cpu", "b10k_p99", "idle10k", "idle19k"]
    heads = {"echo_cpu": "echo RT / CPU-s", "echo_p50": "echo p50", "echo_p99": "echo p99",
             "echo_p999": "echo p99.9", "b1k_cpu": "bcast 1k deliv. / CPU-s", "b1k_p50": "bcast 1k p50",
             "b1k_p99": "bcast 1k p99", "b10k_cpu": "bcast 10k deliv. / CPU-s", "b10k_p99": "bcast 10k p99",
             "idle10k": "RSS / idle conn (10k)", "idle19k": "RSS / idle conn (19k)"}
    w("| server | " + " | ".join(heads[c] for c in cols) + " |")
    w("|---|" + "---:|" * len(cols))
    for s in present:
        row = table[s[0]]
        w(f"| {s[0]} | " + " | ".join(fmt(c, row.get(c)) for c in cols) + " |")
    w("")
    w("## Ratios wshub ÷ peer (same run)")
    w("")
    w("Throughput per server-CPU-second: above 1 means wshub does more work per CPU-second. "
      "Latency and memory: below 1 means wshub is lower. The raw-tungstenite and node-ws rows compare wshub's "
      "Socket.IO path with servers that have no Socket.IO layer (the floor of the stack); the rows in "
      "parentheses compare wshub's C-callback path with its Rust path, and wshub's raw endpoint with "
      "raw tokio-tungstenite.")
    w("")
    rcols = [("echo_cpu", "echo / CPU-s"), ("b1k_cpu", "bcast 1k / CPU-s"), ("b10k_cpu", "bcast 10k / CPU-s"),
             ("c2_cpu", "bcast 2 nodes / CPU-s"),
             ("echo_p50", "echo p50"), ("echo_p99", "echo p99"), ("b1k_p99", "bcast 1k p99"),
             ("idle10k", "RSS / idle conn (10k)")]
    w("| wshub ÷ | " + " | ".join(h for _, h in rcols) + " |")
    w("|---|" + "---:|" * len(rcols))
    for p in PEERS:
        if p in table:
            w(f"| {p} | " + " | ".join(fmt_ratio(ratio(table, k, p)) for k, _ in rcols) + " |")
    if "wshub-c" in table:
        w(f"| (wshub-c ÷ wshub) | " +
          " | ".join(fmt_ratio(ratio(table, k, "wshub", base="wshub-c")) for k, _ in rcols) + " |")
    if "wshub-raw" in table and "raw-tungstenite" in table:
        w(f"| (wshub-raw ÷ raw-tungstenite) | " +
          " | ".join(fmt_ratio(ratio(table, k, "raw-tungstenite", base="wshub-raw")) for k, _ in rcols) + " |")
    w("")
    w("![ratios](ratios.svg)")
    w("")
    if "wshub-baseline" in table and "wshub" in table:
        w(f"## Before and after: wshub ÷ wshub as of {ver['baseline']} (same run)")
        w("")
        w("`wshub-baseline` is wshub built from the commit BENCH_BASELINE names, run in every round next to "
          "wshub (the same scenarios, the same load generator, one after the other). Throughput: above 1 "
          "means the current tree does more per server-CPU-second; memory: below 1 means it holds less.")
        w("")
        bcols = [("echo_cpu", "echo / CPU-s"), ("b1k_cpu", "bcast 1k / CPU-s"),
                 ("b10k_cpu", "bcast 10k / CPU-s"), ("echo_p99", "echo p99"),
                 ("idle10k", "RSS / idle conn (10k)"), ("idle19k", "RSS / idle conn (19k)")]
        w("| | " + " | ".join(h for _, h in bcols) + " |")
        w("|---|" + "---:|" * len(bcols))
        w(f"| wshub ({ver['wshub']}) | " + " | ".join(fmt(k, table["wshub"].get(k)) for k, _ in bcols) + " |")
        w(f"| wshub-baseline ({ver['baseline']}) | " +
          " | ".join(fmt(k, table["wshub-baseline"].get(k)) for k, _ in bcols) + " |")
        w("| wshub ÷ wshub-baseline, median of the rounds' ratios | " +
          " | ".join(fmt_ratio(ratio(table, k, "wshub-baseline")) for k, _ in bcols) + " |")
        w("")
    c2 = [s for s in present if table[s[0]].get("cluster2_rows")]
    if c2:
        w("## Two nodes of one Redis cluster (cluster2)")
        w("")
        w("Broadcasts from a socket of server 1 to 1,000 receivers, 500 on server 1 and 500 on server 2 "
          "(the cross-node deliveries go through Redis). Deliveries / s count every receiver; the cross-node "
          "ones are those to server 2's receivers. Per server-CPU-s: over the CPU time of both servers. "
          "Latencies are per delivery, from the sender's timestamp.")
        w("")
        ccols = [("c2_rate", "deliveries / s"), ("c2_cross", "cross-node deliveries / s"),
                 ("c2_cpu", "deliveries / server-CPU-s"), ("c2_p50", "p50"), ("c2_p99", "p99"),
                 ("c2_cross_p50", "cross-node p50"), ("c2_cross_p99", "cross-node p99")]
        w("| server | " + " | ".join(h for _, h in ccols) + " | redis-server CPU |")
        w("|---|" + "---:|" * (len(ccols) + 1))
        for s in c2:
            row = table[s[0]]
            rcpu = row.get("c2_redis")
            w(f"| {s[0]} | " + " | ".join(fmt(k, row.get(k)) for k, _ in ccols) + " | "
              + ("—" if rcpu is None else f"{rcpu * 100:.1f}%") + " |")
        for p in PEERS:
            if p in table and table[p].get("cluster2_rows") and "wshub" in table:
                w(f"| wshub ÷ {p} | " + " | ".join(fmt_ratio(ratio(table, k, p)) for k, _ in ccols) + " | |")
        w("")
        w("socketioxide is not in this scenario: it has no Redis adapter that speaks the protocol of Node's "
          "@socket.io/redis-adapter.")
        w("")
    w("## Targets of issue 7")
    w("")
    targets = []

    def t(label, value, ok, goal):
        targets.append((label, value, ok, goal))

    r = ratio(table, "echo_cpu", "socketioxide")
    t("echo / CPU-s vs socketioxide", fmt_ratio(r), r is not None and r >= 2, "≥ 2×")
    r = ratio(table, "echo_cpu", "raw-tungstenite")
    t("echo / CPU-s vs raw tokio-tungstenite", fmt_ratio(r), r is not None and r >= 0.9, "≥ 0.90×")
    r = ratio(table, "echo_p99", "socketioxide")
    t("echo p99 vs socketioxide", fmt_ratio(r), r is not None and r < 1, "< 1×")
    r = ratio(table, "b1k_cpu", "socketioxide")
    t("broadcast 1k / CPU-s vs socketioxide", fmt_ratio(r), r is not None and r >= 2, "≥ 2×")
    r = ratio(table, "b10k_cpu", "socketioxide")
    t("broadcast 10k / CPU-s vs socketioxide", fmt_ratio(r), r is not None and r >= 2, "≥ 2×")
    r = ratio(table, "echo_cpu", "wshub", base="wshub-c")
    t("C-callback server's echo / CPU-s vs the Rust-handler server's", fmt_ratio(r), r is not None and r >= 0.7,
      "≥ 0.70×")
    for k, lab in (("idle10k", "10k"), ("idle19k", "19k")):
        v = table.get("wshub", {}).get(k)
        t(f"RSS per idle Socket.IO connection at {lab}", fmt_bytes(v), v is not None and v <= 4096, "≤ 4 KiB")
    w("| target | measured | goal | met |")
    w("|---|---:|---:|:---:|")
    for label, value, ok, goal in targets:
        w(f"| {label} | {value} | {goal} | {'yes' if ok else 'no'} |")
    w("")
    w("## Details (medians)")
    w("")
    w("`server CPU` is the share of one core the server used during the measured window: near 100%, the "
      "server, not the client, set the pace. `loadgen CPU` is the load generator's, near 100% by design "
      "(it never sleeps while the load runs). `lost` counts connections dropped during a run. For cluster2, "
      "server CPU and server RSS are the sums over both servers.")
    w("")
    w("| server | case | rate / s | server CPU | loadgen CPU | p50 | p99 | p99.9 | max | server RSS | lost | runs ok |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in present:
        for case in ("echo", "bcast1k", "bcast10k", "cluster2"):
            rows = table[s[0]].get(case + "_rows")
            if not rows:
                continue
            ok = [x for x in rows if not x.get("error")]
            m = lambda k: median(rows, k)
            frac = lambda v: "—" if v is None else f"{v * 100:.0f}%"
            rss = m("rss_kb")
            if case == "cluster2":
                rss2 = m("rss2_kb")
                rss = None if rss is None or rss2 is None else rss + rss2
            w(f"| {s[0]} | {case} | {fmt_num(m('rate'))} | {frac(m('server_cpu_frac'))} | "
              f"{frac(m('loadgen_cpu_frac'))} | {fmt_us(m('p50_us'))} | {fmt_us(m('p99_us'))} | "
              f"{fmt_us(m('p999_us'))} | {fmt_us(m('max_us'))} | "
              f"{'—' if rss is None else f'{rss / 1024:.0f} MiB'} | {fmt_num(m('lost'))} | {len(ok)}/{len(rows)} |")
    w("")
    w("| server | case | connected | connects / s | connect CPU-s | RSS before | RSS after | per connection | runs ok |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in present:
        for case in ("idle10k", "idle19k"):
            rows = table[s[0]].get(case + "_rows")
            if not rows:
                continue
            ok = [x for x in rows if not x.get("error")]
            m = lambda k: median(rows, k)
            kb = lambda v: "—" if v is None else f"{v / 1024:.1f} MiB"
            w(f"| {s[0]} | {case} | {fmt_num(m('connected'))} | {fmt_num(m('connects_per_s'))} | "
              f"{fmt_num(m('connect_cpu_s'))} | {kb(m('rss_kb_before'))} | {kb(m('rss_kb'))} | "
              f"{fmt_bytes(m('rss_per_conn_bytes'))} | {len(ok)}/{len(rows)} |")
    errors = [r for r in results if r.get("error")]
    if errors:
        w("")
        w("## Errors")
        w("")
        for r in errors:
            w(f"- {r.get('server')} {r.get('case')}: {r.get('error')}")
    w("")
    w("Servers: " + "; ".join(f"`{s[0]}` = {s[4]}" for s in present) + ".")
    w("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    t_start = time.time()
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    only_servers = env_list("BENCH_SERVERS")
    only_scen = env_list("BENCH_SCENARIOS")
    out_dir = os.environ.get("BENCH_OUT", HERE)
    for tool in ("taskset", "node", "npm", "cargo"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is needed")
    have_redis = shutil.which("redis-server") is not None
    if not have_redis and (not only_scen or only_scen & CLUSTER):
        log("no redis-server (Debian: apt-get install redis-server): the cluster scenarios are left out")
    if os.cpu_count() < 2:
        log("fewer than 2 CPUs: the server and the load generator will share one")
    if not os.environ.get("BENCH_NO_BUILD"):
        build()
    clk_tck = os.sysconf("SC_CLK_TCK")
    baseline = os.environ.get("BENCH_BASELINE")
    all_servers = SERVERS + ([baseline_server(baseline)] if baseline else [])
    servers = [s for s in all_servers if not only_servers or s[0] in only_servers]
    scenarios = [c for c in SCENARIOS if (not only_scen or c[0] in only_scen) and (have_redis or c[0] not in CLUSTER)]
    tmp, loadgen, run_servers = snapshot(servers)
    runs_on = lambda c, s: (c[2] is None or s[0] in c[2]) and c[0] not in s[5]
    rounds = lambda c: runs + EXTRA_RUNS.get(c[0], 0)
    total = sum(rounds(c) for c in scenarios for s in run_servers if runs_on(c, s))
    log(f"{total} runs: {len(run_servers)} servers, {len(scenarios)} scenarios, {runs} runs each "
        f"({', '.join(f'{c[0]} {rounds(c)}' for c in scenarios if rounds(c) != runs) or 'all alike'})")
    os.makedirs(out_dir, exist_ok=True)
    jsonl = open(os.path.join(out_dir, "results.jsonl"), "w")
    results = []
    done = 0
    for run in range(max(map(rounds, scenarios), default=0)):
        for scen in scenarios:
            if run >= rounds(scen):
                continue
            order = sorted((s for s in run_servers if runs_on(scen, s)), key=lambda s: RUN_ORDER.index(s[0]))
            k = run % len(order) if order else 0
            order = order[k:] + order[:k]  # rotate, so no server always goes first
            for srv in order:
                done += 1
                t0 = time.time()
                try:
                    if scen[0] in CLUSTER:
                        res = run_cluster(srv, scen, clk_tck, loadgen)
                    else:
                        res = run_one(srv, scen, clk_tck, loadgen)
                except Exception as e:  # a server that does not start is reported, the rest go on
                    res = {"server": srv[0], "case": scen[0], "error": str(e)}
                res["run"] = run + 1
                results.append(res)
                jsonl.write(json.dumps(res, sort_keys=True) + "\n")
                jsonl.flush()
                key = {"echo": "per_cpu_s", "bcast1k": "per_cpu_s", "bcast10k": "per_cpu_s",
                       "cluster2": "per_cpu_s"}.get(scen[0], "rss_per_conn_bytes")
                extra = f" rate={res.get('rate')} cross_rate={res.get('cross_rate')}" if scen[0] in CLUSTER else ""
                log(f"[{done}/{total}] run {run + 1} {scen[0]:9} {srv[0]:16} {key}={res.get(key)}{extra} "
                    f"p99={res.get('p99_us')} err={res.get('error')} ({time.time() - t0:.1f} s)")
                time.sleep(0.3)
    jsonl.close()
    shutil.rmtree(tmp, ignore_errors=True)
    table = summarize(results)
    elapsed = time.time() - t_start
    ver = versions()
    svg_chart(table, os.path.join(out_dir, "ratios.svg"), set(table))
    write_report(os.path.join(out_dir, "RESULTS.md"), table, results, servers, runs, elapsed, ver)
    log(f"wrote {os.path.relpath(os.path.join(out_dir, 'RESULTS.md'), ROOT)} and ratios.svg "
        f"in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
