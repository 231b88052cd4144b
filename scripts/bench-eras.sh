#!/usr/bin/env bash
# tools/call echo throughput, 2026-07-28 (stateless) vs handshake era (a session per client) vs
# legacy HTTP+SSE, per store, in one run, with fastmcp-load (bench/load), interleaved repeats.
# Usage: scripts/bench-eras.sh [-d 8s] [-c "16 64"] [-r 2] [-e "handshake modern legacy"] NAME=STORE_URL...
#   e.g. scripts/bench-eras.sh memory=memory redis=redis://127.0.0.1:6379
# fastmcp on CPU 0, the load generator on CPU 1. Needs a release build with the stores' features
# (cargo build --release -p fastmcp-server --features full).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=8s LEVELS="16 64" REPEATS=2 ERAS="handshake modern legacy"
while getopts "d:c:r:e:" o; do case $o in
  d) DUR=$OPTARG;; c) LEVELS=$OPTARG;; r) REPEATS=$OPTARG;; e) ERAS=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- memory=memory
LOAD=${MCPLOAD:-target/release/fastmcp-load}
[ -x "$LOAD" ] || cargo build --release --locked -p fastmcp-load
BIN=target/release/fastmcp PORT=18995
[ -x "$BIN" ] || { echo "build first: cargo build --release -p fastmcp-server --features full" >&2; exit 2; }
LOG=artifacts/bench; mkdir -p "$LOG"
printf "%-10s %-9s %4s %10s %8s %8s %6s\n" store era c req/s p50ms p99ms errors
for rep in $(seq 1 "$REPEATS"); do
  for spec in "$@"; do
    name=${spec%%=*} store=${spec#*=}
    for era in $ERAS; do
      path=/bench/mcp; [ "$era" = legacy ] && path=/bench/sse
      for c in $LEVELS; do
        taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --store "$store" --admin-token bench \
          >"$LOG/eras-$name.log" 2>&1 &
        pid=$!
        "$LOAD" wait --url "http://127.0.0.1:$PORT/bench/mcp" --max-wait 30s >/dev/null
        out=$(taskset -c 1 "$LOAD" call --url "http://127.0.0.1:$PORT$path" --era "$era" -c "$c" -w 2s -d "$DUR" || true)
        kill -TERM $pid; wait $pid 2>/dev/null || true
        python3 -c 'import json,sys; r=json.loads(sys.argv[1]); l=r["latency_ms"]
print("%-10s %-9s %4s %10.0f %8s %8s %6s" % (sys.argv[2], sys.argv[3], sys.argv[4], r["rps"], l["p50"], l["p99"], r["errors"]))' \
          "$out" "$name" "$era" "$c" || echo "$out"
      done
    done
  done
done
