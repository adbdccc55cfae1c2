#!/usr/bin/env bash
# The whole test suite, from a fresh machine: `make test` runs this, and so does
# CI (.ci/run). It provisions what the tests need, then runs them:
#   - a real Vault server binary (built once into ~/.cache/firebreak, see .ci/vault.sh);
#   - go vet, the unit/integration/end-to-end tests, and every fuzz target briefly.
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

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 25m ./...

echo "== fuzz (${FUZZTIME:=10s} per target)"
FUZZTIME=$FUZZTIME .ci/fuzz.sh
echo "== all tests passed"
