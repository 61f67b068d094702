#!/usr/bin/env python3
"""Draws docs/grafana-dashboard.png, the picture of docs/grafana-dashboard.json.

Grafana itself is not to be had on the machine this was made on, so this is
the closest honest thing: a real Prometheus scrapes two real wshub test
servers (one Redis cluster) while load.mjs drives real Socket.IO clients at
them; then every panel's own PromQL is asked of Prometheus over that run, and
page.html draws the answers on Grafana's grid, which shot.mjs screenshots in
headless Chromium.

    python3 docs/dashboard/render.py [--seconds 75] [--out docs/grafana-dashboard.png]

The hub is $WSHUB_TEST_SERVER, else target/debug/examples/test_server (built
in debug if missing). It installs what it lacks: Debian's prometheus,
redis-server and chromium (as root), and its npm packages into
docs/dashboard/node_modules. Everything listens on 127.0.0.1 only, every step
has a time limit, and what it starts it stops, by PID.
"""

import argparse
import json
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NPM_PACKAGES = ["uplot@1.6.32", "playwright-core@1.65.1", "socket.io-client@4.8.4", "ws@8.23.0"]
SCRAPE_S = 1
# Grafana's $__interval is the step (1 s for ~90 s over a panel's width, never
# under the scrape interval), and $__rate_interval is
# max($__interval + scrape interval, 4 * scrape interval).
STEP_S = 1
RATE_INTERVAL = f"{max(STEP_S + SCRAPE_S, 4 * SCRAPE_S)}s"


def log(msg):
    print(f"render: {msg}", flush=True)


def need_apt(command, package):
    if shutil.which(command):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"render: needs Debian's {package}: sudo apt-get install {package}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                   check=True, timeout=900, env=env)


def need_npm():
    names = [p.rsplit("@", 1)[0] for p in NPM_PACKAGES]
    if all((HERE / "node_modules" / n / "package.json").exists() for n in names):
        return
    # --no-save and --no-package-lock: the versions are pinned here, and the
    # folder keeps no package.json of its own.
    subprocess.run(["npm", "install", "--prefix", str(HERE), "--no-save", "--no-package-lock",
                    "--no-audit", "--no-fund", *NPM_PACKAGES], check=True, timeout=600)


def hub_binary():
    path = Path(os.environ.get("WSHUB_TEST_SERVER", ROOT / "target/debug/examples/test_server"))
    if not path.exists():
        log("building the test server (debug)")
        subprocess.run(["nice", "-n", "19", "cargo", "build", "--example", "test_server"],
                       cwd=ROOT, check=True, timeout=3600)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def wait_for(what, ok, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {seconds} s")


class Processes:
    """What this script started, to stop by PID whatever happens."""

    def __init__(self, tmp):
        self.tmp, self.procs = tmp, []

    def start(self, name, argv, **kw):
        log_file = open(self.tmp / f"{name}.log", "w")
        proc = subprocess.Popen(argv, stdout=kw.pop("stdout", log_file), stderr=log_file,
                                stdin=subprocess.DEVNULL, **kw)
        self.procs.append((name, proc))
        return proc

    def stop_all(self):
        while self.procs:
            name, proc = self.procs.pop()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
                log(f"stopped {name} (pid {proc.pid})")


def start_hub(procs, name, binary, redis_port, token):
    env = dict(os.environ, PORT="0", REDIS_URL=f"redis://127.0.0.1:{redis_port}",
               WSHUB_METRICS_TOKEN=token,
               # The test server's heartbeat (300 ms + 200 ms) is made for its
               # tests; ten times that keeps busy clients of a debug build up.
               WSHUB_TEST_HEARTBEAT_SCALE="10")
    proc = procs.start(name, [str(binary)], env=env, cwd=ROOT, stdout=subprocess.PIPE)
    # It prints `LISTENING <port>` once it listens.
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline().decode() if ready else ""
    if not line.startswith("LISTENING "):
        raise RuntimeError(f"{name} did not start: {line!r}")
    return int(line.split()[1])


def prom_get(port, path, **params):
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.load(resp)
    if body["status"] != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]


