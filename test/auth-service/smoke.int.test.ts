import { readFileSync } from 'node:fs';
import { generateSecret } from 'otplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RemoteJwksVerifier } from '../../lib/jwks-verifier.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { seedDemo } from '../../services/auth-service/src/seed.js';
import {
  AUDIENCE,
  awaitFreshTotpWindow,
  expectNoSecrets,
  type Http,
  httpClient,
  ISSUER,
  metricValue,
  startServiceWithKeys,
  type TestService,
  totpNow,
} from './helpers.js';

/**
 * Runbook 000, "Auth Telemetry & MFA Smoke Test", against real PostgreSQL and OpenBao: seed the admin,
 * enable MFA with the runbook's SQL, then invalid password, missing MFA, bad MFA, success, and check that
 * auth_login_attempts_total and auth_mfa_events_total move by exactly one on the expected series.
 */
describe('auth-service runbook smoke test (seed 000)', () => {
  const env = inject('env');
  let svc: TestService;
  let http: Http;
  let activeKid: string;
  let keysetHash: string;
  let adminPassword: string;
  const mfaSecret = generateSecret({ length: 20 });
  let issued: Record<string, unknown> = {};

  beforeAll(async () => {
    const started = await startServiceWithKeys(env, 'smoke');
    ({ svc, keysetHash } = started);
    activeKid = started.key.kid;
    http = httpClient(svc.url, 'demo');
    const seeded = await seedDemo(
      svc.db,
      new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 }),
    );
    adminPassword = seeded.password!;
    // Runbook step 3, with a 160-bit secret: otplib 13 refuses the runbook's 80-bit example secret.
    await svc.db.query(
      `UPDATE users SET mfa_secret=$1, mfa_enrolled_at=NOW(), mfa_failed_attempts=0 WHERE email='admin@novapos.local'`,
      [mfaSecret],
    );
  });

  afterAll(async () => {
    await svc?.close();
  });

  async function counters() {
    const login = (outcome: string) =>
      metricValue(svc.adminUrl, 'auth_login_attempts_total', { tenant: 'demo', outcome });
    const mfa = (outcome: string) =>
      metricValue(svc.adminUrl, 'auth_mfa_events_total', { tenant: 'demo', outcome, route: '/login' });
    return {
      invalid_credentials: await login('invalid_credentials'),
      login_mfa_required: await login('mfa_required'),
      login_mfa_invalid: await login('mfa_invalid'),
      success: await login('success'),
      mfa_required: await mfa('mfa_required'),
      mfa_invalid: await mfa('mfa_invalid'),
      mfa_success: await mfa('success'),
    };
  }

  async function expectDelta(
    step: () => Promise<void>,
    moved: Partial<Record<keyof Awaited<ReturnType<typeof counters>>, number>>,
  ) {
    const before = await counters();
    await step();
    const after = await counters();
    const delta = Object.fromEntries(
      Object.keys(after).map((k) => [k, after[k as keyof typeof after] - before[k as keyof typeof before]]),
    );
    const expected = Object.fromEntries(
      Object.keys(after).map((k) => [k, moved[k as keyof typeof moved] ?? 0]),
    );
    expect(delta).toEqual(expected);
  }

  it('invalid password: 401 invalid_credentials, auth_login_attempts_total{outcome="invalid_credentials"} +1', async () => {
    await expectDelta(
      async () => {
        const res = await http('POST', '/login', {
          body: { email: 'admin@novapos.local', password: 'wrong' },
        });
        expect(res.status).toBe(401);
        expect((res.body['error'] as { code: string }).code).toBe('invalid_credentials');
      },
      { invalid_credentials: 1 },
    );
  });

  it('missing MFA: 401 mfa_required, login outcome mfa_required +1, auth_mfa_events_total{outcome="mfa_required"} +1', async () => {
    await expectDelta(
      async () => {
        const res = await http('POST', '/login', {
          body: { email: 'admin@novapos.local', password: adminPassword },
        });
        expect(res.status).toBe(401);
        expect((res.body['error'] as { code: string }).code).toBe('mfa_required');
      },
      { login_mfa_required: 1, mfa_required: 1 },
    );
  });

  it('bad MFA: 401 mfa_invalid, login outcome mfa_invalid +1, auth_mfa_events_total{outcome="mfa_invalid"} +1', async () => {
    await expectDelta(
      async () => {
        const res = await http('POST', '/login', {
          body: { email: 'admin@novapos.local', password: adminPassword, mfaCode: '000000' },
        });
        expect(res.status).toBe(401);
        expect((res.body['error'] as { code: string }).code).toBe('mfa_invalid');
      },
      { login_mfa_invalid: 1, mfa_invalid: 1 },
    );
  });

  it('success: tokens issued, login outcome success +1, auth_mfa_events_total{outcome="success"} +1', async () => {
    await awaitFreshTotpWindow();
    await expectDelta(
      async () => {
        const res = await http('POST', '/login', {
          body: { email: 'admin@novapos.local', password: adminPassword, mfaCode: await totpNow(mfaSecret) },
        });
        expect(res.status).toBe(200);
        issued = res.body;
      },
      { success: 1, mfa_success: 1 },
    );
    expect(issued['tokenType']).toBe('Bearer');
    expect(String(issued['refreshToken'])).toMatch(/^rt_/);
  });

  it('the access token carries the contract claims, signed by the active kid, and verifies through the JWKS', async () => {
    const verifier = new RemoteJwksVerifier({
      jwksUrl: `${svc.url}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    const { payload, kid } = await verifier.verify(String(issued['accessToken']));
    expect(kid).toBe(activeKid);
    expect(payload).toMatchObject({ iss: ISSUER, aud: AUDIENCE, tid: 'demo', roles: ['admin'] });
    expect(payload['amr']).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    for (const claim of ['sub', 'jti', 'iat', 'nbf', 'exp']) expect(payload[claim], claim).toBeDefined();
    expect(Number(payload.exp) - Number(payload.iat)).toBeLessThanOrEqual(900);
  });

  it('serves the JWKS with Cache-Control max-age = jwksCacheTTLSeconds and /keys/status per contract', async () => {
    const jwks = await fetch(`${svc.url}/.well-known/jwks.json`);
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
    const keys = ((await jwks.json()) as { keys: Record<string, unknown>[] }).keys;
    expect(keys.map((k) => k['kid'])).toEqual([activeKid]);
    expect(keys.every((k) => !('d' in k))).toBe(true);
    const status = await http('GET', '/keys/status', { tenant: null });
    expect(status.body).toEqual({ keysetHash, kids: [activeKid], activeKid, loadedAt: expect.any(String) });
  });

  it('answers /health, the MFA adoption gauges and the baseline headers', async () => {
    const health = await http('GET', '/health', { tenant: null, headers: { 'x-request-id': 'smoke-req-1' } });
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'healthy',
      service: 'auth-service',
      checks: { database: 'ok', signingKeys: 'loaded' },
    });
    expect(health.headers.get('x-request-id')).toBe('smoke-req-1');
    for (const h of [
      'x-frame-options',
      'x-content-type-options',
      'referrer-policy',
      'permissions-policy',
      'cache-control',
    ]) {
      expect(health.headers.get(h), h).toBeTruthy();
    }
    expect(await metricValue(svc.adminUrl, 'auth_users', { tenant: 'demo' })).toBe(1);
    expect(await metricValue(svc.adminUrl, 'auth_mfa_enrolled_users', { tenant: 'demo' })).toBe(1);
  });

  it('serves /healthz and /readyz on the admin port, as every service does; /health and /health/live stay as aliases', async () => {
    const healthz = await fetch(`${svc.adminUrl}/healthz`);
    expect([healthz.status, await healthz.json()]).toEqual([200, { status: 'ok' }]);
    const readyz = await fetch(`${svc.adminUrl}/readyz`);
    expect([readyz.status, await readyz.json()]).toEqual([
      200,
      { status: 'ready', checks: { database: 'ok', signingKeys: 'loaded' } },
    ]);
    expect((await fetch(`${svc.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  });

  it('publishes its OpenAPI 3.1 document at /openapi.json, the committed one', async () => {
    const res = await fetch(`${svc.url}/openapi.json`);
    expect(res.status).toBe(200);
    const committed = JSON.parse(
      readFileSync(new URL('../../services/auth-service/openapi.json', import.meta.url), 'utf8'),
    ) as unknown;
    expect(await res.json()).toEqual(committed);
  });

  it('serves /metrics and the per-tenant gauges on the admin port only, never on the API port', async () => {
    const open = await fetch(`${svc.url}/metrics`);
    const text = await open.text();
    expect(open.status).toBeGreaterThanOrEqual(400); // no such route here (tenant_required, or not_found)
    expect(text).not.toContain('auth_users');
    expect(text).not.toContain('demo');
    const admin = await fetch(`${svc.adminUrl}/metrics`);
    expect(admin.status).toBe(200);
    expect(await admin.text()).toContain('auth_users{tenant="demo"}');
    expect(svc.adminPort).not.toBe(svc.port);
  });

  it('logs no password, TOTP secret, token or private key', () => {
    expectNoSecrets(svc.logs.text, {
      password: adminPassword,
      totpSecret: mfaSecret,
      accessToken: String(issued['accessToken']),
      accessTokenSignature: String(issued['accessToken']).split('.')[2],
      refreshToken: String(issued['refreshToken']),
    });
    expect(svc.logs.text).toContain('"trace_id"');
    expect(svc.logs.text).not.toMatch(/"d":"[A-Za-z0-9_-]{20,}"/);
  });
});
