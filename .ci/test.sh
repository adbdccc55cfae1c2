#!/usr/bin/env bash
# The whole test suite, from a fresh machine: `make test` runs this, and so does
# CI (.ci/run). It provisions what the tests need, then runs them:
#   - a real Vault server binary (built once into ~/.cache/firebreak, see .ci/vault.sh);
#   - go vet, staticcheck (a tool dependency in go.mod), the
#     unit/integration/end-to-end tests (under the race detector, all but the
#     process-level cluster and fault packages), and every fuzz target briefly.
# Long soaks are opt-in: FIREBREAK_SOAK=1, FUZZTIME=5m.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS=${GOFLAGS:--mod=mod}

echo "== provisioning"
FIREBREAK_VAULT_BIN=$(.ci/vault.sh)
export FIREBREAK_VAULT_BIN
echo "vault: $FIREBREAK_VAULT_BIN"
FIREBREAK_NATS_SERVER_BIN=$(.ci/nats-server.sh)
export FIREBREAK_NATS_SERVER_BIN
echo "nats-server: $FIREBREAK_NATS_SERVER_BIN"
# Debian's Chromium for the incident-page test (headless, driven with
# chromedp). Installed only when missing; the test fails without it.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${FIREBREAK_CHROMIUM:-}" ]; then
  echo "installing chromium (Debian package) for the incident page test"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "chromium: ${FIREBREAK_CHROMIUM:-$(command -v chromium)}"

echo "== go vet"
go vet ./...

echo "== staticcheck"
go tool staticcheck ./...

echo "== go test"
# The cluster and fault tests run real nats-server and firebreak processes
# and measure failover timing: they run after the rest, one package at a
# time, so that the other packages' tests do not starve them of the 2 cores.
# Every other package runs under the race detector, so a data race fails its
# tests (racing all of them costs about a minute more than racing only the
# packages with the most shared state, and found a race those left out).
process_pkgs="./cmd/firebreak/internal/cluster ./cmd/firebreak/internal/faults"
go test -race -count=1 -timeout 25m $(go list ./... | grep -vxF "$(go list $process_pkgs)")
go test -count=1 -timeout 25m -p 1 $process_pkgs

echo "== fuzz (${FUZZTIME:=10s} per target)"
FUZZTIME=$FUZZTIME .ci/fuzz.sh
echo "== all tests passed"
