#!/usr/bin/env bash
# Federation's cost, one run, interleaved repeats (issue 15):
#   1. tools/call of the demo's `add` on the upstream directly, beside the same call through a
#      proxy that mounts it (handshake-era upstream with a shared session, and a 2026-07-28
#      upstream); the difference of the p50s is the proxy's overhead;
#   2. tools/list of an entity mounting 3 upstreams with 100 tools each, beside the upstream's
#      own listing of 300 stored tools in one entity.
# Usage: scripts/bench-federation.sh [-r REPEATS] [-d 10s] [-c "16"]
# Upstream and proxy run on CPU 0; the load generator on CPU 1. Downstream requests are
# 2026-07-28 (sessionless) in every scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
REPEATS=2 DUR=10s LEVELS="16"
while getopts "r:d:c:" o; do case $o in
  r) REPEATS=$OPTARG;; d) DUR=$OPTARG;; c) LEVELS=$OPTARG;; *) exit 2;; esac; done
cargo build --release --locked -q -p fastmcp-load
cargo build --release --locked -q -p fastmcp-server --features full
LOAD=target/release/fastmcp-load
BIN=target/release/fastmcp
UP=18981 PROXY=18982
admin() { curl -sf -o /dev/null -X POST "http://127.0.0.1:$1/admin/entities/$2/catalog/$3" \
  -H 'authorization: Bearer bench' -H 'content-type: application/json' -d "$4"; }
tool_json() { printf '{"name":"%s","input_schema":{"type":"object","properties":{"q":{"type":"string"}}},"request":{"url":"http://127.0.0.1:9/%s"}}' "$1" "$1"; }
printf "%-30s %4s %10s %8s %8s\n" scenario c req/s p50ms p99ms
for rep in $(seq 1 "$REPEATS"); do
  for c in $LEVELS; do
    taskset -c 0 "$BIN" serve --bind 127.0.0.1:$UP --admin-token bench >artifacts/bench-federation-up.log 2>&1 & up=$!
    taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PROXY --admin-token bench --http-tools-allow 127.0.0.1 \
      >artifacts/bench-federation-proxy.log 2>&1 & proxy=$!
    "$LOAD" wait --url "http://127.0.0.1:$UP/u/mcp" --max-wait 30s >/dev/null 2>&1
    "$LOAD" wait --url "http://127.0.0.1:$PROXY/p/mcp" --max-wait 30s >/dev/null 2>&1
    admin $PROXY p mcp-servers "{\"name\":\"hs\",\"url\":\"http://127.0.0.1:$UP/u/mcp\",\"sessions\":\"shared\"}"
    admin $PROXY p mcp-servers "{\"name\":\"modern\",\"url\":\"http://127.0.0.1:$UP/u/mcp\",\"era\":\"2026-07-28\"}"
    for n in 1 2 3; do
      for i in $(seq 1 100); do
        admin $UP "m$n" tools "$(tool_json "t$i")"
        admin $UP all tools "$(tool_json "m${n}_t$i")"
      done
      admin $PROXY three mcp-servers "{\"name\":\"m$n\",\"url\":\"http://127.0.0.1:$UP/m$n/mcp\",\"sessions\":\"shared\"}"
    done
    for scenario in "direct-add:$UP:u:tools/call:add" "proxied-add-handshake:$PROXY:p:tools/call:hs_add" \
                    "proxied-add-2026:$PROXY:p:tools/call:modern_add" \
                    "list-300-stored-direct:$UP:all:tools/list:" "list-3x100-mounted:$PROXY:three:tools/list:"; do
      IFS=: read -r name port entity method tool <<<"$scenario"
      args=(--method "$method")
      [ -n "$tool" ] && args+=(--tool "$tool" --args '{"a":1,"b":2}')
      out=$(taskset -c 1 "$LOAD" call --url "http://127.0.0.1:$port/$entity/mcp" --era modern -c "$c" -w 2s -d "$DUR" "${args[@]}" 2>/dev/null)
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); l=r.get("latency_ms",r.get("latency",{}));
print("%-30s %4s %10.0f %8s %8s" % (sys.argv[2], sys.argv[3], r.get("rps", r.get("req_per_s", 0)), l.get("p50"), l.get("p99")))' "$out" "$name" "$c" || echo "$out"
    done
    kill -TERM $up $proxy; wait $up $proxy 2>/dev/null || true
  done
done
