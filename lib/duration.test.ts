import { describe, expect, it } from 'vitest';
import { formatDuration, GO_DURATION_PATTERN, parseDuration } from './duration.js';

const HOUR = 3_600_000;

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['720h', 720 * HOUR],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['10us', 0.01],
    ['1m1m', 120_000],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30d', '1 h', '-5m', 'h', '5', '1h ', '1µs'])('refuses %j, saying what it expects', (text) => {
    expect(() => parseDuration(text)).toThrow(/Go-style duration.*720h/);
  });

  it('accepts exactly what the CRD pattern admits', () => {
    const shape = new RegExp(GO_DURATION_PATTERN);
    const parses = (text: string) => {
      try {
        parseDuration(text);
        return true;
      } catch {
        return false;
      }
    };
    for (const text of ['90s', '1h30m', '0.5s', '3ns', '30d', '1 h', '', '5', '.5s', '1.h'])
      expect(parses(text), text).toBe(shape.test(text));
  });
});

describe('formatDuration', () => {
  it.each([
    [90 * 60_000, '1h30m'],
    [25 * HOUR, '25h'],
    [45_000, '45s'],
    [HOUR + 5_000, '1h5s'],
    [250, '250ms'],
    [0, '0ms'],
    [1_499, '1s'],
  ])('renders %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
