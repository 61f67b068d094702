#!/usr/bin/env python3
"""RFC 6455 conformance: the Autobahn|Testsuite fuzzing client against the raw
WebSocket echo (/ws) of examples/conformance.rs.

    tests/autobahn/run.py          # sections 1-10, and 40 of the 216 permessage-deflate cases (2 minutes)
    tests/autobahn/run.py --all    # every case, all of 12-13 (15 to 45 minutes)
    tests/autobahn/run.py --cases 12.1.*,13.3.1   # only these (no count check)

The suite (`wstest`, PyPI package autobahntestsuite) is Python 2.7 code. The
first run builds it, once, into target/autobahn/: Debian bullseye's python2.7
packages fetched with apt-get under a private apt state (a sources.list of its
own, naming the Debian mirror the machine's apt already uses; the system's
sources and package state are left alone), unpacked with dpkg-deb -x, and a
virtualenv with the pinned suite. Then it builds and starts the example on a
free loopback port, runs wstest, reads reports/index.json, prints the count of
each behaviour and exits non-zero if any case FAILED or the run did not cover
every expected case. An UNIMPLEMENTED case fails it too: the compression
sections 12.* and 13.* run against wshub's permessage-deflate (the raw
endpoint accepts it when offered). The HTML reports stay in
target/autobahn/reports/.
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.path.join(ROOT, "target", "autobahn")  # git-ignored, like all of target/
APT = os.path.join(CACHE, "apt")
PY27_ROOT = os.path.join(CACHE, "py27")
PY27 = os.path.join(PY27_ROOT, "usr", "bin", "python2.7")
TOOLS = os.path.join(CACHE, "tools")  # a Python 3 venv holding virtualenv
VENV = os.path.join(CACHE, "venv")  # the Python 2.7 virtualenv holding wstest
WSTEST = os.path.join(VENV, "bin", "wstest")
STAMP = os.path.join(VENV, ".installed")

# Debian bullseye's python2.7 and the two libraries of its modules that
# bookworm and later no longer ship (_ssl/_hashlib, _ctypes).
DEBS = ["python2.7", "python2.7-minimal", "libpython2.7-minimal", "libpython2.7-stdlib", "libssl1.1", "libffi7"]
# The last virtualenv that creates Python 2.7 environments.
VIRTUALENV = "virtualenv<20.22"
# wstest 0.8.2 with autobahn 0.10.9 and Twisted 19.10.0, every package pinned.
REQUIREMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements.txt")

SECTIONS_DEFAULT = [str(n) for n in range(1, 11) if n != 8]  # there is no section 8 (nor 11)
SECTIONS_ALL = SECTIONS_DEFAULT + ["12", "13"]
# The permessage-deflate cases of the default run. Sections 12 and 13 are a
# grid: 12.1-12.5 are five kinds of data (JSON, a bitmap, German text, HTML, a
# PDF) with the default parameters, 13.1-13.7 one kind under seven parameter
# offers (no context takeover either way, 8- and 15-bit windows, several
# offers); in each, case n sends 1000 messages of the n-th size: 1-10 from 16
# bytes to 128 KiB whole, 11-18 of 8 to 128 KiB cut into frames of 256 bytes
# to 32 KiB. The full grid takes 15 to 45 minutes, nearly all of it the suite
# compressing 128 KiB messages in Python, which tests no more of the codec
# than 16 KiB ones do. So every row runs with 16 bytes (1), 1 KiB (4) and
# 8 KiB in 256-byte frames (11), and four 16 KiB cases (7, 12 fragmented) on
# the data kinds and windows most likely to break a codec: the bitmap
# (binary), text, the 8-bit window and no context takeover.
DEFLATE_SUBSET = (
    [f"12.{row}.{n}" for row in range(1, 6) for n in (1, 4, 11)]
    + [f"13.{row}.{n}" for row in range(1, 8) for n in (1, 4, 11)]
    + ["12.1.7", "12.2.7", "13.3.7", "13.6.12"]
)
EXPECTED = {"default": 301 + len(DEFLATE_SUBSET), "all": 517}
BEHAVIOURS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]


def log(msg):
    print(f"autobahn: {msg}", flush=True)


def run(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


# ---- the suite, once ----


def debian_mirror():
    """The Debian archive the machine's apt uses (its URI and Signed-By), read
    from /etc/apt/sources.list and sources.list.d/ (one-line and deb822)."""
    override = os.environ.get("AUTOBAHN_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/"), None
    entries = []  # (uri, signed_by)
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*"))
    for path in files:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                    if m:
                        fields[m.group(1).lower()] = m.group(2).strip()
                if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
                    continue
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("signed-by")))
        elif path.endswith(".list"):
            for line in text.splitlines():
                m = re.match(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)", line)
                if m:
                    opts = m.group(1) or ""
                    sb = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
                    entries.append((m.group(2), sb.group(1) if sb else None))
    # The main archive: a path ending in /debian, or a dated snapshot of it
    # (not debian-security, ports, …).
    for uri, signed_by in entries:
        if re.search(r"/debian(/\d{8}T\d{6}Z)?$", uri.rstrip("/")):
            return uri.rstrip("/"), signed_by
    sys.exit("autobahn: no Debian archive in the machine's apt sources (set AUTOBAHN_DEBIAN_MIRROR)")


def apt_options():
    return [
        "-o", f"Dir::Etc::SourceList={APT}/sources.list",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State={APT}/state",
        "-o", f"Dir::State::status={APT}/status",
        "-o", f"Dir::Cache={APT}/cache",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root",
        "-o", "Acquire::Languages=none",
        "-o", "Acquire::Check-Valid-Until=false",  # a snapshot's Release files are old
        "-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
        "-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
        "-o", "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false",
        "-q",
    ]


def fetch_python27():
    """Debian bullseye's python2.7, unpacked under target/autobahn/py27/."""
    if os.path.exists(PY27):
        return
    mirror, signed_by = debian_mirror()
    log(f"fetching Debian bullseye's python2.7 (private apt state in {os.path.relpath(APT, ROOT)})")
    for d in ["state/lists/partial", "cache/archives/partial", "debs"]:
        os.makedirs(os.path.join(APT, d), exist_ok=True)
    opts = f" [signed-by={signed_by}]" if signed_by and os.path.exists(signed_by) else ""
    with open(os.path.join(APT, "sources.list"), "w") as f:
        f.write(f"deb{opts} {mirror} bullseye main\n")
    open(os.path.join(APT, "status"), "a").close()
    opts = apt_options()
    run(["apt-get", *opts, "update"])
    debs = os.path.join(APT, "debs")
    for old in glob.glob(os.path.join(debs, "*.deb")):
        os.remove(old)
    run(["apt-get", *opts, "download", *DEBS], cwd=debs)
    tmp = PY27_ROOT + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
        run(["dpkg-deb", "-x", deb, tmp])
    os.replace(tmp, PY27_ROOT)


