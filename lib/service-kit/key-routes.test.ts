import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RemoteJwksVerifier } from '../jwks-verifier.js';
import { computeKeysetHash } from '../keyset.js';
import { type AdminListener, startAdminListener } from './admin-listener.js';
import { keyRoutes, type LoadedKeys, NO_KEY_SET } from './key-routes.js';

async function publicKey(kid: string): Promise<JWK> {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
}

/** An issuer's JWKS endpoint as auth-service answers it: the set, its hash header, a max-age. */
function issuer(keys: JWK[]) {
  const state = { keys, down: false };
  const fetchJwks: typeof fetch = async () => {
    if (state.down) throw new TypeError('fetch failed');
    const jwks = { keys: state.keys };
    return new Response(JSON.stringify(jwks), {
      headers: {
        'content-type': 'application/json',
        'cache-control': 'public, max-age=300',
        'x-keyset-hash': computeKeysetHash(jwks, state.keys.at(-1)?.kid ?? ''),
      },
    });
  };
  return { state, fetchJwks };
}

describe('key routes on the admin listener', () => {
  let listener: AdminListener | undefined;
  let k1: JWK;
  let k2: JWK;
  beforeAll(async () => {
    [k1, k2] = await Promise.all([publicKey('k1'), publicKey('k2')]);
  });
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  const start = async (keys: LoadedKeys | undefined) => {
    listener = await startAdminListener({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      routes: keyRoutes(keys),
    });
    const url = listener.url;
    return {
      status: async () => {
        const res = await fetch(`${url}/keys/status`);
        return { status: res.status, body: await res.json() };
      },
      reload: async () => {
        const res = await fetch(`${url}/keys/reload`, { method: 'POST' });
        return { status: res.status, body: await res.json() };
      },
    };
  };

  it('reports no key set, and accepts a reload with nothing to do, when the service verifies no tokens', async () => {
    const api = await start(undefined);
    expect(await api.status()).toEqual({ status: 200, body: NO_KEY_SET });
    expect(await api.reload()).toEqual({ status: 202, body: NO_KEY_SET });
  });

  it('reports what the verifier loaded; a reload fetches now and answers the new set, moving loadedAt only when the set changed', async () => {
    const jwks = issuer([k1]);
    let now = Date.parse('2026-12-04T10:00:00Z');
    const verifier = new RemoteJwksVerifier({
      jwksUrl: 'http://auth.test/.well-known/jwks.json',
      issuer: 'https://auth.novapos.local',
      audience: 'novapos-api',
      fetch: jwks.fetchJwks,
      now: () => now,
    });
    const api = await start(verifier);
    // Nothing fetched yet: the shape of the contract, all empty.
    expect(await api.status()).toEqual({ status: 200, body: NO_KEY_SET });

    const first = await api.reload();
    expect(first).toEqual({
      status: 202,
      body: {
        keysetHash: computeKeysetHash({ keys: [k1] }, 'k1'),
        kids: ['k1'],
        activeKid: null,
        loadedAt: '2026-12-04T10:00:00.000Z',
      },
    });
    expect(await api.status()).toEqual({ status: 200, body: first.body });

    // The same set again: loadedAt stays (the operator waits jwksCacheTTL from it).
    now += 60_000;
    expect((await api.reload()).body).toEqual(first.body);

    // A new set: the answer already shows it.
    jwks.state.keys = [k1, k2];
    now += 60_000;
    const second = await api.reload();
    expect(second).toEqual({
      status: 202,
      body: {
        keysetHash: computeKeysetHash({ keys: [k1, k2] }, 'k2'),
        kids: ['k1', 'k2'],
        activeKid: null,
        loadedAt: '2026-12-04T10:02:00.000Z',
      },
    });
    expect(await api.status()).toEqual({ status: 200, body: second.body });

    // The issuer unreachable while the set is within its age: the set stays, as the answer shows.
    jwks.state.down = true;
    now += 1_000;
    expect(await api.reload()).toEqual({ status: 202, body: second.body });
  });

  it('answers 503 keys_unavailable when no usable set could be loaded', async () => {
    const jwks = issuer([k1]);
    jwks.state.down = true;
    const api = await start(
      new RemoteJwksVerifier({
        jwksUrl: 'http://auth.test/.well-known/jwks.json',
        issuer: 'https://auth.novapos.local',
        audience: 'novapos-api',
        fetch: jwks.fetchJwks,
      }),
    );
    expect(await api.reload()).toEqual({
      status: 503,
      body: { error: { code: 'keys_unavailable', message: 'the key set could not be loaded' } },
    });
    expect(await api.status()).toEqual({ status: 200, body: NO_KEY_SET });
  });

  it('reloads on POST only; GET /keys/reload and POST /keys/status are 405', async () => {
    let reloads = 0;
    const api = await start({
      keyStatus: () => NO_KEY_SET,
      reload: async () => {
        reloads++;
      },
    });
    await api.status();
    expect(reloads).toBe(0);
    const url = listener?.url;
    expect((await fetch(`${url}/keys/reload`)).status).toBe(405);
    expect((await fetch(`${url}/keys/status`, { method: 'POST' })).status).toBe(405);
    expect(reloads).toBe(0);
    await api.reload();
    expect(reloads).toBe(1);
  });
});
