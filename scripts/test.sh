#!/usr/bin/env bash
# The test command: builds pinmesh, makes sure the pinned Kubo is installed (building it if needed),
# then runs the listed test tiers with node:test. Usage: scripts/test.sh [unit|integration|reliability|all|<files…>]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm run --silent build
# The tests run through tsx, which does not typecheck.
npx tsc --noEmit -p tsconfig.json
KUBO_BINARY="$(bash scripts/install-kubo.sh)"
export KUBO_BINARY
what="${1:-all}"
# The status-page test drives Debian's Chromium (not needed by the unit tier).
[ "$what" = unit ] || bash scripts/install-chromium.sh
case "$what" in
  unit) files=$(find test/unit -name '*.test.ts' | sort); serial="" ;;
  integration) files=$(find test/integration -name '*.test.ts' | sort); serial=$(find test/serial -name '*.test.ts' | sort) ;;
  # The short versions of the fault, bad-input, security and load suites (long ones: npm run bench:reliability).
  reliability) files=$(find test/reliability -name '*.test.ts' | sort); serial="" ;;
  all) files=$(find test/unit test/integration test/reliability -name '*.test.ts' | sort); serial=$(find test/serial -name '*.test.ts' | sort) ;;
  *) files="$*"; serial="" ;;
esac
[ -n "$files" ] || { echo "no test files found for '$what'" >&2; exit 1; }
# Suites that load the machine themselves (CPU busy loops, pinmesh at a lower priority) and check how pinmesh copes
# with that load run alone too: beside another file, the load is theirs plus that file's (its Kubos and peers at
# normal priority), beyond what they were calibrated for, and their busy loops starve that file in turn.
loads_machine="test/reliability/slow-peer.test.ts"
for f in $loads_machine; do
  # shellcheck disable=SC2086
  if printf '%s\n' $files | grep -qxF "$f" && [ "$(printf '%s\n' $files | wc -l)" -gt 1 ]; then
    # shellcheck disable=SC2086
    files=$(printf '%s\n' $files | grep -vxF "$f")
    serial="$serial $f"
  fi
done
run () { # $1 = concurrency, rest = files
  local c="$1"; shift
  # Node 20 does not expand globs for --test, so the files are listed explicitly.
  node --import tsx --import ./test/setup.ts --test --test-concurrency="$c" --test-timeout="${TEST_TIMEOUT_MS:-600000}" "$@"
}
status=0
# shellcheck disable=SC2086
run "${TEST_CONCURRENCY:-2}" $files || status=$?
# Tests that measure memory or push gigabytes run alone afterwards, so they neither disturb nor are disturbed.
if [ -n "$serial" ]; then
  # shellcheck disable=SC2086
  run 1 $serial || status=$?
fi
exit "$status"
