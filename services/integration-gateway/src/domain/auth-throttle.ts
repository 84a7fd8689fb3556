import type { RedisFailureMode } from '../../../../lib/ratelimit-contract.js';

/**
 * Failed authentications are limited before any verification (docs/integration-gateway.md, "Failed
 * authentications"): per client address and per API key prefix, each a budget of failures in a window
 * kept in Redis, shared by every replica. A request whose credential is not already known good (cached)
 * first asks whether its address or prefix is over budget: if so it gets 429 `too_many_auth_failures` and
 * costs one Redis round trip, never an argon2 verify or a signature check. Each 401 adds to both counts.
 *
 * When Redis cannot answer, the gateway's default redisFailureMode decides, as it does for rate limits:
 * `failClosed` answers 503 (nothing is verified), `failOpen` and `localFallback` count in this process
 * with the same budgets (per replica).
 */

export interface FailureCounts {
  /** Current counts of the given keys (0 when absent). Throws when the store cannot answer. */
  get(keys: readonly string[]): Promise<number[]>;
  /** Adds one to each key; a key starts its window at its first failure. */
  add(keys: readonly string[], windowMs: number): Promise<void>;
}

export interface AuthThrottleOptions {
  readonly store: FailureCounts;
  readonly perAddress: number;
  readonly perKeyPrefix: number;
  readonly windowMs: number;
  readonly failureMode: RedisFailureMode;
  readonly onStoreError?: (err: unknown) => void;
  readonly now?: () => number;
}

export type ThrottleVerdict = 'allow' | 'throttled' | 'unavailable';

export const addressKey = (address: string) => `novapos:authfail:addr:${address}`;
export const keyPrefixKey = (prefix: string) => `novapos:authfail:prefix:${prefix}`;

export class AuthThrottle {
  private readonly local = new Map<string, { count: number; until: number }>();
  private readonly now: () => number;

  constructor(private readonly opts: AuthThrottleOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether a caller at `address` (presenting a key with `keyPrefix`) may have its credential verified. */
  async check(address: string, keyPrefix?: string): Promise<ThrottleVerdict> {
    const keys = this.keys(address, keyPrefix);
    let counts: number[];
    try {
      counts = await this.opts.store.get(keys);
    } catch (err) {
      this.opts.onStoreError?.(err);
      if (this.opts.failureMode === 'failClosed') return 'unavailable';
      counts = keys.map((k) => this.localCount(k));
    }
    return this.over(counts) ? 'throttled' : 'allow';
  }

  /** Records a refused credential against the address and prefix. */
  async failed(address: string, keyPrefix?: string): Promise<void> {
    const keys = this.keys(address, keyPrefix);
    try {
      await this.opts.store.add(keys, this.opts.windowMs);
    } catch (err) {
      this.opts.onStoreError?.(err);
      const now = this.now();
      for (const k of keys) {
        const e = this.local.get(k);
        if (e && e.until > now) e.count += 1;
        else this.local.set(k, { count: 1, until: now + this.opts.windowMs });
      }
      if (this.local.size > 100_000) this.prune(now);
    }
  }

  private keys(address: string, keyPrefix?: string): string[] {
    return keyPrefix ? [addressKey(address), keyPrefixKey(keyPrefix)] : [addressKey(address)];
  }

  private over(counts: readonly number[]): boolean {
    return (counts[0] ?? 0) >= this.opts.perAddress || (counts[1] ?? 0) >= this.opts.perKeyPrefix;
  }

  private localCount(key: string): number {
    const e = this.local.get(key);
    return e && e.until > this.now() ? e.count : 0;
  }

  private prune(now: number): void {
    for (const [k, e] of this.local) if (e.until <= now) this.local.delete(k);
  }
}
