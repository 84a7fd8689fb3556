import { describe, expect, it } from 'vitest';
import {
  bucketsFor,
  defaultLimits,
  type GatewayDefaults,
  limitsFromDocument,
  pathMatches,
} from './limits.js';

const defaults: GatewayDefaults = {
  requestsPerMinute: 600,
  burst: 0,
  redisFailureMode: 'failOpen',
  localFallback: { requestsPerMinute: 600, burst: 0 },
};

const acme = limitsFromDocument(
  {
    tenant: 'acme',
    generation: 3,
    requestsPerMinute: 60,
    burst: 10,
    routes: [
      { pathPrefix: '/api/exports', requestsPerMinute: 10, burst: 0 },
      { pathPrefix: '/api/exports/big', requestsPerMinute: 1, burst: 0 },
    ],
    apiKeys: [{ prefix: 'batch', requestsPerMinute: 30, burst: 5 }],
    enforcement: 'enforce',
    redisFailureMode: 'failClosed',
    source: { namespace: 'novapos', name: 'acme', uid: 'u' },
    publishedAt: '',
  },
  defaults,
);

describe('bucketsFor', () => {
  it('charges a plain request to the tenant only', () => {
    expect(bucketsFor(acme, '/api/tenant/ping').map((b) => b.id)).toEqual(['acme']);
  });

  it('adds the longest matching route override', () => {
    expect(bucketsFor(acme, '/api/exports/big/1').map((b) => [b.policy, b.limit.requestsPerMinute])).toEqual([
      ['tenant', 60],
      ['route', 1],
    ]);
    expect(bucketsFor(acme, '/api/exports').map((b) => b.id)).toEqual(['acme', 'acme:route:/api/exports']);
  });

  it('gives each API key matching a prefix override its own bucket', () => {
    expect(bucketsFor(acme, '/api/x', 'batchabc2345').map((b) => b.id)).toEqual([
      'acme',
      'acme:key:batchabc2345',
    ]);
    expect(bucketsFor(acme, '/api/x', 'other1234567').map((b) => b.id)).toEqual(['acme']);
  });

  it('uses GATEWAY_RATE_LIMIT_RPM for a tenant without a TenantRateLimit', () => {
    const limits = defaultLimits('globex', defaults);
    expect(limits).toMatchObject({ generation: 0, fromResource: false, enforcement: 'enforce' });
    expect(bucketsFor(limits, '/api/exports')[0]!.limit).toEqual({ requestsPerMinute: 600, burst: 0 });
  });
});

describe('pathMatches', () => {
  it('matches whole path segments only', () => {
    expect(pathMatches('/api/exports', '/api/exports')).toBe(true);
    expect(pathMatches('/api/exports', '/api/exports/1')).toBe(true);
    expect(pathMatches('/api/exports', '/api/exportsx')).toBe(false);
    expect(pathMatches('/api/', '/api/x')).toBe(true);
  });
});
