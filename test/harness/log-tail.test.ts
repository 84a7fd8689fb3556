import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { componentLogTails, tailFile } from './log-tail.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'log-tail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe('tailFile', () => {
  it('returns the last lines of a short file', () => {
    const file = write('short.log', 'one\ntwo\nthree\n');
    expect(tailFile(file, 2)).toBe('two\nthree');
    expect(tailFile(file, 10)).toBe('one\ntwo\nthree');
  });

  it('reads only the end of a large file and drops the partial line it starts in', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(50)}`);
    const file = write('large.log', `${lines.join('\n')}\n`);
    expect(tailFile(file, 3, 1000).split('\n')).toEqual(lines.slice(-3));
    const fromChunk = tailFile(file, 1000, 1000).split('\n');
    expect(fromChunk.every((l) => /^line \d+ x{50}$/.test(l))).toBe(true);
  });

  it('says so when the file cannot be read instead of throwing', () => {
    expect(tailFile(path.join(dir, 'missing.log'), 5)).toMatch(/^\(cannot read .*missing\.log: ENOENT/);
  });
});

describe('componentLogTails', () => {
  it('gives each component a header with its name and log file', () => {
    const redis = write('redis.log', 'ready to accept connections\n');
    const empty = write('etcd.log', '');
    const out = componentLogTails({ redis, etcd: empty }, 40);
    expect(out).toBe(
      `--- redis: last 40 lines of ${redis} ---\nready to accept connections\n--- etcd: last 40 lines of ${empty} ---\n(empty)`,
    );
  });
});
