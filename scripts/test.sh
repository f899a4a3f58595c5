#!/usr/bin/env bash
# The test command: builds pinmesh, makes sure the pinned Kubo is installed (building it if needed),
# then runs the listed test tiers with node:test. Usage: scripts/test.sh [unit|integration|all|<files…>]
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
  unit) files=$(find test/unit -name '*.test.ts' | sort) ;;
  integration) files=$(find test/integration -name '*.test.ts' | sort) ;;
  all) files=$(find test/unit test/integration -name '*.test.ts' | sort) ;;
  *) files="$*" ;;
esac
[ -n "$files" ] || { echo "no test files found for '$what'" >&2; exit 1; }
# Node 20 does not expand globs for --test, so the files are listed explicitly.
# shellcheck disable=SC2086
exec node --import tsx --import ./test/setup.ts --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout="${TEST_TIMEOUT_MS:-600000}" $files
