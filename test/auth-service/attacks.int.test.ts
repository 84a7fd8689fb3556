import { createHmac, createPublicKey } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { generateSecret } from 'otplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RemoteJwksVerifier } from '../../lib/jwks-verifier.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import {
  AUDIENCE,
  awaitFreshTotpWindow,
  errorCode,
  expectNoSecrets,
  type Http,
  httpClient,
  ISSUER,
  metricValue,
  startServiceWithKeys,
  startTestService,
  type TestService,
  type TestSigningKey,
  totpNow,
} from './helpers.js';

const TENANT = 'acme';
const PASSWORD = 'Correct-Horse-42!battery';

const code = errorCode;
/** Lower quartile: the intrinsic cost of a request, least disturbed by other load on the machine. */
const lowerQuartile = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 4)]!;
const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** Attacks the runbooks' baseline must withstand, against the real service, PostgreSQL and OpenBao. */
describe('auth-service under attack', () => {
  const env = inject('env');
  let svc: TestService;
  let http: Http;
  let key: TestSigningKey;
  let hasher: PasswordHasher;
  const mfaSecret = generateSecret({ length: 20 });
  const secretsSeen: Record<string, string> = { password: PASSWORD, totpSecret: mfaSecret };

  async function aUser(email: string, opts: { roles?: string[]; mfa?: boolean } = {}) {
    const id = await svc.repo.createUser({
      tenantId: TENANT,
      email,
      passwordHash: await hasher.hash(PASSWORD),
      roles: opts.roles ?? ['user'],
    });
    if (opts.mfa) {
      await svc.db.query('UPDATE users SET mfa_secret = $2, mfa_enrolled_at = now() WHERE id = $1', [
        id,
        mfaSecret,
      ]);
    }
    return id!;
  }

  const login = (
    email: string,
    password = PASSWORD,
    extra: Record<string, unknown> = {},
    tenant: string | null = TENANT,
  ) => http('POST', '/login', { body: { email, password, ...extra }, tenant });

  beforeAll(async () => {
    ({ svc, key } = await startServiceWithKeys(env, 'attacks', {
      alg: 'RS256',
      serviceEnv: {
        AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
        AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '100',
        SUSPICIOUS_DISTINCT_ACCOUNTS_PER_IP: '1000',
        // Strict rotation here (no reuse interval): refresh-grace.int.test.ts covers the interval.
        REFRESH_REUSE_INTERVAL_SECONDS: '0',
        // Production argon2id cost, so the hash dominates the answer time as it does in production.
        ARGON2_MEMORY_KIB: '19456',
        ARGON2_TIME_COST: '2',
      },
    }));
    http = httpClient(svc.url, TENANT);
    hasher = new PasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    await svc.repo.createTenant(TENANT, 'Acme');
    await svc.repo.createTenant('other', 'Other');
  });

  afterAll(async () => {
    await svc?.close();
  });

  describe('account enumeration', () => {
    it('answers a wrong password and an unknown account identically, in the same time within noise', async () => {
      const rounds = Number(process.env['AUTH_TIMING_ROUNDS'] ?? 12);
      for (let i = 0; i < rounds; i++) await aUser(`known${i}@acme.test`);
      const known: number[] = [];
      const unknown: number[] = [];
      const bodies = new Set<string>();
      // Interleaved, so drift on a shared 2-core machine hits both sides alike.
      for (let i = 0; i < rounds; i++) {
        const pair = [
          [`known${i}@acme.test`, known],
          [`nobody${i}@acme.test`, unknown],
        ] as const;
        // Alternate which goes first, so neither side always runs right after the other.
        for (const [email, into] of i % 2 === 0 ? pair : [...pair].reverse()) {
          const t0 = performance.now();
          const res = await login(email, 'Wrong-password-1!');
          into.push(performance.now() - t0);
          expect(res.status).toBe(401);
          const { requestId: _r, ...rest } = res.body['error'] as Record<string, unknown>;
          bodies.add(JSON.stringify(rest));
        }
      }
      const unknownTenant = await login('known0@acme.test', 'Wrong-password-1!', {}, 'no-such-tenant');
      const { requestId: _r, ...rest } = unknownTenant.body['error'] as Record<string, unknown>;
      bodies.add(JSON.stringify(rest));
      expect([...bodies]).toEqual([
        JSON.stringify({ code: 'invalid_credentials', message: 'Invalid email or password.' }),
      ]);
      const [qk, qu] = [lowerQuartile(known), lowerQuartile(unknown)];
      // Both sides run one argon2id verification: a skipped hash would make the unknown side a small
      // fraction of the known one (ratio ~0.1); noise on a loaded 2-core machine stays well inside 0.5-2.
      const ratio = qu / qk;
      const why = `lower quartile known ${qk.toFixed(1)} ms, unknown ${qu.toFixed(1)} ms`;
      expect(ratio, why).toBeGreaterThan(0.5);
      expect(ratio, why).toBeLessThan(2);
    });
  });

  describe('brute force', () => {
    it('locks an account after 5 failures: even the right password gets 429 with Retry-After', async () => {
      await aUser('victim@acme.test');
      const lockoutsBefore = await metricValue(svc.adminUrl, 'auth_account_lockouts_total', {
        tenant: TENANT,
      });
      for (let i = 0; i < 5; i++)
        expect((await login('victim@acme.test', `Guess-${i}-xx!Aa`)).status).toBe(401);
      const locked = await login('victim@acme.test');
      expect(locked.status).toBe(429);
      expect(code(locked)).toBe('too_many_attempts');
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await metricValue(svc.adminUrl, 'auth_account_lockouts_total', { tenant: TENANT })).toBe(
        lockoutsBefore + 1,
      );
    });

    it('locks an unknown account the same way (lockout reveals nothing)', async () => {
      for (let i = 0; i < 5; i++)
        expect((await login('ghost@acme.test', `Guess-${i}-xx!Aa`)).status).toBe(401);
      const locked = await login('ghost@acme.test');
      expect(locked.status).toBe(429);
      expect(code(locked)).toBe('too_many_attempts');
    });

    it('limits login attempts per IP', async () => {
      // Its own instance (on embedded PGlite: no DATABASE_URL) so the strict limit touches nothing else.
      const strict = await startTestService({
        VAULT_ADDR: env.vaults[0]!.addr,
        VAULT_TOKEN: 'no-access',
        SIGNING_KEYSET_PATH: 'secret/novapos/signing-keys/none/none',
        AUTH_LOGIN_PER_IP_PER_MINUTE: '3',
      });
      try {
        const h = httpClient(strict.url, TENANT);
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++)
          statuses.push(
            (await h('POST', '/login', { body: { email: `x${i}@a.test`, password: 'x' } })).status,
          );
        expect(statuses).toEqual([401, 401, 401, 429]);
      } finally {
        await strict.close();
      }
    });
  });

  describe('TOTP', () => {
    it('refuses a code that was already used (replay) and counts it', async () => {
      await aUser('totp@acme.test', { mfa: true });
      await awaitFreshTotpWindow();
      const c = await totpNow(mfaSecret);
      expect((await login('totp@acme.test', PASSWORD, { mfaCode: c })).status).toBe(200);
      const before = await metricValue(svc.adminUrl, 'auth_mfa_events_total', {
        tenant: TENANT,
        outcome: 'replay',
        route: '/login',
      });
      const replay = await login('totp@acme.test', PASSWORD, { mfaCode: c });
      expect(replay.status).toBe(401);
      expect(code(replay)).toBe('mfa_invalid');
      expect(
        await metricValue(svc.adminUrl, 'auth_mfa_events_total', {
          tenant: TENANT,
          outcome: 'replay',
          route: '/login',
        }),
      ).toBe(before + 1);
    });
  });

  describe('refresh tokens', () => {
    it('rotates on use; presenting a used token revokes the whole family', async () => {
      await aUser('session@acme.test');
      const first = await login('session@acme.test');
      const r1 = String(first.body['refreshToken']);
      const second = await http('POST', '/refresh', { body: { refreshToken: r1 } });
      expect(second.status).toBe(200);
      const r2 = String(second.body['refreshToken']);
      expect(r2).not.toBe(r1);
      secretsSeen['refreshToken1'] = r1;
      secretsSeen['refreshToken2'] = r2;
      const reuseBefore = await metricValue(svc.adminUrl, 'auth_refresh_token_reuse_total', {});
      const reuse = await http('POST', '/refresh', { body: { refreshToken: r1 } });
      expect(reuse.status).toBe(401);
      expect(code(reuse)).toBe('refresh_token_reused');
      // The attacker's copy is dead, and so is the legitimate successor.
      const successor = await http('POST', '/refresh', { body: { refreshToken: r2 } });
      expect(successor.status).toBe(401);
      expect(await metricValue(svc.adminUrl, 'auth_refresh_token_reuse_total', {})).toBe(reuseBefore + 1);
    });

    it('refuses a refresh token presented for another tenant', async () => {
      await aUser('tenantbound@acme.test');
      const r = String((await login('tenantbound@acme.test')).body['refreshToken']);
      const res = await http('POST', '/refresh', { body: { refreshToken: r }, tenant: 'other' });
      expect(res.status).toBe(401);
      expect(code(res)).toBe('refresh_token_invalid');
    });

    it('logout ends the session', async () => {
      await aUser('bye@acme.test');
      const r = String((await login('bye@acme.test')).body['refreshToken']);
      expect((await http('POST', '/logout', { body: { refreshToken: r } })).status).toBe(204);
      expect(code(await http('POST', '/refresh', { body: { refreshToken: r } }))).toBe(
        'refresh_token_invalid',
      );
    });
  });

  describe('malformed input', () => {
    it.each([
      [
        'an oversize body',
        { raw: JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(20_000) }) },
        413,
        'payload_too_large',
      ],
      ['malformed JSON', { raw: '{"email": "a@b.c", "password": ' }, 400, 'malformed_json'],
      [
        'a non-JSON content type',
        { raw: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        415,
        'unsupported_media_type',
      ],
      ['an array body', { raw: '[1,2]' }, 400, 'invalid_request'],
      ['a non-string password', { body: { email: 'a@b.c', password: { $ne: '' } } }, 400, 'invalid_request'],
    ])('refuses %s with a stable error envelope', async (_name, opts, status, errorCode) => {
      const res = await http('POST', '/login', opts);
      expect(res.status).toBe(status);
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body['error']).toMatchObject({
        code: errorCode,
        message: expect.any(String),
        requestId: expect.any(String),
      });
      expect(
        Object.keys(res.body['error'] as object).every((k) =>
          ['code', 'message', 'requestId', 'details'].includes(k),
        ),
      ).toBe(true);
      expect(res.text).not.toMatch(/at .*\.ts|node_modules|stack/i);
    });

    it('requires a well-formed X-Tenant-ID', async () => {
      const missing = await login('a@acme.test', PASSWORD, {}, null);
      expect([missing.status, code(missing)]).toEqual([400, 'tenant_required']);
      const bad = await login('a@acme.test', PASSWORD, {}, '../etc');
      expect([bad.status, code(bad)]).toEqual([400, 'invalid_tenant']);
    });

    it('refuses an access token used for another tenant', async () => {
      await aUser('crosstenant@acme.test', { roles: ['admin'] });
      await svc.db.query('UPDATE users SET mfa_secret = $2, mfa_enrolled_at = now() WHERE email = $1', [
        'crosstenant@acme.test',
        mfaSecret,
      ]);
      await awaitFreshTotpWindow();
      const tokens = await login('crosstenant@acme.test', PASSWORD, { mfaCode: await totpNow(mfaSecret) });
      const access = String(tokens.body['accessToken']);
      secretsSeen['accessToken'] = access;
      expect((await http('GET', '/api-keys', { token: access })).status).toBe(200);
      const res = await http('GET', '/api-keys', { token: access, tenant: 'other' });
      expect([res.status, code(res)]).toEqual([403, 'tenant_mismatch']);
    });
  });

  describe('forged tokens, through the shared verifier and the service', () => {
    let verifier: RemoteJwksVerifier;
    const now = () => Math.floor(Date.now() / 1000);
    const claims = () => ({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'u1',
      tid: TENANT,
      roles: ['admin'],
      amr: ['pwd', 'mfa'],
      jti: 'j1',
      iat: now(),
      nbf: now(),
      exp: now() + 300,
    });

    beforeAll(() => {
      verifier = new RemoteJwksVerifier({
        jwksUrl: `${svc.url}/.well-known/jwks.json`,
        issuer: ISSUER,
        audience: AUDIENCE,
        clockToleranceSeconds: 5,
      });
    });

    const signWithRealKey = async (overrides: Record<string, unknown>) =>
      new SignJWT({ ...claims(), ...overrides })
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .sign(await importJWK(key.privateJwk, key.alg));

    it('rejects alg none', async () => {
      const token = `${b64url(JSON.stringify({ alg: 'none', kid: key.kid }))}.${b64url(JSON.stringify(claims()))}.`;
      await expect(verifier.verify(token)).rejects.toMatchObject({ reason: 'alg_not_allowed' });
      const before = await metricValue(svc.adminUrl, 'auth_jwt_validation_failures_total', {
        reason: 'alg_not_allowed',
      });
      const res = await http('GET', '/api-keys', { token });
      expect([res.status, code(res)]).toEqual([401, 'token_invalid']);
      expect(
        await metricValue(svc.adminUrl, 'auth_jwt_validation_failures_total', { reason: 'alg_not_allowed' }),
      ).toBe(before + 1);
    });

    it('rejects HS256 keyed with the published public key (JWK and PEM forms)', async () => {
      const jwks = (await (await fetch(`${svc.url}/.well-known/jwks.json`)).json()) as {
        keys: Record<string, string>[];
      };
      const pub = jwks.keys[0]!;
      const pem = createPublicKey({ key: pub, format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
      for (const secret of [JSON.stringify(pub), pem, pub['n']!]) {
        const head = b64url(JSON.stringify({ alg: 'HS256', kid: key.kid, typ: 'JWT' }));
        const body = b64url(JSON.stringify(claims()));
        const token = `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
        await expect(verifier.verify(token)).rejects.toMatchObject({ reason: 'alg_not_allowed' });
        expect((await http('GET', '/api-keys', { token })).status).toBe(401);
      }
    });

    it.each([
      ['a wrong issuer', { iss: 'https://evil.example' }, 'claim_invalid'],
      ['a wrong audience', { aud: 'another-api' }, 'claim_invalid'],
      [
        'an expired token',
        {
          iat: Math.floor(Date.now() / 1000) - 3600,
          nbf: Math.floor(Date.now() / 1000) - 3600,
          exp: Math.floor(Date.now() / 1000) - 600,
        },
        'expired',
      ],
    ])('rejects %s even when signed with the real key', async (_name, overrides, reason) => {
      const token = await signWithRealKey(overrides);
      await expect(verifier.verify(token)).rejects.toMatchObject({ reason });
      expect((await http('GET', '/api-keys', { token })).status).toBe(401);
    });

    it('accepts the same token with correct claims (the rejections above are about the claims)', async () => {
      await expect(verifier.verify(await signWithRealKey({}))).resolves.toMatchObject({ kid: key.kid });
    });
  });

  it('logs no password, TOTP secret, token or private key through all of the above', () => {
    expectNoSecrets(svc.logs.text, { ...secretsSeen, privateD: String(key.privateJwk.d) });
    const security = svc.logs.records().filter((r) => r['msg'] === 'security_event');
    expect(security.length).toBeGreaterThan(10);
    for (const r of security) {
      for (const field of ['trace_id', 'tenant_id', 'user_id', 'actor_role'])
        expect(r, `${String(r['type'])}.${field}`).toHaveProperty(field);
    }
  });
});
