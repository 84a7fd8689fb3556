import { describe, expect, it } from 'vitest';
import { humanDuration, relative, short, shortTime, table } from './format.js';
import { ansi, stripAnsi, wantsColor } from './style.js';

describe('humanDuration', () => {
  it.each([
    ['nothing is 0s', 0, '0s'],
    ['a negative span is 0s', -5000, '0s'],
    ['seconds alone', 45_000, '45s'],
    ['minutes and seconds', 12 * 60_000 + 5000, '12m 5s'],
    ['the two largest units only', 3 * 86_400_000 + 4 * 3_600_000 + 59_000, '3d 4h'],
    ['a whole day', 86_400_000, '1d'],
  ])('%s', (_name, ms, text) => expect(humanDuration(ms)).toBe(text));
});

describe('times', () => {
  const now = new Date('2026-12-03T10:00:00Z');
  it('says in or ago', () => {
    expect(relative('2026-12-03T11:00:00Z', now)).toBe('in 1h');
    expect(relative('2026-12-03T09:58:00Z', now)).toBe('2m ago');
    expect(relative(undefined, now)).toBe('-');
  });
  it('shortens a timestamp to the minute', () =>
    expect(shortTime('2026-12-03T10:05:42Z')).toBe('2026-12-03 10:05Z'));
  it('cuts a long hash with an ellipsis', () => {
    expect(short('abcdefghijklmnop', 4)).toBe('abcd…');
    expect(short(undefined)).toBe('-');
  });
});

describe('table', () => {
  it('pads columns to the widest visible cell, ignoring colour', () => {
    const text = table(
      ['A', 'B'],
      [
        [ansi.red('xx'), 'y'],
        ['z', 'w'],
      ],
    );
    expect(stripAnsi(text).split('\n')).toEqual(['A   B', 'xx  y', 'z   w']);
  });
});

describe('wantsColor', () => {
  it.each([
    ['a terminal gets colour', true, {}, undefined, true],
    ['a pipe gets plain text', false, {}, undefined, false],
    ['NO_COLOR turns it off on a terminal', true, { NO_COLOR: '1' }, undefined, false],
    ['--no-color turns it off on a terminal', true, {}, false, false],
    ['FORCE_COLOR turns it on in a pipe', false, { FORCE_COLOR: '1' }, undefined, true],
  ] as const)('%s', (_name, tty, env, flag, want) => expect(wantsColor(tty, env, flag)).toBe(want));
});
