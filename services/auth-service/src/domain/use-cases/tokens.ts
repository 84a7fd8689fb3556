import { randomUUID } from 'node:crypto';
import { AppError } from '../errors.js';
import { isPrivileged } from '../mfa-policy.js';
import { ENROLLMENT_AUDIENCE, type SessionTokens } from '../model.js';
import type { User } from '../ports.js';
import { newRefreshToken, sha256Hex } from '../secrets.js';
import { newSessionExpiry } from '../session-rules.js';
import type { UseCaseDeps } from './deps.js';

/** The session an access token belongs to: its id and when the user last proved the password. */
export interface SessionBinding {
  readonly sid: string;
  readonly authTime: Date;
}

function accessAudience(d: UseCaseDeps): string | string[] {
  const doc = d.keyring.loaded?.doc;
  if (!doc) throw new AppError('signing_unavailable');
  const [only] = doc.audiences;
  return doc.audiences.length === 1 && only !== undefined ? only : doc.audiences;
}

/** An access token bound to its session (`sid`) and the time of its primary authentication. */
export async function signAccess(
  d: UseCaseDeps,
  user: User,
  amr: string[],
  grant: 'password' | 'refresh' | 'mfa_enrollment',
  session: SessionBinding,
) {
  // Issued at or after the user's valid-after time, so a token minted in the second of a revocation
  // is not revoked by it. Best effort: without an answer the token is issued at now.
  const validAfter = await d.sessions.validAfter(user.tenantId, user.id).catch(() => undefined);
  const signed = await d.keyring.sign(
    {
      tid: user.tenantId,
      roles: user.roles,
      amr,
      sid: session.sid,
      auth_time: Math.floor(session.authTime.getTime() / 1000),
    },
    {
      subject: user.id,
      audience: accessAudience(d),
      ttlSeconds: d.config.tokens.accessTtlSeconds,
      issuedAt: validAfter,
      nowMs: d.clock.now(),
    },
  );
  if (!signed) throw new AppError('signing_unavailable');
  d.metrics.tokensIssued.inc({ grant });
  return signed;
}

/**
 * The enrollment-only token of a user who must set up MFA first: no roles, its own session id (a pending
 * enrollment is bound to the token that began it), accepted by the enrollment routes only.
 */
export async function signEnrollment(d: UseCaseDeps, user: User, amr: string[], authTime: Date) {
  const signed = await d.keyring.sign(
    {
      tid: user.tenantId,
      roles: [],
      amr,
      scope: 'mfa_enrollment',
      sid: `enr-${randomUUID()}`,
      auth_time: Math.floor(authTime.getTime() / 1000),
    },
    {
      subject: user.id,
      audience: ENROLLMENT_AUDIENCE,
      ttlSeconds: d.config.tokens.enrollmentTtlSeconds,
      nowMs: d.clock.now(),
    },
  );
  if (!signed) throw new AppError('signing_unavailable');
  d.metrics.tokensIssued.inc({ grant: 'mfa_enrollment' });
  return signed;
}

/** A new session: an access token and the first refresh token of a new family. */
export async function newSession(
  d: UseCaseDeps,
  user: User,
  amr: string[],
  grant: 'password' | 'mfa_enrollment',
  authTime: Date,
): Promise<SessionTokens> {
  const familyId = randomUUID();
  const access = await signAccess(d, user, amr, grant, { sid: familyId, authTime });
  const { expiresAt, familyExpiresAt } = newSessionExpiry(
    d.clock.now(),
    d.config.tokens,
    isPrivileged(user.roles, d.config.mfa),
  );
  const refreshToken = newRefreshToken();
  await d.store.insertRefreshToken({
    familyId,
    userId: user.id,
    tenantId: user.tenantId,
    tokenHash: sha256Hex(refreshToken),
    amr,
    authTime,
    expiresAt,
    familyExpiresAt,
  });
  return {
    accessToken: access.token,
    tokenType: 'Bearer',
    expiresIn: access.expiresIn,
    refreshToken,
    refreshExpiresAt: expiresAt.toISOString(),
  };
}
