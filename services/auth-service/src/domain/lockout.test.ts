import { describe, expect, it } from 'vitest';
import { accountLockoutSeconds, lockedForSeconds, lockoutSeconds } from './lockout.js';

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
