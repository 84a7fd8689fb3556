#!/usr/bin/env bash
# `npm test`: installs what is missing, then runs the unit tier and the integration tier (real components).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
# The project's Node LTS first on PATH (installed into the cache when the machine's node is older).
source scripts/node-env.sh
bash scripts/bootstrap.sh
echo "[test] typecheck" >&2
npx tsc -p tsconfig.json --noEmit
echo "[test] lint" >&2
npx biome check . >&2
results="$(mktemp -t novapos-vitest-XXXXXX.json)"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
echo "[test] done in $((SECONDS - started))s" >&2
# This machine's figures per file, for the next run's order (test/harness/sequencer.ts: the longest first).
cache="${NOVAPOS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/novapos}"
if [[ -s "$results" ]] && mkdir -p "$cache"; then
  cp "$results" "$cache/last-test-report.json"
  npx tsx scripts/test-durations.ts "$results" "$cache/test-durations.json" || true
fi
# One plain summary line for tools that read the last lines of a run.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  // A file that failed outside any test (a beforeAll, an import) counts as one failure.
  const brokenFiles = r.testResults.filter((f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" || true
rm -f "$results"
exit "$status"
