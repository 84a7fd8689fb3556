import { decodeJwt } from 'jose';
import { generate } from 'otplib';
import { describe, expect, it } from 'vitest';
import { epochSeconds } from '../clock.js';
import type { EnrollmentRequired, LoginResult } from '../model.js';
import { anAuthService, aRequest, code, PASSWORD } from './deps.test-support.js';

const START = { route: '/mfa/enroll/start' };
const COMPLETE = '/mfa/enroll/complete';

async function anEnrollment() {
  const t = await anAuthService();
  /** A full session of a cashier (MFA optional for them) and its principal. */
  const aSessionOf = async (email: string) => {
    const s = (await t.service.login(aRequest(), { email, password: PASSWORD })) as LoginResult;
    return t.service.authenticate(aRequest(), s.accessToken);
  };
  const codeFor = (secret: string) => generate({ secret, epoch: epochSeconds(t.clock) });
  return { ...t, aSessionOf, codeFor };
}

describe('MFA enrollment', () => {
  it('an admin who must enroll does it with the enrollment-only token and is then signed in with MFA', async () => {
    const t = await anEnrollment();
    const admin = await t.aUser({ email: 'ada@acme.test', roles: ['admin'] });
    const { enrollment } = (await t.service.login(aRequest(), {
      email: 'ada@acme.test',
      password: PASSWORD,
    })) as EnrollmentRequired;
    const p = await t.service.authenticate(aRequest(), enrollment.enrollmentToken, { allowEnrollment: true });
    expect(p.enrollmentOnly).toBe(true);
    const { secret, otpauthUri } = await t.service.mfaEnrollStart(aRequest(), p, START);
    expect(otpauthUri).toContain(secret);
    // Stored sealed, never in clear.
    expect((await t.store.getUser(admin.tenantId, admin.id))?.mfaPendingSecret).not.toContain(secret);
    const done = await t.service.mfaEnrollComplete(aRequest(), p, {
      code: await t.codeFor(secret),
      route: COMPLETE,
    });
    expect(done.recoveryCodes).toHaveLength(10);
    expect(decodeJwt(done.accessToken ?? '')['amr']).toEqual(['pwd', 'otp', 'mfa']);
    expect((await t.store.getUser(admin.tenantId, admin.id))?.mfaEnrolledAt).toEqual(new Date(t.clock.now()));
  });

  it('a wrong code does not enroll', async () => {
    const t = await anEnrollment();
    await t.aUser({ email: 'dana@acme.test' });
    const p = await t.aSessionOf('dana@acme.test');
    await t.service.mfaEnrollStart(aRequest(), p, START);
    await expect(
      t.service.mfaEnrollComplete(aRequest(), p, { code: '000000', route: COMPLETE }),
    ).rejects.toEqual(code('mfa_invalid'));
  });

  it('a live pending enrollment is replaced only by a full session that proves the password again', async () => {
    const t = await anEnrollment();
    await t.aUser({ email: 'dana@acme.test' });
    const first = await t.aSessionOf('dana@acme.test');
    const second = await t.aSessionOf('dana@acme.test');
    await t.service.mfaEnrollStart(aRequest(), first, START);
    await expect(t.service.mfaEnrollStart(aRequest(), second, START)).rejects.toEqual(
      code('mfa_enrollment_pending'),
    );
    await expect(
      t.service.mfaEnrollStart(aRequest(), second, { ...START, password: 'Wr0ng&Password' }),
    ).rejects.toEqual(code('invalid_credentials'));
    const { secret } = await t.service.mfaEnrollStart(aRequest(), second, { ...START, password: PASSWORD });
    // Bound to the session that began it: the first session cannot complete it.
    const c = await t.codeFor(secret);
    await expect(
      t.service.mfaEnrollComplete(aRequest(), first, { code: c, route: COMPLETE }),
    ).rejects.toEqual(code('mfa_not_started'));
    await expect(
      t.service.mfaEnrollComplete(aRequest(), second, { code: c, route: COMPLETE }),
    ).resolves.toMatchObject({ recoveryCodes: expect.any(Array) });
  });

  it('an expired pending enrollment can be started again without the password', async () => {
    const t = await anEnrollment();
    await t.aUser({ email: 'dana@acme.test' });
    const first = await t.aSessionOf('dana@acme.test');
    await t.service.mfaEnrollStart(aRequest(), first, START);
    t.clock.advance(601_000); // MFA_ENROLLMENT_TOKEN_TTL_SECONDS (600)
    const second = await t.aSessionOf('dana@acme.test');
    await expect(t.service.mfaEnrollStart(aRequest(), second, START)).resolves.toHaveProperty('secret');
  });

  it('step-up: a session whose sign-in is older than STEP_UP_MAX_AGE_SECONDS must sign in again', async () => {
    const t = await anEnrollment();
    await t.aUser({ email: 'dana@acme.test' });
    const p = await t.aSessionOf('dana@acme.test');
    t.clock.advance(301_000);
    await expect(t.service.mfaEnrollStart(aRequest(), p, START)).rejects.toEqual(
      code('reauthentication_required'),
    );
  });

  it('the cipher unavailable is 503 mfa_unavailable, and nothing is stored', async () => {
    const t = await anEnrollment();
    const user = await t.aUser({ email: 'dana@acme.test' });
    const p = await t.aSessionOf('dana@acme.test');
    t.cipher.available = false;
    await expect(t.service.mfaEnrollStart(aRequest(), p, START)).rejects.toEqual(code('mfa_unavailable'));
    expect((await t.store.getUser(user.tenantId, user.id))?.mfaPendingSecret).toBeNull();
  });
});
