import { describe, expect, it } from 'vitest';
import { JwtVerificationError, type VerifiedJwt } from '../../../../lib/jwks-verifier.js';
import { CachedTokenVerifier, type KeySetVerifier } from './jwt-cache.js';

class CountingVerifier implements KeySetVerifier {
  calls = 0;
  cacheExpiresAt = 100_000;
  async verify(token: string): Promise<VerifiedJwt> {
    this.calls++;
    if (token === 'bad') throw new JwtVerificationError('signature_invalid', 'bad');
    return { payload: { sub: 'u', exp: 50 }, kid: 'k1', alg: 'ES256' };
  }
}

describe('CachedTokenVerifier', () => {
  it('verifies a token once, then answers from the cache until exp', async () => {
    let now = 0;
    const inner = new CountingVerifier();
    const v = new CachedTokenVerifier({ verifier: inner, maxEntries: 10, now: () => now });
    await v.verify('good');
    await v.verify('good');
    expect(inner.calls).toBe(1);
    expect(v.has('good')).toBe(true);
    now = 50_000;
    expect(v.has('good')).toBe(false);
    await v.verify('good');
    expect(inner.calls).toBe(2);
  });

  it('never caches a failure', async () => {
    const inner = new CountingVerifier();
    const v = new CachedTokenVerifier({ verifier: inner, maxEntries: 10, now: () => 0 });
    await expect(v.verify('bad')).rejects.toThrow();
    await expect(v.verify('bad')).rejects.toThrow();
    expect(inner.calls).toBe(2);
  });

  it('verifies again once the verifier loaded another key set (a removed key stops verifying)', async () => {
    const inner = new CountingVerifier();
    const v = new CachedTokenVerifier({ verifier: inner, maxEntries: 10, now: () => 0 });
    await v.verify('good');
    inner.cacheExpiresAt = 200_000;
    expect(v.has('good')).toBe(false);
    await v.verify('good');
    expect(inner.calls).toBe(2);
  });

  it('is bounded', async () => {
    const inner = new CountingVerifier();
    const v = new CachedTokenVerifier({ verifier: inner, maxEntries: 2, now: () => 0 });
    for (const t of ['a', 'b', 'c']) await v.verify(t);
    expect(v.has('a')).toBe(false);
    expect(v.has('c')).toBe(true);
  });
});
