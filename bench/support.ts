import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/**
 * Small helpers the benchmarks share, so a missing figure fails the run with a sentence saying what was
 * missing instead of a TypeError on `undefined` later on.
 */

/** `value`, or a failed run naming what was missing. */
export function required<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) throw new Error(`bench: ${what} is missing`);
  return value;
}

/** The median of `xs` (the upper one of an even count); a failed run when there is no sample. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return required(sorted[Math.floor(sorted.length / 2)], 'a sample to take the median of');
}

/** The word after `--flag` on the command line; undefined without the flag, a failed run without the word. */
export function flagValue(flag: string, argv: readonly string[] = process.argv): string | undefined {
  const at = argv.indexOf(flag);
  if (at < 0) return undefined;
  return required(argv[at + 1], `the value of ${flag}`);
}

/** The 1-minute load average, to one decimal (recorded beside each result). */
export function loadAverage1m(): number {
  return Math.round(required(loadavg()[0], 'the 1-minute load average') * 10) / 10;
}

/** The `i`-th element of `xs`, wrapping around (a closed loop's call number → its tenant or scenario). */
export function cycle<T>(xs: readonly T[], i: number): T {
  return required(xs[i % xs.length], 'an element of an empty list');
}

/**
 * CPU seconds (user + system, all threads) the process `pid` has used so far: /proc/<pid>/stat's utime and
 * stime, in clock ticks of 10 ms (USER_HZ 100 on Linux), read after the command name (in parentheses, which
 * may itself hold ") "). 0 without a pid or for a process that is gone.
 */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined || pid <= 0) return 0;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
