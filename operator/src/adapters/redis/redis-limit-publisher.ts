import type { ClientContext, Result } from 'ioredis';
import {
  ackKey,
  CHANGED_CHANNEL,
  configKey,
  type LimitDocument,
  legacyRateLimitKeys,
  parseLimitDocument,
  REPLICA_LIVENESS_MS,
  REPLICAS_KEY,
} from '../../../../lib/ratelimit-contract.js';
import {
  type ClusterNode,
  createRedisClient,
  isCluster,
  type RedisClient,
} from '../../../../lib/redis-client.js';
import type { Acknowledgements, LimitPublisher } from './limit-publisher.js';

// Deletes the config key (KEYS[1], and on a single Redis its pre-issue-22 name KEYS[2]) only when the given
// uid owns it, then announces: one atomic step, so a finalizer of a duplicate resource can never remove the
// limits its older twin published.
const WITHDRAW_LUA = `
for i = 1, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local ok, doc = pcall(cjson.decode, raw)
    if ok and type(doc) == 'table' and type(doc.source) == 'table' and doc.source.uid ~= ARGV[1] then
      return 0
    end
  end
end
redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`;

// Live replicas by Redis' own clock, the same clock the gateways' heartbeats use.
const LIVE_REPLICAS_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')`;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    novaposWithdrawLimits(numKeys: number, ...args: string[]): Result<number, Context>;
    novaposLiveReplicas(key: string, windowMs: number): Result<string[], Context>;
  }
}

export interface RedisLimitPublisherOptions {
  readonly commandTimeoutMs?: number;
  /** REDIS_CLUSTER_NODES: publish to a Redis Cluster (the URL then only gives credentials/TLS). */
  readonly clusterNodes?: readonly ClusterNode[];
}

/**
 * The ioredis adapter of LimitPublisher, on one Redis or a Redis Cluster. The tenant's config key and its
 * acknowledgement hash share the tenant's hash tag; the change notification is a classic PUBLISH, which a
 * cluster forwards to every node. On a single Redis the config is also written under its name before issue
 * 22 and acknowledgements are read from both names, so gateways of either version work during an upgrade
 * (docs/contracts.md, "Rate limits").
 */
export class RedisLimitPublisher implements LimitPublisher {
  private readonly redis: RedisClient;
  private readonly legacy: boolean;

  constructor(redisUrl: string, opts: RedisLimitPublisherOptions = {}) {
    this.redis = createRedisClient({
      url: redisUrl,
      clusterNodes: opts.clusterNodes,
      options: {
        // Fail fast while Redis is down: the reconcile reports RedisUnavailable and retries with backoff.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: opts.commandTimeoutMs ?? 2000,
        retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
      },
    });
    this.legacy = !isCluster(this.redis);
    this.redis.on('error', () => {});
    this.redis.defineCommand('novaposWithdrawLimits', { lua: WITHDRAW_LUA });
    this.redis.defineCommand('novaposLiveReplicas', { numberOfKeys: 1, lua: LIVE_REPLICAS_LUA });
  }

  /** Resolves once connected (or after `timeoutMs`, leaving reconnection to ioredis). */
  async ready(timeoutMs = 3000): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.redis.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /**
   * The document under the current name only: a tenant published only under the old name reads as
   * unpublished, so the controller's next reconcile writes both names (the migration on resync).
   */
  async current(tenant: string): Promise<LimitDocument | undefined> {
    const raw = await this.redis.get(configKey(tenant));
    if (raw === null) return undefined;
    try {
      return parseLimitDocument(raw);
    } catch {
      return undefined;
    }
  }

  async publish(doc: LimitDocument): Promise<void> {
    const json = JSON.stringify(doc);
    const tx = this.redis.multi().set(configKey(doc.tenant), json);
    if (this.legacy) tx.set(legacyRateLimitKeys.config(doc.tenant), json);
    const results = await tx.publish(CHANGED_CHANNEL, doc.tenant).exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('Redis transaction aborted');
  }

  async withdraw(tenant: string, ownerUid: string): Promise<boolean> {
    const keys = this.legacy ? [configKey(tenant), legacyRateLimitKeys.config(tenant)] : [configKey(tenant)];
    return (
      (await this.redis.novaposWithdrawLimits(keys.length, ...keys, ownerUid, CHANGED_CHANNEL, tenant)) === 1
    );
  }

  async acknowledgements(tenant: string): Promise<Acknowledgements> {
    const [live, acks, legacyAcks] = await Promise.all([
      this.redis.novaposLiveReplicas(REPLICAS_KEY, REPLICA_LIVENESS_MS),
      this.redis.hgetall(ackKey(tenant)),
      this.legacy
        ? this.redis.hgetall(legacyRateLimitKeys.ack(tenant))
        : Promise.resolve({} as Record<string, string>),
    ]);
    // A gateway from before issue 22 acknowledges under the old name: either counts.
    for (const [replica, generation] of Object.entries(legacyAcks))
      if (acks[replica] === undefined) acks[replica] = generation;
    const acked: Record<string, number> = {};
    for (const replica of live) {
      const generation = Number(acks[replica]);
      if (acks[replica] !== undefined && Number.isInteger(generation)) acked[replica] = generation;
    }
    return { liveReplicas: [...live].sort(), acked };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