def all_values_regex(values):
    """A template variable set to All (multi-value, no custom all value), as
    Grafana puts it in a query: the values, regex-escaped, as (a|b|c)."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", v).replace("\\", "\\\\") for v in values]
    return "(" + "|".join(escaped) + ")"


def legend(fmt, labels):
    if not fmt:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def query_panels(port, dashboard, start, end):
    """Every target of every panel, asked of Prometheus as Grafana asks it."""
    variables = {
        "instance": all_values_regex(prom_get(port, "/api/v1/label/instance/values", **{"match[]": "wshub_connections"})),
        "namespace": all_values_regex(prom_get(port, "/api/v1/label/namespace/values", **{"match[]": "wshub_sockets"})),
        "__rate_interval": RATE_INTERVAL,
        "__interval": f"{STEP_S}s",
    }
    times = list(range(int(start), int(end) + 1, STEP_S))
    panels = []
    for panel in dashboard["panels"]:
        series = []
        for target in panel.get("targets", []):
            expr = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), target["expr"])
            data = prom_get(port, "/api/v1/query_range", query=expr, start=times[0], end=times[-1], step=STEP_S)
            for result in data["result"]:
                # One value per step, None where Prometheus had no sample.
                by_time = {int(float(t)): float(v) for t, v in result["values"]}
                series.append({"name": legend(target.get("legendFormat", ""), result["metric"]),
                               "values": [by_time.get(t) for t in times]})
        panels.append({"title": panel["title"], "type": panel["type"], "gridPos": panel["gridPos"],
                       "unit": panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short"),
                       "series": series})
        filled = sum(1 for s in series if any(v for v in s["values"]))
        log(f"panel {panel['title']!r}: {len(series)} series, {filled} not all zero")
    return {"title": dashboard["title"], "times": times, "panels": panels}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=75, help="length of the load (default 75)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/grafana-dashboard.png")
    args = parser.parse_args()
    os.nice(10)  # a picture is no benchmark: yield the CPU to whatever else runs

    for command, package in [("prometheus", "prometheus"), ("redis-server", "redis-server"),
                             ("chromium", "chromium")]:
        need_apt(command, package)
    need_npm()
    binary = hub_binary()
    dashboard = json.loads((ROOT / "docs/grafana-dashboard.json").read_text())

    tmp = Path(tempfile.mkdtemp(prefix="wshub-dashboard-"))
    procs = Processes(tmp)
    try:
        redis_port = free_port()
        procs.start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port),
                              "--save", "", "--appendonly", "no", "--dir", str(tmp)])
        wait_for("redis", lambda: listening(redis_port), 20)

        token = secrets.token_hex(16)
        hubs = [start_hub(procs, f"hub-{n}", binary, redis_port, token) for n in "ab"]
        log(f"hubs on {hubs}, redis on {redis_port}")

        # The hub serves /metrics only with a token (or an allow-list): the
        # scrape sends it as a bearer token. JSON is YAML, so json.dumps writes it.
        prom_port = free_port()
        config = {"global": {"scrape_interval": f"{SCRAPE_S}s", "scrape_timeout": f"{SCRAPE_S}s"},
                  "scrape_configs": [{"job_name": "wshub", "metrics_path": "/metrics",
                                      "authorization": {"type": "Bearer", "credentials": token},
                                      "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in hubs]}]}]}
        (tmp / "prometheus.yml").write_text(json.dumps(config))
        procs.start("prometheus", ["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={tmp / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])
        wait_for("prometheus", lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{prom_port}/-/ready", timeout=2).status == 200, 60)
        wait_for("both scrapes", lambda: all(
            t["health"] == "up" for t in prom_get(prom_port, "/api/v1/targets")["activeTargets"])
            and len(prom_get(prom_port, "/api/v1/targets")["activeTargets"]) == 2, 30)

        start = time.time() - 2  # a moment of the idle hubs, then the clients come
        log(f"load for {args.seconds} s")
        load = procs.start("load", ["node", str(HERE / "load.mjs"), str(hubs[0]), str(hubs[1]),
                                    str(args.seconds)], cwd=HERE, stdout=subprocess.PIPE)
        out, _ = load.communicate(timeout=args.seconds + 40)
        # load.mjs says when its clients begin to leave: the picture ends there,
        # as a live dashboard would look during the load.
        steady = [float(l.split()[1]) / 1000 for l in out.decode().splitlines() if l.startswith("STEADY ")]
        if load.returncode != 0 or not steady:
            raise RuntimeError(f"load failed: {out.decode()[-2000:]}")
        time.sleep(3 * SCRAPE_S)  # the last scrapes
        data = query_panels(prom_port, dashboard, start, steady[0])
        empty = [p["title"] for p in data["panels"] if not any(v for s in p["series"] for v in s["values"])]
        if empty:
            log(f"warning: no line above zero in {empty}")

        page = (HERE / "page.html").read_text()
        uplot = HERE / "node_modules/uplot/dist"
        page = (page.replace("/*UPLOT_CSS*/", (uplot / "uPlot.min.css").read_text())
                    .replace("/*UPLOT_JS*/", (uplot / "uPlot.iife.min.js").read_text())
                    .replace("/*DATA*/null", json.dumps(data)))
        (tmp / "page.html").write_text(page)
        subprocess.run(["node", str(HERE / "shot.mjs"), str(tmp / "page.html"), str(args.out.resolve())],
                       cwd=HERE, check=True, timeout=120)
        log(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    except BaseException:
        procs.stop_all()  # then their logs, which say why
        for path in sorted(tmp.glob("*.log")):
            print(f"--- {path.name}:\n{path.read_text()[-1500:]}", file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
