#!/usr/bin/env bash
# Compares Firebreak's detection engine (ingest/detect) with gitleaks on one generated,
# labelled corpus: throughput per core, recall of the planted keys, share of decoy lines
# flagged, findings on clean lines. Not part of the test suite (.ci/run does not call it).
#
# Usage: .ci/bench-detect.sh [MiB]          (default 16 MiB of log lines)
# Env:   GITLEAKS_VERSION (default v8.30.1), SEED (default 1), KEEP=1 keeps the work dir.
#
# gitleaks is installed into a temporary GOBIN from the Go module proxy, built with
# -tags gore2regex as its releases are; it never enters this repository's go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${1:-16}
SEED=${SEED:-1}
GITLEAKS_VERSION=${GITLEAKS_VERSION:-v8.30.1}
work=$(mktemp -d)
if [ "${KEEP:-}" != 1 ]; then trap 'rm -rf "$work"' EXIT; else echo "work dir: $work"; fi

echo "== generating a ${MB} MiB labelled corpus (seed $SEED)"
go run ./ingest/detect/internal/corpusgen gen -dir "$work/corpus" -mb "$MB" -seed "$SEED"
corpus="$work/corpus/corpus.log"

echo "== installing gitleaks $GITLEAKS_VERSION into a temporary GOBIN"
GOBIN="$work/bin" go install -tags gore2regex "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION"
gitleaks="$work/bin/gitleaks"
if "$gitleaks" dir --help >/dev/null 2>&1; then
	glcmd=(dir)
else
	glcmd=(detect --no-git --source)
fi

# gitleaks logs "scanned ~N bytes (X MB) in 24.3s"; that time excludes its start-up.
run_gitleaks() { # $1: GOMAXPROCS ("" for all cores), $2: report path
	local log="$work/gitleaks.$$.log"
	GOMAXPROCS=$1 "$gitleaks" "${glcmd[@]}" "$corpus" --no-banner --exit-code 0 \
		--report-format json --report-path "$2" >"$log" 2>&1
	sed -n 's/.*scanned .* in \([0-9.]*[a-zµ]*\).*/\1/p' "$log" | sed 's/\x1b\[[0-9;]*m//g' | tail -1
}

echo "== gitleaks, one core"
gl1=$(run_gitleaks 1 "$work/gitleaks.json")
echo "   $gl1"
echo "== gitleaks, all cores ($(nproc))"
glall=$(run_gitleaks "" "$work/gitleaks-all.json")
echo "   $glall"

echo "== firebreak benchmark, one core (same corpus)"
bench=$(FIREBREAK_BENCH_CORPUS="$corpus" go test -run '^$' -bench 'BenchmarkScan(File|CleanLogs)$' \
	-benchmem -cpu 1 -count 3 ./ingest/detect)
echo "$bench" | grep -E '^Benchmark'
best() { echo "$bench" | awk -v b="$1" '$1 ~ "^"b {for (i=1;i<=NF;i++) if ($(i+1)=="MB/s" && $i>m) m=$i} END {print m}'; }
fb=$(best BenchmarkScanFile)
fbclean=$(best BenchmarkScanCleanLogs)

echo
go run ./ingest/detect/internal/corpusgen table -dir "$work/corpus" -report "$work/gitleaks.json" \
	-firebreak-mbps "$fb" -firebreak-clean-mbps "$fbclean" -gitleaks-time "$gl1" -gitleaks-time-all "$glall" \
	-gitleaks-version "$GITLEAKS_VERSION"
