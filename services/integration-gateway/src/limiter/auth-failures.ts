import type { RedisClient } from '../../../../lib/redis-client.js';
import type { FailureCounts } from '../domain/auth-throttle.js';

/**
 * Failure counts in Redis: one string per address or key prefix, created with the window as its expiry
 * (SET NX PX) and incremented (INCR keeps the expiry). An address key and a prefix key hash to different
 * slots of a Redis Cluster, so each key is its own command (GET; SET NX PX + INCR): sent in one write per
 * node by ioredis auto-pipelining, never as a cross-slot MGET or pipeline.
 */
export class RedisFailureCounts implements FailureCounts {
  constructor(private readonly redis: RedisClient) {}

  async get(keys: readonly string[]): Promise<number[]> {
    const values = await Promise.all(keys.map((k) => this.redis.get(k)));
    return values.map((v) => Number(v ?? 0) || 0);
  }

  async add(keys: readonly string[], windowMs: number): Promise<void> {
    await Promise.all(keys.flatMap((k) => [this.redis.set(k, 0, 'PX', windowMs, 'NX'), this.redis.incr(k)]));
  }
}
