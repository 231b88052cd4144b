#!/usr/bin/env bash
# Fails if the test command or the benchmark scripts reach outside the repository: a user's
# clone has nothing beside it (none of our workspace's sibling folders, no prebuilt peers). The
# paths we once depended on are listed in tests/outside-references.txt; besides those, every
# `..` in a script must be one of the two known ways back to the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
files=(scripts/*.sh .ci/run tests/conformance/run.sh)
bad=0
if grep -nEf tests/outside-references.txt "${files[@]}"; then
  bad=1
fi
# Allowed: scripts/* and .ci/run going up one level from their own folder to the root
# ("$(dirname "$0")/.."), and tests/conformance/run.sh going up two ("$HERE/../..").
if grep -nE '(^|[^.])\.\.(/|"|[[:space:]]|$)' "${files[@]}" \
   | grep -v '^scripts/check-self-contained.sh:' \
   | grep -vE 'cd "\$\(dirname "\$0"\)/\.\."' \
   | grep -vE '^tests/conformance/run.sh:[0-9]+:ROOT=\$\(cd "\$HERE/\.\./\.\." && pwd\)$'; then
  bad=1
fi
if [ "$bad" -ne 0 ]; then
  echo "the lines above reach outside the repository; the test command must stand alone" >&2
  exit 1
fi
echo "self-contained: ${#files[@]} scripts refer to nothing outside the repository"
