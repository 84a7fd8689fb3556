import { describe, expect, it } from 'vitest';
import { GapTracker } from './gaps.js';

describe('GapTracker', () => {
  it('tolerates out-of-order numbers within the SLO and counts a hole past it once', () => {
    const gaps: [string, number][] = [];
    const t = new GapTracker(60_000, (p, s) => gaps.push([p, s]));
    t.seen('auth-service', 2, 0);
    t.seen('auth-service', 1, 10_000);
    expect(t.check(100_000)).toEqual([]);
    expect(t.contiguous('auth-service')).toBe(2);
    t.seen('auth-service', 4, 100_000);
    expect(t.check(159_999)).toEqual([]);
    expect(t.check(160_000)).toEqual([{ producer: 'auth-service', seq: 3, sinceMs: 100_000 }]);
    expect(t.check(200_000)).toHaveLength(1);
    expect(gaps).toEqual([['auth-service', 3]]);
    t.seen('auth-service', 3, 210_000);
    expect(t.check(300_000)).toEqual([]);
    expect(t.contiguous('auth-service')).toBe(4);
    expect(t.openHoleAges(300_000).get('auth-service')).toBe(0);
  });

  it('restores state after a restart', () => {
    const t = new GapTracker(1000);
    t.restore('gw', 5, [7, 8], 0);
    expect(t.contiguous('gw')).toBe(5);
    t.seen('gw', 6, 10);
    expect(t.contiguous('gw')).toBe(8);
  });

  it('stays linear with 100,000 numbers arriving from two partitions at different speeds', () => {
    const t = new GapTracker(60_000);
    const started = performance.now();
    // Evens first, then odds: up to 50,000 numbers wait above the hole at once.
    for (let n = 2; n <= 100_000; n += 2) t.seen('gw', n, n);
    expect(t.check(1000).length).toBe(0);
    for (let n = 1; n <= 100_000; n += 2) t.seen('gw', n, 200_000);
    expect(t.contiguous('gw')).toBe(100_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
