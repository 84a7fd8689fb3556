import { describe, expect, it } from 'vitest';
import {
  ackKey,
  bucketKey,
  configKey,
  faultKey,
  LimitDocumentError,
  legacyRateLimitKeys,
  parseLimitDocument,
  tenantOfConfigKey,
} from './ratelimit-contract.js';

const doc = {
  tenant: 'acme',
  generation: 2,
  requestsPerMinute: 60,
  burst: 10,
  routes: [{ pathPrefix: '/api/exports', requestsPerMinute: 10, burst: 0 }],
  apiKeys: [],
  enforcement: 'enforce',
  redisFailureMode: 'localFallback',
  localFallback: { requestsPerMinute: 30, burst: 5 },
  source: { namespace: 'novapos', name: 'acme', uid: 'u1' },
  publishedAt: '2026-03-01T12:00:00Z',
};

/** What Redis Cluster hashes of a key: the text between the first `{` and the next `}` when not empty. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('the rate-limit Redis contract', () => {
  it('names the keys as docs/contracts.md does', () => {
    expect([
      configKey('acme'),
      ackKey('acme'),
      faultKey('acme'),
      bucketKey('acme', 'acme'),
      bucketKey('acme', 'acme:route:/api/exports'),
      bucketKey('acme', 'acme:key:ab12'),
    ]).toEqual([
      'novapos:ratelimit:config:{acme}',
      'novapos:ratelimit:ack:{acme}',
      'novapos:ratelimit:fault:{acme}',
      'novapos:ratelimit:bucket:{acme}',
      'novapos:ratelimit:bucket:{acme}:route:/api/exports',
      'novapos:ratelimit:bucket:{acme}:key:ab12',
    ]);
    expect(legacyRateLimitKeys.config('acme')).toBe('novapos:ratelimit:config:acme');
  });

  it('puts every key of a tenant in one Redis Cluster slot (the hash tag), whatever the tenant name', () => {
    for (const tenant of ['acme', 'a:b', 'we{ird', 'we}ird', 'x'.repeat(200)]) {
      const keys = [
        configKey(tenant),
        ackKey(tenant),
        faultKey(tenant),
        bucketKey(tenant, `${tenant}:route:/x`),
      ];
      expect(new Set(keys.map(hashedPart)).size).toBe(1);
      expect(hashedPart(configKey(tenant))).not.toBe(configKey(tenant));
    }
    expect(hashedPart(configKey('acme'))).not.toBe(hashedPart(configKey('globex')));
  });

  it('finds the tenant of a config key and only of a config key', () => {
    expect(tenantOfConfigKey(configKey('acme'))).toBe('acme');
    expect(tenantOfConfigKey(configKey('a}b'))).toBe('a}b');
    expect(tenantOfConfigKey('novapos:ratelimit:config:acme')).toBeUndefined();
    expect(tenantOfConfigKey('novapos:ratelimit:config:{}')).toBeUndefined();
  });

  it('parses what the controller writes', () => {
    expect(parseLimitDocument(JSON.stringify(doc))).toEqual(doc);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['a missing generation', JSON.stringify({ ...doc, generation: undefined }), /generation/],
    ['a zero limit', JSON.stringify({ ...doc, requestsPerMinute: 0 }), /requestsPerMinute/],
    [
      'localFallback mode without a fallback',
      JSON.stringify({ ...doc, localFallback: undefined }),
      /localFallback/,
    ],
    ['an unknown failure mode', JSON.stringify({ ...doc, redisFailureMode: 'maybe' }), /redisFailureMode/],
  ])('refuses %s', (_name, raw, message) => {
    expect(() => parseLimitDocument(raw)).toThrow(LimitDocumentError);
    expect(() => parseLimitDocument(raw)).toThrow(message);
  });
});
