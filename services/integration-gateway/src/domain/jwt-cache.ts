import { hash } from 'node:crypto';
import { dropOldest } from '../../../../lib/bounded-map.js';
import type { VerifiedJwt } from '../../../../lib/jwks-verifier.js';
import type { TokenVerifier } from './authenticate.js';

/** The verifier underneath: verifies, and says which key set it verifies with. */
export interface KeySetVerifier extends TokenVerifier {
  /** Changes whenever the verifier loads a key set (the JWKS cache expiry is such a value). */
  readonly cacheExpiresAt: number;
}

export interface CachedVerifierOptions {
  readonly verifier: KeySetVerifier;
  /** Bound on cached tokens; the oldest goes first. */
  readonly maxEntries: number;
  readonly now?: () => number;
  /** Called on each lookup: `hit` true when no signature check ran. */
  readonly onLookup?: (hit: boolean) => void;
}

interface Entry {
  readonly verified: VerifiedJwt;
  readonly expMs: number;
  /** The key set the token was verified against. */
  readonly keySet: number;
}

/**
 * Verified JWTs cached by the SHA-256 of the token (never the token) until their `exp`, so a token used
 * again costs a hash, not a signature check. An entry counts only while the verifier still holds the key
 * set it was verified with: when the JWKS is refetched (its age, an unknown kid, `POST /keys/reload`) every
 * token is verified again once, so a removed or revoked key stops verifying as soon as the gateway loads
 * the set without it.
 */
export class CachedTokenVerifier implements TokenVerifier {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly opts: CachedVerifierOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether `token` would be answered from the cache (no signature check). */
  has(token: string): boolean {
    return this.lookup(hashOf(token)) !== undefined;
  }

  /** The verified token when the cache holds it (no signature check, no await); undefined otherwise. */
  cached(token: string): VerifiedJwt | undefined {
    const hit = this.lookup(hashOf(token));
    if (hit) this.opts.onLookup?.(true);
    return hit?.verified;
  }

  async verify(token: string): Promise<VerifiedJwt> {
    const id = hashOf(token);
    const hit = this.lookup(id);
    this.opts.onLookup?.(hit !== undefined);
    if (hit) return hit.verified;
    const verified = await this.opts.verifier.verify(token);
    const exp = verified.payload.exp;
    if (typeof exp === 'number') {
      this.entries.set(id, { verified, expMs: exp * 1000, keySet: this.opts.verifier.cacheExpiresAt });
      dropOldest(this.entries, this.opts.maxEntries);
    }
    return verified;
  }

  private lookup(id: string): Entry | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    const now = this.now();
    const keySet = this.opts.verifier.cacheExpiresAt;
    if (now >= e.expMs || e.keySet !== keySet || now >= keySet) {
      this.entries.delete(id);
      return undefined;
    }
    return e;
  }
}

// The HTTP layer asks `has` and then `verify` for the same token: the last hash is kept so a request
// hashes its token once.
let lastToken = '';
let lastHash = '';
const hashOf = (token: string) => {
  if (token !== lastToken) {
    // crypto.hash: one call, no Hash object (the token cache's only per-request crypto).
    lastHash = hash('sha256', token, 'base64');
    lastToken = token;
  }
  return lastHash;
};
