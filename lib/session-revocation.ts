/**
 * Session-bound access tokens (docs/contracts.md, "Session revocation"): what auth-service writes to Redis
 * when it ends sessions, and what every verifier (auth-service itself, the integration gateway) reads before
 * it trusts an access token. Both sides import this one file.
 *
 * - `novapos:auth:valid-after:<tenant>:<userId>`: epoch seconds. A token of that user whose `iat` is before it
 *   is revoked (logout-all, password change, MFA disable, role change, user deletion). Written as
 *   floor(now) + 1, so a token issued in the same second as the revocation is revoked too; auth-service issues
 *   new tokens with `iat` at or after it.
 * - `novapos:auth:session-revoked:<sid>`: a token whose `sid` claim names an ended session (logout, a
 *   refresh-token reuse) is revoked.
 * Both keys expire after REVOCATION_TTL_SECONDS, longer than any access token lives.
 */

import { dropOldest } from './bounded-map.js';

/** Longer than any access token's lifetime (capped by the key set's maxTokenTTLSeconds) plus clock skew. */
export const REVOCATION_TTL_SECONDS = 86_400;

export const validAfterKey = (tenant: string, userId: string): string =>
  `novapos:auth:valid-after:${tenant}:${userId}`;
export const sessionRevokedKey = (sid: string): string => `novapos:auth:session-revoked:${sid}`;

/** The claims of a verified access token that revocation looks at. */
export interface TokenSession {
  readonly tenant: string;
  readonly userId: string;
  readonly sid: string | undefined;
  /** `iat`, epoch seconds. */
  readonly issuedAt: number;
}

/** The few Redis commands used (ioredis satisfies it). */
export interface RevocationRedis {
  mget(...keys: string[]): Promise<(string | null)[]>;
  set(key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>;
}

/** Pure: is a token with these claims revoked, given the two stored values? */
export function isRevoked(
  t: TokenSession,
  validAfter: string | null,
  sessionRevoked: string | null,
): boolean {
  if (sessionRevoked !== null) return true;
  const after = validAfter === null ? Number.NaN : Number(validAfter);
  return Number.isFinite(after) && t.issuedAt < after;
}

export interface SessionRevocationStore {
  /** True when the token is revoked. Throws when the store cannot answer (callers decide: fail closed). */
  isRevoked(t: TokenSession): Promise<boolean>;
  /** The user's valid-after time (epoch seconds), if any: new tokens are issued at or after it. */
  validAfter(tenant: string, userId: string): Promise<number | undefined>;
  /** Every token of the user issued until now is revoked; returns the valid-after time written. */
  revokeUser(tenant: string, userId: string, nowMs?: number): Promise<number>;
  revokeSession(sid: string): Promise<void>;
}

export class RedisSessionRevocation implements SessionRevocationStore {
  constructor(private readonly redis: RevocationRedis) {}

  async isRevoked(t: TokenSession): Promise<boolean> {
    const keys = [validAfterKey(t.tenant, t.userId), ...(t.sid ? [sessionRevokedKey(t.sid)] : [])];
    const [after, revoked] = await this.redis.mget(...keys);
    return isRevoked(t, after ?? null, revoked ?? null);
  }

  async validAfter(tenant: string, userId: string): Promise<number | undefined> {
    const [v] = await this.redis.mget(validAfterKey(tenant, userId));
    const n = Number(v);
    return v !== null && v !== undefined && Number.isFinite(n) ? n : undefined;
  }

  async revokeUser(tenant: string, userId: string, nowMs = Date.now()): Promise<number> {
    const after = Math.floor(nowMs / 1000) + 1;
    await this.redis.set(validAfterKey(tenant, userId), String(after), 'EX', REVOCATION_TTL_SECONDS);
    return after;
  }

  async revokeSession(sid: string): Promise<void> {
    await this.redis.set(sessionRevokedKey(sid), '1', 'EX', REVOCATION_TTL_SECONDS);
  }
}

/** In-process store: one replica without Redis (local development); never shared with a gateway. */
export class MemorySessionRevocation implements SessionRevocationStore {
  private readonly values = new Map<string, { value: string; expiresAt: number }>();
  private readonly redis: RedisSessionRevocation;

  constructor() {
    const get = (k: string) => {
      const v = this.values.get(k);
      return v && v.expiresAt > Date.now() ? v.value : null;
    };
    this.redis = new RedisSessionRevocation({
      mget: async (...keys) => keys.map(get),
      set: async (key, value, _mode, seconds) => {
        this.values.set(key, { value, expiresAt: Date.now() + seconds * 1000 });
      },
    });
  }

  isRevoked(t: TokenSession) {
    return this.redis.isRevoked(t);
  }
  validAfter(tenant: string, userId: string) {
    return this.redis.validAfter(tenant, userId);
  }
  revokeUser(tenant: string, userId: string, nowMs?: number) {
    return this.redis.revokeUser(tenant, userId, nowMs);
  }
  revokeSession(sid: string) {
    return this.redis.revokeSession(sid);
  }
}

/**
 * A verifier's view (the gateway): answers from a short cache (at most `cacheMs` old, bounded in size), so
 * a revocation takes effect within `cacheMs` plus one Redis round trip. When Redis cannot answer, the last
 * answer for that token's keys is used, or the token is let through (`onUnavailable` is told): the gateway
 * keeps serving through a Redis outage as its rate limiting does, and revocation resumes when Redis is back.
 */
export class CachedRevocationCheck {
  private readonly cache = new Map<string, { revoked: boolean; at: number }>();

  constructor(
    private readonly store: Pick<SessionRevocationStore, 'isRevoked'>,
    private readonly opts: { cacheMs: number; maxEntries?: number; onUnavailable?: (err: unknown) => void },
  ) {}

  /** The cached answer when it is fresh (no Redis call): true/false, or undefined when Redis must be asked. */
  peek(t: TokenSession): boolean | undefined {
    const hit = this.cache.get(cacheKey(t));
    return hit && Date.now() - hit.at < this.opts.cacheMs ? hit.revoked : undefined;
  }

  async isRevoked(t: TokenSession): Promise<boolean> {
    const key = cacheKey(t);
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < this.opts.cacheMs) return hit.revoked;
    try {
      const revoked = await this.store.isRevoked(t);
      this.cache.delete(key);
      this.cache.set(key, { revoked, at: Date.now() });
      const max = this.opts.maxEntries ?? 10_000;
      dropOldest(this.cache, max);
      return revoked;
    } catch (err) {
      this.opts.onUnavailable?.(err);
      return hit?.revoked ?? false;
    }
  }
}

// The gateway passes the same session object for every use of a cached token: its key is built once.
const keys = new WeakMap<TokenSession, string>();
function cacheKey(t: TokenSession): string {
  let key = keys.get(t);
  if (key === undefined) {
    key = `${t.tenant}|${t.userId}|${t.sid ?? ''}|${t.issuedAt}`;
    keys.set(t, key);
  }
  return key;
}
