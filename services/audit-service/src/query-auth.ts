import { createHash, timingSafeEqual } from 'node:crypto';
import { JwtVerificationError, type VerifiedJwt } from '../../../lib/jwks-verifier.js';
import type { AuditMetrics } from './metrics.js';

/**
 * Who may read the audit log through `GET /audit/events` (issue 20, seed 003 `security-audit`):
 *  - a JWT from auth-service (verified against its JWKS, `AUDIT_JWKS_URL`) of a user holding one of
 *    `AUDIT_QUERY_ROLES` (default `auditor`, `admin`), whose session used MFA (`amr` has `mfa`): it reads its
 *    own tenant (`tid`) only; another `tenant_id` is refused, none means its own;
 *  - the operations bearer `AUDIT_ADMIN_TOKEN` (the security engineers' tooling, the DR drill): every tenant.
 * Anything else is refused with a stable code. Without a JWKS and without an admin token the route is closed.
 */
export type QueryAccess = { readonly tenantId: string | undefined; readonly subject: string };

export class QueryAuthError extends Error {
  override readonly name = 'QueryAuthError';
  constructor(
    readonly status: 401 | 403 | 503,
    readonly code:
      | 'unauthorized'
      | 'token_invalid'
      | 'forbidden'
      | 'mfa_required'
      | 'tenant_mismatch'
      | 'auth_unavailable',
    message: string,
  ) {
    super(message);
  }
}

export interface QueryAuthOptions {
  /** Verifies an access token (RemoteJwksVerifier.verify); undefined: no JWT access. */
  readonly verify: ((token: string) => Promise<VerifiedJwt>) | undefined;
  readonly adminToken: string | undefined;
  readonly roles: readonly string[];
  /**
   * `auth_jwt_validation_failures_total{reason}` and `auth_jwt_validation_duration_seconds`: each user's token
   * verified (the admin token is compared, not validated, and is not counted).
   */
  readonly metrics?: Pick<AuditMetrics, 'jwtValidationFailures' | 'jwtValidationDuration'>;
}

export class QueryAuthorizer {
  private readonly adminDigest: Buffer | undefined;

  constructor(private readonly opts: QueryAuthOptions) {
    this.adminDigest = opts.adminToken ? sha256(opts.adminToken) : undefined;
  }

  /** The tenant the caller may read (undefined: every tenant), or a QueryAuthError. */
  async authorize(
    authorization: string | undefined,
    requestedTenant: string | undefined,
  ): Promise<QueryAccess> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new QueryAuthError(401, 'unauthorized', 'a bearer token is required');
    if (this.adminDigest && timingSafeEqual(sha256(token), this.adminDigest))
      return { tenantId: requestedTenant, subject: 'admin-token' };
    if (!this.opts.verify) throw new QueryAuthError(401, 'token_invalid', 'the token is not valid');
    let payload: VerifiedJwt['payload'];
    const metrics = this.opts.metrics;
    const timed = metrics?.jwtValidationDuration.startTimer();
    try {
      ({ payload } = await this.opts.verify(token));
    } catch (err) {
      // The verifier's bounded reason (as auth-service and the gateway count it); anything else: malformed.
      metrics?.jwtValidationFailures.inc({
        reason: err instanceof JwtVerificationError ? err.reason : 'malformed',
      });
      if (err instanceof JwtVerificationError && err.reason === 'jwks_unavailable')
        throw new QueryAuthError(
          503,
          'auth_unavailable',
          'the issuer’s keys cannot be fetched; retry shortly',
        );
      throw new QueryAuthError(401, 'token_invalid', 'the token is not valid');
    } finally {
      timed?.();
    }
    const tid = typeof payload['tid'] === 'string' ? payload['tid'] : undefined;
    const roles = Array.isArray(payload['roles'])
      ? payload['roles'].filter((r) => typeof r === 'string')
      : [];
    const amr = Array.isArray(payload['amr']) ? payload['amr'] : [];
    if (!tid || payload['scope'] === 'mfa_enrollment')
      throw new QueryAuthError(401, 'token_invalid', 'the token is not valid');
    if (!roles.some((r) => this.opts.roles.includes(r)))
      throw new QueryAuthError(
        403,
        'forbidden',
        `one of the roles ${this.opts.roles.join(', ')} is required`,
      );
    if (!amr.includes('mfa'))
      throw new QueryAuthError(403, 'mfa_required', 'the audit log needs a session signed in with MFA');
    if (requestedTenant !== undefined && requestedTenant !== tid)
      throw new QueryAuthError(403, 'tenant_mismatch', 'the token may read its own tenant only');
    return { tenantId: tid, subject: String(payload.sub ?? '') };
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
