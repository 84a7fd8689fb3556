import { createHmac } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwksSnapshot, JwtVerificationError, parseMaxAge, RemoteJwksVerifier } from './jwks-verifier.js';

const ISS = 'https://auth.novapos.local';
const AUD = 'novapos-api';

interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function aKey(kid: string, alg = 'ES256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function b64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

async function aToken(
  key: TestKey,
  opts: { nowSec: number; claims?: Record<string, unknown>; header?: Record<string, unknown>; ttl?: number },
) {
  return new SignJWT({ tid: 'demo', roles: ['user'], ...opts.claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...opts.header })
    .setIssuer((opts.claims?.['iss'] as string) ?? ISS)
    .setAudience((opts.claims?.['aud'] as string) ?? AUD)
    .setSubject('user-1')
    .setIssuedAt(opts.nowSec)
    .setNotBefore((opts.claims?.['nbf'] as number) ?? opts.nowSec)
    .setExpirationTime(opts.nowSec + (opts.ttl ?? 300))
    .sign(key.privateKey);
}

/** A JWKS endpoint as a fetch function over a mutable key list: pure, nothing listens. */
function aJwksEndpoint(initial: JWK[], cacheControl = 'max-age=60') {
  const state = { keys: initial, calls: 0, fail: false, cacheControl, hash: undefined as string | undefined };
  const fetchFn = (async () => {
    state.calls++;
    if (state.fail) throw new Error('connect ECONNREFUSED');
    return new Response(JSON.stringify({ keys: state.keys }), {
      headers: {
        'content-type': 'application/json',
        'cache-control': state.cacheControl,
        ...(state.hash ? { 'x-keyset-hash': state.hash } : {}),
      },
    });
  }) as unknown as typeof fetch;
  return { state, fetchFn };
}

describe('jwks-verifier', () => {
  let k1: TestKey;
  let k2: TestKey;
  let rsa: TestKey;
  const t0 = 1_900_000_000_000;

  beforeAll(async () => {
    k1 = await aKey('k1');
    k2 = await aKey('k2');
    rsa = await aKey('r1', 'RS256');
  });

  function aVerifier(
    endpoint: ReturnType<typeof aJwksEndpoint>,
    clock: { ms: number },
    extra: Partial<ConstructorParameters<typeof RemoteJwksVerifier>[0]> = {},
  ) {
    return new RemoteJwksVerifier({
      jwksUrl: 'http://auth.test/.well-known/jwks.json',
      issuer: ISS,
      audience: AUD,
      fetch: endpoint.fetchFn,
      now: () => clock.ms,
      maxCacheSeconds: 300,
      minRefetchIntervalMs: 5_000,
      ...extra,
    });
  }

  it('verifies a token signed by a published key and fetches the set once while it is fresh', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk]);
    const v = aVerifier(endpoint, clock);
    const token = await aToken(k1, { nowSec: t0 / 1000 });
    const out = await v.verify(token);
    expect(out.kid).toBe('k1');
    expect(out.payload['tid']).toBe('demo');
    await v.verify(token);
    expect(endpoint.state.calls).toBe(1);
  });

  it('uses the set for max-age seconds, capped by maxCacheSeconds', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk], 'public, max-age=3600');
    const v = aVerifier(endpoint, clock, { maxCacheSeconds: 120 });
    await v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }));
    expect(v.cacheExpiresAt).toBe(t0 + 120_000);
    clock.ms += 119_000;
    await v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }));
    expect(endpoint.state.calls).toBe(1);
    clock.ms += 2_000;
    await v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }));
    expect(endpoint.state.calls).toBe(2);
  });

  it('honours a max-age shorter than the refetch interval, so a short jwksCacheTTL still bounds staleness', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk], 'public, max-age=2');
    const v = aVerifier(endpoint, clock, { minRefetchIntervalMs: 10_000 });
    await v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }));
    expect(v.cacheExpiresAt).toBe(t0 + 2_000);
    // The issuer starts signing with k2 after its lead time; a set older than max-age is refetched at once.
    endpoint.state.keys = [k1.publicJwk, k2.publicJwk];
    clock.ms += 2_500;
    expect((await v.verify(await aToken(k2, { nowSec: clock.ms / 1000 }))).kid).toBe('k2');
    expect(endpoint.state.calls).toBe(2);
  });

  it('falls back to the refetch interval for no-store, so it cannot fetch on every request', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk], 'no-store');
    const v = aVerifier(endpoint, clock, { minRefetchIntervalMs: 10_000 });
    const token = await aToken(k1, { nowSec: clock.ms / 1000 });
    await v.verify(token);
    clock.ms += 9_000;
    await v.verify(token);
    expect(endpoint.state.calls).toBe(1);
  });

  it('refetches on an unknown kid, but at most once per refetch interval', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk]);
    const v = aVerifier(endpoint, clock);
    await v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }));
    const byK2 = await aToken(k2, { nowSec: clock.ms / 1000 });
    // Within the interval: no refetch, the kid stays unknown.
    clock.ms += 1_000;
    await expect(v.verify(byK2)).rejects.toMatchObject({ reason: 'unknown_kid' });
    expect(endpoint.state.calls).toBe(1);
    // The issuer publishes k2; after the interval the unknown kid triggers one refetch.
    endpoint.state.keys = [k1.publicJwk, k2.publicJwk];
    clock.ms += 5_000;
    expect((await v.verify(byK2)).kid).toBe('k2');
    expect(endpoint.state.calls).toBe(2);
  });

  it('reports as loadedAt when it first loaded the set: a refetch of the same set keeps it, a new set moves it', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk], 'max-age=2');
    endpoint.state.hash = 'hash-1';
    const v = aVerifier(endpoint, clock);
    await v.refresh();
    const first = v.keyStatus();
    expect(first).toEqual({
      keysetHash: 'hash-1',
      kids: ['k1'],
      activeKid: null,
      loadedAt: new Date(t0).toISOString(),
    });
    // The cache expires under traffic, and a reload comes: the same set twice more.
    clock.ms += 2_500;
    await v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }));
    clock.ms += 1_000;
    await v.refresh();
    expect(endpoint.state.calls).toBe(3);
    expect(v.keyStatus()).toEqual(first);
    // A new set (the next key published) is a new load.
    endpoint.state.keys = [k1.publicJwk, k2.publicJwk];
    endpoint.state.hash = 'hash-2';
    clock.ms += 1_000;
    await v.refresh();
    expect(v.keyStatus()).toMatchObject({ keysetHash: 'hash-2', loadedAt: new Date(clock.ms).toISOString() });
  });

  it('a reload asked while a fetch is under way fetches again after it; reloads meanwhile share that fetch', async () => {
    const clock = { ms: t0 };
    const state = { keys: [k1.publicJwk], calls: 0 };
    let release: () => void = () => {};
    const fetchFn = (async () => {
      state.calls++;
      const body = JSON.stringify({ keys: state.keys });
      if (state.calls === 1) await new Promise<void>((r) => (release = r));
      return new Response(body, { headers: { 'cache-control': 'max-age=60' } });
    }) as unknown as typeof fetch;
    const v = aVerifier({ state: state as never, fetchFn }, clock);
    // A fetch (the cache expiring under traffic) is under way when the issuer's set changes and the
    // operator's reload notification arrives: answering it with that fetch kept the older set.
    const expiring = v.refresh();
    state.keys = [k1.publicJwk, k2.publicJwk];
    const notified = [v.reload(), v.reload()];
    release();
    await Promise.all([expiring, ...notified]);
    expect(v.kids.sort()).toEqual(['k1', 'k2']);
    expect(state.calls).toBe(2);
    // With nothing under way, a reload is one fetch.
    await v.reload();
    expect(state.calls).toBe(3);
  });

  it('refuses to use an expired set when the refetch fails', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk], 'max-age=30');
    const v = aVerifier(endpoint, clock);
    await v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }));
    endpoint.state.fail = true;
    clock.ms += 31_000;
    await expect(v.verify(await aToken(k1, { nowSec: clock.ms / 1000 }))).rejects.toMatchObject({
      reason: 'jwks_unavailable',
    });
  });

  it('rejects alg none without fetching anything', async () => {
    const clock = { ms: t0 };
    const endpoint = aJwksEndpoint([k1.publicJwk]);
    const v = aVerifier(endpoint, clock);
    const now = Math.floor(t0 / 1000);
    const unsigned = `${b64url(JSON.stringify({ alg: 'none', kid: 'k1' }))}.${b64url(
      JSON.stringify({ iss: ISS, aud: AUD, sub: 'u', iat: now, exp: now + 60 }),
    )}.`;
    await expect(v.verify(unsigned)).rejects.toMatchObject({ reason: 'alg_not_allowed' });
    expect(endpoint.state.calls).toBe(0);
  });

  it('rejects HS256 keyed with the public key', async () => {
    const clock = { ms: t0 };
    const v = aVerifier(aJwksEndpoint([rsa.publicJwk]), clock);
    const now = Math.floor(t0 / 1000);
    const header = b64url(JSON.stringify({ alg: 'HS256', kid: 'r1', typ: 'JWT' }));
    const body = b64url(JSON.stringify({ iss: ISS, aud: AUD, sub: 'u', iat: now, exp: now + 60 }));
    const sig = createHmac('sha256', JSON.stringify(rsa.publicJwk))
      .update(`${header}.${body}`)
      .digest('base64url');
    await expect(v.verify(`${header}.${body}.${sig}`)).rejects.toMatchObject({ reason: 'alg_not_allowed' });
  });

  it('pins the algorithm to the key: PS256 with a key published for RS256 is refused', async () => {
    const clock = { ms: t0 };
    const v = aVerifier(aJwksEndpoint([rsa.publicJwk]), clock);
    // The same RSA key material, used with PSS padding.
    const rsaAsPss = await importJWK({ ...(await exportJWK(rsa.privateKey)), alg: 'PS256' }, 'PS256');
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'PS256', kid: 'r1' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('u')
      .setIssuedAt(t0 / 1000)
      .setExpirationTime(t0 / 1000 + 60)
      .sign(rsaAsPss);
    await expect(v.verify(token)).rejects.toMatchObject({ reason: 'alg_not_allowed' });
  });

  it.each([
    ['a wrong issuer', { iss: 'https://evil.example' }, 'claim_invalid'],
    ['a wrong audience', { aud: 'other-api' }, 'claim_invalid'],
  ])('rejects %s', async (_name, claims, reason) => {
    const clock = { ms: t0 };
    const v = aVerifier(aJwksEndpoint([k1.publicJwk]), clock);
    await expect(v.verify(await aToken(k1, { nowSec: t0 / 1000, claims }))).rejects.toMatchObject({ reason });
  });

  it('rejects an expired token beyond the clock tolerance, accepts one within it', async () => {
    const clock = { ms: t0 };
    const v = aVerifier(aJwksEndpoint([k1.publicJwk]), clock, { clockToleranceSeconds: 5 });
    const token = await aToken(k1, { nowSec: t0 / 1000, ttl: 60 });
    clock.ms += 63_000;
    await expect(v.verify(token)).resolves.toBeDefined();
    clock.ms += 5_000;
    await expect(v.verify(token)).rejects.toMatchObject({ reason: 'expired' });
  });

  it('rejects a token that is not yet valid', async () => {
    const clock = { ms: t0 };
    const v = aVerifier(aJwksEndpoint([k1.publicJwk]), clock, { clockToleranceSeconds: 5 });
    const token = await aToken(k1, { nowSec: t0 / 1000, claims: { nbf: t0 / 1000 + 120 } });
    await expect(v.verify(token)).rejects.toMatchObject({ reason: 'not_yet_valid' });
  });

  it('rejects a token without kid and a token with a forged signature', async () => {
    const clock = { ms: t0 };
    const v = aVerifier(aJwksEndpoint([k1.publicJwk, k2.publicJwk]), clock);
    const noKid = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('u')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(k1.privateKey);
    await expect(v.verify(noKid)).rejects.toMatchObject({ reason: 'missing_kid' });
    // Signed by k2 but claiming to be k1.
    const forged = await aToken(k2, { nowSec: t0 / 1000, header: { kid: 'k1' } });
    await expect(v.verify(forged)).rejects.toMatchObject({ reason: 'signature_invalid' });
  });

  it('drops keys without alg, symmetric keys and private keys from a set', () => {
    const { alg: _alg, ...noAlg } = k2.publicJwk;
    const snap = new JwksSnapshot({
      keys: [
        k1.publicJwk,
        noAlg,
        { kty: 'oct', k: 'c2VjcmV0', kid: 'h', alg: 'HS256' },
        { ...rsa.publicJwk, d: 'x' },
      ],
    });
    expect(snap.kids).toEqual(['k1']);
  });

  it('parses Cache-Control max-age', () => {
    expect(parseMaxAge('public, max-age=300')).toBe(300);
    expect(parseMaxAge('no-store')).toBe(0);
    expect(parseMaxAge(null)).toBeUndefined();
  });

  it('never puts the token in an error message', async () => {
    const clock = { ms: t0 };
    const v = aVerifier(aJwksEndpoint([k1.publicJwk]), clock);
    const token = await aToken(k1, { nowSec: t0 / 1000, claims: { aud: 'x' } });
    const err = await v.verify(token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JwtVerificationError);
    expect(String((err as Error).message)).not.toContain(token.split('.')[1]!);
  });
});
