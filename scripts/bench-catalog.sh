#!/usr/bin/env bash
# The stored catalog's cost, one run, interleaved repeats (issue 14):
#   1. tools/call of a stored HTTP tool against a local HTTP service, beside a code tool making
#      the same request (`fetch_code` in server/examples/bench_http_tool.rs);
#   2. tools/list (its first page) of an entity with 1,000 stored HTTP tools, beside an entity
#      with only the demo's code tools.
# Usage: scripts/bench-catalog.sh [-r REPEATS] [-d 10s] [-c "16"]
# The server runs on CPU 0; the load generator and the HTTP service share CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
REPEATS=2 DUR=10s LEVELS="16"
while getopts "r:d:c:" o; do case $o in
  r) REPEATS=$OPTARG;; d) DUR=$OPTARG;; c) LEVELS=$OPTARG;; *) exit 2;; esac; done
cargo build --release --locked -q -p fastmcp-load
cargo build --release --locked -q -p fastmcp-server --features full --example bench_http_tool
LOAD=target/release/fastmcp-load
BIN=target/release/examples/bench_http_tool
PORT=18991 ECHO=127.0.0.1:18999
taskset -c 1 "$LOAD" echo-server --bind "$ECHO" & echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
admin() { curl -sf -o /dev/null -X POST "http://127.0.0.1:$PORT/admin/entities/$1/catalog/tools" \
  -H 'authorization: Bearer bench' -H 'content-type: application/json' -d "$2"; }
tool_json() { printf '{"name":"%s","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"request":{"url":"http://%s/forecast/{city}"}}' "$1" "$ECHO"; }
printf "%-28s %4s %10s %8s %8s\n" scenario c req/s p50ms p99ms
for rep in $(seq 1 "$REPEATS"); do
  for c in $LEVELS; do
    BENCH_ECHO_URL="http://$ECHO" taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --admin-token bench \
      --http-tools-allow 127.0.0.1 >artifacts/bench-catalog.log 2>&1 & pid=$!
    "$LOAD" wait --url "http://127.0.0.1:$PORT/plain/mcp" --max-wait 30s >/dev/null 2>&1
    admin bench "$(tool_json fetch_stored)"
    for i in $(seq 1 1000); do admin many "$(tool_json "t$i")"; done
    for scenario in "code-tool:plain:tools/call:fetch_code" "stored-http-tool:bench:tools/call:fetch_stored" \
                    "list-9-code-tools:plain:tools/list:" "list-1000-stored-tools:many:tools/list:"; do
      IFS=: read -r name entity method tool <<<"$scenario"
      args=(--method "$method")
      [ -n "$tool" ] && args+=(--tool "$tool" --args '{"city":"oslo"}')
      out=$(taskset -c 1 "$LOAD" call --url "http://127.0.0.1:$PORT/$entity/mcp" --era modern -c "$c" -w 2s -d "$DUR" "${args[@]}" 2>/dev/null)
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); l=r.get("latency_ms",r.get("latency",{}));
print("%-28s %4s %10.0f %8s %8s" % (sys.argv[2], sys.argv[3], r.get("rps", r.get("req_per_s", 0)), l.get("p50"), l.get("p99")))' "$out" "$name" "$c" || echo "$out"
    done
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
done
