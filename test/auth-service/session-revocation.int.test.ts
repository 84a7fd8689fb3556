import { generateSecret } from 'otplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { privateRedisDb } from '../harness/env.js';
import {
  AUDIENCE,
  awaitFreshTotpWindow,
  errorCode,
  expectNoSecrets,
  type Http,
  httpClient,
  ISSUER,
  startServiceWithKeys,
  startTestService,
  type TestService,
  totpNow,
} from './helpers.js';

const TENANT = 'sessco';
const PASSWORD = 'Correct-Horse-42!battery';
const NEW_PASSWORD = 'Another-Horse-43!battery';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Finding: old access tokens kept privileged power. After /logout-all, /password/change, a role change or a
 * user deletion, a token issued before still created a permanent API key for up to its TTL: privileged routes
 * trusted the claims alone. Now tokens carry `sid`, and a per-user "valid after" time and per-session
 * revocation in Redis (lib/session-revocation.ts) end them at once here, and at the gateway within 5 s.
 */
describe('session-bound access tokens', () => {
  const env = inject('env');
  let svc: TestService;
  let http: Http;
  let gateway: TestGateway;
  let hasher: PasswordHasher;
  let base: string;
  let serviceToken: string;
  let databaseUrl: string;
  const mfaSecret = generateSecret({ length: 20 });
  const secrets: Record<string, string> = { password: PASSWORD, newPassword: NEW_PASSWORD, mfaSecret };

  async function aUser(email: string, roles: string[], mfa: boolean): Promise<string> {
    const id = (await svc.repo.createUser({
      tenantId: TENANT,
      email,
      passwordHash: await hasher.hash(PASSWORD),
      roles,
    }))!;
    if (mfa)
      await svc.db.query('UPDATE users SET mfa_secret = $2, mfa_enrolled_at = now() WHERE id = $1', [
        id,
        mfaSecret,
      ]);
    return id;
  }

  async function signIn(email: string, mfa: boolean) {
    const res = await http('POST', '/login', {
      body: { email, password: PASSWORD, ...(mfa ? { mfaCode: await totpNow(mfaSecret) } : {}) },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const access = String(res.body['accessToken']);
    const refresh = String(res.body['refreshToken']);
    secrets[`a-${email}-${Object.keys(secrets).length}`] = access.split('.')[2]!;
    secrets[`r-${email}-${Object.keys(secrets).length}`] = refresh;
    return { access, refresh };
  }

  const createKey = (token: string) => http('POST', '/api-keys', { token, body: { name: 'after' } });

  // auth-service and the gateway share a logical Redis database of their own: the revocation keys must be the
  // same for both, and the gateway's per-address authentication budget must not be the one other suites' attack
  // tests spend from 127.0.0.1 on the shared database.
  const redisUrl = privateRedisDb(env.redisUrl, 12);

  beforeAll(async () => {
    ({ svc, databaseUrl, base, serviceToken } = await startServiceWithKeys(env, 'sessions', {
      serviceEnv: { AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '100', REDIS_URL: redisUrl },
    }));
    http = httpClient(svc.url, TENANT);
    hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createTenant(TENANT, 'Session Co');
    gateway = await startTestGateway({
      REDIS_URL: redisUrl,
      DATABASE_URL: databaseUrl,
      JWKS_URL: `${svc.url}/.well-known/jwks.json`,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      LOG_LEVEL: 'warn',
    });
    await awaitFreshTotpWindow(15);
  });

  afterAll(async () => {
    await gateway?.close();
    await svc?.close();
  });

  it('access tokens carry sid', async () => {
    await aUser('claims@sessco.test', ['user'], false);
    const { access } = await signIn('claims@sessco.test', false);
    const payload = JSON.parse(Buffer.from(access.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(payload['sid']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('after /logout-all, a token issued before cannot create an API key (401 session_revoked)', async () => {
    await aUser('admin1@sessco.test', ['admin'], true);
    const s = await signIn('admin1@sessco.test', true);
    expect((await http('POST', '/logout-all', { token: s.access })).status).toBe(200);
    const res = await createKey(s.access);
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('session_revoked');
  });

  it('after a password change, a token issued before cannot create an API key', async () => {
    await aUser('admin2@sessco.test', ['admin'], true);
    const s = await signIn('admin2@sessco.test', true);
    const changed = await http('POST', '/password/change', {
      token: s.access,
      body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(errorCode(await createKey(s.access))).toBe('session_revoked');
  });

  it('after a role change, the demoted admin’s earlier token cannot create an API key', async () => {
    await aUser('actor@sessco.test', ['admin'], true);
    const targetId = await aUser('admin3@sessco.test', ['admin'], true);
    const actor = await signIn('actor@sessco.test', true);
    const target = await signIn('admin3@sessco.test', true);
    const demoted = await http('PUT', `/users/${targetId}/roles`, {
      token: actor.access,
      body: { roles: ['user'] },
    });
    expect(demoted.status, JSON.stringify(demoted.body)).toBe(200);
    expect(errorCode(await createKey(target.access))).toBe('session_revoked');
    // The session itself lives on: a refresh gives a token with the new roles, which is refused as a user.
    const r = await http('POST', '/refresh', { body: { refreshToken: target.refresh } });
    expect(r.status).toBe(200);
    expect(errorCode(await createKey(String(r.body['accessToken'])))).toBe('forbidden');
  });

  it('after a deletion, the deleted admin’s earlier token cannot create an API key', async () => {
    await aUser('actor2@sessco.test', ['admin'], true);
    const goneId = await aUser('admin4@sessco.test', ['admin'], true);
    const actor = await signIn('actor2@sessco.test', true);
    const gone = await signIn('admin4@sessco.test', true);
    expect((await http('DELETE', `/users/${goneId}`, { token: actor.access })).status).toBe(204);
    expect(errorCode(await createKey(gone.access))).toBe('session_revoked');
  });

  it('logout ends that session’s tokens only; a new sign-in right after a revocation works', async () => {
    await aUser('two@sessco.test', ['user'], false);
    const one = await signIn('two@sessco.test', false);
    const two = await signIn('two@sessco.test', false);
    expect((await http('POST', '/logout', { body: { refreshToken: one.refresh } })).status).toBe(204);
    expect(errorCode(await http('GET', '/api-keys', { token: one.access }))).toBe('session_revoked');
    expect(errorCode(await http('GET', '/api-keys', { token: two.access }))).toBe('forbidden');
    expect((await http('POST', '/logout-all', { token: two.access })).status).toBe(200);
    const again = await signIn('two@sessco.test', false);
    expect(errorCode(await http('GET', '/api-keys', { token: again.access }))).toBe('forbidden');
  });

  it('at the gateway, an earlier token is refused within 5 seconds of /logout-all', async () => {
    await aUser('gw@sessco.test', ['user'], false);
    const s = await signIn('gw@sessco.test', false);
    const ping = () =>
      fetch(`${gateway.url}/api/tenant/ping`, { headers: { authorization: `Bearer ${s.access}` } }).then(
        (r) => r.status,
      );
    expect(await ping()).toBe(200);
    expect((await http('POST', '/logout-all', { token: s.access })).status).toBe(200);
    const revokedAt = Date.now();
    let status = await ping();
    while (status !== 401 && Date.now() - revokedAt < 10_000) {
      await sleep(50);
      status = await ping();
    }
    const boundMs = Date.now() - revokedAt;
    process.stderr.write(`[sessions] gateway refused the revoked token ${boundMs} ms after /logout-all\n`);
    expect(status).toBe(401);
    expect(boundMs).toBeLessThan(5_000);
    // A fresh sign-in works at the gateway at once.
    const fresh = await signIn('gw@sessco.test', false);
    const ok = await fetch(`${gateway.url}/api/tenant/ping`, {
      headers: { authorization: `Bearer ${fresh.access}` },
    });
    expect(ok.status).toBe(200);
  });

  it('fails closed: with Redis unreachable, privileged routes answer 503 session_check_unavailable', async () => {
    // A second replica of the same deployment (same database and key set) whose Redis is unreachable.
    const broken = await startTestService({
      DATABASE_URL: databaseUrl,
      VAULT_ADDR: env.vaults[0]!.addr,
      VAULT_TOKEN: serviceToken,
      SIGNING_KEYSET_PATH: base,
      REDIS_URL: 'redis://127.0.0.1:1/0',
    });
    try {
      await aUser('closed@sessco.test', ['admin'], true);
      const s = await signIn('closed@sessco.test', true);
      const res = await httpClient(broken.url, TENANT)('POST', '/api-keys', {
        token: s.access,
        body: { name: 'no-redis' },
      });
      expect(res.status).toBe(503);
      expect(errorCode(res)).toBe('session_check_unavailable');
    } finally {
      await broken.close();
    }
  });

  it('logs no password, secret or token', () => {
    expectNoSecrets(svc.logs.text + gateway.logs.text, secrets);
  });
});
