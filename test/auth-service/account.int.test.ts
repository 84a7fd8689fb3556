import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { sha256Hex } from '../../services/auth-service/src/domain/secrets.js';
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
  type TestService,
  type TestSigningKey,
  totpNow,
} from './helpers.js';

const TENANT = 'acctco';
/** A tenant with require_mfa on. */
const STRICT = 'strictco';
const PASSWORD = 'Amber-Quill-73!harbor';
const NEW_PASSWORD = 'Violet-Anchor-19?meadow';
const RECOVERY_CODE_RE = /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/;

const code = errorCode;

/** POST /password/change, /mfa/recovery-codes/regenerate and /mfa/disable against the real service. */
describe('auth-service account self-service', () => {
  const env = inject('env');
  let svc: TestService;
  let http: Http;
  let key: TestSigningKey;
  let serviceToken: string;
  let hasher: PasswordHasher;
  /** Everything that must never reach the logs, by kind. */
  const secrets: Record<string, string> = { password: PASSWORD, newPassword: NEW_PASSWORD };
  const remember = (kind: string, value: string) => {
    secrets[`${kind}${Object.keys(secrets).length}`] = value;
    return value;
  };

  async function aUser(email: string, opts: { roles?: string[]; tenant?: string } = {}): Promise<string> {
    const id = await svc.repo.createUser({
      tenantId: opts.tenant ?? TENANT,
      email,
      passwordHash: await hasher.hash(PASSWORD),
      roles: opts.roles ?? ['cashier'],
    });
    return id!;
  }

  const login = (email: string, extra: Record<string, unknown> = {}, tenant = TENANT, password = PASSWORD) =>
    http('POST', '/login', { body: { email, password, ...extra }, tenant });

  /** A password-only session (MFA not enrolled, not required). */
  async function session(email: string, tenant = TENANT, password = PASSWORD) {
    const res = await login(email, {}, tenant, password);
    expect(res.status).toBe(200);
    return {
      access: remember('access', String(res.body['accessToken'])),
      refresh: remember('refresh', String(res.body['refreshToken'])),
    };
  }

  /**
   * Enrolls MFA through the real routes with `token` (access or enrollment token). The completing code is
   * the previous step's, so the current and next steps stay free for the test (each step works once).
   */
  async function enroll(token: string, tenant = TENANT) {
    await awaitFreshTotpWindow(20);
    const start = await http('POST', '/mfa/enroll/start', { token, tenant });
    expect(start.status).toBe(200);
    const secret = remember('totpSecret', String(start.body['secret']));
    const done = await http('POST', '/mfa/enroll/complete', {
      token,
      tenant,
      body: { code: await totpNow(secret, -1) },
    });
    expect(done.status).toBe(200);
    const recoveryCodes = done.body['recoveryCodes'] as string[];
    for (const c of recoveryCodes) remember('recoveryCode', c);
    if (done.body['accessToken']) {
      remember('access', String(done.body['accessToken']));
      remember('refresh', String(done.body['refreshToken']));
    }
    return {
      secret,
      recoveryCodes,
      access: done.body['accessToken'] ? String(done.body['accessToken']) : token,
    };
  }

  /** An admin, or a user of a require_mfa tenant: login gives an enrollment token, enrollment a session. */
  async function enrolledViaRequiredEnrollment(email: string, tenant: string) {
    const first = await login(email, {}, tenant);
    expect(code(first)).toBe('mfa_enrollment_required');
    return enroll(remember('enrollment', String(first.body['enrollmentToken'])), tenant);
  }

  const failures = async (email: string, tenant = TENANT) =>
    svc.repo.countLoginFailures(tenant, sha256Hex(email));

  const mfaMetric = (outcome: string, route: string, tenant = TENANT) =>
    metricValue(svc.adminUrl, 'auth_mfa_events_total', { tenant, outcome, route });

  const events = (type: string) =>
    svc.logs.records().filter((r) => r['msg'] === 'security_event' && r['type'] === type);

  beforeAll(async () => {
    ({ svc, key, serviceToken } = await startServiceWithKeys(env, 'account', {
      serviceEnv: {
        AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
        AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '100',
        AUTH_MFA_PER_IP_PER_MINUTE: '1000',
        SUSPICIOUS_DISTINCT_ACCOUNTS_PER_IP: '1000',
      },
    }));
    http = httpClient(svc.url, TENANT);
    // The parameters startTestService gives the service: no re-hash at login.
    hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createTenant(TENANT, 'Account Co');
    await svc.repo.createTenant(STRICT, 'Strict Co', true);
    await svc.repo.createTenant('other', 'Other');
  });

  afterAll(async () => {
    await svc?.close();
  });

  describe('authentication of the three routes', () => {
    const routes = [
      ['/password/change', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }],
      ['/mfa/recovery-codes/regenerate', { code: '123456' }],
      ['/mfa/disable', { password: PASSWORD, code: '123456' }],
    ] as const;
    let userId = '';
    let access = '';
    let enrollmentToken = '';

    beforeAll(async () => {
      userId = await aUser('gate@acctco.test');
      access = (await session('gate@acctco.test')).access;
      await aUser('gate@strictco.test', { tenant: STRICT });
      const strict = await login('gate@strictco.test', {}, STRICT);
      enrollmentToken = remember('enrollment', String(strict.body['enrollmentToken']));
    });

    it.each(routes)(
      '%s refuses a request without an access token (401 unauthorized)',
      async (route, body) => {
        const res = await http('POST', route, { body });
        expect([res.status, code(res)]).toEqual([401, 'unauthorized']);
        expect(res.body['error']).toMatchObject({
          message: expect.any(String),
          requestId: expect.any(String),
        });
      },
    );

    it.each(routes)('%s refuses an expired access token (401 token_invalid)', async (route, body) => {
      const now = Math.floor(Date.now() / 1000);
      const expired = await new SignJWT({ tid: TENANT, roles: ['cashier'], amr: ['pwd'], jti: 'expired-1' })
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(userId)
        .setIssuedAt(now - 3600)
        .setNotBefore(now - 3600)
        .setExpirationTime(now - 600)
        .sign(await importJWK(key.privateJwk, key.alg));
      const res = await http('POST', route, { body, token: expired });
      expect([res.status, code(res)]).toEqual([401, 'token_invalid']);
    });

    it.each(routes)('%s refuses a token of another tenant (403 tenant_mismatch)', async (route, body) => {
      const res = await http('POST', route, { body, token: access, tenant: 'other' });
      expect([res.status, code(res)]).toEqual([403, 'tenant_mismatch']);
    });

    it.each(routes)('%s refuses the enrollment-only token (401 token_invalid)', async (route, body) => {
      const res = await http('POST', route, { body, token: enrollmentToken, tenant: STRICT });
      expect([res.status, code(res)]).toEqual([401, 'token_invalid']);
    });

    it.each(routes)('%s refuses a body without its fields (400 invalid_request)', async (route) => {
      const res = await http('POST', route, { body: {}, token: access });
      expect([res.status, code(res)]).toEqual([400, 'invalid_request']);
    });

    it('nothing changed: the password still works', async () => {
      expect((await login('gate@acctco.test')).status).toBe(200);
    });
  });

  describe('POST /password/change', () => {
    const email = 'pwchange@acctco.test';
    let first: { access: string; refresh: string };
    let second: { access: string; refresh: string };

    beforeAll(async () => {
      await aUser(email);
      first = await session(email);
      second = await session(email);
    });

    it('refuses a wrong current password with 401 invalid_credentials, counted toward the lockout', async () => {
      const before = await metricValue(svc.adminUrl, 'auth_password_changes_total', {
        tenant: TENANT,
        outcome: 'invalid_credentials',
      });
      const res = await http('POST', '/password/change', {
        token: first.access,
        body: { currentPassword: 'Wrong-Guess-55!x', newPassword: NEW_PASSWORD },
      });
      expect([res.status, code(res)]).toEqual([401, 'invalid_credentials']);
      expect(await failures(email)).toBe(1);
      expect(
        await metricValue(svc.adminUrl, 'auth_password_changes_total', {
          tenant: TENANT,
          outcome: 'invalid_credentials',
        }),
      ).toBe(before + 1);
    });

    it('refuses a new password that fails the policy, listing the issues (400 weak_password)', async () => {
      const res = await http('POST', '/password/change', {
        token: first.access,
        body: { currentPassword: PASSWORD, newPassword: 'password1' },
      });
      expect(res.status).toBe(400);
      expect(res.body['error']).toMatchObject({
        code: 'weak_password',
        message: 'The password does not meet the password policy.',
        details: { issues: expect.arrayContaining(['too_short', 'missing_uppercase', 'weak_pattern']) },
      });
      const withEmail = await http('POST', '/password/change', {
        token: first.access,
        body: { currentPassword: PASSWORD, newPassword: 'Pwchange-Mark-7!x' },
      });
      expect(withEmail.body['error']).toMatchObject({
        code: 'weak_password',
        details: { issues: ['contains_email'] },
      });
    });

    it('refuses the current password as the new one (400 password_unchanged)', async () => {
      const res = await http('POST', '/password/change', {
        token: first.access,
        body: { currentPassword: PASSWORD, newPassword: PASSWORD },
      });
      expect([res.status, code(res)]).toEqual([400, 'password_unchanged']);
    });

    it('changes the password and ends every session of the user, this one included', async () => {
      const res = await http('POST', '/password/change', {
        token: first.access,
        body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ revokedSessions: 2 });
      expect(await failures(email)).toBe(0);
      const stored = await svc.db.query<{ password_hash: string }>(
        'SELECT password_hash FROM users WHERE email = $1',
        [email],
      );
      // argon2id with the configured cost (parameter order differs between argon2 builds).
      const params = /^\$argon2id\$v=19\$([^$]+)\$/
        .exec(stored.rows[0]!.password_hash)?.[1]
        ?.split(',')
        .sort();
      expect(params).toEqual(['m=8192', 'p=1', 't=1']);

      for (const refresh of [first.refresh, second.refresh]) {
        const r = await http('POST', '/refresh', { body: { refreshToken: refresh } });
        expect([r.status, code(r)]).toEqual([401, 'refresh_token_invalid']);
      }
      const old = await login(email);
      expect([old.status, code(old)]).toEqual([401, 'invalid_credentials']);
      const fresh = await login(email, {}, TENANT, NEW_PASSWORD);
      expect(fresh.status).toBe(200);
      remember('access', String(fresh.body['accessToken']));
      remember('refresh', String(fresh.body['refreshToken']));

      const [event] = events('password_changed');
      expect(event).toMatchObject({
        topic: 'audit.events.v1',
        tenant_id: TENANT,
        actor_role: 'cashier',
        outcome: 'changed',
        revoked_sessions: 2,
        trace_id: expect.any(String),
        user_id: expect.any(String),
      });
    });

    it('wrong current passwords lock the account for /login too; while locked even the right one gets 429', async () => {
      const victim = 'lockme@acctco.test';
      await aUser(victim);
      const { access } = await session(victim);
      for (let i = 0; i < 5; i++) {
        const res = await http('POST', '/password/change', {
          token: access,
          body: { currentPassword: `Guess-${i}-Wrong!Aa`, newPassword: NEW_PASSWORD },
        });
        expect(res.status).toBe(401);
      }
      const locked = await http('POST', '/password/change', {
        token: access,
        body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
      });
      expect([locked.status, code(locked)]).toEqual([429, 'too_many_attempts']);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
      const loginLocked = await login(victim);
      expect([loginLocked.status, code(loginLocked)]).toEqual([429, 'too_many_attempts']);
      expect(events('account_locked').some((e) => e['tenant_id'] === TENANT)).toBe(true);
    });
  });

  describe('POST /mfa/recovery-codes/regenerate', () => {
    const route = '/mfa/recovery-codes/regenerate';
    const email = 'rc@acctco.test';
    let access = '';
    let secret = '';
    let oldCodes: string[] = [];
    let newCodes: string[] = [];
    let usedCode = '';

    beforeAll(async () => {
      await aUser(email);
      access = (await session(email)).access;
    });

    it('refuses when MFA is not enrolled (409 mfa_not_enrolled)', async () => {
      const res = await http('POST', route, { token: access, body: { code: '123456' } });
      expect([res.status, code(res)]).toEqual([409, 'mfa_not_enrolled']);
    });

    it('refuses a wrong code (401 mfa_invalid), counted as a failed MFA attempt', async () => {
      ({ secret, recoveryCodes: oldCodes } = await enroll(access));
      expect(oldCodes).toHaveLength(10);
      const before = await mfaMetric('mfa_invalid', route);
      const res = await http('POST', route, { token: access, body: { code: '000000' } });
      expect([res.status, code(res)]).toEqual([401, 'mfa_invalid']);
      expect(await mfaMetric('mfa_invalid', route)).toBe(before + 1);
      expect(await failures(email)).toBe(1);
    });

    it('with a current code, replaces the recovery codes with a fresh set, shown once', async () => {
      usedCode = await totpNow(secret);
      const res = await http('POST', route, { token: access, body: { code: usedCode } });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['recoveryCodes']);
      newCodes = res.body['recoveryCodes'] as string[];
      for (const c of newCodes) remember('recoveryCode', c);
      expect(newCodes).toHaveLength(oldCodes.length);
      for (const c of newCodes) expect(c).toMatch(RECOVERY_CODE_RE);
      expect(new Set([...newCodes, ...oldCodes]).size).toBe(newCodes.length + oldCodes.length);
      const stored = await svc.db.query<{ code_hash: string }>(
        'SELECT code_hash FROM auth_recovery_codes r JOIN users u ON u.id = r.user_id WHERE u.email = $1',
        [email],
      );
      expect(stored.rows.map((r) => r.code_hash).sort()).toEqual(
        newCodes.map((c) => sha256Hex(c.replace(/-/g, ''))).sort(),
      );
      expect(events('mfa_recovery_codes_regenerated').at(-1)).toMatchObject({
        topic: 'security.mfa.activity',
        tenant_id: TENANT,
        actor_role: 'cashier',
        outcome: 'regenerated',
        count: 10,
        trace_id: expect.any(String),
        user_id: expect.any(String),
      });
    });

    it('refuses the same code again (replay: its time step was claimed)', async () => {
      const before = await mfaMetric('replay', route);
      const res = await http('POST', route, { token: access, body: { code: usedCode } });
      expect([res.status, code(res)]).toEqual([401, 'mfa_invalid']);
      expect(await mfaMetric('replay', route)).toBe(before + 1);
    });

    it('wrong codes lock the account, here and at /login (429 too_many_attempts)', async () => {
      const victim = 'mfalock@acctco.test';
      await aUser(victim);
      const { access: victimAccess } = await session(victim);
      const { secret: victimSecret } = await enroll(victimAccess);
      for (let i = 0; i < 5; i++) {
        const res = await http('POST', route, { token: victimAccess, body: { code: '000000' } });
        expect([res.status, code(res)]).toEqual([401, 'mfa_invalid']);
      }
      const locked = await http('POST', route, {
        token: victimAccess,
        body: { code: await totpNow(victimSecret) },
      });
      expect([locked.status, code(locked)]).toEqual([429, 'too_many_attempts']);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(code(await login(victim))).toBe('too_many_attempts');
      const disable = await http('POST', '/mfa/disable', {
        token: victimAccess,
        body: { password: PASSWORD, code: await totpNow(victimSecret) },
      });
      expect([disable.status, code(disable)]).toEqual([429, 'too_many_attempts']);
    });

    it('an old recovery code no longer signs in; a new one does, exactly once', async () => {
      const old = await login(email, { recoveryCode: oldCodes[1] });
      expect([old.status, code(old)]).toEqual([401, 'mfa_invalid']);
      const ok = await login(email, { recoveryCode: newCodes[0] });
      expect(ok.status).toBe(200);
      expect(ok.body['user']).toMatchObject({ mfaEnrolled: true });
      remember('access', String(ok.body['accessToken']));
      remember('refresh', String(ok.body['refreshToken']));
      const again = await login(email, { recoveryCode: newCodes[0] });
      expect([again.status, code(again)]).toEqual([401, 'mfa_invalid']);
    });
  });

  describe('POST /mfa/disable', () => {
    const route = '/mfa/disable';

    it('refuses when MFA is not enrolled (409 mfa_not_enrolled)', async () => {
      await aUser('nomfa@acctco.test');
      const { access } = await session('nomfa@acctco.test');
      const res = await http('POST', route, { token: access, body: { password: PASSWORD, code: '123456' } });
      expect([res.status, code(res)]).toEqual([409, 'mfa_not_enrolled']);
    });

    it('refuses an admin even with the right password and code (403 mfa_required_by_policy)', async () => {
      await aUser('boss@acctco.test', { roles: ['admin'] });
      const { secret, access } = await enrolledViaRequiredEnrollment('boss@acctco.test', TENANT);
      const before = await mfaMetric('refused_by_policy', route);
      const res = await http('POST', route, {
        token: access,
        body: { password: PASSWORD, code: await totpNow(secret) },
      });
      expect([res.status, code(res)]).toEqual([403, 'mfa_required_by_policy']);
      expect(await mfaMetric('refused_by_policy', route)).toBe(before + 1);
      expect(events('mfa_disable_refused').at(-1)).toMatchObject({ actor_role: 'admin', tenant_id: TENANT });
      // Still enrolled: a password alone does not sign in.
      expect(code(await login('boss@acctco.test'))).toBe('mfa_required');
    });

    it('refuses a user of a require_mfa tenant (403 mfa_required_by_policy)', async () => {
      await aUser('clerk@strictco.test', { tenant: STRICT });
      const { secret, access } = await enrolledViaRequiredEnrollment('clerk@strictco.test', STRICT);
      const res = await http('POST', route, {
        token: access,
        tenant: STRICT,
        body: { password: PASSWORD, code: await totpNow(secret) },
      });
      expect([res.status, code(res)]).toEqual([403, 'mfa_required_by_policy']);
      expect(code(await login('clerk@strictco.test', {}, STRICT))).toBe('mfa_required');
    });

    describe('a cashier in a tenant without require_mfa', () => {
      const email = 'off@acctco.test';
      let access = '';
      let refresh = '';
      let secret = '';

      beforeAll(async () => {
        await aUser(email);
        ({ access, refresh } = await session(email));
        ({ secret } = await enroll(access));
      });

      it('refuses a wrong password (401 invalid_credentials), counted as a failed MFA attempt', async () => {
        const before = await mfaMetric('invalid_credentials', route);
        const res = await http('POST', route, {
          token: access,
          body: { password: 'Not-The-Password-8!', code: await totpNow(secret) },
        });
        expect([res.status, code(res)]).toEqual([401, 'invalid_credentials']);
        expect(await mfaMetric('invalid_credentials', route)).toBe(before + 1);
        expect(await failures(email)).toBe(1);
      });

      it('refuses a wrong code (401 mfa_invalid)', async () => {
        const before = await mfaMetric('mfa_invalid', route);
        const res = await http('POST', route, {
          token: access,
          body: { password: PASSWORD, code: '000000' },
        });
        expect([res.status, code(res)]).toEqual([401, 'mfa_invalid']);
        expect(await mfaMetric('mfa_invalid', route)).toBe(before + 1);
        expect(await failures(email)).toBe(2);
      });

      it('refuses a replayed code (the step enrollment claimed)', async () => {
        const before = await mfaMetric('replay', route);
        const res = await http('POST', route, {
          token: access,
          body: { password: PASSWORD, code: await totpNow(secret, -1) },
        });
        expect([res.status, code(res)]).toEqual([401, 'mfa_invalid']);
        expect(await mfaMetric('replay', route)).toBe(before + 1);
        expect(await failures(email)).toBe(3);
      });

      it('with the password and a current code, removes MFA and ends every session', async () => {
        const res = await http('POST', route, {
          token: access,
          body: { password: PASSWORD, code: await totpNow(secret) },
        });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ revokedSessions: 1 });
        expect(await failures(email)).toBe(0);
        const row = await svc.db.query<{
          mfa_secret: string | null;
          mfa_enrolled_at: Date | null;
          n: string;
        }>(
          `SELECT mfa_secret, mfa_enrolled_at,
                  (SELECT count(*) FROM auth_recovery_codes r WHERE r.user_id = u.id) AS n
             FROM users u WHERE email = $1`,
          [email],
        );
        expect(row.rows[0]).toMatchObject({ mfa_secret: null, mfa_enrolled_at: null, n: '0' });
        const r = await http('POST', '/refresh', { body: { refreshToken: refresh } });
        expect([r.status, code(r)]).toEqual([401, 'refresh_token_invalid']);
        expect(events('mfa_disabled').at(-1)).toMatchObject({
          topic: 'security.mfa.activity',
          tenant_id: TENANT,
          actor_role: 'cashier',
          outcome: 'disabled',
          revoked_sessions: 1,
          trace_id: expect.any(String),
          user_id: expect.any(String),
        });
      });

      it('afterwards the password alone signs in, and a second disable answers mfa_not_enrolled', async () => {
        const res = await login(email);
        expect(res.status).toBe(200);
        expect(res.body['user']).toMatchObject({ mfaEnrolled: false });
        remember('access', String(res.body['accessToken']));
        remember('refresh', String(res.body['refreshToken']));
        // The token from before the disable is revoked (session-bound tokens); the new one is answered.
        const stale = await http('POST', route, {
          token: access,
          body: { password: PASSWORD, code: await totpNow(secret, 1) },
        });
        expect([stale.status, code(stale)]).toEqual([401, 'session_revoked']);
        const again = await http('POST', route, {
          token: String(res.body['accessToken']),
          body: { password: PASSWORD, code: await totpNow(secret, 1) },
        });
        expect([again.status, code(again)]).toEqual([409, 'mfa_not_enrolled']);
      });
    });
  });

  it('logs and events carry no password, TOTP secret, recovery code or token', () => {
    expectNoSecrets(svc.logs.text, {
      ...secrets,
      privateD: String(key.privateJwk.d),
      vaultToken: serviceToken,
    });
    // Recovery codes are also looked for as typed without dashes.
    expectNoSecrets(
      svc.logs.text,
      Object.fromEntries(
        Object.entries(secrets)
          .filter(([k]) => k.startsWith('recoveryCode'))
          .map(([k, v]) => [k, v.replace(/-/g, '')]),
      ),
    );
    const security = svc.logs.records().filter((r) => r['msg'] === 'security_event');
    for (const type of ['password_changed', 'mfa_recovery_codes_regenerated', 'mfa_disabled'])
      expect(security.some((r) => r['type'] === type)).toBe(true);
    for (const r of security)
      for (const field of ['trace_id', 'tenant_id', 'user_id', 'actor_role'])
        expect(r, `${String(r['type'])}.${field}`).toHaveProperty(field);
  });
});
