import { describe, expect, it } from 'vitest';
import { isGuardError, OwnTraffic, TOO_MANY_AUTH_FAILURES } from './context.js';

describe('the abort guard’s count of failed requests', () => {
  it('counts a 429 too_many_auth_failures (failing authentications refused before verification)', () => {
    expect(isGuardError({ status: 429, code: TOO_MANY_AUTH_FAILURES })).toBe(true);
  });

  it('does not count a 429 of the rate limiter, nor successes', () => {
    expect(isGuardError({ status: 429, code: 'rate_limited' })).toBe(false);
    expect(isGuardError({ status: 429 })).toBe(false);
    expect(isGuardError({ status: 200 })).toBe(false);
  });

  it('counts 5xx, 401 and 403, and a request that never completed (status 0) not', () => {
    for (const status of [500, 502, 503, 504, 401, 403]) expect(isGuardError({ status })).toBe(true);
    expect(isGuardError({ status: 0 })).toBe(false);
  });

  it('the drill’s own requests are counted the same way, so they are subtracted from the gateway’s', () => {
    const own = new OwnTraffic();
    const at = Date.now();
    own.record({ status: 401, latencyMs: 1, at, code: 'unauthorized' });
    own.record({ status: 429, latencyMs: 1, at, code: TOO_MANY_AUTH_FAILURES });
    own.record({ status: 429, latencyMs: 1, at, code: 'rate_limited' });
    own.record({ status: 200, latencyMs: 1, at });
    expect(own).toMatchObject({ requests: 4, errors: 2 });
  });
});
