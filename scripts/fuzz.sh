#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed time (default 20 s each), starting from the
# committed seeds (fuzz/seeds/<target>; the grown corpus is thrown away). Prints the executions
# per target; a crash fails, and its input is kept in $ARTIFACTS_DIR/fuzz for a regression test.
# Needs the nightly toolchain (on the image) and cargo-fuzz (installed here if missing).
# `scripts/fuzz.sh --build-only` installs and builds, and runs nothing (scripts/test.sh builds
# early, at low priority, while the end-to-end tests mostly wait on I/O).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-20}
ART=${ARTIFACTS_DIR:-$ROOT/artifacts}/fuzz
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ART"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2 --quiet
cd fuzz
cargo +nightly fuzz build 2>&1 | grep -Ev "^ *(Compiling|Finished|Building)" || true
[ "$SECS" = "--build-only" ] && exit 0
failed=0
for target in jsonrpc fields modern_request; do
  mkdir -p "$WORK/$target"
  cp seeds/$target/* "$WORK/$target/"
  if cargo +nightly fuzz run "$target" "$WORK/$target" -- -max_total_time="$SECS" -max_len=16384 \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$ART/$target-" \
       > "$ART/$target.log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$ART/$target.log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz $target: ok, $runs executions in ${SECS} s"
  else
    echo "fuzz $target: FAILED (input in $ART, log $ART/$target.log)"
    tail -30 "$ART/$target.log"
    failed=$((failed + 1))
  fi
done
[ "$failed" -eq 0 ]
