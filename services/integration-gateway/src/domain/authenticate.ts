import type { JwtFailureReason, VerifiedJwt } from '../../../../lib/jwks-verifier.js';
import { JwtVerificationError } from '../../../../lib/jwks-verifier.js';
import type { TokenSession } from '../../../../lib/session-revocation.js';
import { type ApiKeyAuthenticator, ApiKeyRejected } from './api-keys.js';

/**
 * Who is calling: a Bearer JWT verified against auth-service's JWKS (tenant from its `tid` claim), or an
 * API key verified against auth-service's database (tenant from the key's row). The tenant always comes
 * from the credential; an `X-Tenant-ID` header, when sent, must name the same tenant.
 */

export interface Principal {
  readonly tenant: string;
  readonly method: 'jwt' | 'api_key';
  /** `sub` of a token; the key id of an API key. */
  readonly subject: string;
  readonly keyPrefix?: string;
  readonly keyId?: string;
  /** A token's `roles` claim (mapped to scopes by the HTTP layer). */
  readonly roles?: readonly string[];
  /** An API key's scopes as auth-service stored them. */
  readonly scopes?: readonly string[];
}

export type AuthFailureReason =
  | 'missing_credentials'
  | 'tenant_mismatch'
  | 'missing_tenant_claim'
  | 'credentials_unavailable'
  | 'session_revoked'
  | JwtFailureReason
  | 'api_key_malformed'
  | 'api_key_unknown_or_revoked'
  | 'api_key_invalid';

export class AuthFailure extends Error {
  override readonly name = 'AuthFailure';
  constructor(
    readonly status: 401 | 403 | 503,
    readonly reason: AuthFailureReason,
    readonly method: 'jwt' | 'api_key' | 'none',
  ) {
    super(`authentication failed: ${reason}`);
  }

  /** Failures that mean a forged, tampered or foreign token (gateway_signature_verification_failures_total). */
  get isSignatureFailure(): boolean {
    return (
      ['signature_invalid', 'unknown_kid', 'alg_not_allowed', 'missing_kid', 'malformed'].includes(
        this.reason,
      ) && this.method === 'jwt'
    );
  }
}

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedJwt>;
  /** A token already verified (cache), answered without a signature check; undefined otherwise. */
  cached?(token: string): VerifiedJwt | undefined;
}

/** Who is calling, and for a token the claims its session revocation is checked with. */
export interface Authentication {
  readonly principal: Principal;
  /**
   * A token's session (lib/session-revocation.ts): the HTTP layer checks it in the same Redis round trip
   * as the rate limit (both commands leave in one pipelined write), not before it.
   */
  readonly session?: TokenSession;
}

const BEARER_RE = /^Bearer\s+(\S+)$/i;

/** The token of an `Authorization: Bearer` field, if that is what it holds. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : BEARER_RE.exec(authorization)?.[1];
}

export interface CredentialHeaders {
  readonly authorization?: string;
  readonly apiKey?: string;
  readonly tenantHeader?: string;
}

/** Session revocation as the gateway reads it: a short cache (lib/session-revocation.ts CachedRevocationCheck). */
export interface SessionCheck {
  isRevoked(t: TokenSession): Promise<boolean>;
  /** The cached answer when fresh, without a Redis call; undefined when Redis must be asked. */
  peek?(t: TokenSession): boolean | undefined;
}

export class Authenticator {
  /** The revocation check the HTTP layer runs beside the rate limit (see Authentication). */
  readonly sessions: SessionCheck | undefined;

  constructor(
    private readonly deps: {
      readonly jwt?: TokenVerifier;
      readonly apiKeys?: ApiKeyAuthenticator;
      readonly sessions?: SessionCheck;
    },
  ) {
    this.sessions = deps.sessions;
  }

  /**
   * The caller's identity: a token from the cache (no await), otherwise verified. The session revocation of
   * a token is not checked here: the result names the session and the caller checks it (see Authentication).
   */
  authenticate(h: CredentialHeaders): Authentication | Promise<Authentication> {
    const bearer = bearerToken(h.authorization);
    if (bearer && this.deps.jwt) {
      const hit = this.deps.jwt.cached?.(bearer);
      if (hit) return this.ofToken(hit, h);
      return this.verifyToken(this.deps.jwt, bearer, h);
    }
    if (h.apiKey && this.deps.apiKeys) return this.ofApiKey(this.deps.apiKeys, h.apiKey, h);
    throw new AuthFailure(401, 'missing_credentials', 'none');
  }

  private async verifyToken(
    jwt: TokenVerifier,
    bearer: string,
    h: CredentialHeaders,
  ): Promise<Authentication> {
    let verified: VerifiedJwt;
    try {
      verified = await jwt.verify(bearer);
    } catch (err) {
      if (err instanceof JwtVerificationError) {
        throw new AuthFailure(err.reason === 'jwks_unavailable' ? 503 : 401, err.reason, 'jwt');
      }
      throw err;
    }
    return this.ofToken(verified, h);
  }

  /** What a verified token means, derived once per verified token (a cached token is the same object). */
  private readonly ofVerified = new WeakMap<VerifiedJwt, Authentication>();

  private ofToken(verified: VerifiedJwt, h: CredentialHeaders): Authentication {
    let auth = this.ofVerified.get(verified);
    if (auth === undefined) {
      auth = this.derive(verified);
      this.ofVerified.set(verified, auth);
    }
    if (h.tenantHeader !== undefined && h.tenantHeader !== auth.principal.tenant)
      throw new AuthFailure(403, 'tenant_mismatch', 'jwt');
    return auth;
  }

  private derive(verified: VerifiedJwt): Authentication {
    const p = verified.payload;
    const tid = p['tid'];
    if (typeof tid !== 'string' || tid === '') throw new AuthFailure(401, 'missing_tenant_claim', 'jwt');
    const roles = p['roles'];
    const subject = String(p.sub ?? '');
    return {
      principal: {
        tenant: tid,
        method: 'jwt',
        subject,
        roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
      },
      session: {
        tenant: tid,
        userId: String(p.sub),
        sid: p['sid'] as string | undefined,
        issuedAt: Number(p.iat),
      },
    };
  }

  private async ofApiKey(
    apiKeys: ApiKeyAuthenticator,
    apiKey: string,
    h: CredentialHeaders,
  ): Promise<Authentication> {
    let key: Awaited<ReturnType<ApiKeyAuthenticator['authenticate']>>;
    try {
      key = await apiKeys.authenticate(apiKey);
    } catch (err) {
      if (err instanceof ApiKeyRejected) throw new AuthFailure(401, `api_key_${err.reason}`, 'api_key');
      // The database could not answer: not the caller's fault, and not a reason to let them in.
      throw new AuthFailure(503, 'credentials_unavailable', 'api_key');
    }
    if (h.tenantHeader !== undefined && h.tenantHeader !== key.tenant)
      throw new AuthFailure(403, 'tenant_mismatch', 'api_key');
    return {
      principal: {
        tenant: key.tenant,
        method: 'api_key',
        subject: key.id,
        keyPrefix: key.prefix,
        keyId: key.id,
        scopes: key.scopes,
      },
    };
  }
}
