import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { generate } from 'otplib';
import { describe, expect, it } from 'vitest';
import { epochSeconds } from '../clock.js';
import type { LoginResult } from '../model.js';
import { hashRecoveryCode, sha256Hex } from '../secrets.js';
import { newTotpSecret } from '../totp.js';
import { anAuthService, aRequest, code, PASSWORD, TENANT } from './deps.test-support.js';

// The lockout policy of these tests: 3 failures lock an (account, address) pair for 60 s, doubling to at
// most 240 s; 6 failures over every address lock the account for addresses it never signed in from.
const LOCKOUT = {
  AUTH_LOCKOUT_THRESHOLD: '3',
  AUTH_LOCKOUT_BASE_SECONDS: '60',
  AUTH_LOCKOUT_MAX_SECONDS: '240',
  AUTH_LOCKOUT_ACCOUNT_THRESHOLD: '6',
  AUTH_LOCKOUT_FAILURE_RESET_SECONDS: '900',
};
const EMAIL = 'dana@acme.test';
const OWNER_IP = '198.51.100.7';
const subject = sha256Hex(EMAIL);

async function aSignIn(env: Record<string, string> = LOCKOUT) {
  const t = await anAuthService({ env });
  const user = await t.aUser({ email: EMAIL });
  /** Signs in from `ip` with `password`; resolves to the outcome's code ('success' or the AppError's). */
  const attempt = (password: string, ip = OWNER_IP) =>
    t.service.login(aRequest({ ip }), { email: EMAIL, password }).then(
      () => 'success',
      (err: { code?: string; retryAfterSeconds?: number }) =>
        err.retryAfterSeconds ? `${err.code} ${err.retryAfterSeconds}s` : String(err.code),
    );
  return { ...t, user, attempt };
}

describe('sign-in: the password', () => {
  it('the right password opens a session bound to its sid, with auth_time now and amr pwd', async () => {
    const { service, clock, store, user, events } = await aSignIn();
    const res = (await service.login(aRequest(), {
      email: ' Dana@ACME.test ',
      password: PASSWORD,
    })) as LoginResult;
    const claims = decodeJwt(res.accessToken);
    const [stored] = store.refreshTokensOf(user.id);
    expect(claims).toMatchObject({ sub: user.id, tid: TENANT, amr: ['pwd'], auth_time: epochSeconds(clock) });
    expect(claims['sid']).toBe(stored?.familyId);
    expect(res.user).toEqual({
      id: user.id,
      email: EMAIL,
      tenantId: TENANT,
      roles: ['cashier'],
      mfaEnrolled: false,
    });
    // Stored under its hash: the token itself is not what the store is asked for.
    expect(await store.findRefreshToken(sha256Hex(res.refreshToken))).toMatchObject({ id: stored?.id });
    expect(await store.findRefreshToken(res.refreshToken)).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['login_succeeded']);
    expect(store.userStats(user.id)?.lastLoginAt).toEqual(new Date(clock.now()));
  });

  it.each([
    ['a wrong password', EMAIL, 'not the password'],
    ['an unknown e-mail', 'nobody@acme.test', PASSWORD],
  ])(
    '%s is invalid_credentials and counts one failure for the pair and the account',
    async (_case, email, password) => {
      const { service, store, events } = await aSignIn();
      await expect(service.login(aRequest(), { email, password })).rejects.toEqual(
        code('invalid_credentials'),
      );
      const s = sha256Hex(email);
      expect(store.loginFailures(TENANT, s, OWNER_IP)).toBe(1);
      expect(store.loginFailures(TENANT, s)).toBe(1);
      expect(events.map((e) => [e.type, e.outcome])).toEqual([['login_failed', 'invalid_credentials']]);
    },
  );

  it('an unknown tenant gets the same answer as a wrong password, and nothing is counted', async () => {
    const { service, store } = await aSignIn();
    await expect(
      service.login(aRequest({ tenantId: 'globex' }), { email: EMAIL, password: PASSWORD }),
    ).rejects.toEqual(code('invalid_credentials'));
    expect(store.loginFailures('globex', subject, OWNER_IP)).toBe(0);
  });
});

