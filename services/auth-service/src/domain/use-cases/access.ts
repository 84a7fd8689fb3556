import { JwtVerificationError } from '../../../../../lib/jwks-verifier.js';
import { AppError } from '../errors.js';
import { KeysetError } from '../keyring.js';
import { ENROLLMENT_AUDIENCE, type Principal, type RequestContext } from '../model.js';
import { authenticatedRecently } from '../session-rules.js';
import type { UseCaseDeps } from './deps.js';
import { publish } from './events.js';

/** Verifies a bearer token (access, or with `allowEnrollment` the enrollment-only token). */
export async function authenticate(
  d: UseCaseDeps,
  ctx: RequestContext,
  token: string | undefined,
  opts: { allowEnrollment?: boolean } = {},
): Promise<Principal> {
  if (!token) throw new AppError('unauthorized');
  const started = process.hrtime.bigint();
  const audiences = [
    ...(d.keyring.loaded?.doc.audiences ?? []),
    ...(opts.allowEnrollment ? [ENROLLMENT_AUDIENCE] : []),
  ];
  try {
    const { payload } = await d.keyring.verify(token, {
      audience: audiences,
      clockToleranceSeconds: d.config.tokens.clockToleranceSeconds,
      requiredClaims: ['exp', 'iat', 'sub', 'tid', 'jti'],
      now: () => d.clock.now(),
    });
    const enrollmentOnly =
      payload.aud === ENROLLMENT_AUDIENCE ||
      (Array.isArray(payload.aud) && payload.aud.includes(ENROLLMENT_AUDIENCE));
    const p: Principal = {
      userId: String(payload.sub),
      tenantId: String(payload['tid']),
      roles: Array.isArray(payload['roles']) ? (payload['roles'] as unknown[]).map(String) : [],
      amr: Array.isArray(payload['amr']) ? (payload['amr'] as unknown[]).map(String) : [],
      enrollmentOnly,
      sid: typeof payload['sid'] === 'string' ? payload['sid'] : undefined,
      authTime: typeof payload['auth_time'] === 'number' ? payload['auth_time'] : undefined,
      issuedAt: Number(payload.iat),
    };
    if (p.tenantId !== ctx.tenantId) throw new AppError('tenant_mismatch');
    await requireLiveSession(d, p);
    return p;
  } catch (err) {
    if (err instanceof AppError) {
      d.metrics.jwtValidationFailures.inc({ reason: err.code });
      throw err;
    }
    const reason =
      err instanceof JwtVerificationError
        ? err.reason
        : err instanceof KeysetError
          ? 'jwks_unavailable'
          : 'malformed';
    d.metrics.jwtValidationFailures.inc({ reason });
    throw new AppError('token_invalid');
  } finally {
    d.metrics.jwtValidationDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }
}

/**
 * Session-bound tokens: a token of a session that ended, or issued before the user's valid-after time
 * (logout-all, password change, MFA disable, role change, deletion), authorises nothing from that moment.
 * Fails closed: when the store cannot answer, 503 session_check_unavailable.
 */
async function requireLiveSession(d: UseCaseDeps, p: Principal): Promise<void> {
  let revoked: boolean;
  try {
    revoked = await d.sessions.isRevoked({
      tenant: p.tenantId,
      userId: p.userId,
      sid: p.sid,
      issuedAt: p.issuedAt,
    });
  } catch {
    throw new AppError('session_check_unavailable');
  }
  if (revoked) throw new AppError('session_revoked');
}

/** Every token of the user issued until now stops working, here and at the gateway. */
export async function revokeUserTokens(d: UseCaseDeps, tenantId: string, userId: string): Promise<void> {
  try {
    await d.sessions.revokeUser(tenantId, userId, d.clock.now());
  } catch {
    // The sessions are revoked in the database already; the caller retries for the tokens.
    throw new AppError('session_check_unavailable');
  }
}

/** Every token of one session (of the tenant `tenantId`) stops working, here and at the gateway. */
export async function revokeSessionTokens(d: UseCaseDeps, tenantId: string, sid: string): Promise<void> {
  try {
    await d.sessions.revokeSession(tenantId, sid);
  } catch {
    throw new AppError('session_check_unavailable');
  }
}

/**
 * Step-up (OpenID Connect `max_age` / Okta's re-authentication for sensitive actions): the primary
 * authentication behind the token must be at most STEP_UP_MAX_AGE_SECONDS old. An enrollment-only token
 * is minted at the password check and lives shorter than that window's default, so it passes.
 */
export function requireRecentAuthentication(d: UseCaseDeps, p: Principal): void {
  if (p.enrollmentOnly) return;
  if (!authenticatedRecently(p.authTime, d.clock.now(), d.config.stepUpMaxAgeSeconds))
    throw new AppError('reauthentication_required');
}

/** Admin role and a session established with MFA; without MFA it counts as a bypass attempt. */
export function requirePrivileged(d: UseCaseDeps, ctx: RequestContext, p: Principal, route: string): void {
  if (!p.roles.includes('admin')) throw new AppError('forbidden');
  if (!p.amr.includes('mfa')) {
    d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'bypass_attempt', route });
    void publish(d, ctx, {
      topic: 'mfa',
      type: 'mfa_bypass_attempt',
      fields: { userId: p.userId, roles: p.roles, outcome: 'bypass_attempt', route },
    });
    throw new AppError('privileged_mfa_required');
  }
}
