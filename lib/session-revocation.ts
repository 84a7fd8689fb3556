/**
 * Session-bound access tokens (docs/contracts.md, "Session revocation"): what auth-service writes to Redis
 * when it ends sessions, and what every verifier (auth-service itself, the integration gateway) reads before
 * it trusts an access token. Both sides import this one file.
 *
 * - `novapos:auth:valid-after:{<tenant>}:<userId>`: epoch seconds. A token of that user whose `iat` is before
 *   it is revoked (logout-all, password change, MFA disable, role change, user deletion). Written as
 *   floor(now) + 1, so a token issued in the same second as the revocation is revoked too; auth-service issues
 *   new tokens with `iat` at or after it.
 * - `novapos:auth:session-revoked:{<tenant>}:<sid>`: a token whose `sid` claim names an ended session (logout,
 *   a refresh-token reuse) is revoked.
 * Both keys expire after REVOCATION_TTL_SECONDS, longer than any access token lives. `{<tenant>}` is the
 * tenant's Redis Cluster hash tag (lib/ratelimit-contract.ts `tenantTag`): a token's two keys are in the slot
 * of its tenant's limiter keys, so the gateway reads them in one MGET from the master that decides the
 * tenant's rate limit, and a failover of another master does not reach the tenant's revocation check.
 *
 * Upgrade (issues 17, 22): the names before were untagged (`legacyRevocationKeys`). For one release the
 * writer writes both names and auth-service, which checks tokens during its own rollout too, reads both;
 * the gateway reads only the new ones (it is upgraded after auth-service plus the longest token lifetime).
 */

import { dropOldest } from './bounded-map.js';
import { tenantTag } from './ratelimit-contract.js';

/** Longer than any access token's lifetime (capped by the key set's maxTokenTTLSeconds) plus clock skew. */
export const REVOCATION_TTL_SECONDS = 86_400;

export const validAfterKey = (tenant: string, userId: string): string =>
  `novapos:auth:valid-after:${tenantTag(tenant)}:${userId}`;
export const sessionRevokedKey = (tenant: string, sid: string): string =>
  `novapos:auth:session-revoked:${tenantTag(tenant)}:${sid}`;

/**
 * The names before issues 17, 22 (no hash tag: any slot). Written beside the new names for one release, so
 * gateways not yet upgraded still see revocations; read by auth-service only. Removed in the next release
 * (docs/contracts.md, "Session revocation").
 */
export const legacyRevocationKeys = {
  validAfter: (tenant: string, userId: string): string => `novapos:auth:valid-after:${tenant}:${userId}`,
  sessionRevoked: (sid: string): string => `novapos:auth:session-revoked:${sid}`,
} as const;

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
  /** Every token of the session `sid` of `tenant` is revoked. */
  revokeSession(tenant: string, sid: string): Promise<void>;
}

export interface RedisSessionRevocationOptions {
  /**
   * Also read `legacyRevocationKeys` (auth-service, on its single Redis, for the release that writes both
   * names): a revocation written by a replica of the previous release still counts during the rollout.
   * The gateway reads only the new names, one slot.
   */
  readonly readLegacyNames?: boolean;
}

export class RedisSessionRevocation implements SessionRevocationStore {
  private readonly readLegacyNames: boolean;

  constructor(
    private readonly redis: RevocationRedis,
    opts: RedisSessionRevocationOptions = {},
  ) {
    this.readLegacyNames = opts.readLegacyNames ?? false;
  }

  async isRevoked(t: TokenSession): Promise<boolean> {
    const keys = [validAfterKey(t.tenant, t.userId), ...(t.sid ? [sessionRevokedKey(t.tenant, t.sid)] : [])];
    if (!this.readLegacyNames) {
      const [after, revoked] = await this.redis.mget(...keys);
      return isRevoked(t, after ?? null, revoked ?? null);
    }
    const legacy = [
      legacyRevocationKeys.validAfter(t.tenant, t.userId),
      ...(t.sid ? [legacyRevocationKeys.sessionRevoked(t.sid)] : []),
    ];
    const values = await this.redis.mget(...keys, ...legacy);
    const n = keys.length;
    return (
      isRevoked(t, values[0] ?? null, n > 1 ? (values[1] ?? null) : null) ||
      isRevoked(t, values[n] ?? null, n > 1 ? (values[n + 1] ?? null) : null)
    );
  }

  async validAfter(tenant: string, userId: string): Promise<number | undefined> {
    const values = await this.redis.mget(
      validAfterKey(tenant, userId),
      ...(this.readLegacyNames ? [legacyRevocationKeys.validAfter(tenant, userId)] : []),
    );
    const times = values.map(Number).filter((n, i) => values[i] != null && Number.isFinite(n));
    return times.length ? Math.max(...times) : undefined;
  }

  /** Writes the new and (for one release) the legacy name, same value and TTL. */
  async revokeUser(tenant: string, userId: string, nowMs = Date.now()): Promise<number> {
    const after = String(Math.floor(nowMs / 1000) + 1);
    await Promise.all([
      this.redis.set(validAfterKey(tenant, userId), after, 'EX', REVOCATION_TTL_SECONDS),
      this.redis.set(legacyRevocationKeys.validAfter(tenant, userId), after, 'EX', REVOCATION_TTL_SECONDS),
    ]);
    return Number(after);
  }

  /** Writes the new and (for one release) the legacy name, same value and TTL. */
  async revokeSession(tenant: string, sid: string): Promise<void> {
    await Promise.all([
      this.redis.set(sessionRevokedKey(tenant, sid), '1', 'EX', REVOCATION_TTL_SECONDS),
      this.redis.set(legacyRevocationKeys.sessionRevoked(sid), '1', 'EX', REVOCATION_TTL_SECONDS),
    ]);
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
  revokeSession(tenant: string, sid: string) {
    return this.redis.revokeSession(tenant, sid);
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
