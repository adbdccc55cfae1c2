#!/usr/bin/env bash
# Compares Firebreak's detection engine (ingest/detect) with gitleaks on the same
# generated corpora: throughput per core, recall of the planted keys, share of decoy
# lines flagged, findings on clean lines. Not part of the test suite (.ci/run does not
# call it).
#
# Two corpora, both from ingest/detect/internal/corpusgen with a fixed seed:
#   labelled  log lines with a planted key in a quarter of the entries and a decoy in an
#             eighth (one key every ~650 bytes: a stress test for both scanners)
#   clean     ordinary log lines only (JSON logs, access logs, traces, hashes, UUIDs,
#             trace ids, base64 payloads): what most log traffic looks like
#
# Usage: .ci/bench-detect.sh [MiB]          (default 16 MiB per corpus)
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

echo "== installing gitleaks $GITLEAKS_VERSION into a temporary GOBIN"
GOBIN="$work/bin" go install -tags gore2regex "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION"
gitleaks="$work/bin/gitleaks"
if "$gitleaks" dir --help >/dev/null 2>&1; then
	glcmd=(dir)
else
	glcmd=(detect --no-git --source)
fi

# gitleaks logs "scanned ~N bytes (X MB) in 24.3s": its own scan time, without start-up.
run_gitleaks() { # $1 corpus, $2 GOMAXPROCS ("" for all cores), $3 report path
	local log="$work/gitleaks.log"
	GOMAXPROCS=$2 "$gitleaks" "${glcmd[@]}" "$1" --no-banner --exit-code 0 \
		--report-format json --report-path "$3" >"$log" 2>&1
	sed 's/\x1b\[[0-9;]*m//g' "$log" | sed -n 's/.*scanned .* in \([0-9.]*[a-zµ]*\).*/\1/p' | tail -1
}

results=()
for kind in labelled clean; do
	dir="$work/$kind"
	flags=()
	[ "$kind" = clean ] && flags=(-clean)
	echo "== $kind corpus: generating ${MB} MiB (seed $SEED)"
	go run ./ingest/detect/internal/corpusgen gen -dir "$dir" -mb "$MB" -seed "$SEED" "${flags[@]}"
	corpus="$dir/corpus.log"

	echo "== $kind corpus: gitleaks, one core"
	gl1=$(run_gitleaks "$corpus" 1 "$dir/gitleaks.json")
	echo "   $gl1"
	echo "== $kind corpus: gitleaks, all cores ($(nproc))"
	glall=$(run_gitleaks "$corpus" "" "$dir/gitleaks-all.json")
	echo "   $glall"

	echo "== $kind corpus: firebreak benchmark, one core"
	bench=$(FIREBREAK_BENCH_CORPUS="$corpus" go test -run '^$' -bench 'BenchmarkScanFile$' \
		-benchmem -cpu 1 -count 3 ./ingest/detect)
	echo "$bench" | grep -E '^Benchmark'
	fb=$(echo "$bench" | awk '$1 ~ /^BenchmarkScanFile/ {for (i=1;i<=NF;i++) if ($(i+1)=="MB/s" && $i>m) m=$i} END {print m}')

	results+=("$(go run ./ingest/detect/internal/corpusgen table -dir "$dir" -report "$dir/gitleaks.json" \
		-firebreak-mbps "$fb" -gitleaks-time "$gl1" -gitleaks-time-all "$glall" -gitleaks-version "$GITLEAKS_VERSION")")
done

echo
for r in "${results[@]}"; do
	echo "$r"
	echo
done
