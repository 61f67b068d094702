#!/usr/bin/env python3
"""What the metrics cost: wshub with its counters compiled in and out, side by side.

    python3 bench/metrics.py        (about 5 minutes, the two builds aside)

examples/bench.rs is built twice in release mode: `metrics-on` with the default
features (every count of src/metrics.rs is a relaxed atomic add) and
`metrics-off` with `--no-default-features` (the counters are empty types and
every add compiles to nothing). "Off" is the code without the counting, not a
switch that skips it: the measure is the whole cost of keeping metrics on.
Both run once per round, in an order that alternates from round to round,
under the load of bench/loadgen, server pinned to CPU 0 and load generator to
CPU 1, as in `make bench` (bench/run.py, whose process handling this uses):

  echo      50 clients x 4 `echo` in flight (an event in, an event out, bytes both ways)
  bcast1k   1 sender, 16 `broadcast` in flight to 1,000 receivers
  bcast10k  the same with 10,000 receivers

Ratios are medians of the per-round ratios (on / off, per server-CPU-second).
Writes bench/metrics.md. Only 127.0.0.1; every run bounded in time.

  BENCH_RUNS=5                     rounds
  BENCH_SCENARIOS=echo,bcast1k     only these
  BENCH_NO_BUILD=1                 use the binaries built before
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from run import HERE, LOADGEN, LOADGEN_CPU, REL, ROOT, SCENARIOS, SERVER_CPU, TARGET, note_exit, run_loadgen, \
    start_server, stop_server

BUILDS = [("metrics-off", ["--no-default-features"]), ("metrics-on", [])]
CASES = [c for c in ["echo", "bcast1k", "bcast10k"]
         if c in (os.environ.get("BENCH_SCENARIOS") or "echo,bcast1k,bcast10k").split(",")]
LOAD = {name: args for name, args, _ in SCENARIOS if name in CASES}


def binary(name: str) -> str:
    return os.path.join(REL, f"bench-{name}")


def build() -> None:
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    for name, features in BUILDS:
        print(f"[metrics bench] building examples/bench.rs ({name})", file=sys.stderr, flush=True)
        subprocess.run(["cargo", "build", "--release", "--example", "bench"] + features, cwd=ROOT, env=env,
                       check=True)
        shutil.copy2(os.path.join(REL, "examples", "bench"), binary(name))
    subprocess.run(["cargo", "build", "--release", "--manifest-path", os.path.join(HERE, "loadgen", "Cargo.toml")],
                   cwd=ROOT, env=env, check=True)


def run_one(path: str, name: str, case: str, loadgen: str, clk_tck: int) -> dict:
    proc, port = start_server([path])
    try:
        time.sleep(0.3)
        res = run_loadgen(loadgen, name, "sio", port, proc.pid, clk_tck, LOAD[case], timeout=240)
        note_exit(res, proc, "server")
    finally:
        stop_server(proc)
    res["server"], res["case"] = name, case
    return res


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    if not os.environ.get("BENCH_NO_BUILD"):
        build()
    # Copies, so that a rebuild during the run does not change what runs.
    tmp = tempfile.mkdtemp(prefix="wshub-metrics-bench-")
    paths = {name: shutil.copy2(binary(name), os.path.join(tmp, name)) for name, _ in BUILDS}
    loadgen = shutil.copy2(LOADGEN, os.path.join(tmp, "loadgen"))
    clk_tck = os.sysconf("SC_CLK_TCK")
    results = []
    started = time.time()
    try:
        for run in range(runs):
            order = BUILDS if run % 2 == 0 else BUILDS[::-1]
            for case in CASES:
                for name, _ in order:
                    res = run_one(paths[name], name, case, loadgen, clk_tck)
                    res["run"] = run + 1
                    results.append(res)
                    print(f"[metrics bench] run {run + 1}/{runs} {name} {case}: "
                          f"{res.get('error') or round(res.get('per_cpu_s') or 0)}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write(results, runs, time.time() - started)


def per_round_ratios(results: list[dict], case: str) -> list[float]:
    """on / off per server-CPU-second, one ratio per round in which both ran without error."""
    by = {(r["server"], r["run"]): r.get("per_cpu_s") for r in results if r["case"] == case and not r.get("error")}
    return [by[("metrics-on", n)] / by[("metrics-off", n)] for (s, n) in by
            if s == "metrics-off" and by.get(("metrics-on", n)) and by[(s, n)]]


def write(results: list[dict], runs: int, secs: float) -> None:
    def median_of(name: str, case: str):
        vals = [r["per_cpu_s"] for r in results
                if r["server"] == name and r["case"] == case and not r.get("error") and r.get("per_cpu_s")]
        return statistics.median(vals) if vals else None

    lines = ["# What the metrics cost", "",
             f"`bench/metrics.py`, {time.strftime('%Y-%m-%d %H:%M')}, {runs} rounds in {secs / 60:.1f} minutes, "
             f"server on CPU {SERVER_CPU}, load generator on CPU {LOADGEN_CPU}. `metrics-on`: examples/bench.rs "
             "with the default features (every count a relaxed atomic add); `metrics-off`: the same built with "
             "`--no-default-features` (the counting compiled out). Target: within 2%.", "",
             "| scenario | off per server-CPU-s | on per server-CPU-s | on ÷ off (median of per-round ratios) "
             "| rounds' ratios |",
             "|---|---:|---:|---:|---|"]
    for case in CASES:
        ratios = per_round_ratios(results, case)
        off, on = median_of("metrics-off", case), median_of("metrics-on", case)
        if ratios and off and on:
            each = ", ".join(f"{r:.3f}" for r in ratios)
            lines.append(f"| {case} | {off:,.0f} | {on:,.0f} | **{statistics.median(ratios):.3f}×** | {each} |")
        else:
            lines.append(f"| {case} | — | — | — | |")
    errors = [r for r in results if r.get("error")]
    if errors:
        lines += ["", "Errors:"] + [f"- {r['server']} {r['case']} run {r['run']}: {r['error']}" for r in errors]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "metrics.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
