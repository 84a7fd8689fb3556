import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RemoteJwksVerifier } from '../../lib/jwks-verifier.js';
import { VaultClient } from '../../lib/vault.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import {
  AUDIENCE,
  aDatabase,
  aSigningKey,
  expectNoSecrets,
  httpClient,
  ISSUER,
  metricValue,
  readOnlyToken,
  startTestService,
  type TestService,
  type TestSigningKey,
  uniquePrefix,
  writeKeyTree,
} from './helpers.js';

const PASSWORD = 'Rotate-Me-Often-77!';

async function seedUser(svc: TestService, tenant: string, email: string) {
  await svc.repo.createTenant(tenant, tenant);
  const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
  await svc.repo.createUser({
    tenantId: tenant,
    email,
    passwordHash: await hasher.hash(PASSWORD),
    roles: ['user'],
  });
}

async function accessToken(svc: TestService, tenant: string, email: string): Promise<string> {
  const res = await httpClient(svc.url, tenant)('POST', '/login', { body: { email, password: PASSWORD } });
  expect(res.status).toBe(200);
  return String(res.body['accessToken']);
}

const status = async (svc: TestService) =>
  (await (await fetch(`${svc.url}/keys/status`)).json()) as {
    keysetHash: string;
    kids: string[];
    activeKid: string;
  };

