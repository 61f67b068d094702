#!/usr/bin/env bash
# Runs an echo server binary (built against the installed library) and checks
# it with a real socket.io-client. Usage: tests/c/run_installed_echo.sh BINARY
set -euo pipefail
out=$(mktemp)
PORT=0 "$1" > "$out" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q LISTENING "$out" && break; sleep 0.05; done
port=$(awk '/LISTENING/ {print $2}' "$out")
node tests/c/client.mjs echo "$port" | tail -1
