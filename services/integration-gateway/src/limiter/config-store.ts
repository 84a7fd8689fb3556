import type { ClientContext, Result } from 'ioredis';
import { dropOldest } from '../../../../lib/bounded-map.js';
import { describeError } from '../../../../lib/errors.js';
import type { Logger } from '../../../../lib/log.js';
import {
  ACK_TTL_SECONDS,
  ackKey,
  CHANGED_CHANNEL,
  CONFIG_KEY_PATTERN,
  configKey,
  parseLimitDocument,
  REPLICAS_KEY,
  tenantOfConfigKey,
} from '../../../../lib/ratelimit-contract.js';
import { isCluster, masters, type RedisClient } from '../../../../lib/redis-client.js';
import {
  defaultLimits,
  type GatewayDefaults,
  limitsFromDocument,
  type TenantLimits,
} from '../domain/limits.js';

const HEARTBEAT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
return now`;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    novaposHeartbeat(key: string, replica: string): Result<number, Context>;
  }
}

export interface ConfigStoreOptions {
  /** Commands (GET, SCAN, HSET, ...): one Redis or a Redis Cluster client. */
  readonly redis: RedisClient;
  /** A separate connection for SUBSCRIBE (on a cluster: a cluster client, which subscribes on one node). */
  readonly subscriber: RedisClient;
  readonly replicaId: string;
  readonly defaults: GatewayDefaults;
  readonly log: Logger;
  /** Heartbeat and re-acknowledgement period. Default 5 s. */
  readonly heartbeatMs?: number;
  /** Full reload period, for a change notification lost while disconnected. Default 30 s. */
  readonly resyncMs?: number;
  /** After a tenant's limits were applied (for metrics/logs). */
  readonly onApplied?: (tenant: string, generation: number) => void;
}

/**
 * Each tenant's limits as the TenantRateLimit controller published them in Redis, held in memory so a
 * request never waits for them. A change notification on `novapos:ratelimit:changed` re-reads that
 * tenant's key at once (applied well within a second, without restart); every applied generation is
 * acknowledged in `novapos:ratelimit:ack:{<tenant>}`. Works on one Redis and on a Redis Cluster. A full reload runs at start, after every reconnect and
 * every `resyncMs`. While Redis is unreachable the last known limits stay in force.
 */
export class ConfigStore {
  private readonly limits = new Map<string, TenantLimits>();
  /**
   * The defaults of tenants without a TenantRateLimit, one object per tenant (bounded): the limiter keys its
   * per-limit caches by these objects, so a new one per request would miss them every time.
   */
  private readonly defaultsByTenant = new Map<string, TenantLimits>();
  /** The Redis run id each tenant's limits were last read under. */
  private readonly seenUnder = new Map<string, string>();
  private runId = '';
  private timers: NodeJS.Timeout[] = [];
  private loaded = false;
  private stopped = false;

  constructor(private readonly opts: ConfigStoreOptions) {
    if (typeof (opts.redis as { novaposHeartbeat?: unknown }).novaposHeartbeat !== 'function')
      opts.redis.defineCommand('novaposHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT_LUA });
  }

  /** The tenant's effective limits: its published document, or the gateway defaults. */
  get(tenant: string): TenantLimits {
    const limits = this.limits.get(tenant);
    if (limits !== undefined) return limits;
    let defaults = this.defaultsByTenant.get(tenant);
    if (defaults === undefined) {
      defaults = defaultLimits(tenant, this.opts.defaults);
      this.defaultsByTenant.set(tenant, defaults);
      dropOldest(this.defaultsByTenant, 10_000);
    }
    return defaults;
  }

  /** Tenants that have a TenantRateLimit (bounded by the operator's resources). */
  tenants(): string[] {
    return [...this.limits.keys()];
  }

  get hasLoaded(): boolean {
    return this.loaded;
  }

  async start(): Promise<void> {
    const { subscriber, redis } = this.opts;
    subscriber.on('message', (channel: string, tenant: string) => {
      if (channel === CHANGED_CHANNEL) void this.refresh(tenant);
    });
    // ioredis re-subscribes after a reconnect by itself; limits that changed meanwhile are reloaded here.
    redis.on('ready', () => void this.reloadAll());
    if (isCluster(redis)) {
      // A failover changes the cluster's nodes (and may move the subscription to another node): reload
      // soon after, for a notification published meanwhile or a write the failover lost.
      let pending: NodeJS.Timeout | undefined;
      const soon = () => {
        if (pending || this.stopped) return;
        pending = setTimeout(() => {
          pending = undefined;
          void this.reloadAll();
        }, 1000).unref();
      };
      redis.on('+node', soon);
      redis.on('-node', soon);
    }
    // Not awaited: with Redis down at start the subscription waits in ioredis' queue until it connects,
    // and the gateway serves meanwhile (tenants' failure modes apply).
    void subscriber.subscribe(CHANGED_CHANNEL).catch((err: unknown) => {
      this.opts.log.warn(
        { event: 'ratelimit_subscribe_failed', error: describeError(err) },
        'could not subscribe yet',
      );
    });
    if (redis.status === 'ready') await this.reloadAll();
    this.timers.push(setInterval(() => void this.heartbeat(), this.opts.heartbeatMs ?? 5000).unref());
    this.timers.push(setInterval(() => void this.reloadAll(), this.opts.resyncMs ?? 30_000).unref());
  }

  /** Re-reads one tenant's key, applies it and acknowledges the generation. */
  async refresh(tenant: string): Promise<void> {
    try {
      const raw = await this.opts.redis.get(configKey(tenant));
      this.apply(tenant, raw);
      if (raw !== null) this.seenUnder.set(tenant, this.runId);
      await this.acknowledge([tenant]);
    } catch (err) {
      this.opts.log.warn(
        { event: 'ratelimit_refresh_failed', tenant, error: describeError(err) },
        'could not read tenant limits',
      );
    }
  }

  /** Reads every config key (SCAN), drops tenants whose key is gone, acknowledges everything. */
  async reloadAll(): Promise<void> {
    if (this.stopped) return;
    try {
      this.runId = await this.currentRunId();
      const seen = new Set<string>();
      // SCAN runs on each master (a cluster keeps each tenant's key on one of them); the values are read
      // one GET per key, auto-pipelined per node (an MGET of several tenants would cross slots).
      for (const node of masters(this.opts.redis)) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', CONFIG_KEY_PATTERN, 'COUNT', 500);
          cursor = next;
          const tenants = keys.map(tenantOfConfigKey);
          const values = await Promise.all(
            keys.map((k, i) => (tenants[i] === undefined ? null : this.opts.redis.get(k))),
          );
          tenants.forEach((tenant, i) => {
            if (tenant === undefined) return;
            seen.add(tenant);
            this.apply(tenant, values[i] ?? null);
            this.seenUnder.set(tenant, this.runId);
          });
        } while (cursor !== '0');
      }
      // A key missing from the Redis that served it was deleted: back to the defaults. A key missing after
      // Redis restarted (a new run id; no persistence) was lost, not deleted: keep the last known limits
      // until the controller publishes them again (its periodic resync) or a notification says otherwise.
      for (const tenant of [...this.limits.keys()]) {
        if (seen.has(tenant)) continue;
        if (this.seenUnder.get(tenant) === this.runId) {
          this.apply(tenant, null);
          this.seenUnder.delete(tenant);
        } else {
          this.opts.log.warn(
            { event: 'ratelimit_config_retained', tenant },
            'Redis lost the tenant limits (restart); keeping the last known',
          );
        }
      }
      this.loaded = true;
      await this.acknowledge(this.tenants());
    } catch (err) {
      this.opts.log.warn(
        { event: 'ratelimit_reload_failed', error: describeError(err) },
        'could not reload tenant limits; keeping the last known',
      );
    }
  }

  /**
   * Which Redis servers hold the data: the run id of the one Redis, or of every master of a cluster. A
   * restart or a failover changes it; a key missing under a new one may have been lost, not deleted.
   */
  private async currentRunId(): Promise<string> {
    const ids = await Promise.all(
      masters(this.opts.redis).map(async (node) => /run_id:(\w+)/.exec(await node.info('server'))?.[1] ?? ''),
    );
    return ids.sort().join(',');
  }

  private apply(tenant: string, raw: string | null): void {
    const before = this.limits.get(tenant);
    if (raw === null) {
      if (before) {
        this.limits.delete(tenant);
        this.opts.log.info(
          { event: 'ratelimit_config_removed', tenant },
          'tenant limits removed: defaults apply',
        );
        this.opts.onApplied?.(tenant, 0);
      }
      return;
    }
    try {
      const doc = parseLimitDocument(raw);
      if (before && before.generation === doc.generation) return;
      this.limits.set(tenant, limitsFromDocument(doc, this.opts.defaults));
      this.opts.log.info(
        {
          event: 'ratelimit_config_applied',
          tenant,
          generation: doc.generation,
          rpm: doc.requestsPerMinute,
          burst: doc.burst,
          enforcement: doc.enforcement,
        },
        'tenant limits applied',
      );
      this.opts.onApplied?.(tenant, doc.generation);
    } catch (err) {
      // A bad document never replaces good limits.
      this.opts.log.error(
        { event: 'ratelimit_config_invalid', tenant, error: describeError(err) },
        'tenant limits not applied',
      );
    }
  }

  /**
   * HSET ack:<tenant> replica generation (HDEL for tenants back on defaults), with expiry: one command per
   * key (each tenant's ack hash is in its own slot), auto-pipelined.
   */
  private async acknowledge(tenants: readonly string[]): Promise<void> {
    if (tenants.length === 0) return;
    const { redis, replicaId } = this.opts;
    const sent: Promise<unknown>[] = [];
    for (const tenant of tenants) {
      const limits = this.limits.get(tenant);
      if (limits) {
        sent.push(redis.hset(ackKey(tenant), replicaId, String(limits.generation)));
        sent.push(redis.expire(ackKey(tenant), ACK_TTL_SECONDS));
      } else {
        sent.push(redis.hdel(ackKey(tenant), replicaId));
      }
    }
    await Promise.all(sent);
  }

  private async heartbeat(): Promise<void> {
    if (this.opts.redis.status !== 'ready') return;
    try {
      await this.opts.redis.novaposHeartbeat(REPLICAS_KEY, this.opts.replicaId);
      await this.acknowledge(this.tenants());
    } catch (err) {
      this.opts.log.debug(
        { event: 'ratelimit_heartbeat_failed', error: describeError(err) },
        'heartbeat failed',
      );
    }
  }

  /** Sends the first heartbeat now (at start, so the controller sees this replica without waiting). */
  announce(): Promise<void> {
    return this.heartbeat();
  }

  /** Stops timers and, if Redis answers, withdraws this replica so the controller stops waiting for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.opts.redis.status !== 'ready') return;
    try {
      const { redis, replicaId } = this.opts;
      await Promise.all([
        redis.zrem(REPLICAS_KEY, replicaId),
        ...this.tenants().map((tenant) => redis.hdel(ackKey(tenant), replicaId)),
      ]);
    } catch {
      // Best effort: the heartbeat expires anyway.
    }
  }
}