/** Signing keys from Vault: reload notification, the new active kid, keeping the last good set. */
describe('auth-service signing keys', () => {
  const env = inject('env');
  let root: VaultClient;
  let svc: TestService;
  let base: string;
  let a: TestSigningKey;
  let b: TestSigningKey;
  let hashA: string;

  beforeAll(async () => {
    const vaultEnv = env.vaults[0]!;
    root = new VaultClient({ addr: vaultEnv.addr, auth: { method: 'token', token: vaultEnv.rootToken } });
    base = uniquePrefix('keys');
    a = await aSigningKey('ES256');
    b = await aSigningKey('ES256');
    ({ keysetHash: hashA } = await writeKeyTree(root, base, {
      keys: [{ key: a, state: 'active' }],
      activeKid: a.kid,
      jwksCacheTTLSeconds: 120,
    }));
    svc = await startTestService({
      DATABASE_URL: await aDatabase(env.postgresUrl!, 'keys'),
      VAULT_ADDR: vaultEnv.addr,
      VAULT_TOKEN: await readOnlyToken(root, vaultEnv.rootToken, base),
      SIGNING_KEYSET_PATH: base,
    });
    await seedUser(svc, 'keys', 'rot@keys.test');
  });

  afterAll(async () => {
    await svc?.close();
  });

  it('reloads a new key set on POST /keys/reload and signs with the new active kid', async () => {
    const verifier = new RemoteJwksVerifier({
      jwksUrl: `${svc.url}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: AUDIENCE,
      minRefetchIntervalMs: 0,
    });
    const oldToken = await accessToken(svc, 'keys', 'rot@keys.test');
    expect((await verifier.verify(oldToken)).kid).toBe(a.kid);
    expect((await status(svc)).keysetHash).toBe(hashA);

    // The operator's rotation: b becomes active, a is retired but stays published.
    const { keysetHash: hashB } = await writeKeyTree(root, base, {
      keys: [
        { key: a, state: 'retired' },
        { key: b, state: 'active' },
      ],
      activeKid: b.kid,
      jwksCacheTTLSeconds: 120,
    });
    expect((await status(svc)).keysetHash).toBe(hashA); // the poll (1 h here) has not run
    // On the admin port, where the operator sends it for a serviceRef; the API port's path stays (statusURL).
    const reload = await fetch(`${svc.adminUrl}/keys/reload`, { method: 'POST' });
    expect(reload.status).toBe(202);
    expect((await fetch(`${svc.url}/keys/reload`, { method: 'POST' })).status).toBe(202);
    const now = await waitUntil('the new key set to be loaded', async () => {
      const s = await status(svc);
      return s.keysetHash === hashB && s;
    });
    expect(now.activeKid).toBe(b.kid);
    expect([...now.kids].sort()).toEqual([a.kid, b.kid].sort());

    const newToken = await accessToken(svc, 'keys', 'rot@keys.test');
    // The verifier still caches {a}: the unknown kid makes it refetch once.
    expect((await verifier.verify(newToken)).kid).toBe(b.kid);
    // Tokens signed by the retired key keep verifying while it is published.
    expect((await verifier.verify(oldToken)).kid).toBe(a.kid);
    const jwks = await fetch(`${svc.url}/.well-known/jwks.json`);
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=120');
  });

  it('keeps the last good set when the key-set document in Vault is invalid', async () => {
    const before = await status(svc);
    const failedBefore = await metricValue(svc.adminUrl, 'auth_signing_keyset_reloads_total', {
      result: 'failed',
    });
    const [mount, ...rest] = base.split('/');
    const meta = await root.kvMetadata(mount!, `${rest.join('/')}/keyset`);
    await root.kvWrite(
      mount!,
      `${rest.join('/')}/keyset`,
      { issuer: ISSUER, jwks: { keys: [] }, keysetHash: 'x' },
      { cas: meta!.currentVersion },
    );
    await fetch(`${svc.url}/keys/reload`, { method: 'POST' });
    await waitUntil(
      'the failed reload to be counted',
      async () =>
        (await metricValue(svc.adminUrl, 'auth_signing_keyset_reloads_total', { result: 'failed' })) >
        failedBefore,
    );
    expect(await status(svc)).toEqual(before);
    expect(await accessToken(svc, 'keys', 'rot@keys.test')).toBeTruthy();
    const failure = svc.logs
      .records()
      .find((r) => r['event'] === 'key_rotation' && r['action'] === 'keyset_load_failed');
    expect(failure).toMatchObject({ error_code: 'keyset_invalid', keeping: before.keysetHash });
  });

  it('never logs or serves private key material', async () => {
    const jwksText = await (await fetch(`${svc.url}/.well-known/jwks.json`)).text();
    const statusText = await (await fetch(`${svc.url}/keys/status`)).text();
    for (const out of [svc.logs.text, jwksText, statusText]) {
      expectNoSecrets(out, { privateA: String(a.privateJwk.d), privateB: String(b.privateJwk.d) });
    }
    expect(svc.logs.text).toContain('"event":"key_rotation"');
  });
});

/** Its own OpenBao: the server is stopped to check the service keeps signing with the last good set. */
describe('auth-service with Vault unreachable', () => {
  let privateEnv: Env;
  let svc: TestService;

  beforeAll(async () => {
    privateEnv = await startEnv({ vault: 1, label: 'auth-vault-outage' });
    const vault = privateEnv.vault!;
    const root = new VaultClient({ addr: vault.addr, auth: { method: 'token', token: vault.rootToken } });
    const base = uniquePrefix('outage');
    const key = await aSigningKey('ES256');
    await writeKeyTree(root, base, { keys: [{ key, state: 'active' }], activeKid: key.kid });
    svc = await startTestService({
      VAULT_ADDR: vault.addr,
      VAULT_TOKEN: await readOnlyToken(root, vault.rootToken, base),
      SIGNING_KEYSET_PATH: base,
    });
    await seedUser(svc, 'outage', 'o@outage.test');
  });

  afterAll(async () => {
    await svc?.close();
    await privateEnv?.stop();
  });

  it('keeps issuing tokens with the last good key set and reports the failure', async () => {
    const before = await status(svc);
    expect(before.keysetHash).toBeTruthy();
    await privateEnv.vault!.stopServer();
    const failedBefore = await metricValue(svc.adminUrl, 'auth_signing_keyset_reloads_total', {
      result: 'failed',
    });
    await fetch(`${svc.url}/keys/reload`, { method: 'POST' });
    await waitUntil(
      'the failed reload',
      async () =>
        (await metricValue(svc.adminUrl, 'auth_signing_keyset_reloads_total', { result: 'failed' })) >
        failedBefore,
    );
    expect(await status(svc)).toEqual(before);
    expect(await accessToken(svc, 'outage', 'o@outage.test')).toBeTruthy();
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    const failure = svc.logs.records().find((r) => r['action'] === 'keyset_load_failed');
    expect(failure).toMatchObject({ error_code: 'source_unavailable' });
    await privateEnv.vault!.startServer();
    await fetch(`${svc.url}/keys/reload`, { method: 'POST' });
    await waitUntil(
      'a reload after Vault is back',
      async () =>
        (await metricValue(svc.adminUrl, 'auth_signing_keyset_reloads_total', { result: 'unchanged' })) > 0,
    );
  });
});
