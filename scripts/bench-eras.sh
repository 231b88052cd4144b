#!/usr/bin/env bash
# tools/call echo throughput, 2026-07-28 (stateless) vs handshake era (one session), per store,
# in one run, with wrk (the same fixed-body load generator for both eras).
# Usage: scripts/bench-eras.sh [-d 8s] [-c "16 64"] [-r 2] NAME=STORE_URL...
# fastmcp on CPU 0, wrk on CPU 1. Needs `wrk` (apt-get install wrk) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=8s LEVELS="16 64" REPEATS=2
while getopts "d:c:r:" o; do case $o in d) DUR=$OPTARG;; c) LEVELS=$OPTARG;; r) REPEATS=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND - 1))
BIN=target/release/fastmcp PORT=18995 URL="http://127.0.0.1:18995/bench/mcp"
LUA=$(mktemp -d)
cat > "$LUA/modern.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"xxxxxxxxxxxxxxxx"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo"
LUA
printf "%-10s %-9s %4s %10s %9s %6s\n" store era c req/s p99 non2xx
for rep in $(seq 1 "$REPEATS"); do
  for spec in "$@"; do
    name=${spec%%=*} store=${spec#*=}
    taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --store "$store" --admin-token bench >/tmp/bench-eras.log 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done
    sid=$(curl -s -D - -o /dev/null "$URL" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}' \
      | awk 'tolower($1)=="mcp-session-id:" {print $2}' | tr -d '\r')
    cat > "$LUA/handshake.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"xxxxxxxxxxxxxxxx"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.headers["Mcp-Session-Id"] = "$sid"
LUA
    for era in handshake modern; do
      # Both must answer the echo, or the numbers mean nothing.
      check=$(curl -s "$URL" $(awk -F'"' '/headers/ {printf "-H %s:%s ", $2, $4}' "$LUA/$era.lua" | sed 's/ -H /\n-H /g' | tr '\n' ' ') \
        -d "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$LUA/$era.lua")" 2>/dev/null || true)
      case "$check" in *xxxxxxxxxxxxxxxx*) ;; *) echo "$era: unexpected answer: $check" >&2; kill $pid; exit 1;; esac
      for c in $LEVELS; do
        out=$(taskset -c 1 wrk -t1 -c"$c" -d"$DUR" --latency -s "$LUA/$era.lua" "$URL")
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p99=$(echo "$out" | awk '$1=="99%" {print $2}')
        bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
        printf "%-10s %-9s %4s %10.0f %9s %6s\n" "$name" "$era" "$c" "$rps" "$p99" "${bad:-0}"
      done
    done
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
done
rm -rf "$LUA"
