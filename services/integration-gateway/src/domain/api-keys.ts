import { createHash } from 'node:crypto';
import argon2 from 'argon2';
import { dropOldest } from '../../../../lib/bounded-map.js';

/**
 * API keys issued by auth-service (`npk_<prefix>_<secret>`, docs/auth-service.md "API keys"): the prefix
 * finds the row in auth-service's `api_keys` table, the argon2id hash of the whole key proves it.
 *
 * argon2id is slow on purpose, so a verified key is cached in memory (by the SHA-256 of the key, never the
 * key itself) and only its row is re-read, at least every `revalidateMs`: a revoked or expired key stops
 * working within that bound (30 s by default). A key that failed is remembered for the same time so
 * repeated bad keys cost one hash each, not one per request.
 */

export interface ApiKeyRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly keyHash: string;
  /** What the key may reach (docs/integration-gateway.md, "Scopes"); none when absent. */
  readonly scopes?: readonly string[];
}

/** auth-service's keys, read from its database: only live rows (not revoked, not expired). */
export interface ApiKeyStore {
  findLiveByPrefix(prefix: string): Promise<ApiKeyRecord | undefined>;
}

export interface VerifiedApiKey {
  readonly id: string;
  readonly tenant: string;
  readonly prefix: string;
  readonly scopes: readonly string[];
}

export type ApiKeyFailure = 'malformed' | 'unknown_or_revoked' | 'invalid';

export class ApiKeyRejected extends Error {
  override readonly name = 'ApiKeyRejected';
  constructor(readonly reason: ApiKeyFailure) {
    super(`API key rejected: ${reason}`);
  }
}

/** The lookup prefix of a well-formed key (the same format auth-service issues), undefined otherwise. */
export function apiKeyPrefix(key: string): string | undefined {
  return /^npk_([a-z2-7]{12})_[a-z2-7]{32}$/.exec(key)?.[1];
}

interface CacheEntry extends VerifiedApiKey {
  readonly keyHash: string;
  checkedAt: number;
}

export interface ApiKeyAuthenticatorOptions {
  readonly store: ApiKeyStore;
  readonly revalidateMs: number;
  readonly cacheSize: number;
  readonly verifyHash?: (hash: string, key: string) => Promise<boolean>;
  readonly now?: () => number;
  /** Called before each argon2 verify (gateway_api_key_verifications_total). */
  readonly onVerify?: () => void;
}

export class ApiKeyAuthenticator {
  private readonly verified = new Map<string, CacheEntry>();
  private readonly failed = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<VerifiedApiKey>>();
  private readonly verifyHash: (hash: string, key: string) => Promise<boolean>;
  private readonly now: () => number;

  constructor(private readonly opts: ApiKeyAuthenticatorOptions) {
    this.verifyHash = opts.verifyHash ?? ((hash, key) => argon2.verify(hash, key).catch(() => false));
    this.now = opts.now ?? Date.now;
  }

  /**
   * Whether `key` would be answered without an argon2 verify: verified and cached (possibly due for a
   * row re-read), or remembered as wrong. Such a key skips the failed-authentication budget check.
   */
  isKnown(key: string): boolean {
    const id = createHash('sha256').update(key).digest('hex');
    const now = this.now();
    const failedAt = this.failed.get(id);
    return this.verified.has(id) || (failedAt !== undefined && now - failedAt < this.opts.revalidateMs);
  }

  /** Resolves to the key's tenant and prefix; rejects with ApiKeyRejected, or the store's error. */
  authenticate(key: string): Promise<VerifiedApiKey> {
    const prefix = apiKeyPrefix(key);
    if (!prefix) return Promise.reject(new ApiKeyRejected('malformed'));
    const id = createHash('sha256').update(key).digest('hex');
    const now = this.now();
    const cached = this.verified.get(id);
    if (cached && now - cached.checkedAt < this.opts.revalidateMs) return Promise.resolve(cached);
    const failedAt = this.failed.get(id);
    if (failedAt !== undefined && now - failedAt < this.opts.revalidateMs)
      return Promise.reject(new ApiKeyRejected('invalid'));
    let pending = this.inFlight.get(id);
    if (!pending) {
      pending = this.check(id, key, prefix, cached).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  private async check(
    id: string,
    key: string,
    prefix: string,
    cached: CacheEntry | undefined,
  ): Promise<VerifiedApiKey> {
    const row = await this.opts.store.findLiveByPrefix(prefix);
    const now = this.now();
    if (!row) {
      this.verified.delete(id);
      this.remember(this.failed, id, now);
      throw new ApiKeyRejected('unknown_or_revoked');
    }
    const scopes = [...(row.scopes ?? [])].sort();
    if (cached && cached.keyHash === row.keyHash && cached.tenant === row.tenantId) {
      // The same key: its row is re-read (revocation, scope changes) without another hash.
      const entry: CacheEntry = { ...cached, scopes, checkedAt: now };
      this.remember(this.verified, id, entry);
      return entry;
    }
    this.opts.onVerify?.();
    if (!(await this.verifyHash(row.keyHash, key))) {
      this.verified.delete(id);
      this.remember(this.failed, id, now);
      throw new ApiKeyRejected('invalid');
    }
    const entry: CacheEntry = {
      id: row.id,
      tenant: row.tenantId,
      prefix,
      keyHash: row.keyHash,
      scopes,
      checkedAt: now,
    };
    this.failed.delete(id);
    this.remember(this.verified, id, entry);
    return entry;
  }

  private remember<V>(map: Map<string, V>, id: string, value: V): void {
    map.delete(id);
    map.set(id, value);
    dropOldest(map, this.opts.cacheSize);
  }
}
