import { describe, expect, it } from 'vitest';
import { ackKey, configKey, faultKey, LimitDocumentError, parseLimitDocument } from './ratelimit-contract.js';

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

describe('the rate-limit Redis contract', () => {
  it('names the keys as docs/contracts.md does', () => {
    expect([configKey('acme'), ackKey('acme'), faultKey('acme')]).toEqual([
      'novapos:ratelimit:config:acme',
      'novapos:ratelimit:ack:acme',
      'novapos:ratelimit:fault:acme',
    ]);
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
