import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import type { LoginResult, SessionTokens } from '../model.js';
import { sha256Hex } from '../secrets.js';
import { anAuthService, aRequest, code, PASSWORD, TENANT } from './deps.test-support.js';

const EMAIL = 'dana@acme.test';

/** A signed-in cashier; the reuse interval of these tests is 5 s. */
async function aSession(env: Record<string, string> = {}) {
  const t = await anAuthService({ env: { REFRESH_REUSE_INTERVAL_SECONDS: '5', ...env } });
  const user = await t.aUser({ email: EMAIL });
  const signIn = async () =>
    (await t.service.login(aRequest(), { email: EMAIL, password: PASSWORD })) as LoginResult;
  const session = await signIn();
  const refresh = (refreshToken: string, ctx = aRequest()) => t.service.refresh(ctx, { refreshToken });
  /** The token accepted (its principal's sid), or the AppError code it is refused with. */
  const use = (accessToken: string) =>
    t.service.authenticate(aRequest(), accessToken).then(
      (p) => `ok ${p.sid}`,
      (err: { code?: string }) => String(err.code),
    );
  const familyOf = (s: SessionTokens) => String(decodeJwt(s.accessToken)['sid']);
  return { ...t, user, session, signIn, refresh, use, familyOf };
}

describe('refresh: rotation', () => {
  it('exchanges a refresh token for a new one of the same session; auth_time stays the sign-in time', async () => {
    const { session, refresh, clock, store, user, familyOf } = await aSession();
    clock.advance(60_000);
    const next = await refresh(session.refreshToken);
    expect(next.refreshToken).not.toBe(session.refreshToken);
    expect(familyOf(next)).toBe(familyOf(session));
    expect(decodeJwt(next.accessToken)['auth_time']).toBe(decodeJwt(session.accessToken)['auth_time']);
    expect(store.refreshTokensOf(user.id).map((t) => [Boolean(t.usedAt), t.revokedAt])).toEqual([
      [true, null],
      [false, null],
    ]);
  });

  it('a refresh is not a re-authentication: step-up still asks for the password after it', async () => {
    const { session, refresh, clock, service } = await aSession();
    clock.advance(301_000); // past STEP_UP_MAX_AGE_SECONDS (300)
    const next = await refresh(session.refreshToken);
    const p = await service.authenticate(aRequest(), next.accessToken);
    await expect(service.mfaEnrollStart(aRequest(), p, { route: '/mfa/enroll/start' })).rejects.toEqual(
      code('reauthentication_required'),
    );
  });

  it.each([
    ['an unknown token', (s: SessionTokens) => `${s.refreshToken}x`, aRequest(), 'refresh_token_invalid'],
    [
      'a token of another tenant',
      (s: SessionTokens) => s.refreshToken,
      aRequest({ tenantId: 'globex' }),
      'refresh_token_invalid',
    ],
  ])('%s is refused', async (_case, token, ctx, expected) => {
    const { session, refresh } = await aSession();
    await expect(refresh(token(session), ctx)).rejects.toEqual(code(expected));
  });

  it('a session idle longer than SESSION_TTL_HOURS has ended', async () => {
    const { session, refresh, clock } = await aSession({ SESSION_TTL_HOURS: '12' });
    clock.advance(12 * 3_600_000);
    await expect(refresh(session.refreshToken)).rejects.toEqual(code('refresh_token_expired'));
  });
});

