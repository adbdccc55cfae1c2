#!/usr/bin/env bash
# Prints the path of a nats-server binary for tests that run real server
# processes (fault and cluster tests). Order: $FIREBREAK_NATS_SERVER_BIN, a
# nats-server on PATH, the build cache, else build the version go.mod pins
# (github.com/nats-io/nats-server/v2, the same code Firebreak embeds) into
# ${FIREBREAK_CACHE:-~/.cache/firebreak}. About a minute the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${FIREBREAK_NATS_SERVER_BIN:-}" ] && [ -x "$FIREBREAK_NATS_SERVER_BIN" ]; then echo "$FIREBREAK_NATS_SERVER_BIN"; exit 0; fi
if command -v nats-server >/dev/null 2>&1; then command -v nats-server; exit 0; fi
VERSION=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
CACHE=${FIREBREAK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firebreak}
OUT="$CACHE/nats-server-$VERSION/nats-server"
if [ -x "$OUT" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$(dirname "$OUT")"
echo "building nats-server $VERSION into $OUT" >&2
go build -trimpath -o "$OUT.tmp" github.com/nats-io/nats-server/v2 >&2
mv "$OUT.tmp" "$OUT"
echo "$OUT"
