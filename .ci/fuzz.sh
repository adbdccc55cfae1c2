#!/usr/bin/env bash
# Runs every fuzz target in the module for $FUZZTIME (default 10s) each.
# Long runs: FUZZTIME=10m .ci/fuzz.sh, or one target:
#   go test -run '^$' -fuzz '^FuzzScan$' -fuzztime 1h ./ingest/detect
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is mid-input (go.dev/issue/75804,
# fixed in Go 1.27): no crasher is written and nothing is wrong with the code.
# Such a run is repeated once; a run that writes a failing input, or fails any
# other way, fails the script.
#
# Minimizing a newly interesting input may take up to -fuzzminimizetime
# (Go's default: 60s) and does not stop at -fuzztime: a 10s run that starts
# minimizing a few-KiB input near its end ran into that deadline race twice in
# a row (FuzzParseGeneric, its 0 execs/s in the log being minimization). A
# short minimization keeps each target near FUZZTIME; a crasher is still
# written, minimized for at most that long.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# coordinator_race reports whether the failed run in $log is only the
# coordinator's deadline race: no failing input written, and the target's
# one failure message is the bare context error.
coordinator_race() {
  ! grep -q 'Failing input written to' "$log" &&
    [ "$(grep -A1 -E '^--- FAIL: Fuzz' "$log" | tail -n1 | sed 's/^[[:space:]]*//')" = "context deadline exceeded" ]
}

grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | awk '{print $2}'); do
    for attempt in 1 2; do
      echo "fuzz $pkg $target ($FUZZTIME)"
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg" >"$log" 2>&1; then
        break
      fi
      if [ "$attempt" = 1 ] && coordinator_race; then
        echo "  $target: the fuzz coordinator's deadline race (go.dev/issue/75804), no failing input; running it again"
        continue
      fi
      cat "$log"
      exit 1
    done
  done
done
