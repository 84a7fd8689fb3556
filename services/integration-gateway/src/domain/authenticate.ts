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
}

export interface CredentialHeaders {
  readonly authorization?: string;
  readonly apiKey?: string;
  readonly tenantHeader?: string;
}

export class Authenticator {
  constructor(
    private readonly deps: {
      readonly jwt?: TokenVerifier;
      readonly apiKeys?: ApiKeyAuthenticator;
      /** Session revocation set by auth-service (lib/session-revocation.ts): sid and valid-after. */
      readonly sessions?: { isRevoked(t: TokenSession): Promise<boolean> };
    },
  ) {}

  async authenticate(h: CredentialHeaders): Promise<Principal> {
    const principal = await this.identify(h);
    if (h.tenantHeader !== undefined && h.tenantHeader !== principal.tenant) {
      throw new AuthFailure(403, 'tenant_mismatch', principal.method);
    }
    return principal;
  }

  private async identify(h: CredentialHeaders): Promise<Principal> {
    const bearer = /^Bearer\s+(\S+)$/i.exec(h.authorization ?? '')?.[1];
    if (bearer && this.deps.jwt) {
      let verified: VerifiedJwt;
      try {
        verified = await this.deps.jwt.verify(bearer);
      } catch (err) {
        if (err instanceof JwtVerificationError) {
          throw new AuthFailure(err.reason === 'jwks_unavailable' ? 503 : 401, err.reason, 'jwt');
        }
        throw err;
      }
      const tid = verified.payload['tid'];
      if (typeof tid !== 'string' || tid === '') throw new AuthFailure(401, 'missing_tenant_claim', 'jwt');
      const p = verified.payload;
      const session = { tenant: tid, userId: String(p.sub), sid: p['sid'] as string | undefined };
      if (await this.deps.sessions?.isRevoked({ ...session, issuedAt: Number(p.iat) }))
        throw new AuthFailure(401, 'session_revoked', 'jwt');
      const roles = verified.payload['roles'];
      return {
        tenant: tid,
        method: 'jwt',
        subject: String(verified.payload.sub ?? ''),
        roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
      };
    }
    if (h.apiKey && this.deps.apiKeys) {
      try {
        const key = await this.deps.apiKeys.authenticate(h.apiKey);
        return {
          tenant: key.tenant,
          method: 'api_key',
          subject: key.id,
          keyPrefix: key.prefix,
          keyId: key.id,
          scopes: key.scopes,
        };
      } catch (err) {
        if (err instanceof ApiKeyRejected) throw new AuthFailure(401, `api_key_${err.reason}`, 'api_key');
        // The database could not answer: not the caller's fault, and not a reason to let them in.
        throw new AuthFailure(503, 'credentials_unavailable', 'api_key');
      }
    }
    throw new AuthFailure(401, 'missing_credentials', 'none');
  }
}
