import { readFileSync } from 'node:fs';
import type { ClientContext, Result } from 'ioredis';
import {
  bucketKey as contractBucketKey,
  faultKey,
  type RateSpec,
} from '../../../../lib/ratelimit-contract.js';
import type { RedisClient } from '../../../../lib/redis-client.js';
import { capacityOf, intervalMs } from '../domain/gcra.js';
import type { Bucket } from '../domain/limits.js';

export const GCRA_SCRIPT = readFileSync(new URL('./gcra.lua', import.meta.url), 'utf8');

/** The Redis key of one of the tenant's buckets; without `bucketId`, the tenant's own bucket. */
export const bucketKey = (tenant: string, bucketId: string = tenant) => contractBucketKey(tenant, bucketId);

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

/** Key names and script arguments are strings built once, not per check (bounded caches). */
const CACHE_LIMIT = 50_000;
/** The fault key and up to three buckets. */
const MAX_KEYS = 4;
type GcraCommand = (...args: (string | number)[]) => Promise<number[]>;

/**
 * The Redis side of the limiter: one EVALSHA of `gcra.lua` per request over all the request's buckets and
 * the tenant's fault key (ioredis `defineCommand` sends EVALSHA and falls back to EVAL after a Redis restart
 * forgets the script). Every key carries the tenant's hash tag, so on a Redis Cluster the script goes
 * straight to the node of that slot. Errors (Redis down, timeout, failover in progress) are thrown to the
 * caller, which applies the tenant's redisFailureMode.
 */
export class RedisLimiter {
  private readonly keys = new Map<string, string>();
  private readonly args = new WeakMap<RateSpec, readonly [string, string]>();

  /** The script as a command per key count (index: number of keys), `numberOfKeys` fixed. */
  private readonly commands: GcraCommand[] = [];

  constructor(private readonly redis: RedisClient) {
    // With a fixed key count the first argument is the first key: ioredis' auto-pipelining on a cluster
    // groups commands by the slot of their first argument, so a key count in front (EVALSHA's numkeys)
    // would put the check in another node's pipeline ("All keys in the pipeline should belong to the same
    // slots allocation group"). A request has at most 3 buckets (tenant, route, API key): 2 to 4 keys.
    const commands = redis as unknown as Record<string, GcraCommand | undefined>;
    for (let keys = 2; keys <= MAX_KEYS; keys++) {
      const name = `novaposGcra${keys}`;
      if (typeof commands[name] !== 'function')
        redis.defineCommand(name, { lua: GCRA_SCRIPT, numberOfKeys: keys });
      this.commands[keys] = commands[name]!.bind(redis);
    }
    if (typeof (redis as { novaposGcra?: unknown }).novaposGcra !== 'function')
      redis.defineCommand('novaposGcra', { lua: GCRA_SCRIPT });
  }

  async check(tenant: string, buckets: readonly Bucket[], cost = 1): Promise<RedisCheck> {
    const n = buckets.length;
    const argv: (string | number)[] = new Array(1 + 3 * n);
    argv[0] = this.key(`\0${tenant}`, () => faultKey(tenant));
    argv[1 + n] = cost;
    for (let i = 0; i < n; i++) {
      const b = buckets[i]!;
      argv[1 + i] = b.id.startsWith(tenant)
        ? this.key(b.id, () => bucketKey(tenant, b.id))
        : bucketKey(tenant, b.id);
      const [interval, capacity] = this.argsOf(b.limit);
      argv[2 + n + 2 * i] = interval;
      argv[3 + n + 2 * i] = capacity;
    }
    const command = this.commands[n + 1];
    const reply = command ? await command(...argv) : await this.redis.novaposGcra(n + 1, ...argv);
    const status = reply[0];
    if (status === 2) return { status: 'fault' };
    return {
      status: status === 0 ? 'allowed' : 'rejected',
      bucket: (reply[1] ?? 1) - 1,
      remaining: reply[2] ?? 0,
      resetMs: reply[3] ?? 0,
      retryAfterMs: reply[4] ?? 0,
    };
  }

  private key(id: string, make: () => string): string {
    let k = this.keys.get(id);
    if (k === undefined) {
      if (this.keys.size >= CACHE_LIMIT) this.keys.clear();
      k = make();
      this.keys.set(id, k);
    }
    return k;
  }

  private argsOf(limit: RateSpec): readonly [string, string] {
    let a = this.args.get(limit);
    if (!a) {
      a = [String(intervalMs(limit)), String(capacityOf(limit))];
      this.args.set(limit, a);
    }
    return a;
  }
}
