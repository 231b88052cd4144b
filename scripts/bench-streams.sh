#!/usr/bin/env bash
# Idle SSE streams held by one instance: memory per stream, and ordinary calls while they stay
# open with keep-alives running (issue 18's "streams" figure).
# Usage: [BIN=path/to/fastmcp] scripts/bench-streams.sh [-k 10000] [-d 10s] [-H 20s] [-s STORE_URL] [KIND...]
#   KIND: get (a handshake session's GET /mcp stream), legacy (/sse), listen (2026-07-28
#   subscriptions/listen); all three by default, each on a fresh server.
# The server runs on CPU 0, fastmcp-load on CPU 1. Streams are spread over 10 entities so the
# per-entity caps stay what they are; the instance-wide caps are lifted for the run.
# Prints one line per kind: KiB per stream right after opening and after the hold (keep-alives
# included), and tools/call echo at c=16 measured while the streams are open.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
COUNT=10000 DUR=10s HOLD=20s STORE=memory
while getopts "k:d:H:s:" o; do case $o in
  k) COUNT=$OPTARG;; d) DUR=$OPTARG;; H) HOLD=$OPTARG;; s) STORE=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND - 1))
KINDS=("$@"); [ ${#KINDS[@]} -gt 0 ] || KINDS=(get legacy listen)
LOAD=${MCPLOAD:-target/release/fastmcp-load}
[ -x "$LOAD" ] || cargo build --release --locked -p fastmcp-load
BIN=${BIN:-target/release/fastmcp}
[ -x "$BIN" ] || { echo "build first: cargo build --release --all-features" >&2; exit 2; }
# Client and server each hold one descriptor per stream.
ulimit -n "$(ulimit -Hn)"
PORT=18970
printf "%-7s %7s %6s %12s %12s %9s %8s %8s\n" kind streams failed KiB/stream KiB/s+hold calls/s p50ms p99ms
for kind in "${KINDS[@]}"; do
  PORT=$((PORT + 1))
  path=mcp; [ "$kind" = legacy ] && path=sse
  taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --store "$STORE" \
    --max-streams 0 --max-connections 0 --max-streams-per-entity $((COUNT / 10 + 1)) \
    >"artifacts/bench-streams-$kind.log" 2>&1 &
  pid=$!
  "$LOAD" wait --url "http://127.0.0.1:$PORT/warm/mcp" --max-wait 30s >/dev/null
  out=$(taskset -c 1 "$LOAD" streams --url "http://127.0.0.1:$PORT/tenant-{i}/$path" --entities 10 \
    --kind "$kind" -k "$COUNT" --pid $pid --call-url "http://127.0.0.1:$PORT/calls/mcp" \
    -c 16 -d "$DUR" --hold "$HOLD" 2>/dev/null) || true
  kill -TERM $pid; wait $pid 2>/dev/null || true
  python3 - "$out" "$kind" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1])
except ValueError:
    print(sys.argv[2], "no result:", sys.argv[1][:300]); sys.exit(0)
c = r.get("calls") or {}
l = c.get("latency_ms") or {}
failed = r["open_errors"] + r["ended_early"]
print("%-7s %7d %6d %12s %12s %9.0f %8s %8s" % (r["kind"], r["opened"], failed, r["kib_per_stream"],
      r["kib_per_stream_after_hold"], c.get("rps", 0), l.get("p50"), l.get("p99")))
if r.get("first_error"):
    print("  first error:", r["first_error"])
if r["streams_with_keepalives"] < r["opened"]:
    print("  only %d of %d streams saw a keep-alive: hold longer than --sse-keep-alive-secs" % (r["streams_with_keepalives"], r["opened"]))
PY
done
