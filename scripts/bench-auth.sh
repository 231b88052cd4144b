#!/usr/bin/env bash
# tools/call echo throughput with no auth, API keys, HS256 JWTs and RS256 JWTs verified with a
# key from a JWKS URL (served locally), one run, interleaved repeats, with fastmcp-load (bench/load)
# (handshake era, memory store). fastmcp on CPU 0, mcpload (and the JWKS server) on CPU 1.
# Usage: scripts/bench-auth.sh [-r 2] [-d 8s] [-c "16 64"]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
REPEATS=2 DUR=8s LEVELS="16 64"
while getopts "r:d:c:" o; do case $o in r) REPEATS=$OPTARG;; d) DUR=$OPTARG;; c) LEVELS=$OPTARG;; *) exit 2;; esac; done
MCPLOAD=${MCPLOAD:-target/release/fastmcp-load}
[ -x "$MCPLOAD" ] || cargo build --release --locked -p fastmcp-load
BIN=target/release/fastmcp PORT=18996 SECRET=bench-secret-0123456789
JWT=$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
body = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b(json.dumps(
    {"sub": "bench", "exp": int(time.time()) + 3600, "entities": ["bench"]}).encode())
print(body + "." + b(hmac.new(sys.argv[1].encode(), body.encode(), hashlib.sha256).digest()))
PY
)
# An RS256 issuer: a fresh key, its JWKS served over loopback HTTP, one signed token.
KEYS=$(mktemp -d) JWKS_PORT=18997
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$KEYS"' EXIT
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$KEYS/key.pem" 2>/dev/null
RS_JWT=$(python3 - "$KEYS" <<'PY'
import base64, json, subprocess, sys, time
d = sys.argv[1]
b = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
mod = subprocess.run(["openssl", "rsa", "-in", f"{d}/key.pem", "-noout", "-modulus"],
                     capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
jwk = {"kty": "RSA", "kid": "bench", "use": "sig", "alg": "RS256", "n": b(bytes.fromhex(mod)), "e": "AQAB"}
open(f"{d}/jwks.json", "w").write(json.dumps({"keys": [jwk]}))
body = b(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bench"}).encode()) + "." + b(json.dumps(
    {"sub": "bench", "exp": int(time.time()) + 3600, "entities": ["bench"]}).encode())
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", f"{d}/key.pem"], input=body.encode(),
                     capture_output=True, check=True).stdout
print(body + "." + b(sig))
PY
)
taskset -c 1 python3 -m http.server --bind 127.0.0.1 "$JWKS_PORT" --directory "$KEYS" >/dev/null 2>&1 &
printf "%-9s %4s %10s %8s\n" auth c req/s p99ms
for rep in $(seq 1 "$REPEATS"); do
  for mode in none api-key jwt jwt-rs256; do
    for c in $LEVELS; do
      taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --admin-token bench --auth "${mode%-rs256}" \
        --jwt-secret "$SECRET" --jwt-jwks-url "http://127.0.0.1:$JWKS_PORT/jwks.json" >artifacts/bench-auth.log 2>&1 &
      pid=$!
      for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
      case $mode in
        none) token=none ;;
        jwt) token=$JWT ;;
        jwt-rs256) token=$RS_JWT ;;
        api-key) token=$(curl -s -X POST "http://127.0.0.1:$PORT/admin/api-keys" -H 'authorization: Bearer bench' \
                   -H 'content-type: application/json' -d '{"entity_id":"bench","name":"bench"}' \
                   | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])') ;;
      esac
      out=$(taskset -c 1 "$MCPLOAD" call --url "http://127.0.0.1:$PORT/bench/mcp" -c "$c" -w 3s -d "$DUR" \
            -H "Authorization: Bearer $token" 2>/dev/null)
      kill -TERM $pid; wait $pid 2>/dev/null || true
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["errors"] == 0, r["first_error"]
print("%-9s %4s %10.0f %8s" % (sys.argv[2], sys.argv[3], r["rps"], r["latency_ms"]["p99"]))' "$out" "$mode" "$c"
    done
  done
done
