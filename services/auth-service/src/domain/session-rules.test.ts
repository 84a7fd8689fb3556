import { describe, expect, it } from 'vitest';
import { fixedClock } from './clock.js';
import {
  apiKeyExpiresAt,
  authenticatedRecently,
  newSessionExpiry,
  pendingEnrollmentExpired,
  refreshExpired,
  slidingExpiry,
} from './session-rules.js';

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const HOUR = 3_600_000;
const lifetimes = { sessionIdleHours: 12, refreshTtlHours: 168, adminRefreshTtlHours: 12 };

describe('session and token time rules at a fixed clock', () => {
  it('a new session: the refresh token ends after the idle window, the family at its absolute limit', () => {
    const clock = fixedClock(T0);
    expect(newSessionExpiry(clock.now(), lifetimes, false)).toEqual({
      expiresAt: new Date(T0 + 12 * HOUR),
      familyExpiresAt: new Date(T0 + 168 * HOUR),
    });
  });

  it("an admin's session ends at the admin limit, and its idle window never outlives it", () => {
    const admin = newSessionExpiry(T0, { ...lifetimes, adminRefreshTtlHours: 8 }, true);
    expect(admin).toEqual({ expiresAt: new Date(T0 + 8 * HOUR), familyExpiresAt: new Date(T0 + 8 * HOUR) });
  });

  it('a refresh slides the idle window from now, capped by the family end', () => {
    const clock = fixedClock(T0);
    const family = new Date(T0 + 168 * HOUR);
    clock.advance(100 * HOUR);
    expect(slidingExpiry(clock.now(), 12, family)).toEqual(new Date(T0 + 112 * HOUR));
    clock.advance(60 * HOUR); // 8 hours before the family ends
    expect(slidingExpiry(clock.now(), 12, family)).toEqual(family);
  });

  it('a refresh token is expired from the millisecond its own or its family end is reached', () => {
    const clock = fixedClock(T0);
    const token = { expiresAt: new Date(T0 + 12 * HOUR), familyExpiresAt: new Date(T0 + 168 * HOUR) };
    clock.advance(12 * HOUR - 1);
    expect(refreshExpired(token, clock.now())).toBe(false);
    clock.advance(1);
    expect(refreshExpired(token, clock.now())).toBe(true);
    expect(refreshExpired({ ...token, familyExpiresAt: new Date(T0) }, T0)).toBe(true);
  });

  it('step-up passes while auth_time is at most the window old, and never without auth_time', () => {
    const clock = fixedClock(T0);
    const authTime = T0 / 1000;
    clock.advance(300_000);
    expect(authenticatedRecently(authTime, clock.now(), 300)).toBe(true);
    clock.advance(1_000);
    expect(authenticatedRecently(authTime, clock.now(), 300)).toBe(false);
    expect(authenticatedRecently(undefined, T0, 300)).toBe(false);
  });

  it('a pending MFA enrollment lives as long as the enrollment token', () => {
    const clock = fixedClock(T0);
    const created = new Date(T0);
    clock.advance(600_000);
    expect(pendingEnrollmentExpired(created, clock.now(), 600)).toBe(false);
    clock.advance(1);
    expect(pendingEnrollmentExpired(created, clock.now(), 600)).toBe(true);
    expect(pendingEnrollmentExpired(null, T0, 600)).toBe(true);
  });

  it('an API key expires the given number of days from now, or never', () => {
    expect(apiKeyExpiresAt(T0, 30)).toEqual(new Date(T0 + 30 * 24 * HOUR));
    expect(apiKeyExpiresAt(T0, undefined)).toBeNull();
  });
});
