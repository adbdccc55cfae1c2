#!/usr/bin/env bash
# Prints the path of a real HashiCorp Vault server binary, building it once if needed.
#
# Order: $FIREBREAK_VAULT_BIN, a `vault` on PATH, the build cache
# ($FIREBREAK_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/firebreak), else build
# Vault v1.21.4 from the Go module proxy into that cache (about 9 minutes and 4.6 GiB
# peak on 2 cores with a cold build cache; seconds afterwards).
#
# Vault's go.mod replaces its sdk module with an in-tree copy that no tagged sdk
# version matches, so the build takes sdk v0.21.0 and applies the two small backports
# v1.21.4 needs (the two-argument ActivationFunc; RestorePolicy returning
# (string, error), from sdk v0.24.0).
set -euo pipefail
VERSION=1.21.4
if [ -n "${FIREBREAK_VAULT_BIN:-}" ] && [ -x "$FIREBREAK_VAULT_BIN" ]; then echo "$FIREBREAK_VAULT_BIN"; exit 0; fi
if command -v vault >/dev/null 2>&1; then command -v vault; exit 0; fi
CACHE=${FIREBREAK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firebreak}
OUT="$CACHE/vault-$VERSION/vault"
if [ -x "$OUT" ]; then echo "$OUT"; exit 0; fi

W="$CACHE/vault-$VERSION/build"
mkdir -p "$W"
exec 3>&1 1>&2   # build chatter to stderr; only the path goes to stdout
echo "building Vault v$VERSION into $OUT (first time only; ~9 min on 2 cores)"
cd "$W"
export GOFLAGS=-mod=mod GOWORK=off
SDK_DIR=$(go mod download -json github.com/hashicorp/vault/sdk@v0.21.0 | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
SDK24=$(go mod download -json github.com/hashicorp/vault/sdk@v0.24.0 | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
rm -rf sdk && cp -r "$SDK_DIR" sdk && chmod -R u+w sdk
sed -i 's/^\tActivationFunc func(context.Context, \*logical.Request, string) error$/\tActivationFunc func(context.Context, *logical.Request) error/' sdk/framework/backend.go
grep -q 'ActivationFunc func(context.Context, \*logical.Request) error' sdk/framework/backend.go
install -m 644 "$SDK24/helper/keysutil/lock_manager.go" sdk/helper/keysutil/lock_manager.go
cat > go.mod <<'MOD'
module vaultbuild

go 1.25.3

require github.com/hashicorp/vault v1.21.4

replace (
	github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3
	github.com/hashicorp/vault/sdk => ./sdk
	github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
)
MOD
printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/hashicorp/vault"\n' > tools.go
go mod tidy -e
go build -trimpath -ldflags='-s -w' -o vault.tmp github.com/hashicorp/vault
./vault.tmp version
mv vault.tmp "$OUT"
echo "$OUT" >&3
