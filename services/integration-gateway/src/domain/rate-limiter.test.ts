import { describe, expect, it } from 'vitest';
import type { RateSpec, RedisFailureMode } from '../../../../lib/ratelimit-contract.js';
import { defaultLimits, type TenantLimits } from './limits.js';
import { type BackendCheck, type LimitBackend, RateLimiter } from './rate-limiter.js';

// Pure decision logic only: the Redis side is tested against a real Redis in test/gateway.
const down: LimitBackend = { check: async () => Promise.reject(new Error('connection refused')) };
const answering = (check: BackendCheck): LimitBackend => ({ check: async () => check });

function limits(
  mode: RedisFailureMode,
  extra: Partial<TenantLimits> = {},
  fallback: RateSpec = { requestsPerMinute: 60, burst: 1 },
): TenantLimits {
  return {
    ...defaultLimits('acme', {
      requestsPerMinute: 60,
      burst: 10,
      redisFailureMode: 'failOpen',
      localFallback: fallback,
    }),
    redisFailureMode: mode,
    localFallback: fallback,
    ...extra,
  };
}

describe('RateLimiter', () => {
  it('rejects with 429 and RateLimit headers when Redis says the bucket is empty', async () => {
    const limiter = new RateLimiter({
      backend: answering({ status: 'rejected', bucket: 0, remaining: 0, resetMs: 70_000, retryAfterMs: 900 }),
    });
    const d = await limiter.decide(limits('failOpen'), '/api/tenant/ping');
    expect(d).toMatchObject({ allow: false, status: 429, outcome: 'rejected', mode: 'normal' });
    expect(d.headers['Retry-After']).toBe('1');
    expect(d.headers['RateLimit']).toBe('"tenant";r=0;t=1');
  });

  it('in shadow mode counts the would-be rejection and lets the request through', async () => {
    const limiter = new RateLimiter({
      backend: answering({ status: 'rejected', bucket: 0, remaining: 0, resetMs: 1, retryAfterMs: 1 }),
    });
    const d = await limiter.decide(limits('failClosed', { enforcement: 'shadow' }), '/api/x');
    expect(d).toMatchObject({ allow: true, outcome: 'shadow_rejected' });
    expect(d.headers['Retry-After']).toBeUndefined();
  });

  it('fails open: every request passes, counted as an error decision', async () => {
    const d = await new RateLimiter({ backend: down }).decide(limits('failOpen'), '/api/x');
    expect(d).toMatchObject({
      allow: true,
      outcome: 'error',
      mode: 'fail_open',
      degradedBecause: 'redis_error',
    });
  });

  it('fails closed: every request is refused with 503 while Redis is down', async () => {
    const d = await new RateLimiter({ backend: down }).decide(limits('failClosed'), '/api/x');
    expect(d).toMatchObject({ allow: false, status: 503, outcome: 'error', mode: 'fail_closed' });
  });

  it('falls back to the in-process limit: capacity passes, the next is rejected', async () => {
    const limiter = new RateLimiter({ backend: down, now: () => 5_000 });
    const decisions = [];
    for (let i = 0; i < 4; i++)
      decisions.push(
        await limiter.decide(limits('localFallback', {}, { requestsPerMinute: 2, burst: 1 }), '/api/x'),
      );
    expect(decisions.map((d) => d.allow)).toEqual([true, true, true, false]);
    expect(decisions[3]).toMatchObject({ status: 429, mode: 'local_fallback', outcome: 'rejected' });
  });

  it('treats the drill fault key exactly like Redis being down', async () => {
    const d = await new RateLimiter({ backend: answering({ status: 'fault' }) }).decide(
      limits('failClosed'),
      '/api/x',
    );
    expect(d).toMatchObject({
      allow: false,
      status: 503,
      mode: 'fail_closed',
      degradedBecause: 'fault_injected',
    });
  });
});
