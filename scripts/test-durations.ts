// Folds a vitest JSON report into a durations table that test/harness/sequencer.ts reads to start the
// longest files first. scripts/test.sh runs it after every run (into the cache, this machine's figures);
// `npm run test:durations` writes the committed table from this machine's table (its last runs).
//   npx tsx scripts/test-durations.ts <report.json> <table.json>
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mergeReport, readDurations } from '../test/harness/sequencer.js';

//   npx tsx scripts/test-durations.ts --table <this machine's table> <table.json>   (copies its figures)
const args = process.argv.slice(2);
const fromTable = args[0] === '--table';
const [source, table] = fromTable ? args.slice(1) : args;
if (!source || !table) {
  process.stderr.write(
    'usage: tsx scripts/test-durations.ts <vitest-report.json> <durations.json>\n' +
      '       tsx scripts/test-durations.ts --table <durations.json> <durations.json>\n',
  );
  process.exit(2);
}
const root = path.resolve(import.meta.dirname, '..');
// A table's paths are relative to the checkout that ran (a fresh clone for CI): they carry over as they are.
const files = fromTable
  ? Object.fromEntries(
      Object.entries({ ...readDurations(table), ...readDurations(source) }).sort(([a], [b]) =>
        a < b ? -1 : 1,
      ),
    )
  : mergeReport(readDurations(table), JSON.parse(readFileSync(source, 'utf8')), root);
const note =
  'Seconds per test file from a whole npm test; test/harness/sequencer.ts starts the longest first.';
writeFileSync(table, `${JSON.stringify({ note, files }, null, 2)}\n`);
process.stderr.write(`[test] durations of ${Object.keys(files).length} files in ${table}\n`);
