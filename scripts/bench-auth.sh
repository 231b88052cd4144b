#!/usr/bin/env bash
# tools/call echo throughput with no auth, API keys and HS256 JWTs, one run, interleaved repeats,
# with shared/bench's mcpload (handshake era, memory store). fastmcp on CPU 0, mcpload on CPU 1.
# Usage: scripts/bench-auth.sh [-r 2] [-d 8s] [-c "16 64"]
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=2 DUR=8s LEVELS="16 64"
while getopts "r:d:c:" o; do case $o in r) REPEATS=$OPTARG;; d) DUR=$OPTARG;; c) LEVELS=$OPTARG;; *) exit 2;; esac; done
MCPLOAD=${MCPLOAD:-/tmp/peers/target/release/mcpload}
BIN=target/release/fastmcp PORT=18996 SECRET=bench-secret-0123456789
JWT=$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
body = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b(json.dumps(
    {"sub": "bench", "exp": int(time.time()) + 3600, "entities": ["bench"]}).encode())
print(body + "." + b(hmac.new(sys.argv[1].encode(), body.encode(), hashlib.sha256).digest()))
PY
)
printf "%-8s %4s %10s %8s\n" auth c req/s p99ms
for rep in $(seq 1 "$REPEATS"); do
  for mode in none api-key jwt; do
    for c in $LEVELS; do
      taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --admin-token bench --auth "$mode" --jwt-secret "$SECRET" >/tmp/bench-auth.log 2>&1 &
      pid=$!
      for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
      case $mode in
        none) token=none ;;
        jwt) token=$JWT ;;
        api-key) token=$(curl -s -X POST "http://127.0.0.1:$PORT/admin/api-keys" -H 'authorization: Bearer bench' \
                   -H 'content-type: application/json' -d '{"entity_id":"bench","name":"bench"}' \
                   | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])') ;;
      esac
      out=$(taskset -c 1 "$MCPLOAD" call --url "http://127.0.0.1:$PORT/bench/mcp" -c "$c" -w 3s -d "$DUR" \
            -H "Authorization: Bearer $token" 2>/dev/null)
      kill -TERM $pid; wait $pid 2>/dev/null || true
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["errors"] == 0, r["first_error"]
print("%-8s %4s %10.0f %8s" % (sys.argv[2], sys.argv[3], r["rps"], r["latency_ms"]["p99"]))' "$out" "$mode" "$c"
    done
  done
done