def py27_env():
    """The environment the unpacked python2.7 runs in: its own libssl1.1 and libffi7."""
    env = dict(os.environ)
    libs = glob.glob(os.path.join(PY27_ROOT, "usr/lib/*-linux-gnu*")) + glob.glob(os.path.join(PY27_ROOT, "lib/*-linux-gnu*"))
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(libs)
    for k in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(k, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONWARNINGS"] = "ignore"  # cryptography's "Python 2 is no longer supported"
    return env


def ensure_suite():
    with open(REQUIREMENTS) as f:
        want = f.read()
    if os.path.exists(STAMP) and open(STAMP).read() == want:
        return
    fetch_python27()
    env = py27_env()
    if not os.path.exists(os.path.join(TOOLS, "bin", "virtualenv")):
        log("installing virtualenv")
        run([sys.executable, "-m", "venv", TOOLS])
        run([os.path.join(TOOLS, "bin", "pip"), "install", "--quiet", VIRTUALENV])
    log("making the Python 2.7 virtualenv with wstest")
    shutil.rmtree(VENV, ignore_errors=True)
    run([os.path.join(TOOLS, "bin", "virtualenv"), "--quiet", "-p", PY27, VENV], env=env)
    run([os.path.join(VENV, "bin", "pip"), "install", "--quiet", "--no-python-version-warning", "-r", REQUIREMENTS], env=env)
    run([WSTEST, "--help"], env=env, stdout=subprocess.DEVNULL)
    with open(STAMP, "w") as f:
        f.write(want)


# ---- the server under test ----


def start_server():
    """Builds and starts examples/conformance.rs on a free loopback port;
    returns (process, port)."""
    cargo = os.environ.get("CARGO", "cargo")
    run([cargo, "build", "--quiet", "--example", "conformance"], cwd=ROOT)
    meta = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    exe = os.path.join(json.loads(meta.stdout)["target_directory"], "debug", "examples", "conformance")
    # Port 0: the hub picks a free one and prints it. Section 9 sends messages
    # (and frames) of up to 16 MiB, over the example's default max payload.
    env = dict(os.environ, PORT="0", MAX_PAYLOAD=str(16 * 2**20))
    proc = subprocess.Popen([exe], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.match(r"LISTENING (\d+)", line)
    if not m:
        stop_server(proc)
        sys.exit(f"autobahn: the conformance server did not start (it printed {line!r})")
    port = int(m.group(1))
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass
    return proc, port


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- the run ----


def fuzz(port, cases, outdir, timeout):
    spec = {
        "outdir": outdir,
        "servers": [{"agent": "wshub", "url": f"ws://127.0.0.1:{port}/ws"}],
        "cases": cases,
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    spec_path = os.path.join(CACHE, "fuzzingclient.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
    log(f"wstest -m fuzzingclient, cases {', '.join(cases)}, against ws://127.0.0.1:{port}/ws")
    with open(os.path.join(CACHE, "wstest.log"), "w") as logf:
        try:
            rc = subprocess.run(
                [WSTEST, "-m", "fuzzingclient", "-s", spec_path],
                cwd=CACHE,
                env=py27_env(),
                stdout=logf,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            sys.exit(f"autobahn: wstest did not finish within {timeout // 60} minutes")
    if rc != 0:
        sys.exit(f"autobahn: wstest exited with {rc} (its output: {os.path.relpath(logf.name, ROOT)})")


def summarize(outdir, expected):
    """Prints the count of each behaviour; returns whether the run passes."""
    try:
        with open(os.path.join(outdir, "index.json")) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print(f"autobahn: no report ({e})")
        return False
    cases = index.get("wshub", {})
    counts = {b: 0 for b in BEHAVIOURS}
    close_counts = {b: 0 for b in BEHAVIOURS}
    failed = []

    def key(case_id):
        return [int(x) for x in case_id.split(".")]

    for case_id in sorted(cases, key=key):
        r = cases[case_id]
        counts[r["behavior"]] = counts.get(r["behavior"], 0) + 1
        close_counts[r["behaviorClose"]] = close_counts.get(r["behaviorClose"], 0) + 1
        if "FAILED" in (r["behavior"], r["behaviorClose"]) or "UNIMPLEMENTED" in (r["behavior"], r["behaviorClose"]):
            failed.append(f"{case_id} (behavior {r['behavior']}, close {r['behaviorClose']}, {r.get('reportfile')})")
    print(f"autobahn: {len(cases)} cases (expected {expected or 'any number'})")
    print("  behaviour:         " + ", ".join(f"{b} {n}" for b, n in counts.items()))
    print("  closing handshake: " + ", ".join(f"{b} {n}" for b, n in close_counts.items()))
    for f in failed:
        print(f"  FAILED {f}")
    if expected is None:
        expected = len(cases) or 1  # a --cases run: any number of cases, but some
    if len(cases) != expected:
        print(f"  the run covered {len(cases)} cases, not the {expected} expected")
    print(f"  reports: {os.path.relpath(os.path.join(outdir, 'index.html'), ROOT)}")
    ok = not failed and len(cases) == expected
    passed = len(cases) - len(failed)
    print(f"autobahn: {passed} passed, {len(failed) + max(0, expected - len(cases))} failed")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="every case, all of permessage-deflate (12.*, 13.*)")
    ap.add_argument("--cases", help="only these cases, comma-separated wstest patterns (e.g. 12.1.*,13.3.1)")
    ap.add_argument("--setup-only", action="store_true", help="install the suite and stop")
    args = ap.parse_args()
    ensure_suite()
    if args.setup_only:
        return 0
    if args.cases:
        cases, expected = [c.strip() for c in args.cases.split(",") if c.strip()], None
    else:
        cases = [f"{s}.*" for s in (SECTIONS_ALL if args.all else SECTIONS_DEFAULT)]
        cases += [] if args.all else DEFLATE_SUBSET
        expected = EXPECTED["all" if args.all else "default"]
    outdir = os.path.join(CACHE, "reports")
    proc, port = start_server()
    started = time.monotonic()
    try:
        fuzz(port, cases, outdir, timeout=(90 if args.all or args.cases else 15) * 60)
        alive = proc.poll() is None
    finally:
        stop_server(proc)
    log(f"wstest took {time.monotonic() - started:.0f} s")
    ok = summarize(outdir, expected)
    if not alive:
        print("autobahn: the server died during the run")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
