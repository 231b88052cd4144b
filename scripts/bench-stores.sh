#!/usr/bin/env bash
# tools/call echo throughput per store, one run, interleaved repeats, with fastmcp-load (bench/load).
# Usage: scripts/bench-stores.sh [-r REPEATS] [-d 10s] [-c "16 64"] NAME=STORE_URL...
#   e.g. scripts/bench-stores.sh memory=memory redis=redis://127.0.0.1:6379 pg=postgres://postgres@127.0.0.1:5432/postgres
# The server runs on CPU 0 (pin the store there too for a like-for-like comparison), mcpload on
# CPU 1. The load generator is this repository's own fastmcp-load (bench/load), built here.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
REPEATS=2 DUR=10s LEVELS="16 64" PATH_="/bench/mcp" EXTRA=()
while getopts "r:d:c:p:a:" o; do case $o in
  r) REPEATS=$OPTARG;; d) DUR=$OPTARG;; c) LEVELS=$OPTARG;; p) PATH_=$OPTARG;; a) EXTRA+=("$OPTARG");;
  *) exit 2;; esac; done
shift $((OPTIND - 1))
MCPLOAD=${MCPLOAD:-target/release/fastmcp-load}
[ -x "$MCPLOAD" ] || cargo build --release --locked -p fastmcp-load
BIN=${BIN:-target/release/fastmcp}   # another build to compare: BIN=path scripts/bench-stores.sh …
[ -x "$BIN" ] || { echo "build first: cargo build --release --all-features" >&2; exit 2; }
PORT=18990
printf "%-10s %4s %10s %8s %8s\n" store c req/s p50ms p99ms
for rep in $(seq 1 "$REPEATS"); do
  for spec in "$@"; do
    name=${spec%%=*} url=${spec#*=}
    for c in $LEVELS; do
      taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --store "$url" --admin-token bench ${EXTRA[@]+"${EXTRA[@]}"} >"artifacts/bench-$name.log" 2>&1 &
      pid=$!
      "$MCPLOAD" wait --url "http://127.0.0.1:$PORT$PATH_" --max-wait 30s >/dev/null 2>&1
      out=$(taskset -c 1 "$MCPLOAD" call --url "http://127.0.0.1:$PORT$PATH_" -c "$c" -w 3s -d "$DUR" 2>/dev/null)
      kill -TERM $pid; wait $pid 2>/dev/null || true
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); l=r.get("latency_ms",r.get("latency",{}));
print("%-10s %4s %10.0f %8s %8s" % (sys.argv[2], sys.argv[3], r.get("rps", r.get("req_per_s", 0)), l.get("p50"), l.get("p99")))' "$out" "$name" "$c" || echo "$out"
    done
  done
done
