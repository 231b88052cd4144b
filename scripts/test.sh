#!/usr/bin/env bash
# The one command that runs every test of FastMCP-MT on a fresh machine:
#   Rust unit + store-suite tests, end-to-end tests that drive the real `fastmcp` binary with the
#   official Python MCP SDK (plus scale-out over Redis, a Redis Cluster and PostgreSQL, the admin
#   API in headless Chromium and schemathesis), and the official MCP conformance suite (memory,
#   Redis, PostgreSQL, and behind a load balancer on each shared store).
# It installs what the tests need: redis-server, chromium and nginx from Debian, a Python venv
# with the pinned SDK and schemathesis, the conformance suite via npm.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ART=${ARTIFACTS_DIR:-$ROOT/artifacts}
mkdir -p "$ART"
export ARTIFACTS_DIR="$ART"
# Everything a test makes goes under artifacts/ (logs worth keeping) or artifacts/tmp (removed at
# the end); the system temp folder keeps nothing. PostgreSQL alone lives in /tmp while it runs:
# its data folder must be reachable by the `postgres` user from any clone path.
export TMPDIR="$ART/tmp"
rm -rf "$TMPDIR"; mkdir -p "$TMPDIR"
passed=0; failed=0
# Each section says when it started, so the slow ones are easy to find in a CI log.
say() { printf '== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "system packages: redis-server, chromium (browser test of /docs)"
missing=""
command -v redis-server >/dev/null || missing="$missing redis-server"
command -v chromium >/dev/null || missing="$missing chromium chromium-driver"
if [ -n "$missing" ]; then
  apt-get update -qq && apt-get install -y -qq $missing >/dev/null
fi

say "backing services: redis-server on a free loopback port, in plain text and over TLS"
REDIS_DIR=$(mktemp -d)
TLS_DIR="$REDIS_DIR/tls"
bash scripts/tls-certs.sh "$TLS_DIR"   # a CA, a server certificate for localhost, another CA
REDIS_PORT=$(free_port); REDIS_TLS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --tls-port "$REDIS_TLS_PORT" --bind 127.0.0.1 --save '' \
  --appendonly no --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
  --logfile "$ART/redis.log" --tls-cert-file "$TLS_DIR/server.pem" \
  --tls-key-file "$TLS_DIR/server.key" --tls-ca-cert-file "$TLS_DIR/ca.pem" --tls-auth-clients no
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export FASTMCP_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export FASTMCP_E2E_REDIS_URL="$FASTMCP_TEST_REDIS_URL"
export FASTMCP_TEST_REDIS_TLS_URL="rediss://localhost:$REDIS_TLS_PORT"
export FASTMCP_TEST_TLS_CA="$TLS_DIR/ca.pem" FASTMCP_TEST_TLS_WRONG_CA="$TLS_DIR/wrong-ca.pem"

say "backing services: a Redis Cluster (3 masters, 3 replicas) on free loopback ports"
CLUSTER_DIR="$ART/redis-cluster"   # each node's log stays there
rm -rf "$CLUSTER_DIR"
FASTMCP_TEST_REDIS_CLUSTER_URL=$(bash scripts/redis-cluster.sh "$CLUSTER_DIR" | tail -1)
export FASTMCP_TEST_REDIS_CLUSTER_URL FASTMCP_E2E_REDIS_CLUSTER_URL="$FASTMCP_TEST_REDIS_CLUSTER_URL"

say "backing services: a throwaway PostgreSQL 15 cluster on a free loopback port"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=$(mktemp -d /tmp/fastmcp-pg-XXXXXX)
chown postgres "$PG_DIR"   # PostgreSQL refuses to run as root
PG_PORT=$(free_port)
(cd / && runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null)
# TLS on (plain text stays allowed): the server's key must belong to the postgres user.
install -o postgres -m 600 "$TLS_DIR/server.key" "$TLS_DIR/server.pem" "$PG_DIR/"
(cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 \
      -c ssl=on -c ssl_cert_file=$PG_DIR/server.pem -c ssl_key_file=$PG_DIR/server.key" start >/dev/null)
export FASTMCP_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export FASTMCP_E2E_DATABASE_URL="$FASTMCP_TEST_DATABASE_URL"
export FASTMCP_TEST_DATABASE_TLS_URL="postgres://postgres@localhost:$PG_PORT/postgres?sslmode=verify-full"
cleanup() {
  kill ${FETCH_PID:-} ${FUZZ_BUILD_PID:-} ${DOC_PID:-} 2>/dev/null || true
  [ -f "$REDIS_DIR/redis.pid" ] && kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null
  bash scripts/redis-cluster.sh "$CLUSTER_DIR" stop
  rm -rf "$REDIS_DIR" "$TMPDIR"
  (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1)
  cp "$PG_DIR/postgres.log" "$ART/" 2>/dev/null; rm -rf "$PG_DIR"
  true
}
trap cleanup EXIT

# Downloads that need no CPU run while the build does: the end-to-end venv, the MCP Inspector
# and the conformance suite (each with its Node). Awaited before the end-to-end tests.
VENV=${E2E_VENV:-$ROOT/tests/e2e/.venv}
fetch_test_tools() {
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
  # The official MCP Inspector (pinned, with its Node 22) for the stdio test. `npm install`, not
  # `npm ci`: npm 10's ci rejects this lock file over an optional Windows-only dependency.
  if [ ! -f tests/inspector/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js ]; then
    (cd tests/inspector && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  if [ ! -f tests/conformance/node_modules/conformance-0.2/dist/index.js ]; then
    (cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
fetch_test_tools > "$ART/fetch-test-tools.log" 2>&1 & FETCH_PID=$!

say "cargo build (debug, all targets, all features)"
cargo build --workspace --all-targets --all-features --locked --quiet

say "cargo test"
set +e
cargo test --workspace --all-features --locked 2>&1 | tee "$ART/cargo-test.log"
rc=${PIPESTATUS[0]}
set -e
p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$ART/cargo-test.log" | awk '{s+=$4} END {print s+0}')
f=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$ART/cargo-test.log" | awk '{s+=$6} END {print s+0}')
count "$p" "$f"
[ "$rc" -eq 0 ] || { echo "cargo test failed"; exit 1; }

# nginx: the e2e fleet tests (rolling restarts) and the conformance runs behind a balancer.
if ! command -v nginx >/dev/null; then
  # Installing must not start the distribution's own nginx on port 80.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get install -y -qq nginx-light >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# The fuzz targets' nightly build (minutes of CPU) at the lowest priority, while the end-to-end
# tests mostly wait on sockets and child processes; awaited before fuzzing.
nice -n 19 bash scripts/fuzz.sh --build-only > "$ART/fuzz-build.log" 2>&1 & FUZZ_BUILD_PID=$!
# The API documentation builds the same way (warnings are errors: a broken or private intra-doc
# link fails the run); it is counted as one test and awaited before the totals.
RUSTDOCFLAGS="-D warnings" nice -n 19 cargo doc --workspace --no-deps --all-features --locked \
  > "$ART/cargo-doc.log" 2>&1 & DOC_PID=$!
say "end-to-end (Python MCP SDK against target/debug/fastmcp)"
wait "$FETCH_PID" || { cat "$ART/fetch-test-tools.log"; echo "installing the test tools failed"; exit 1; }
set +e
FASTMCP_BIN="$ROOT/target/debug/fastmcp" "$VENV/bin/python" -m pytest tests/e2e -q -p no:cacheprovider --basetemp="$ART/pytest" 2>&1 | tee "$ART/e2e.log"
rc=${PIPESTATUS[0]}
set -e
p=$(grep -Eo '[0-9]+ passed' "$ART/e2e.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
f=$(grep -Eo '[0-9]+ failed' "$ART/e2e.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
count "${p:-0}" "${f:-0}"
[ "$rc" -eq 0 ] || { echo "e2e tests failed"; exit 1; }

# One conformance run through the repository's own runner (tests/conformance/run.sh: pinned
# suites, Node 22 from npm, expected failures and counting rules in that folder). Its last line
# is `COUNT <passed> <failed>`.
conformance() {  # $1: active|all|req:REVISION, $2: URL, then an optional server command
  bash "$ROOT/tests/conformance/run.sh" "$@" 2>&1
}
count_conformance() {  # $1: the runner's output
  local line
  line=$(echo "$1" | grep -E '^COUNT [0-9]+ [0-9]+$' | tail -1)
  count "$(echo "$line" | awk '{print $2}')" "$(echo "$line" | awk '{print $3}')"
}

say "MCP conformance suite against examples/conformance: 0.1.16 active + all, 0.2.0-alpha.12 requirements"
echo "   2026-07-28 and 2025-11-25 on memory; active and 2026-07-28 on Redis and PostgreSQL"
port=$(free_port)
for run in "active memory" "all memory" "req:2026-07-28 memory" "req:2025-11-25 memory" \
           "active $FASTMCP_TEST_REDIS_URL" "req:2026-07-28 $FASTMCP_TEST_REDIS_URL" \
           "active $FASTMCP_TEST_DATABASE_URL" "req:2026-07-28 $FASTMCP_TEST_DATABASE_URL"; do
  set -- $run
  out=$(conformance "$1" "http://127.0.0.1:$port/conformance/mcp" \
        "$ROOT/target/debug/examples/conformance" --bind "127.0.0.1:$port" --store "$2") \
    || { echo "$out"; exit 1; }
  echo "store ${2%%:*}, $1: $(echo "$out" | tail -1)"
  count_conformance "$out"
done

say "conformance through a round-robin nginx over two instances sharing Redis, a Redis Cluster, then PostgreSQL"
lb_run() {  # $1: store name, $2: store URL
  local LB_DIR P1 P2 LB A_PID B_PID LB_PID
  LB_DIR=$(mktemp -d)
  P1=$(free_port); P2=$(free_port); LB=$(free_port)
  "$ROOT/target/debug/examples/conformance" --bind "127.0.0.1:$P1" --store "$2" > "$ART/lb-$1-a.log" 2>&1 & A_PID=$!
  "$ROOT/target/debug/examples/conformance" --bind "127.0.0.1:$P2" --store "$2" > "$ART/lb-$1-b.log" 2>&1 & B_PID=$!
  cat > "$LB_DIR/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $LB_DIR/nginx.pid;
error_log $LB_DIR/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $LB_DIR/body; proxy_temp_path $LB_DIR/proxy;
  fastcgi_temp_path $LB_DIR/fcgi; uwsgi_temp_path $LB_DIR/uwsgi; scgi_temp_path $LB_DIR/scgi;
  upstream mcp { server 127.0.0.1:$P1; server 127.0.0.1:$P2; }
  server {
    listen 127.0.0.1:$LB;
    client_max_body_size 8m;
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_buffering off;
      proxy_read_timeout 3600s;
    }
  }
}
CONF
  nginx -c "$LB_DIR/nginx.conf" -p "$LB_DIR" > "$ART/nginx-$1.log" 2>&1 & LB_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$P1/health" >/dev/null && curl -sf "http://127.0.0.1:$P2/health" >/dev/null \
      && curl -sf "http://127.0.0.1:$LB/health" >/dev/null && break
    sleep 0.1
  done
  local suite out rc=0
  for suite in active all req:2026-07-28; do
    out=$(conformance "$suite" "http://127.0.0.1:$LB/conformance/mcp") \
      || { echo "$out"; tail -20 "$ART/lb-$1-a.log" "$ART/lb-$1-b.log"; rc=1; break; }
    echo "nginx round robin ($1), $suite: $(echo "$out" | tail -1)"
    count_conformance "$out"
  done
  kill "$A_PID" "$B_PID" "$LB_PID" 2>/dev/null || true
  wait "$A_PID" "$B_PID" "$LB_PID" 2>/dev/null || true
  rm -rf "$LB_DIR"
  return $rc
}
lb_run redis "$FASTMCP_TEST_REDIS_URL"
lb_run redis-cluster "$FASTMCP_TEST_REDIS_CLUSTER_URL"
lb_run postgres "$FASTMCP_TEST_DATABASE_URL"

say "fuzzing: every cargo-fuzz target for 20 s from the committed seeds (scripts/fuzz.sh)"
wait "$FUZZ_BUILD_PID" || { cat "$ART/fuzz-build.log"; echo "building the fuzz targets failed"; exit 1; }
set +e
out=$(bash scripts/fuzz.sh 20 2>&1); rc=$?
set -e
echo "$out"
count "$(echo "$out" | grep -c ': ok,')" "$(echo "$out" | grep -c ': FAILED')"
[ "$rc" -eq 0 ] || { echo "fuzzing found a crash"; exit 1; }

say "rustdoc (-D warnings), built during the end-to-end tests"
if wait "$DOC_PID"; then count 1 0; echo "rustdoc: ok"; else count 0 1; cat "$ART/cargo-doc.log"; echo "rustdoc: FAILED"; fi

echo
echo "all tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
