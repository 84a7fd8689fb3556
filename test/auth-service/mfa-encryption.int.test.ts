import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { type Env, startEnv } from '../harness/env.js';
import {
  awaitFreshTotpWindow,
  errorCode,
  expectNoSecrets,
  type Http,
  httpClient,
  startServiceWithKeys,
  type TestService,
  totpNow,
} from './helpers.js';

const TENANT = 'sealco';
const PASSWORD = 'Correct-Horse-42!battery';
const KEY = 'novapos-auth-mfa';

/**
 * Finding: TOTP secrets were stored in plain text. Now they are encrypted with Vault transit (OpenBao here,
 * its own instance so it can be stopped): derived per tenant and user, decrypted only to verify a code,
 * rows written in clear sealed by a migration, the key rotated and the rows rewrapped; with OpenBao down,
 * MFA answers a stable 503 mfa_unavailable and password-only sign-in keeps working.
 */
describe('TOTP secrets encrypted at rest with Vault transit', () => {
  const shared = inject('env');
  let vaultEnv: Env;
  let svc: TestService;
  let http: Http;
  let hasher: PasswordHasher;
  const secrets: Record<string, string> = { password: PASSWORD };

  const stored = async (email: string) =>
    (
      await svc.db.query<{ mfa_secret: string | null; mfa_pending_secret: string | null }>(
        'SELECT mfa_secret, mfa_pending_secret FROM users WHERE email = $1',
        [email],
      )
    ).rows[0]!;
  const admin = (path: string) => fetch(`${svc.adminUrl}${path}`, { method: 'POST' }).then((r) => r.json());

  async function aUser(email: string): Promise<string> {
    return (await svc.repo.createUser({
      tenantId: TENANT,
      email,
      passwordHash: await hasher.hash(PASSWORD),
      roles: ['cashier'],
    }))!;
  }

  async function enroll(email: string): Promise<string> {
    await aUser(email);
    const login = await http('POST', '/login', { body: { email, password: PASSWORD } });
    const token = String(login.body['accessToken']);
    const start = await http('POST', '/mfa/enroll/start', { token });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const secret = String(start.body['secret']);
    secrets[`totp-${email}`] = secret;
    const pending = await stored(email);
    expect(pending.mfa_pending_secret).toMatch(/^vault:v\d+:/);
    expect(pending.mfa_pending_secret).not.toContain(secret);
    await awaitFreshTotpWindow();
    const done = await http('POST', '/mfa/enroll/complete', { token, body: { code: await totpNow(secret) } });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    return secret;
  }

  const mfaLogin = async (email: string, secret: string, offset = 1) =>
    http('POST', '/login', { body: { email, password: PASSWORD, mfaCode: await totpNow(secret, offset) } });

  beforeAll(async () => {
    vaultEnv = await startEnv({ label: 'auth-transit', vault: 1 });
    ({ svc } = await startServiceWithKeys({ ...shared, vaults: vaultEnv.describe().vaults }, 'transit'));
    http = httpClient(svc.url, TENANT);
    hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createTenant(TENANT, 'Seal Co');
  });

  afterAll(async () => {
    await svc?.close();
    await vaultEnv?.stop();
  });

  it('stores an enrolled secret only as transit ciphertext, and verifies codes through Vault', async () => {
    const secret = await enroll('one@sealco.test');
    const row = await stored('one@sealco.test');
    expect(row.mfa_secret).toMatch(/^vault:v1:/);
    expect(row.mfa_secret).not.toContain(secret);
    expect((await mfaLogin('one@sealco.test', secret)).status).toBe(200);
  });

  it('seals a secret written in clear before encryption (the migration of existing rows)', async () => {
    const id = await aUser('legacy@sealco.test');
    const legacy = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    secrets['legacy'] = legacy;
    await svc.db.query('UPDATE users SET mfa_secret = $2, mfa_enrolled_at = now() WHERE id = $1', [
      id,
      legacy,
    ]);
    const out = (await admin('/admin/mfa-secrets/seal')) as { sealed: number };
    expect(out.sealed).toBeGreaterThanOrEqual(1);
    const row = await stored('legacy@sealco.test');
    expect(row.mfa_secret).toMatch(/^vault:v1:/);
    expect((await mfaLogin('legacy@sealco.test', legacy, 0)).status).toBe(200);
  });

  it('a ciphertext copied to another user does not verify there (key derived per tenant and user)', async () => {
    const secret = await enroll('two@sealco.test');
    const victim = await aUser('three@sealco.test');
    const row = await stored('two@sealco.test');
    await svc.db.query('UPDATE users SET mfa_secret = $2, mfa_enrolled_at = now() WHERE id = $1', [
      victim,
      row.mfa_secret,
    ]);
    const res = await mfaLogin('three@sealco.test', secret);
    expect(res.status).not.toBe(200);
  });

  it('survives a key rotation: old rows still verify, and rewrap moves every row to the new version', async () => {
    const secret = await enroll('rotate@sealco.test');
    const v = vaultEnv.vaults[0]!;
    expect((await v.request('POST', `transit/keys/${KEY}/rotate`)).status).toBeLessThan(300);
    expect((await mfaLogin('rotate@sealco.test', secret)).status).toBe(200);
    const rewrapped = (await admin('/admin/mfa-secrets/rewrap')) as { sealed: number };
    expect(rewrapped.sealed).toBeGreaterThanOrEqual(3);
    expect((await stored('rotate@sealco.test')).mfa_secret).toMatch(/^vault:v2:/);
    expect((await stored('legacy@sealco.test')).mfa_secret).toMatch(/^vault:v2:/);
    // A rewrapped (v2) row verifies: the legacy user's next step is still unclaimed.
    expect((await mfaLogin('legacy@sealco.test', 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', 1)).status).toBe(200);
  });

  it('with OpenBao stopped: MFA answers 503 mfa_unavailable, password-only sign-in still works', async () => {
    const secret = await enroll('outage@sealco.test');
    await aUser('nomfa@sealco.test');
    const v = vaultEnv.vaults[0]!;
    await v.stopServer();
    try {
      const res = await mfaLogin('outage@sealco.test', secret);
      expect(res.status).toBe(503);
      expect(errorCode(res)).toBe('mfa_unavailable');
      const plain = await http('POST', '/login', {
        body: { email: 'nomfa@sealco.test', password: PASSWORD },
      });
      expect(plain.status).toBe(200);
      const start = await http('POST', '/mfa/enroll/start', { token: String(plain.body['accessToken']) });
      expect(errorCode(start)).toBe('mfa_unavailable');
    } finally {
      await v.startServer();
    }
    expect((await mfaLogin('outage@sealco.test', secret, 1)).status).toBe(200);
  });

  it('logs and error answers carry no TOTP secret', () => {
    expectNoSecrets(svc.logs.text, secrets);
  });
});
