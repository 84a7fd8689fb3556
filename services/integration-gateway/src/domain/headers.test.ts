import { parseItem, parseList } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { rateLimitHeaders } from './headers.js';

describe('rateLimitHeaders', () => {
  const policies = [
    { policy: 'tenant' as const, requestsPerMinute: 60, burst: 10 },
    { policy: 'route' as const, requestsPerMinute: 10, burst: 0 },
  ];

  it('lists every applied policy as structured-field items with quota and window', () => {
    const h = rateLimitHeaders(
      policies,
      { policy: 'route', remaining: 4, resetMs: 5_500, retryAfterMs: 0 },
      false,
    );
    expect(h['RateLimit-Policy']).toBe('"tenant";q=60;w=60;novapos-burst=10, "route";q=10;w=60');
    expect(h['RateLimit']).toBe('"route";r=4;t=6');
    expect(h['Retry-After']).toBeUndefined();
    // Both parse back as structured fields.
    expect(parseList(h['RateLimit-Policy']!)).toHaveLength(2);
    expect(parseItem(h['RateLimit']!)[0]).toBe('route');
  });

  it('on a rejection, Retry-After and t name the same moment, at least one second away', () => {
    const h = rateLimitHeaders(
      policies,
      { policy: 'tenant', remaining: 0, resetMs: 70_000, retryAfterMs: 200 },
      true,
    );
    expect(h['Retry-After']).toBe('1');
    expect(h['RateLimit']).toBe('"tenant";r=0;t=1');
  });
});
