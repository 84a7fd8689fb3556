import { generateSecret } from 'otplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
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

const TENANT = 'stepco';
const PASSWORD = 'Correct-Horse-42!battery';
// Long enough for a sign-in, an enrollment and its completion on a loaded 2-core machine.
const STEP_UP_SECONDS = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

/**
 * Finding: MFA enrollment needed no re-authentication (a stolen access token enrolled the attacker's
 * authenticator and took the recovery codes; the password alone overwrote a pending enrollment). Now the
 * sensitive routes need a recent primary authentication (`auth_time` within STEP_UP_MAX_AGE_SECONDS, which a
 * refresh does not move), else 401 reauthentication_required; a pending enrollment is not replaced.
 */
describe('step-up: sensitive account changes need a recent sign-in', () => {
  const env = inject('env');
  let svc: TestService;
  let http: Http;
  let hasher: PasswordHasher;
  const mfaSecret = generateSecret({ length: 20 });
  const secrets: Record<string, string> = { password: PASSWORD, mfaSecret };

  async function aUser(email: string, opts: { roles?: string[]; mfa?: boolean } = {}): Promise<string> {
    const id = (await svc.repo.createUser({
      tenantId: TENANT,
      email,
      passwordHash: await hasher.hash(PASSWORD),
      roles: opts.roles ?? ['user'],
    }))!;
    if (opts.mfa)
      await svc.db.query('UPDATE users SET mfa_secret = $2, mfa_enrolled_at = now() WHERE id = $1', [
        id,
        mfaSecret,
      ]);
    return id;
  }

  async function signIn(email: string, extra: Record<string, unknown> = {}) {
    const res = await http('POST', '/login', { body: { email, password: PASSWORD, ...extra } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const out = { access: String(res.body['accessToken']), refresh: String(res.body['refreshToken']) };
    secrets[`access-${email}`] = out.access.split('.')[2]!;
    secrets[`refresh-${email}`] = out.refresh;
    return out;
  }

  beforeAll(async () => {
    ({ svc } = await startServiceWithKeys(env, 'stepup', {
      serviceEnv: {
        STEP_UP_MAX_AGE_SECONDS: String(STEP_UP_SECONDS),
        AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '100',
        AUTH_MFA_PER_IP_PER_MINUTE: '1000',
      },
    }));
    http = httpClient(svc.url, TENANT);
    hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createTenant(TENANT, 'Step Co');
  });

  afterAll(async () => {
    await svc?.close();
  });

  it('access tokens carry sid (the session) and auth_time (the sign-in), which a refresh keeps', async () => {
    await aUser('claims@stepco.test');
    const s = await signIn('claims@stepco.test');
    const first = claims(s.access);
    expect(typeof first['sid']).toBe('string');
    expect(first['auth_time']).toBe(first['iat']);
    await sleep(1_100);
    const r = await http('POST', '/refresh', { body: { refreshToken: s.refresh } });
    expect(r.status).toBe(200);
    const next = claims(String(r.body['accessToken']));
    expect(next['sid']).toBe(first['sid']);
    expect(next['auth_time']).toBe(first['auth_time']);
    expect(Number(next['iat'])).toBeGreaterThan(Number(first['iat']));
  });

  it('a stolen access token older than the window cannot enroll an authenticator (401 reauthentication_required)', async () => {
    await aUser('victim@stepco.test');
    const s = await signIn('victim@stepco.test');
    await sleep(STEP_UP_SECONDS * 1000 + 1_100);
    const res = await http('POST', '/mfa/enroll/start', { token: s.access });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('reauthentication_required');
    expect(res.body['secret']).toBeUndefined();
    // The alias route too.
    expect(errorCode(await http('POST', '/mfa/setup', { token: s.access }))).toBe(
      'reauthentication_required',
    );
  });

  it('refreshing does not renew the authentication: refresh, then enroll, is refused', async () => {
    await aUser('refresher@stepco.test');
    const s = await signIn('refresher@stepco.test');
    await sleep(STEP_UP_SECONDS * 1000 + 1_100);
    const r = await http('POST', '/refresh', { body: { refreshToken: s.refresh } });
    expect(r.status).toBe(200);
    const res = await http('POST', '/mfa/enroll/start', { token: String(r.body['accessToken']) });
    expect(errorCode(res)).toBe('reauthentication_required');
  });

  it('a fresh sign-in enrolls; a second start does not replace the pending enrollment (409 mfa_enrollment_pending)', async () => {
    await aUser('fresh@stepco.test');
    // Start well inside a TOTP window, so the completion below never waits for the next one past the step-up age.
    await awaitFreshTotpWindow(15);
    const s = await signIn('fresh@stepco.test');
    const start = await http('POST', '/mfa/enroll/start', { token: s.access });
    expect(start.status).toBe(200);
    const secret = String(start.body['secret']);
    secrets['pendingSecret'] = secret;
    secrets['otpauthUri'] = String(start.body['otpauthUri']);
    const again = await http('POST', '/mfa/enroll/start', { token: s.access });
    expect(again.status).toBe(409);
    expect(errorCode(again)).toBe('mfa_enrollment_pending');
    expect(again.body['secret']).toBeUndefined();
    // The owner can replace it only by proving the password again (a wrong one is refused).
    const wrongPw = await http('POST', '/mfa/enroll/start', {
      token: s.access,
      body: { password: 'Nope-42!nope-nope' },
    });
    expect(errorCode(wrongPw)).toBe('invalid_credentials');
    // The first secret still completes.
    await awaitFreshTotpWindow();
    const done = await http('POST', '/mfa/enroll/complete', {
      token: s.access,
      body: { code: await totpNow(secret) },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    for (const [i, c] of (done.body['recoveryCodes'] as string[]).entries()) secrets[`rc${i}`] = c;
  });

  it('with only the password, an attacker cannot overwrite the pending enrollment of a required-MFA account', async () => {
    await aUser('admin-pending@stepco.test', { roles: ['admin'] });
    await awaitFreshTotpWindow(15);
    const owner = await http('POST', '/login', {
      body: { email: 'admin-pending@stepco.test', password: PASSWORD },
    });
    expect(errorCode(owner)).toBe('mfa_enrollment_required');
    const ownerToken = String(owner.body['enrollmentToken']);
    const started = await http('POST', '/mfa/enroll/start', { token: ownerToken });
    expect(started.status).toBe(200);
    const ownerSecret = String(started.body['secret']);
    secrets['ownerSecret'] = ownerSecret;

    const attacker = await http('POST', '/login', {
      body: { email: 'admin-pending@stepco.test', password: PASSWORD },
    });
    const attackerToken = String(attacker.body['enrollmentToken']);
    const hijack = await http('POST', '/mfa/enroll/start', { token: attackerToken });
    expect(hijack.status).toBe(409);
    expect(errorCode(hijack)).toBe('mfa_enrollment_pending');
    expect(hijack.body['secret']).toBeUndefined();
    // Nor can the attacker's session complete the owner's enrollment (it is bound to the session that began it).
    await awaitFreshTotpWindow();
    const code = await totpNow(ownerSecret);
    const stolen = await http('POST', '/mfa/enroll/complete', { token: attackerToken, body: { code } });
    expect(errorCode(stolen)).toBe('mfa_not_started');
    const done = await http('POST', '/mfa/enroll/complete', { token: ownerToken, body: { code } });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
  });

  it('password change needs a recent sign-in', async () => {
    await aUser('changer@stepco.test');
    const s = await signIn('changer@stepco.test');
    await sleep(STEP_UP_SECONDS * 1000 + 1_100);
    const res = await http('POST', '/password/change', {
      token: s.access,
      body: { currentPassword: PASSWORD, newPassword: 'Another-Horse-43!battery' },
    });
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('reauthentication_required');
    // Nothing changed: the password still signs in.
    await signIn('changer@stepco.test');
  });

  it('MFA disable and API-key creation need a recent sign-in', async () => {
    await aUser('cashier@stepco.test', { roles: ['cashier'], mfa: true });
    await aUser('keyadmin@stepco.test', { roles: ['admin'], mfa: true });
    await awaitFreshTotpWindow(8);
    const cashier = await signIn('cashier@stepco.test', { mfaCode: await totpNow(mfaSecret) });
    const admin = await signIn('keyadmin@stepco.test', { mfaCode: await totpNow(mfaSecret) });
    // Fresh: API-key creation works.
    const fresh = await http('POST', '/api-keys', { token: admin.access, body: { name: 'fresh' } });
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);
    secrets['apiKey'] = String(fresh.body['key']);
    await sleep(STEP_UP_SECONDS * 1000 + 1_100);
    const key = await http('POST', '/api-keys', { token: admin.access, body: { name: 'late' } });
    expect(key.status).toBe(401);
    expect(errorCode(key)).toBe('reauthentication_required');
    const disable = await http('POST', '/mfa/disable', {
      token: cashier.access,
      body: { password: PASSWORD, code: await totpNow(mfaSecret, 1) },
    });
    expect(disable.status).toBe(401);
    expect(errorCode(disable)).toBe('reauthentication_required');
    // Listing keys is not a change: no step-up.
    expect((await http('GET', '/api-keys', { token: admin.access })).status).toBe(200);
  });

  it('logs carry no password, secret, recovery code, URI or token', () => {
    expectNoSecrets(svc.logs.text, secrets);
  });
});
