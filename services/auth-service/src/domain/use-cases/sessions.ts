import { AppError } from '../errors.js';
import { mfaRequiredFor } from '../mfa-policy.js';
import type { Principal, RefreshTokenCommand, RequestContext, SessionTokens } from '../model.js';
import { newRefreshToken, sha256Hex } from '../secrets.js';
import { refreshExpired, slidingExpiry } from '../session-rules.js';
import { revokeSessionTokens, revokeUserTokens } from './access.js';
import type { UseCaseDeps } from './deps.js';
import { withEvent } from './events.js';
import { signAccess } from './tokens.js';

/**
 * POST /refresh: rotates a refresh token (one use each). Within the reuse interval the immediately previous
 * token gets one more successor in the same family (a client that lost the answer, or two racing
 * requests); any other reuse revokes the family. A session that predates an MFA requirement ends.
 */
export async function refreshSession(
  d: UseCaseDeps,
  ctx: RequestContext,
  cmd: RefreshTokenCommand,
): Promise<SessionTokens> {
  const row = await d.store.findRefreshToken(sha256Hex(cmd.refreshToken));
  if (!row || row.tenantId !== ctx.tenantId) throw new AppError('refresh_token_invalid');
  const graceSeconds = d.config.tokens.refreshReuseIntervalSeconds;
  let grace = false;
  if (row.usedAt) {
    if (!(await d.store.claimRefreshGrace(row.id, graceSeconds))) {
      await reuseDetected(d, ctx, row.familyId, row.userId);
      throw new AppError('refresh_token_reused');
    }
    grace = true;
  }
  if (row.revokedAt) throw new AppError('refresh_token_invalid');
  const now = d.clock.now();
  if (refreshExpired(row, now)) throw new AppError('refresh_token_expired');
  const [user, tenant] = await Promise.all([
    d.store.getUser(row.tenantId, row.userId),
    d.store.getTenant(row.tenantId),
  ]);
  if (!user || !tenant) throw new AppError('refresh_token_invalid');
  if (mfaRequiredFor(user.roles, tenant.requireMfa, d.config.mfa) && !row.amr.includes('mfa')) {
    // The session predates an MFA requirement: it cannot be extended without MFA.
    await withEvent(
      d,
      ctx,
      () => d.store.revokeFamily(row.familyId, 'mfa_required'),
      () => ({
        topic: 'mfa',
        type: 'mfa_bypass_attempt',
        fields: { userId: user.id, roles: user.roles, outcome: 'bypass_attempt', route: '/refresh' },
      }),
    );
    await revokeSessionTokens(d, row.tenantId, row.familyId);
    d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'bypass_attempt', route: '/refresh' });
    throw new AppError('privileged_mfa_required');
  }
  const next = newRefreshToken();
  const expiresAt = slidingExpiry(now, d.config.tokens.sessionIdleHours, row.familyExpiresAt);
  const successor = {
    familyId: row.familyId,
    userId: user.id,
    tenantId: user.tenantId,
    tokenHash: sha256Hex(next),
    amr: row.amr,
    authTime: row.authTime,
    expiresAt,
    familyExpiresAt: row.familyExpiresAt,
  };
  const graceSuccessor = () =>
    withEvent(
      d,
      ctx,
      () => d.store.insertRefreshToken(successor),
      () => ({
        topic: 'audit',
        type: 'refresh_token_reuse_within_interval',
        fields: { userId: user.id, outcome: 'successor_issued', family_id: row.familyId },
      }),
    );
  if (grace) await graceSuccessor();
  else if (!(await d.store.rotateRefreshToken(row.id, successor))) {
    // A concurrent request rotated it first: the same grace applies.
    if (!(await d.store.claimRefreshGrace(row.id, graceSeconds))) {
      await reuseDetected(d, ctx, row.familyId, row.userId);
      throw new AppError('refresh_token_reused');
    }
    await graceSuccessor();
  }
  // auth_time stays the sign-in's: a refresh is not a re-authentication (step-up).
  const access = await signAccess(d, user, row.amr, 'refresh', { sid: row.familyId, authTime: row.authTime });
  return {
    accessToken: access.token,
    tokenType: 'Bearer',
    expiresIn: access.expiresIn,
    refreshToken: next,
    refreshExpiresAt: expiresAt.toISOString(),
  };
}

async function reuseDetected(d: UseCaseDeps, ctx: RequestContext, familyId: string, userId: string) {
  await withEvent(
    d,
    ctx,
    () => d.store.revokeFamily(familyId, 'reuse_detected'),
    (revoked) => ({
      topic: 'audit',
      type: 'refresh_token_reuse_detected',
      fields: { userId, outcome: 'family_revoked', family_id: familyId, revoked },
    }),
  );
  await revokeSessionTokens(d, ctx.tenantId, familyId);
  d.metrics.refreshTokenReuse.inc();
}

/** POST /logout: ends the session of a refresh token. Answers the same whether or not it was valid. */
export async function logout(d: UseCaseDeps, ctx: RequestContext, cmd: RefreshTokenCommand): Promise<void> {
  const row = await d.store.findRefreshToken(sha256Hex(cmd.refreshToken));
  if (!row || row.tenantId !== ctx.tenantId) return;
  await withEvent(
    d,
    ctx,
    () => d.store.revokeFamily(row.familyId, 'logout'),
    () => ({
      topic: 'audit',
      type: 'logout',
      fields: { userId: row.userId, outcome: 'session_revoked', family_id: row.familyId },
    }),
  );
  await revokeSessionTokens(d, row.tenantId, row.familyId);
}

/** POST /logout-all: every session of the caller, and every token issued until now, ends. */
export async function logoutAll(d: UseCaseDeps, ctx: RequestContext, p: Principal): Promise<number> {
  const revoked = await withEvent(
    d,
    ctx,
    () => d.store.revokeAllForUser(p.userId, 'logout_all'),
    (n) => ({
      topic: 'audit',
      type: 'session_bulk_revocation',
      fields: { userId: p.userId, roles: p.roles, outcome: 'revoked', revoked: n },
    }),
  );
  await revokeUserTokens(d, p.tenantId, p.userId);
  return revoked;
}
