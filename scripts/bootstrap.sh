#!/usr/bin/env bash
# What both `npm start` and `npm test` need first: npm packages, Debian packages, the Go-built components.
# Each step skips what is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  # `npm ci` refuses this lock where the registry does not serve biome's other-platform binaries (they are
  # optional and never installed here, so the lock has no entries for them). `npm install` installs exactly
  # the locked versions and leaves package-lock.json unchanged.
  echo "[bootstrap] npm install (from package-lock.json)" >&2
  npm ci --no-audit --no-fund >&2 2>/dev/null || npm install --no-audit --no-fund >&2
fi
bash scripts/ensure-system.sh
bash test/bins/build.sh >/dev/null
