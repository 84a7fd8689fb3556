import { describe, expect, it } from 'vitest';
import { fixedClock } from './clock.js';
import { accountLockoutSeconds, lockedForSeconds, lockoutSeconds, locksAfterFailure } from './lockout.js';

const policy = {
  threshold: 5,
  baseSeconds: 60,
  maxSeconds: 900,
  accountThreshold: 100,
  failureResetSeconds: 900,
};

describe('lockout', () => {
  it('locks a pair from the threshold on, doubling, capped', () => {
    expect([4, 5, 6, 7, 8, 9, 40].map((f) => lockoutSeconds(f, policy))).toEqual([
      0, 60, 120, 240, 480, 900, 900,
    ]);
  });

  it('locks the account for unknown addresses only far above the per-address threshold', () => {
    expect(accountLockoutSeconds(99, policy)).toBe(0);
    expect(accountLockoutSeconds(100, policy)).toBe(60);
  });

  it('a known address is never held by the account-wide lock, only by its own', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const inAMinute = new Date(now + 60_000);
    expect(
      lockedForSeconds({ pairLockedUntil: null, accountLockedUntil: inAMinute, knownSource: true }, now),
    ).toBe(0);
    expect(
      lockedForSeconds({ pairLockedUntil: null, accountLockedUntil: inAMinute, knownSource: false }, now),
    ).toBe(60);
    expect(
      lockedForSeconds({ pairLockedUntil: inAMinute, accountLockedUntil: null, knownSource: true }, now),
    ).toBe(60);
    expect(
      lockedForSeconds(
        { pairLockedUntil: new Date(now - 1), accountLockedUntil: null, knownSource: false },
        now,
      ),
    ).toBe(0);
  });
});

describe('lockout windows at a fixed clock', () => {
  const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);

  it('the threshold-th failure from an address locks that pair for the base window, then it opens', () => {
    const clock = fixedClock(T0);
    expect(locksAfterFailure({ pair: 4, account: 4 }, '198.51.100.7', policy, clock.now())).toEqual([]);
    const [lock, ...others] = locksAfterFailure({ pair: 5, account: 5 }, '198.51.100.7', policy, clock.now());
    expect(others).toEqual([]);
    expect(lock).toEqual({
      source: '198.51.100.7',
      scope: 'address',
      failures: 5,
      seconds: 60,
      until: new Date(T0 + 60_000),
    });
    const state = { pairLockedUntil: lock?.until ?? null, accountLockedUntil: null, knownSource: false };
    expect(lockedForSeconds(state, clock.now())).toBe(60);
    clock.advance(59_001);
    expect(lockedForSeconds(state, clock.now())).toBe(1);
    clock.advance(999);
    expect(lockedForSeconds(state, clock.now())).toBe(0);
  });

  it("failures from elsewhere lock the account for unknown addresses only, never the owner's known one", () => {
    const clock = fixedClock(T0);
    const locks = locksAfterFailure({ pair: 1, account: 101 }, '203.0.113.9', policy, clock.now());
    expect(locks).toEqual([
      { source: '', scope: 'account', failures: 101, seconds: 120, until: new Date(T0 + 120_000) },
    ]);
    const accountLockedUntil = locks[0]?.until ?? null;
    clock.advance(30_000);
    expect(
      lockedForSeconds({ pairLockedUntil: null, accountLockedUntil, knownSource: false }, clock.now()),
    ).toBe(90);
    expect(
      lockedForSeconds({ pairLockedUntil: null, accountLockedUntil, knownSource: true }, clock.now()),
    ).toBe(0);
  });
});
