import { readFileSync } from 'node:fs';
import type { ClientContext, Redis, Result } from 'ioredis';
import { faultKey, RATE_LIMIT_KEY_PREFIX } from '../../../../lib/ratelimit-contract.js';
import { capacityOf, intervalMs } from '../domain/gcra.js';
import type { Bucket } from '../domain/limits.js';

export const GCRA_SCRIPT = readFileSync(new URL('./gcra.lua', import.meta.url), 'utf8');

export const bucketKey = (id: string) => `${RATE_LIMIT_KEY_PREFIX}:bucket:${id}`;

export type RedisCheck =
  | {
      readonly status: 'allowed' | 'rejected';
      readonly bucket: number;
      readonly remaining: number;
      readonly resetMs: number;
      readonly retryAfterMs: number;
    }
  | { readonly status: 'fault' };

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    novaposGcra(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
  }
}

/**
 * The Redis side of the limiter: one EVALSHA of `gcra.lua` per request over all the request's buckets and
 * the tenant's fault key (ioredis `defineCommand` loads the script and falls back to EVAL after a Redis
 * restart forgets it). Errors (Redis down, timeout) are thrown to the caller, which applies the tenant's
 * redisFailureMode.
 */
export class RedisLimiter {
  constructor(private readonly redis: Redis) {
    if (typeof (redis as { novaposGcra?: unknown }).novaposGcra !== 'function')
      redis.defineCommand('novaposGcra', { lua: GCRA_SCRIPT });
  }

  async check(tenant: string, buckets: readonly Bucket[], cost = 1): Promise<RedisCheck> {
    const keys = [faultKey(tenant), ...buckets.map((b) => bucketKey(b.id))];
    const args: (string | number)[] = [cost];
    for (const b of buckets) args.push(intervalMs(b.limit), capacityOf(b.limit));
    const [status, bucket, remaining, resetMs, retryAfterMs] = await this.redis.novaposGcra(
      keys.length,
      ...keys,
      ...args,
    );
    if (status === 2) return { status: 'fault' };
    return {
      status: status === 0 ? 'allowed' : 'rejected',
      bucket: (bucket ?? 1) - 1,
      remaining: remaining ?? 0,
      resetMs: resetMs ?? 0,
      retryAfterMs: retryAfterMs ?? 0,
    };
  }
}
