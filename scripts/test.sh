#!/usr/bin/env bash
# The whole test run (`npm test`): set-up, type-check, lint, platform suites, then the extension and
# browser end-to-end suites when the project defines them. Stops at the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

START_SECONDS=$SECONDS
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pocket-test.XXXXXX")"
trap 'rm -rf "$LOG_DIR"' EXIT

PASSED=0
FAILED=0
PENDING=0
STEPS_RUN=()

say() { printf '\n[test] %s\n' "$*"; }

# Adds up the counts a step's test runner printed: mocha's "N passing"/"N failing"/"N pending", or a
# plain "N passed, N failed" line from a launcher that summarises on its own.
count_results() {
  local log="$1" counts p f k
  counts=$(awk '
    { gsub(/\033\[[0-9;]*m/, "") }
    /^[ \t]*[0-9]+ passing/ { mp += $1; mocha = 1 }
    /^[ \t]*[0-9]+ failing/ { mf += $1 }
    /^[ \t]*[0-9]+ pending/ { mk += $1 }
    match($0, /[0-9]+ passed, [0-9]+ failed/) {
      split(substr($0, RSTART, RLENGTH), a, /[^0-9]+/); pp += a[1]; pf += a[2]
    }
    END { if (mocha) print mp+0, mf+0, mk+0; else print pp+0, pf+0, 0 }' "$log")
  read -r p f k <<<"$counts"
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); PENDING=$((PENDING + k))
}

summary() {
  local status="$1"
  printf '\n[test] steps: %s\n' "${STEPS_RUN[*]:-none}"
  printf '[test] %s in %d s\n' "$status" "$((SECONDS - START_SECONDS))"
  if [ "$PENDING" -gt 0 ]; then
    printf 'Tests: %d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$PENDING"
  else
    printf 'Tests: %d passed, %d failed\n' "$PASSED" "$FAILED"
  fi
}

# step NAME COMMAND...: runs one step, keeps its output for counting, stops everything on failure.
step() {
  local name="$1"; shift
  local log="$LOG_DIR/${name//[^a-zA-Z0-9]/_}.log" t0=$SECONDS rc=0
  say "$name: $*"
  "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
  count_results "$log"
  STEPS_RUN+=("$name")
  if [ "$rc" -ne 0 ]; then
    printf '\n[test] FAILED: step "%s" (%s) exited with %d after %d s; its output is above.\n' \
      "$name" "$*" "$rc" "$((SECONDS - t0))" >&2
    [ "$FAILED" -eq 0 ] && FAILED=1  # a step that failed without counting still counts as a failure
    summary "FAILED"
    exit "$rc"
  fi
  printf '[test] %s: ok (%d s)\n' "$name" "$((SECONDS - t0))"
}

has_script() {
  node -e "process.exit(require('./package.json').scripts?.[process.argv[1]] ? 0 : 1)" "$1"
}

step setup bash scripts/setup.sh --with-editor
step typecheck npx --no-install tsc -p .
step lint npm run --silent lint
step platform npm run --silent test:platform
if has_script test:extension; then
  step extension npm run --silent test:extension
else
  say "extension: no test:extension script yet, skipped"
fi
if has_script test:e2e; then
  step e2e npm run --silent test:e2e
else
  say "e2e: no test:e2e script yet, skipped"
fi

summary "all steps passed"
