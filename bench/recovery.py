#!/usr/bin/env python3
"""What connection state recovery costs: wshub with it off and on, side by side.

    python3 bench/recovery.py        (about 4 minutes)

The same binary (examples/bench.rs) runs twice per round: `wshub` (recovery
off) and `wshub-csr` (WSHUB_RECOVERY=1: RecoveryConfig::default(), every
broadcast kept with its offset for two minutes, every `socket.emit` too). The
load is bench/loadgen, server pinned to CPU 0 and load generator to CPU 1, as
in `make bench` (bench/run.py, whose process handling this uses). Scenarios:

  echo      50 clients x 4 `echo` in flight: each is a socket.emit, kept when on
  bcast1k   1 sender, 16 `broadcast` in flight to 1,000 receivers
  away10k   10,000 clients connect and join "/", then all drop
            (the load generator exits: "transport close"); the server's RSS
            after they are gone, over its fresh RSS, per client: what a
            disconnected session (its id, rooms) costs while it is kept

Ratios are medians of the per-round ratios (wshub-csr / wshub). Writes
bench/recovery.md. Only 127.0.0.1; every run bounded in time.

  BENCH_RUNS=5     rounds
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

from run import HERE, LOADGEN, LOADGEN_CPU, REL, SERVER_CPU, note_exit, run_loadgen, start_server, stop_server

BIN = os.path.join(REL, "examples", "bench")
SERVERS = [("wshub", {}), ("wshub-csr", {"WSHUB_RECOVERY": "1"})]
SCENARIOS = {
    "echo": ["--scenario", "echo", "--clients", "50", "--inflight", "4", "--warmup", "1", "--duration", "5",
             "--max-msgs", "20000000"],
    "bcast1k": ["--scenario", "broadcast", "--receivers", "1000", "--inflight", "16", "--warmup", "1",
                "--duration", "4", "--max-msgs", "50000000"],
    "away10k": ["--scenario", "idle", "--conns", "10000", "--concurrency", "256", "--sources", "8", "--settle", "1"],
}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_one(name: str, env: dict, scenario: str, loadgen: str, clk_tck: int) -> dict:
    proc, port = start_server([BIN], env)
    try:
        time.sleep(0.3)
        fresh = rss_kib(proc.pid)
        res = run_loadgen(loadgen, name, "sio", port, proc.pid, clk_tck, SCENARIOS[scenario], timeout=240)
        if scenario == "away10k":
            time.sleep(1.5)  # the server sees every connection go
            res["away_kib_per_client"] = (rss_kib(proc.pid) - fresh) / 10000
        note_exit(res, proc, "server")
    finally:
        stop_server(proc)
    res["server"], res["case"] = name, scenario
    return res


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    if not (os.path.exists(BIN) and os.path.exists(LOADGEN)):
        sys.exit("build first: `make bench` builds bench/target/release/{examples/bench,loadgen}, or "
                 "CARGO_TARGET_DIR=bench/target cargo build --release --example bench "
                 "and the same for bench/loadgen")
    tmp = tempfile.mkdtemp(prefix="wshub-csr-bench-")
    loadgen = os.path.join(tmp, "loadgen")
    shutil.copy2(LOADGEN, loadgen)
    clk_tck = os.sysconf("SC_CLK_TCK")
    results = []
    try:
        for run in range(runs):
            order = SERVERS if run % 2 == 0 else SERVERS[::-1]
            for scenario in SCENARIOS:
                for name, env in order:
                    res = run_one(name, env, scenario, loadgen, clk_tck)
                    res["run"] = run + 1
                    results.append(res)
                    print(f"[recovery bench] run {run + 1}/{runs} {name} {scenario}: "
                          f"{res.get('error') or res.get('per_cpu_s') or res.get('away_kib_per_client')}",
                          file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write(results, runs)


def write(results: list[dict], runs: int) -> None:
    def rows(name: str, case: str) -> list[dict]:
        return [r for r in results if r["server"] == name and r["case"] == case and not r.get("error")]

    def med(name: str, case: str, key: str):
        vals = [r[key] for r in rows(name, case) if isinstance(r.get(key), (int, float))]
        return statistics.median(vals) if vals else None

    def paired(case: str, key: str):
        ratios = []
        for run in range(1, runs + 1):
            a = [r for r in rows("wshub-csr", case) if r["run"] == run]
            b = [r for r in rows("wshub", case) if r["run"] == run]
            if a and b and a[0].get(key) and b[0].get(key):
                ratios.append(a[0][key] / b[0][key])
        return (statistics.median(ratios), len(ratios)) if ratios else (None, 0)

    lines = ["# What connection state recovery costs", "",
             f"`bench/recovery.py`, {time.strftime('%Y-%m-%d %H:%M')}, {runs} rounds, server on CPU {SERVER_CPU}, "
             f"load generator on CPU {LOADGEN_CPU}. `wshub`: recovery off; `wshub-csr`: "
             "`RecoveryConfig::default()` (every event kept two minutes, 64 MiB cap per namespace).", "",
             "| scenario | wshub per server-CPU-s | wshub-csr per server-CPU-s | csr ÷ off (median of per-round ratios) |",
             "|---|---:|---:|---:|"]
    for case in ("echo", "bcast1k"):
        ratio, n = paired(case, "per_cpu_s")
        a, b = med("wshub", case, "per_cpu_s"), med("wshub-csr", case, "per_cpu_s")
        lines.append(f"| {case} | {a:,.0f} | {b:,.0f} | **{ratio:.2f}×** (n={n}) |" if a and b and ratio
                     else f"| {case} | — | — | — |")
    off, on = med("wshub", "away10k", "away_kib_per_client"), med("wshub-csr", "away10k", "away_kib_per_client")
    lines += ["", "Memory after 10,000 clients connected and dropped (server RSS over "
              "its fresh RSS, per client; medians):", "",
              f"- recovery off: {off:.2f} KiB per client gone (what the allocator keeps)" if off is not None else "- off: —",
              f"- recovery on: {on:.2f} KiB per client gone" if on is not None else "- on: —"]
    if off is not None and on is not None:
        lines.append(f"- so a disconnected session kept for recovery costs about **{(on - off) * 1024:,.0f} bytes**")
    errors = [r for r in results if r.get("error")]
    if errors:
        lines += ["", "Errors:"] + [f"- {r['server']} {r['case']} run {r['run']}: {r['error']}" for r in errors]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "recovery.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
