import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { importJWK, SignJWT } from 'jose';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { type Sink, startSink } from '../harness/components/sinks.js';
import { waitUntil } from '../harness/wait.js';
import {
  AUDIENCE,
  aDatabase,
  aSigningKey,
  awaitFreshTotpWindow,
  errorCode,
  expectNoSecrets,
  type Http,
  httpClient,
  ISSUER,
  metricValue,
  readOnlyToken,
  startServiceWithKeys,
  startTestService,
  type TestService,
  type TestSigningKey,
  uniquePrefix,
  writeKeyTree,
} from './helpers.js';

const TENANT = 'flowco';
const ADMIN = 'owner@flowco.test';
const ADMIN_PASSWORD = 'Tr0ub4dor&Horse-9x';
const CASHIER_PASSWORD = 'Blue-Ledger-58!tram';
const code = errorCode;

/** Register-first → MFA enrollment → admin actions → API keys → tenant MFA policy, on one database. */
const BOOTSTRAP_TOKEN = `nbt_${randomBytes(24).toString('base64url')}`;

describe('auth-service account flows', () => {
  const env = inject('env');
  let svc: TestService;
  let http: Http;
  let key: TestSigningKey;
  let serviceToken: string;
  const secrets: Record<string, string> = {
    adminPassword: ADMIN_PASSWORD,
    cashierPassword: CASHIER_PASSWORD,
    bootstrapToken: BOOTSTRAP_TOKEN,
  };
  let adminAccess = '';
  let adminTotpSecret = '';
  let recoveryCodes: string[] = [];
  let cashierRefresh = '';

  beforeAll(async () => {
    ({ svc, key, serviceToken } = await startServiceWithKeys(env, 'flows', {
      serviceEnv: {
        CORS_ALLOWED_ORIGINS: 'https://pos.novapos.test',
        ALLOW_REGISTER_FIRST: 'true',
        AUTH_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN,
      },
    }));
    http = httpClient(svc.url, TENANT);
  });

  afterAll(async () => {
    await svc?.close();
  });

  it('register-first creates the first admin once; weak passwords are refused with the policy issues', async () => {
    const headers = { 'x-bootstrap-token': BOOTSTRAP_TOKEN };
    const weak = await http('POST', '/register-first', {
      body: { email: ADMIN, password: 'password123' },
      headers,
    });
    expect(weak.status).toBe(400);
    expect(weak.body['error']).toMatchObject({
      code: 'weak_password',
      details: {
        issues: expect.arrayContaining(['too_short', 'missing_uppercase', 'missing_symbol', 'weak_pattern']),
      },
    });
    const first = await http('POST', '/api/auth/register-first', {
      body: { email: ADMIN, password: ADMIN_PASSWORD },
      headers,
    });
    expect(first.status).toBe(201);
    expect(first.body['user']).toMatchObject({ email: ADMIN, roles: ['admin'], tenantId: TENANT });
    // The token is spent; and every refusal is the same answer (no tenant enumeration).
    const again = await http('POST', '/register-first', {
      body: { email: 'second@flowco.test', password: ADMIN_PASSWORD },
      headers,
    });
    expect([again.status, code(again)]).toEqual([403, 'registration_closed']);
    const otherTenant = await http('POST', '/register-first', {
      body: { email: ADMIN, password: ADMIN_PASSWORD },
      tenant: 'squatter',
      headers,
    });
    expect([otherTenant.status, code(otherTenant)]).toEqual([403, 'registration_closed']);
  });

  it('an admin must enroll MFA first: login yields only an enrollment token, which then completes enrollment', async () => {
    const login = await http('POST', '/login', { body: { email: ADMIN, password: ADMIN_PASSWORD } });
    expect([login.status, code(login)]).toEqual([403, 'mfa_enrollment_required']);
    const enrollmentToken = String(login.body['enrollmentToken']);
    secrets['enrollmentToken'] = enrollmentToken;
    // The enrollment token opens nothing but enrollment.
    expect((await http('GET', '/api-keys', { token: enrollmentToken })).status).toBe(401);

    const start = await http('POST', '/mfa/enroll/start', { token: enrollmentToken });
    expect(start.status).toBe(200);
    adminTotpSecret = String(start.body['secret']);
    secrets['totpSecret'] = adminTotpSecret;
    expect(String(start.body['otpauthUri'])).toMatch(
      /^otpauth:\/\/totp\/NovaPOS:owner%40flowco\.test\?.*secret=/,
    );
    expect(adminTotpSecret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits

    const wrong = await http('POST', '/mfa/enroll/complete', {
      token: enrollmentToken,
      body: { code: '000000' },
    });
    expect(code(wrong)).toBe('mfa_invalid');
    await awaitFreshTotpWindow();
    const done = await http('POST', '/mfa/enroll/complete', {
      token: enrollmentToken,
      body: { code: await generate({ secret: adminTotpSecret }) },
    });
    expect(done.status).toBe(200);
    recoveryCodes = done.body['recoveryCodes'] as string[];
    expect(recoveryCodes).toHaveLength(10);
    recoveryCodes.forEach((c, i) => {
      secrets[`recovery${i}`] = c;
    });
    adminAccess = String(done.body['accessToken']);
    secrets['adminAccess'] = adminAccess;
    secrets['adminRefresh'] = String(done.body['refreshToken']);
    expect(await metricValue(svc.adminUrl, 'auth_mfa_enrolled_users', { tenant: TENANT })).toBe(1);
  });

  it('a recovery code signs in once', async () => {
    const rc = recoveryCodes[0]!;
    const ok = await http('POST', '/login', {
      body: { email: ADMIN, password: ADMIN_PASSWORD, recoveryCode: rc.toLowerCase() },
    });
    expect(ok.status).toBe(200);
    const again = await http('POST', '/login', {
      body: { email: ADMIN, password: ADMIN_PASSWORD, recoveryCode: rc },
    });
    expect(code(again)).toBe('mfa_invalid');
  });

  it('only an MFA-authenticated admin registers users', async () => {
    const created = await http('POST', '/register', {
      token: adminAccess,
      body: { email: 'cashier@flowco.test', password: CASHIER_PASSWORD, roles: ['cashier'] },
    });
    expect(created.status).toBe(201);
    const dup = await http('POST', '/register', {
      token: adminAccess,
      body: { email: 'CASHIER@flowco.test', password: CASHIER_PASSWORD, roles: ['cashier'] },
    });
    expect(code(dup)).toBe('email_taken');
    const cashier = await http('POST', '/login', {
      body: { email: 'cashier@flowco.test', password: CASHIER_PASSWORD },
    });
    expect(cashier.status).toBe(200);
    cashierRefresh = String(cashier.body['refreshToken']);
    secrets['cashierRefresh'] = cashierRefresh;
    const byCashier = await http('POST', '/register', {
      token: String(cashier.body['accessToken']),
      body: { email: 'x@flowco.test', password: CASHIER_PASSWORD },
    });
    expect([byCashier.status, code(byCashier)]).toEqual([403, 'forbidden']);
  });

  it('an admin token without MFA is a bypass attempt: refused and counted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const noMfa = await new SignJWT({ tid: TENANT, roles: ['admin'], amr: ['pwd'], jti: 'bypass-1' })
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('00000000-0000-0000-0000-000000000001')
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 300)
      .sign(await importJWK(key.privateJwk, key.alg));
    const before = await metricValue(svc.adminUrl, 'auth_mfa_events_total', {
      tenant: TENANT,
      outcome: 'bypass_attempt',
      route: '/api-keys',
    });
    const res = await http('POST', '/api-keys', { token: noMfa, body: { name: 'x' } });
    expect([res.status, code(res)]).toEqual([403, 'privileged_mfa_required']);
    expect(
      await metricValue(svc.adminUrl, 'auth_mfa_events_total', {
        tenant: TENANT,
        outcome: 'bypass_attempt',
        route: '/api-keys',
      }),
    ).toBe(before + 1);
  });

  it('API keys are shown once, listed without secrets, verifiable by prefix (as the gateway does), and revocable', async () => {
    const created = await http('POST', '/api-keys', {
      token: adminAccess,
      body: { name: 'pos-terminal-1', scopes: ['orders:write'], expiresInDays: 30 },
    });
    expect(created.status).toBe(201);
    const apiKey = String(created.body['key']);
    secrets['apiKey'] = apiKey;
    expect(apiKey).toMatch(/^npk_[a-z2-7]{12}_[a-z2-7]{32}$/);
    const prefix = String(created.body['prefix']);
    const list = await http('GET', '/api-keys', { token: adminAccess });
    expect(list.text).not.toContain(apiKey.split('_')[2]!);
    expect(list.text).not.toContain('argon2');
    expect((list.body['apiKeys'] as { prefix: string }[]).map((k) => k.prefix)).toEqual([prefix]);
    const row = await svc.repo.findLiveApiKeyByPrefix(prefix);
    expect(await argon2.verify(row!.keyHash, apiKey)).toBe(true);
    expect(row!.tenantId).toBe(TENANT);
    expect(
      (await http('DELETE', `/api-keys/${String(created.body['id'])}`, { token: adminAccess })).status,
    ).toBe(204);
    expect(await svc.repo.findLiveApiKeyByPrefix(prefix)).toBeUndefined();
  });

  it('require_mfa for the tenant: password-only sessions cannot sign in or refresh any more', async () => {
    const set = await http('PUT', '/tenant/settings', { token: adminAccess, body: { requireMfa: true } });
    expect(set.body).toEqual({ tenantId: TENANT, requireMfa: true });
    const login = await http('POST', '/login', {
      body: { email: 'cashier@flowco.test', password: CASHIER_PASSWORD },
    });
    expect(code(login)).toBe('mfa_enrollment_required');
    const refresh = await http('POST', '/refresh', { body: { refreshToken: cashierRefresh } });
    expect([refresh.status, code(refresh)]).toEqual([403, 'privileged_mfa_required']);
  });

  it('logout-all revokes every session of the user', async () => {
    const res = await http('POST', '/logout-all', { token: adminAccess });
    expect(res.status).toBe(200);
    expect(Number(res.body['revokedSessions'])).toBeGreaterThanOrEqual(2);
    const refresh = await http('POST', '/refresh', { body: { refreshToken: secrets['adminRefresh'] } });
    expect(code(refresh)).toBe('refresh_token_invalid');
  });

  it('CORS: only allow-listed origins get CORS headers', async () => {
    const ok = await fetch(`${svc.url}/login`, {
      method: 'OPTIONS',
      headers: { origin: 'https://pos.novapos.test', 'access-control-request-method': 'POST' },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://pos.novapos.test');
    const evil = await fetch(`${svc.url}/login`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('logs and events carry no password, code, token, TOTP secret or API key', () => {
    expectNoSecrets(svc.logs.text, {
      ...secrets,
      privateD: String(key.privateJwk.d),
      vaultToken: serviceToken,
    });
  });
});

/** Suspicious logins reach the security webhook once per rule and subject, with the bearer token. */
describe('auth-service suspicious-login webhook', () => {
  const env = inject('env');
  let svc: TestService;
  let sink: Sink;
  let http: Http;
  const bearer = 'webhook-bearer-for-tests-0123456789';

  beforeAll(async () => {
    sink = await startSink('webhook');
    const vaultEnv = env.vaults[0]!;
    const root = new VaultClient({
      addr: vaultEnv.addr,
      auth: { method: 'token', token: vaultEnv.rootToken },
    });
    const base = uniquePrefix('webhook');
    const key = await aSigningKey('ES256');
    await writeKeyTree(root, base, { keys: [{ key, state: 'active' }], activeKid: key.kid });
    svc = await startTestService({
      DATABASE_URL: await aDatabase(env.postgresUrl!, 'webhook'),
      VAULT_ADDR: vaultEnv.addr,
      VAULT_TOKEN: await readOnlyToken(root, vaultEnv.rootToken, base),
      SIGNING_KEYSET_PATH: base,
      SECURITY_SUSPICIOUS_WEBHOOK_URL: `${sink.url}/hooks/security`,
      SECURITY_SUSPICIOUS_WEBHOOK_BEARER: bearer,
      SUSPICIOUS_FAILURES_BEFORE_SUCCESS: '3',
      SUSPICIOUS_DISTINCT_ACCOUNTS_PER_IP: '3',
    });
    http = httpClient(svc.url, 'hooks');
    await svc.repo.createTenant('hooks', 'Hooks');
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createUser({
      tenantId: 'hooks',
      email: 'u@hooks.test',
      passwordHash: await hasher.hash(CASHIER_PASSWORD),
      roles: ['user'],
    });
  });

  afterAll(async () => {
    await svc?.close();
    await sink?.stop();
  });

  const attempt = (email: string, password: string) =>
    http('POST', '/login', {
      body: { email, password },
      headers: {
        'user-agent': 'attack-tool/1.0',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
    });

  it('fires success_after_failures once, then suppresses the repeat', async () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++)
        expect((await attempt('u@hooks.test', `Wrong-${i}-Pass!x`)).status).toBe(401);
      expect((await attempt('u@hooks.test', CASHIER_PASSWORD)).status).toBe(200);
    }
    await waitUntil('the webhook', () => sink.records.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    const hits = sink.records.filter((r) => (r.body as { rule?: string }).rule === 'success_after_failures');
    expect(hits).toHaveLength(1);
    expect(hits[0]!.headers['authorization']).toBe(`Bearer ${bearer}`);
    expect(hits[0]!.body).toMatchObject({
      rule: 'success_after_failures',
      tenant: 'hooks',
      user: expect.any(String),
      ip: expect.any(String),
      device_fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
    expect(
      await metricValue(svc.adminUrl, 'auth_suspicious_webhook_total', { result: 'suppressed' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('fires ip_many_accounts once for password spraying', async () => {
    for (const victim of ['a@hooks.test', 'b@hooks.test', 'c@hooks.test', 'd@hooks.test', 'e@hooks.test']) {
      expect((await attempt(victim, 'Spray-Pass-2024!')).status).toBe(401);
    }
    await waitUntil('the spraying webhook', () =>
      sink.records.some((r) => (r.body as { rule?: string }).rule === 'ip_many_accounts'),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(
      sink.records.filter((r) => (r.body as { rule?: string }).rule === 'ip_many_accounts'),
    ).toHaveLength(1);
    expect(sink.records).toHaveLength(2);
    expectNoSecrets(JSON.stringify(sink.records.map((r) => r.body)), {
      password: CASHIER_PASSWORD,
      spray: 'Spray-Pass-2024!',
    });
    expectNoSecrets(svc.logs.text, { bearer, password: CASHIER_PASSWORD, spray: 'Spray-Pass-2024!' });
  });
});
