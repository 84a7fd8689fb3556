import { type ClientContext, Redis, type Result } from 'ioredis';
import {
  ackKey,
  CHANGED_CHANNEL,
  configKey,
  type LimitDocument,
  parseLimitDocument,
  REPLICA_LIVENESS_MS,
  REPLICAS_KEY,
} from '../../../../lib/ratelimit-contract.js';
import type { Acknowledgements, LimitPublisher } from './limit-publisher.js';

// Deletes the config key only when the given uid owns it, then announces: one atomic step, so a finalizer
// of a duplicate resource can never remove the limits its older twin published.
const WITHDRAW_LUA = `
local raw = redis.call('GET', KEYS[1])
if not raw then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
local ok, doc = pcall(cjson.decode, raw)
if ok and type(doc) == 'table' and type(doc.source) == 'table' and doc.source.uid ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`;

// Live replicas by Redis' own clock, the same clock the gateways' heartbeats use.
const LIVE_REPLICAS_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')`;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    novaposWithdrawLimits(key: string, uid: string, channel: string, tenant: string): Result<number, Context>;
    novaposLiveReplicas(key: string, windowMs: number): Result<string[], Context>;
  }
}

/** The ioredis adapter of LimitPublisher. */
export class RedisLimitPublisher implements LimitPublisher {
  private readonly redis: Redis;

  constructor(redisUrl: string, opts: { commandTimeoutMs?: number } = {}) {
    this.redis = new Redis(redisUrl, {
      // Fail fast while Redis is down: the reconcile reports RedisUnavailable and retries with backoff.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    });
    this.redis.on('error', () => {});
    this.redis.defineCommand('novaposWithdrawLimits', { numberOfKeys: 1, lua: WITHDRAW_LUA });
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
    const results = await this.redis
      .multi()
      .set(configKey(doc.tenant), JSON.stringify(doc))
      .publish(CHANGED_CHANNEL, doc.tenant)
      .exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('Redis transaction aborted');
  }

  async withdraw(tenant: string, ownerUid: string): Promise<boolean> {
    return (
      (await this.redis.novaposWithdrawLimits(configKey(tenant), ownerUid, CHANGED_CHANNEL, tenant)) === 1
    );
  }

  async acknowledgements(tenant: string): Promise<Acknowledgements> {
    const [live, acks] = await Promise.all([
      this.redis.novaposLiveReplicas(REPLICAS_KEY, REPLICA_LIVENESS_MS),
      this.redis.hgetall(ackKey(tenant)),
    ]);
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
