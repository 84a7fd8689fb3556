import type { Redis } from 'ioredis';
import type { FailureCounts } from '../domain/auth-throttle.js';

/**
 * Failure counts in Redis: one string per address or key prefix, created with the window as its expiry
 * (SET NX PX) and incremented (INCR keeps the expiry), in one pipeline; reads are one MGET.
 */
export class RedisFailureCounts implements FailureCounts {
  constructor(private readonly redis: Redis) {}

  async get(keys: readonly string[]): Promise<number[]> {
    const values = await this.redis.mget(...keys);
    return values.map((v) => Number(v ?? 0) || 0);
  }

  async add(keys: readonly string[], windowMs: number): Promise<void> {
    const p = this.redis.pipeline();
    for (const k of keys) p.set(k, 0, 'PX', windowMs, 'NX').incr(k);
    const results = (await p.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }
}
