#!/usr/bin/env bash
# `npm start`: installs what is missing, then runs the local stack (scripts/start.ts) on the project's Node LTS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh
bash scripts/bootstrap.sh
exec npx tsx scripts/start.ts "$@"
