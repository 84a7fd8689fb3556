import { readFileSync } from 'node:fs';
import {
  bucketKey as contractBucketKey,
  faultKey,
  type RateSpec,
} from '../../../../lib/ratelimit-contract.js';
import { isCluster, type RedisClient } from '../../../../lib/redis-client.js';
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

/** Key names and script arguments are strings built once, not per check (bounded caches). */
const CACHE_LIMIT = 50_000;
/**
 * At most this many checks in one call of the script (a check has at most 4 keys: the fault key and three
 * buckets; Redis' Lua takes up to 8,000 values in `unpack`). A full batch is sent at once.
 */
const MAX_BATCH = 256;
/** The fault key and up to three buckets. */
const MAX_KEYS = 4;
type GcraCommand = (...args: (string | number)[]) => Promise<number[]>;
const FAULT: RedisCheck = { status: 'fault' };

interface Waiter {
  readonly resolve: (check: RedisCheck) => void;
  readonly reject: (err: unknown) => void;
}

/** Checks for one call of the script: their keys, then their arguments, in the script's layout. */
class Batch {
  readonly keys: string[] = [];
  readonly args: (string | number)[] = [];
  readonly waiters: Waiter[] = [];
}

/**
 * The Redis side of the limiter: EVALSHA of `gcra.lua` over all of a request's buckets and the tenant's
 * fault key (ioredis `defineCommand` sends EVALSHA and falls back to EVAL after a Redis restart forgets the
 * script). On a single Redis, checks made while an earlier call is in flight wait for it and then go
 * together in one call (the script decides them one after the other, as separate calls would): one
 * EVALSHA, one MGET and one TIME for many checks, one command for ioredis to write and parse. With nothing
 * in flight a check is sent in the same tick (process.nextTick), so it still joins the request's other Redis
 * commands in ioredis' auto-pipeline. On a Redis Cluster each check is its own call, sent at once: every key
 * of a tenant carries its hash tag, so the call goes straight to the node of that slot (checks of several
 * tenants cannot share a call there, and ioredis' cluster auto-pipeline routes a command by its first
 * argument, so the key count is fixed per command: see the constructor). Errors (Redis down, timeout,
 * failover in progress) reject every check of the call, and each caller applies its tenant's
 * redisFailureMode.
 */
export class RedisLimiter {
  private readonly keys = new Map<string, string>();
  private readonly args = new WeakMap<RateSpec, readonly [string, string]>();
  private readonly cluster: boolean;
  /** Cluster: the script as a command per key count (index: number of keys), `numberOfKeys` fixed. */
  private readonly fixed: GcraCommand[] = [];
  /** Single Redis: the script with the key count as its first argument, for a batch of any size. */
  private readonly batched: GcraCommand;
  /** Single Redis: the checks waiting for the next call, calls in flight, a flush queued. */
  private pending: Batch | undefined;
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly redis: RedisClient) {
    this.cluster = isCluster(redis);
    // Every command is defined here, before the limiter's first check: an ioredis pipeline (auto-pipelining
    // makes one per flush) copies the client's script commands when it is created, so a command defined
    // later is missing from a pipeline already queued. With a fixed key count the first argument is the
    // first key: ioredis' auto-pipelining on a cluster groups commands by the slot of their first argument,
    // so a key count in front (EVALSHA's numkeys) would put the check in another node's pipeline ("All keys
    // in the pipeline should belong to the same slots allocation group"). A request has at most 3 buckets
    // (tenant, route, API key): 2 to 4 keys.
    for (let keys = 2; keys <= MAX_KEYS; keys++) this.fixed[keys] = this.define(`novaposGcra${keys}`, keys);
    this.batched = this.define('novaposGcraBatch', undefined);
  }

  check(tenant: string, buckets: readonly Bucket[], cost = 1): Promise<RedisCheck> {
    let batch = this.cluster ? undefined : this.pending;
    if (batch === undefined) {
      batch = new Batch();
      if (!this.cluster) this.pending = batch;
    }
    const { keys, args } = batch;
    keys.push(this.key(`\0${tenant}`, () => faultKey(tenant)));
    args.push(buckets.length, cost);
    for (const b of buckets) {
      keys.push(
        b.id.startsWith(tenant) ? this.key(b.id, () => bucketKey(tenant, b.id)) : bucketKey(tenant, b.id),
      );
      const [interval, capacity] = this.argsOf(b.limit);
      args.push(interval, capacity);
    }
    const waiters = batch.waiters;
    const result = new Promise<RedisCheck>((resolve, reject) => waiters.push({ resolve, reject }));
    if (this.cluster) this.call(batch, this.fixed[keys.length]);
    else if (waiters.length >= MAX_BATCH) this.send();
    else if (this.inFlight === 0 && !this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
    return result;
  }

  /** Runs after the current tick's callers have added their checks (and their promises' continuations). */
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.inFlight === 0) this.send();
  };

  private send(): void {
    const batch = this.pending;
    if (batch === undefined) return;
    this.pending = undefined;
    this.inFlight++;
    this.call(batch, undefined, () => {
      this.inFlight--;
      // Not sent from here: the callers this call answers add their next checks first (in their promises'
      // continuations), and the nextTick comes after those.
      if (this.inFlight === 0 && this.pending !== undefined && !this.scheduled) {
        this.scheduled = true;
        process.nextTick(this.flush);
      }
    });
  }

  /** One call of the script for `batch`: with a fixed-key-count command, or the batched one. */
  private call(batch: Batch, command: GcraCommand | undefined, done?: () => void): void {
    const { keys, args, waiters } = batch;
    let call: Promise<number[]>;
    try {
      call = command ? command(...keys, ...args) : this.batched(keys.length, ...keys, ...args);
    } catch (err) {
      call = Promise.reject(err);
    }
    call.then(
      (reply) => {
        done?.();
        let r = 0;
        for (const waiter of waiters) {
          const status = reply[r];
          waiter.resolve(
            status === 2
              ? FAULT
              : {
                  status: status === 0 ? 'allowed' : 'rejected',
                  bucket: (reply[r + 1] ?? 1) - 1,
                  remaining: reply[r + 2] ?? 0,
                  resetMs: reply[r + 3] ?? 0,
                  retryAfterMs: reply[r + 4] ?? 0,
                },
          );
          r += 5;
        }
      },
      (err: unknown) => {
        done?.();
        for (const w of waiters) w.reject(err);
      },
    );
  }

  private define(name: string, numberOfKeys: number | undefined): GcraCommand {
    const commands = this.redis as unknown as Record<string, GcraCommand | undefined>;
    if (typeof commands[name] !== 'function')
      this.redis.defineCommand(name, { lua: GCRA_SCRIPT, ...(numberOfKeys ? { numberOfKeys } : {}) });
    const command = commands[name];
    if (command === undefined) throw new Error(`ioredis defineCommand did not add ${name}`);
    return command.bind(this.redis);
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
