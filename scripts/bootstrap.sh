#!/usr/bin/env bash
# What both `npm start` and `npm test` need first: npm packages, Debian packages, the Go-built components.
# Each step skips what is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[bootstrap] npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
bash scripts/ensure-system.sh
bash test/bins/build.sh >/dev/null
