#!/usr/bin/env bash
# CPU per call: microseconds of user and system time the server spends on one tools/call echo,
# for Streamable HTTP (handshake era) and legacy HTTP+SSE, at one concurrency.
# Usage: [BIN=path/to/fastmcp] scripts/bench-cpu.sh [-c 16] [-d 8s] [-r 2] [-s STORE_URL]
# The server runs on CPU 0, fastmcp-load on CPU 1. The figure is the server's utime and stime
# (from /proc/PID/stat, in clock ticks) over a 5 s window inside the run, divided by the calls
# answered in it (the run's calls/s times the window). At a concurrency that keeps the
# server's core busy (16), the sum is what bounds throughput on one core; the split says how
# much of it is the kernel's (socket calls and loopback delivery) and how much is ours.
set -euo pipefail
cd "$(dirname "$0")/.."
CONC=16 DUR=8s REPS=2 STORE=memory
while getopts "c:d:r:s:" o; do case $o in
  c) CONC=$OPTARG;; d) DUR=$OPTARG;; r) REPS=$OPTARG;; s) STORE=$OPTARG;; *) exit 2;; esac; done
LOAD=${MCPLOAD:-target/release/fastmcp-load}
[ -x "$LOAD" ] || cargo build --release --locked -p fastmcp-load
BIN=${BIN:-target/release/fastmcp}
[ -x "$BIN" ] || { echo "build first: cargo build --release --all-features" >&2; exit 2; }
TICK=$(getconf CLK_TCK)
PORT=18940
printf "%-10s %4s %9s %9s %9s %9s %5s\n" transport c calls/s user_us sys_us total_us cpu
for rep in $(seq 1 "$REPS"); do
  for era in handshake legacy; do
    PORT=$((PORT + 1))
    path=mcp; [ "$era" = legacy ] && path=sse
    taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --store "$STORE" >/dev/null 2>&1 &
    pid=$!
    "$LOAD" wait --url "http://127.0.0.1:$PORT/warm/mcp" --max-wait 30s >/dev/null
    out=$(mktemp)
    taskset -c 1 "$LOAD" call --url "http://127.0.0.1:$PORT/bench/$path" --era "$era" \
      -c "$CONC" -w 1s -d "$DUR" >"$out" 2>/dev/null &
    load=$!
    # The window starts after the warm-up and ends before the measured run does.
    sleep 2
    read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
    t1=$(date +%s.%N)
    sleep 5
    read -r u2 s2 < <(awk '{print $14, $15}' /proc/$pid/stat)
    t2=$(date +%s.%N)
    wait $load || true
    kill -TERM $pid; wait $pid 2>/dev/null || true
    python3 - "$(cat "$out")" "$era" "$CONC" "$u1" "$s1" "$u2" "$s2" "$t1" "$t2" "$TICK" <<'PY'
import json, sys
raw, era, conc = sys.argv[1], sys.argv[2], sys.argv[3]
u1, s1, u2, s2 = (int(x) for x in sys.argv[4:8])
t1, t2, tick = float(sys.argv[8]), float(sys.argv[9]), int(sys.argv[10])
try:
    r = json.loads(raw)
except ValueError:
    print(era, "no result:", raw[:300]); sys.exit(0)
window = t2 - t1
calls = r["rps"] * window
user, system = (u2 - u1) / tick, (s2 - s1) / tick
print("%-10s %4s %9.0f %9.2f %9.2f %9.2f %5.2f" % (
    "streamable" if era == "handshake" else era, conc, r["rps"], user / calls * 1e6,
    system / calls * 1e6, (user + system) / calls * 1e6, (user + system) / window))
PY
    rm -f "$out"
  done
done