describe('refresh: reuse of a spent token (the reuse interval, as Auth0)', () => {
  it('within the interval the previous token is accepted once more, in the same session', async () => {
    const { session, refresh, clock, events, familyOf, use } = await aSession();
    const next = await refresh(session.refreshToken);
    clock.advance(4_000);
    const again = await refresh(session.refreshToken); // the client lost the first answer
    expect(familyOf(again)).toBe(familyOf(session));
    expect(again.refreshToken).not.toBe(next.refreshToken);
    expect(events.map((e) => e.type)).toContain('refresh_token_reuse_within_interval');
    // Both successors are live: the session was not revoked.
    expect(await use(next.accessToken)).toBe(`ok ${familyOf(session)}`);
    await expect(refresh(again.refreshToken)).resolves.toMatchObject({ tokenType: 'Bearer' });
  });

  it('once only: a third presentation inside the interval revokes the session', async () => {
    const { session, refresh, store, user } = await aSession();
    await refresh(session.refreshToken);
    await refresh(session.refreshToken);
    await expect(refresh(session.refreshToken)).rejects.toEqual(code('refresh_token_reused'));
    expect(store.refreshTokensOf(user.id).every((t) => t.revokedAt !== null)).toBe(true);
  });

  it('two concurrent refreshes of one token both succeed (a flaky mobile network)', async () => {
    const { session, refresh, familyOf } = await aSession();
    const [a, b] = await Promise.all([refresh(session.refreshToken), refresh(session.refreshToken)]);
    expect([familyOf(a), familyOf(b)]).toEqual([familyOf(session), familyOf(session)]);
  });

  it.each([
    ['outside the interval', { REFRESH_REUSE_INTERVAL_SECONDS: '5' }, 5_000],
    ['with the interval off', { REFRESH_REUSE_INTERVAL_SECONDS: '0' }, 0],
  ])('%s a reuse revokes the whole session, and its access tokens stop working', async (_case, env, wait) => {
    const { session, refresh, clock, store, user, events, use } = await aSession(env);
    const next = await refresh(session.refreshToken);
    clock.advance(wait);
    await expect(refresh(session.refreshToken)).rejects.toEqual(code('refresh_token_reused'));
    expect(store.refreshTokensOf(user.id).map((t) => t.revokedReason)).toEqual([
      'reuse_detected',
      'reuse_detected',
    ]);
    expect(events.find((e) => e.type === 'refresh_token_reuse_detected')).toMatchObject({
      outcome: 'family_revoked',
      revoked: 2,
    });
    await expect(refresh(next.refreshToken)).rejects.toEqual(code('refresh_token_invalid'));
    expect(await use(next.accessToken)).toBe('session_revoked');
    expect(await use(session.accessToken)).toBe('session_revoked');
  });

  it('inside the interval, a token that is not the immediately previous one still revokes', async () => {
    const { session, refresh } = await aSession();
    const second = await refresh(session.refreshToken);
    await refresh(second.refreshToken); // `session`'s successor is spent too
    await expect(refresh(session.refreshToken)).rejects.toEqual(code('refresh_token_reused'));
  });
});

describe('session revocation: earlier tokens become unusable', () => {
  it('logout ends that session only: its access and refresh tokens stop, another session goes on', async () => {
    const { session, signIn, refresh, service, use, familyOf } = await aSession();
    const other = await signIn();
    await service.logout(aRequest(), { refreshToken: session.refreshToken });
    expect(await use(session.accessToken)).toBe('session_revoked');
    await expect(refresh(session.refreshToken)).rejects.toEqual(code('refresh_token_invalid'));
    expect(await use(other.accessToken)).toBe(`ok ${familyOf(other)}`);
  });

  it('logout-all ends every session of the user; a sign-in afterwards works', async () => {
    const { session, signIn, refresh, service, use, store, user } = await aSession();
    const other = await signIn();
    const p = await service.authenticate(aRequest(), session.accessToken);
    expect(await service.logoutAll(aRequest(), p)).toBe(2);
    expect([await use(session.accessToken), await use(other.accessToken)]).toEqual([
      'session_revoked',
      'session_revoked',
    ]);
    await expect(refresh(other.refreshToken)).rejects.toEqual(code('refresh_token_invalid'));
    expect(store.refreshTokensOf(user.id).map((t) => t.revokedReason)).toEqual(['logout_all', 'logout_all']);
    // Issued in the same second as the revocation, yet not revoked by it.
    const fresh = await signIn();
    expect(await use(fresh.accessToken)).toMatch(/^ok /);
  });

  it('a password change ends every earlier session and token', async () => {
    const { session, service, use, refresh, signIn } = await aSession();
    const p = await service.authenticate(aRequest(), session.accessToken);
    const newPassword = 'Marigold#7Lantern';
    expect(await service.changePassword(aRequest(), p, { currentPassword: PASSWORD, newPassword })).toEqual({
      revokedSessions: 1,
    });
    expect(await use(session.accessToken)).toBe('session_revoked');
    await expect(refresh(session.refreshToken)).rejects.toEqual(code('refresh_token_invalid'));
    await expect(signIn()).rejects.toEqual(code('invalid_credentials'));
  });

  it('a deleted user: every earlier token stops at once', async () => {
    const { session, service, use, store, aUser, user } = await aSession();
    // An admin with an MFA session deletes the user.
    const admin = await aUser({ email: 'ada@acme.test', roles: ['admin'] });
    const adminPrincipal = {
      userId: admin.id,
      tenantId: TENANT,
      roles: ['admin'],
      amr: ['pwd', 'otp', 'mfa'],
      enrollmentOnly: false,
      sid: 'admin-session',
      authTime: undefined,
      issuedAt: 0,
    };
    await service.deleteUser(aRequest(), adminPrincipal, user.id);
    expect(await use(session.accessToken)).toBe('session_revoked');
    expect(await store.findRefreshToken(sha256Hex(session.refreshToken))).toBeUndefined();
  });
});
