import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lastRunDurationsFile, longestFirst, mergeReport, readDurations } from './sequencer.js';

const spec = (p: string, group = 1, project = 'integration') => ({ p, group, project });
const key = (s: ReturnType<typeof spec>) => ({ group: s.group, project: s.project, path: s.p });

describe('longestFirst', () => {
  it('starts the longest file first, so a 5-minute file does not run alone at the end', () => {
    const files = [spec('a'), spec('alerts'), spec('b'), spec('crash')];
    const order = longestFirst(files, key, { a: 3, alerts: 310, b: 12, crash: 195 });
    expect(order.map((s) => s.p)).toEqual(['alerts', 'crash', 'b', 'a']);
  });

  it('keeps groups and projects in vitest order before any duration', () => {
    const files = [spec('late', 1), spec('unit-long', 0, 'unit'), spec('early', 0, 'a-unit')];
    const order = longestFirst(files, key, { late: 500, 'unit-long': 9, early: 1 });
    expect(order.map((s) => s.p)).toEqual(['early', 'unit-long', 'late']);
  });

  it('counts a file with no figure as the median, and keeps the given order among equals', () => {
    const files = [spec('new1'), spec('short'), spec('long'), spec('mid'), spec('new2')];
    const order = longestFirst(files, key, { short: 1, mid: 20, long: 100 });
    expect(order.map((s) => s.p)).toEqual(['long', 'new1', 'mid', 'new2', 'short']);
  });
});

describe('the durations table', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('takes each reported file’s new figure in seconds and keeps the files a partial run did not report', () => {
    const root = '/repo';
    const merged = mergeReport(
      { 'test/old.int.test.ts': 7, 'test/a.int.test.ts': 1 },
      {
        testResults: [
          { name: '/repo/test/a.int.test.ts', startTime: 1_000, endTime: 43_460 },
          { name: '/elsewhere/x.test.ts', startTime: 0, endTime: 5 },
          { name: '/repo/test/b.int.test.ts' },
        ],
      },
      root,
    );
    expect(merged).toEqual({ 'test/a.int.test.ts': 42.5, 'test/old.int.test.ts': 7 });
  });

  it('reads a missing or broken table as no figures, and numbers only', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'novapos-durations-'));
    expect(readDurations(path.join(dir, 'none.json'))).toEqual({});
    writeFileSync(path.join(dir, 'broken.json'), '{');
    expect(readDurations(path.join(dir, 'broken.json'))).toEqual({});
    writeFileSync(path.join(dir, 'mixed.json'), JSON.stringify({ files: { a: 2, b: 'x' } }));
    expect(readDurations(path.join(dir, 'mixed.json'))).toEqual({ a: 2 });
  });

  it('keeps this machine’s figures in the project cache', () => {
    expect(lastRunDurationsFile({ NOVAPOS_CACHE_DIR: '/c' })).toBe('/c/test-durations.json');
    expect(lastRunDurationsFile({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/novapos/test-durations.json');
  });

  it('commits figures for a fresh clone, the 5-minute alert file among them', async () => {
    const { committedDurationsFile } = await import('./sequencer.js');
    const table = readDurations(committedDurationsFile);
    expect(table['test/alerts/real-services.int.test.ts']).toBeGreaterThan(60);
  });
});
