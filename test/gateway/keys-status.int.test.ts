import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { aSigningKey, writeKeyTree } from '../auth-service/helpers.js';
import { waitUntil } from '../harness/wait.js';
import { type AuthFixture, metricValue, startAuth, startTestGateway, type TestGateway } from './support.js';

type KeyStatus = {
  keysetHash: string | null;
  kids: string[];
  activeKid: string | null;
  loadedAt: string | null;
};

const status = async (url: string): Promise<KeyStatus> =>
  (await (await fetch(`${url}/keys/status`)).json()) as KeyStatus;

/**
 * The gateway verifies but does not sign: its /keys/status reports the key set (by auth-service's hash) it has
 * loaded through the JWKS, so the SigningKeyRotation controller can wait for it before a new key signs.
 */
describe('integration-gateway: /keys/status and /keys/reload', () => {
  const env = inject('env');
  let auth: AuthFixture;
  let gateway: TestGateway;

  beforeAll(async () => {
    auth = await startAuth(env, 'keys-status');
    gateway = await startTestGateway({ REDIS_URL: env.redisUrl, JWKS_URL: auth.jwksUrl });
  });
  afterAll(async () => {
    await gateway?.close();
    await auth?.close();
  });

  it('serves its OpenAPI document on its port, the committed one', async () => {
    const res = await fetch(`${gateway.url}/openapi.json`);
    expect(res.status).toBe(200);
    const committed = readFileSync(
      new URL('../../services/integration-gateway/openapi.json', import.meta.url),
      'utf8',
    );
    expect(await res.json()).toEqual(JSON.parse(committed));
  });

  it('reports the hash of the key set it loaded from the JWKS, and follows a new set on reload', async () => {
    // Loaded at start, before any token arrives: the operator sees from the first probe what it verifies with.
    const first = await status(auth.svc.url);
    expect((await status(gateway.url)).keysetHash).toBe(first.keysetHash);
    expect((await fetch(`${gateway.adminUrl}/keys/reload`, { method: 'POST' })).status).toBe(202);
    await waitUntil(
      'the gateway to load the first key set',
      async () => (await status(gateway.url)).keysetHash === first.keysetHash,
    );
    expect((await status(gateway.url)).kids).toEqual(first.kids);

    // A new key is published next to the active one, as the operator does before a rotation.
    const root = new VaultClient({
      addr: env.vaults[0]!.addr,
      auth: { method: 'token', token: env.vaults[0]!.rootToken },
    });
    const next = await aSigningKey('ES256');
    const { keysetHash } = await writeKeyTree(root, auth.keyBase, {
      keys: [
        { key: auth.signingKey, state: 'active' },
        { key: next, state: 'next' },
      ],
      activeKid: auth.signingKey.kid,
      nextKid: next.kid,
    });
    await fetch(`${auth.svc.url}/keys/reload`, { method: 'POST' });
    await waitUntil(
      'auth-service to load the new set',
      async () => (await status(auth.svc.url)).keysetHash === keysetHash,
    );
    await fetch(`${gateway.adminUrl}/keys/reload`, { method: 'POST' });
    const loaded = await waitUntil('the gateway to load the new set', async () => {
      const s = await status(gateway.url);
      return s.keysetHash === keysetHash ? s : undefined;
    });
    expect(loaded.kids.sort()).toEqual([auth.signingKey.kid, next.kid].sort());
    expect(loaded.activeKid).toBeNull();
    expect(Date.parse(loaded.loadedAt ?? '')).toBeGreaterThan(0);
  });

  it('a token it verified and cached stops verifying once its key leaves the set it loads', async () => {
    const token = await auth.token('keys-status-removal');
    const ping = () =>
      fetch(`${gateway.url}/api/tenant/ping`, { headers: { authorization: `Bearer ${token}` } });
    expect((await ping()).status).toBe(200);
    expect((await ping()).status).toBe(200); // now answered from the token cache

    // The signing key is removed: a new key is the only one published.
    const root = new VaultClient({
      addr: env.vaults[0]!.addr,
      auth: { method: 'token', token: env.vaults[0]!.rootToken },
    });
    const replacement = await aSigningKey('ES256');
    const { keysetHash } = await writeKeyTree(root, auth.keyBase, {
      keys: [{ key: replacement, state: 'active' }],
      activeKid: replacement.kid,
      nextKid: '',
    });
    await fetch(`${auth.svc.url}/keys/reload`, { method: 'POST' });
    await waitUntil(
      'auth-service to load the set without the old key',
      async () => (await status(auth.svc.url)).keysetHash === keysetHash,
    );
    await fetch(`${gateway.adminUrl}/keys/reload`, { method: 'POST' });
    await waitUntil(
      'the gateway to load it',
      async () => (await status(gateway.url)).keysetHash === keysetHash,
    );
    const refused = await ping();
    expect(refused.status).toBe(401);
    expect(
      await metricValue(gateway.adminUrl, 'auth_jwt_validation_failures_total', { reason: 'unknown_kid' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await metricValue(gateway.adminUrl, 'auth_jwt_validation_duration_seconds_count', { cache: 'hit' }),
    ).toBeGreaterThanOrEqual(1);
  });
});
