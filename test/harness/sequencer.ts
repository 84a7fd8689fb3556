import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// The integration tier's files last from 1 s to 5 minutes, and several of the longest mostly wait (a real
// 5-minute alert window, a minute of OpenBao outage, drill schedules). Vitest orders a fresh clone's files by
// size, so a 5-minute file could start last and run alone at the end. This sequencer starts the longest
// first (longest-processing-time scheduling), from the durations of the last run on this machine when there
// is one, else from the table committed beside it.

/** The committed table: seconds per file, from a whole run (`npm run test:durations` writes it). */
export const committedDurationsFile = path.join(import.meta.dirname, 'durations.json');

/** Written by scripts/test.sh after each run: this machine's latest figures. */
export function lastRunDurationsFile(env: NodeJS.ProcessEnv = process.env): string {
  const cache =
    env.NOVAPOS_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'novapos');
  return path.join(cache, 'test-durations.json');
}

export type Durations = Record<string, number>;

/** Seconds per file (paths relative to the repository root); a missing or unreadable file is no figures. */
export function readDurations(file: string): Durations {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { files?: unknown };
    const files = parsed.files;
    if (!files || typeof files !== 'object') return {};
    return Object.fromEntries(
      Object.entries(files).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
    );
  } catch {
    return {};
  }
}

/**
 * The files in the order to start them: by group and project as vitest requires, then the longest first.
 * A file with no figure (new since the table) counts as the median, so it neither jumps the queue nor waits
 * at the end. Pure: the unit test gives it the figures.
 */
export function longestFirst<T>(
  files: readonly T[],
  key: (file: T) => { group: number; project: string; path: string },
  durations: Durations,
): T[] {
  const known = Object.values(durations).sort((a, b) => a - b);
  const median = known.length ? (known[Math.floor(known.length / 2)] ?? 0) : 0;
  return files
    .map((file, index) => {
      const k = key(file);
      return { file, index, ...k, seconds: durations[k.path] ?? median };
    })
    .sort(
      (a, b) =>
        a.group - b.group ||
        (a.project === b.project ? 0 : a.project < b.project ? -1 : 1) ||
        b.seconds - a.seconds ||
        a.index - b.index,
    )
    .map((entry) => entry.file);
}

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const durations = {
      ...readDurations(committedDurationsFile),
      ...readDurations(lastRunDurationsFile()),
    };
    const key = (spec: TestSpecification) => ({
      group: spec.project.config.sequence.groupOrder,
      project: spec.project.name,
      path: path.relative(root, spec.moduleId).split(path.sep).join('/'),
    });
    const order = longestFirst(await super.sort(files), key, durations);
    if (order.length > 20) {
      const first = order
        .slice(0, 3)
        .map((spec) => `${key(spec).path} ${durations[key(spec).path] ?? '?'} s`);
      process.stderr.write(`[sequence] ${order.length} files, the longest first: ${first.join(', ')}\n`);
    }
    return order;
  }
}

interface JsonReport {
  testResults?: { name: string; startTime?: number; endTime?: number }[];
}

/**
 * The table after a run: each file the vitest JSON report names gets its new figure (seconds, one decimal),
 * every other file keeps its old one (a partial run does not forget the rest).
 */
export function mergeReport(previous: Durations, report: JsonReport, root: string): Durations {
  const next: Durations = { ...previous };
  for (const file of report.testResults ?? []) {
    if (file.startTime === undefined || file.endTime === undefined) continue;
    const rel = path.relative(root, file.name).split(path.sep).join('/');
    if (rel.startsWith('..')) continue;
    next[rel] = Math.round((file.endTime - file.startTime) / 100) / 10;
  }
  return Object.fromEntries(Object.entries(next).sort(([a], [b]) => (a < b ? -1 : 1)));
}
