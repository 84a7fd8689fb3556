#!/usr/bin/env bash
# `npm test`: installs what is missing, then runs the unit tier and the integration tier (real components).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
bash scripts/bootstrap.sh
echo "[test] typecheck" >&2
npx tsc -p tsconfig.json --noEmit
echo "[test] lint" >&2
npx biome check . >&2
npx vitest run "$@"
echo "[test] done in $((SECONDS - started))s" >&2