describe('sign-in: the lockout (domain/lockout.ts)', () => {
  it('locks the pair at the threshold, refuses even the right password until the lock ends, then lets it in', async () => {
    const { attempt, clock, events } = await aSignIn();
    expect([await attempt('wrong-1'), await attempt('wrong-2'), await attempt('wrong-3')]).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
    ]);
    expect(events.filter((e) => e.type === 'account_locked')).toEqual([
      expect.objectContaining({ scope: 'address', failures: 3, lock_seconds: 60 }),
    ]);
    expect(await attempt(PASSWORD)).toBe('too_many_attempts 60s');
    clock.advance(59_000);
    expect(await attempt(PASSWORD)).toBe('too_many_attempts 1s');
    clock.advance(1_000);
    expect(await attempt(PASSWORD)).toBe('success');
  });

  it('each failure after the lock ends doubles the lock, up to the maximum', async () => {
    const { attempt, clock } = await aSignIn();
    for (const p of ['w1', 'w2', 'w3']) await attempt(p);
    const locks: string[] = [];
    for (let i = 0; i < 4; i++) {
      // Wait the lock out, fail once more, and read the new lock.
      const [, seconds] = (await attempt('any')).split(' ');
      clock.advance(Number.parseInt(seconds ?? '0', 10) * 1000);
      await attempt('wrong again');
      locks.push(await attempt(PASSWORD));
    }
    expect(locks).toEqual([
      'too_many_attempts 120s',
      'too_many_attempts 240s',
      'too_many_attempts 240s',
      'too_many_attempts 240s',
    ]);
  });

  it('a successful sign-in clears the counts: the threshold starts again', async () => {
    const { attempt, store } = await aSignIn();
    await attempt('w1');
    await attempt('w2');
    expect(await attempt(PASSWORD)).toBe('success');
    expect(store.loginFailures(TENANT, subject, OWNER_IP)).toBe(0);
    expect(store.loginFailures(TENANT, subject)).toBe(0);
    expect([await attempt('w3'), await attempt('w4'), await attempt(PASSWORD)]).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'success',
    ]);
  });

  it('failures decay: after failureResetSeconds of quiet the count starts again at 1', async () => {
    const { attempt, clock, store } = await aSignIn();
    await attempt('w1');
    await attempt('w2');
    clock.advance(901_000);
    await attempt('w3');
    expect(store.loginFailures(TENANT, subject, OWNER_IP)).toBe(1);
    expect(await attempt(PASSWORD)).toBe('success');
  });

  it('failures from other addresses lock the account for unknown addresses, never for the owner at a known one', async () => {
    const { attempt, events } = await aSignIn();
    expect(await attempt(PASSWORD, OWNER_IP)).toBe('success'); // the owner's address becomes known
    // An attacker spreads 6 guesses over 3 addresses: each pair stays under its threshold of 3.
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      expect([await attempt('guess', ip), await attempt('guess', ip)]).toEqual([
        'invalid_credentials',
        'invalid_credentials',
      ]);
    }
    expect(events.filter((e) => e.type === 'account_locked')).toEqual([
      expect.objectContaining({ scope: 'account', failures: 6, lock_seconds: 60 }),
    ]);
    expect(await attempt(PASSWORD, '203.0.113.9')).toBe('too_many_attempts 60s');
    expect(await attempt(PASSWORD, OWNER_IP)).toBe('success');
  });

  it("an attacker's failures at one address do not lock the owner at another", async () => {
    const { attempt } = await aSignIn();
    for (const p of ['g1', 'g2', 'g3', 'g4']) await attempt(p, '203.0.113.1');
    expect(await attempt(PASSWORD, '203.0.113.1')).toMatch(/^too_many_attempts/);
    expect(await attempt(PASSWORD, OWNER_IP)).toBe('success');
  });
});

describe('sign-in: the second factor', () => {
  /** erin@acme.test, MFA enrolled: her TOTP secret sealed for her, and one recovery code. */
  async function anEnrolledUser() {
    const t = await aSignIn();
    const secret = newTotpSecret();
    const id = randomUUID();
    const enrolled = await t.aUser({
      id,
      email: 'erin@acme.test',
      mfaSecret: await t.cipher.encrypt(secret, { tenantId: TENANT, userId: id }),
      mfaEnrolledAt: new Date(0),
    });
    t.store.addRecoveryCodeHash(enrolled.id, hashRecoveryCode('ABCD-EFGH-IJKL-MNOP'));
    const totp = () => generate({ secret, epoch: epochSeconds(t.clock) });
    const login = (extra: { mfaCode?: string; recoveryCode?: string }) =>
      t.service.login(aRequest(), { email: 'erin@acme.test', password: PASSWORD, ...extra });
    return { ...t, enrolled, totp, login };
  }

  it('asks for the code, refuses a wrong one (a counted failure), accepts the right one once', async () => {
    const t = await anEnrolledUser();
    await expect(t.login({})).rejects.toEqual(code('mfa_required'));
    await expect(t.login({ mfaCode: '000000' })).rejects.toEqual(code('mfa_invalid'));
    expect(t.store.loginFailures(TENANT, sha256Hex('erin@acme.test'), OWNER_IP)).toBe(1);
    expect(t.store.userStats(t.enrolled.id)?.mfaFailedAttempts).toBe(1);
    const ok = (await t.login({ mfaCode: await t.totp() })) as LoginResult;
    expect(decodeJwt(ok.accessToken)['amr']).toEqual(['pwd', 'otp', 'mfa']);
    expect(t.store.userStats(t.enrolled.id)?.mfaFailedAttempts).toBe(0);
    // The same code again (its time step is spent): a replay.
    await expect(t.login({ mfaCode: await t.totp() })).rejects.toEqual(code('mfa_invalid'));
  });

  it('a recovery code works once', async () => {
    const t = await anEnrolledUser();
    const ok = (await t.login({ recoveryCode: 'abcd efgh ijkl mnop' })) as LoginResult;
    expect(decodeJwt(ok.accessToken)['amr']).toEqual(['pwd', 'mfa']);
    await expect(t.login({ recoveryCode: 'ABCD-EFGH-IJKL-MNOP' })).rejects.toEqual(code('mfa_invalid'));
  });

  it('the cipher unavailable is 503 mfa_unavailable: neither a pass nor a counted failure', async () => {
    const t = await anEnrolledUser();
    t.cipher.available = false;
    await expect(t.login({ mfaCode: '123456' })).rejects.toEqual(code('mfa_unavailable'));
    expect(t.store.loginFailures(TENANT, sha256Hex('erin@acme.test'), OWNER_IP)).toBe(0);
  });

  it('an admin without MFA gets an enrollment-only token, no session', async () => {
    const t = await aSignIn();
    const admin = await t.aUser({ email: 'ada@acme.test', roles: ['admin'] });
    const res = await t.service.login(aRequest(), { email: 'ada@acme.test', password: PASSWORD });
    expect(res).toEqual({ enrollment: { enrollmentToken: expect.any(String), expiresIn: 600 } });
    expect(t.store.refreshTokensOf(admin.id)).toEqual([]);
  });
});
