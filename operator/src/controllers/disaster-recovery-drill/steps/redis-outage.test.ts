import { describe, expect, it } from 'vitest';
import { TOO_MANY_AUTH_FAILURES } from './context.js';
import { observedMode } from './redis-outage.js';

describe('what the outage step reads off one answer', () => {
  const at = 0;
  const latencyMs = 1;

  it('names the limiter mode of a ping that got through', () => {
    expect(observedMode({ status: 200, limiter: 'normal', at, latencyMs })).toBe('normal');
    expect(observedMode({ status: 200, limiter: 'fail_open', at, latencyMs })).toBe('fail_open');
    expect(observedMode({ status: 503, code: 'rate_limiter_unavailable', at, latencyMs })).toBe(
      'fail_closed',
    );
  });

  it('tells the failed-authentication budget apart from the tenant limit (both are 429)', () => {
    // A drill whose check saw "rate_limited ×5" sent the on-call to the tenant's limits, when the gateway had
    // refused the drill's key before verifying it: its address had spent its failed-authentication budget.
    expect(observedMode({ status: 429, code: TOO_MANY_AUTH_FAILURES, at, latencyMs })).toBe(
      TOO_MANY_AUTH_FAILURES,
    );
    expect(observedMode({ status: 429, code: 'rate_limited', at, latencyMs })).toBe('rate_limited');
    expect(observedMode({ status: 429, at, latencyMs })).toBe('rate_limited');
  });

  it('names any other answer by status and code, and a request that never completed', () => {
    expect(observedMode({ status: 401, code: 'invalid_api_key', at, latencyMs })).toBe(
      'HTTP 401 invalid_api_key',
    );
    expect(observedMode({ status: 0, at, latencyMs })).toBe('no answer');
  });
});
