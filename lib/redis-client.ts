/**
 * One Redis or a Redis Cluster, chosen by configuration (docs/contracts.md, "Rate limits": `REDIS_URL`,
 * `REDIS_CLUSTER_NODES`). The gateway's limiter and the TenantRateLimit controller's publisher take either:
 * every key of one tenant shares a hash tag (lib/ratelimit-contract.ts), so scripts and transactions touch one
 * slot; commands over several tenants' keys are sent one per key (auto-pipelined per node), never as one
 * multi-key command, so they work on both.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export class RedisClusterNodesError extends Error {
  override readonly name = 'RedisClusterNodesError';
  readonly code = 'invalid_redis_cluster_nodes';
}

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
}

/**
 * `REDIS_CLUSTER_NODES`: comma-separated `host:port` seed nodes (at least one; the client discovers the rest
 * with CLUSTER SLOTS). Empty or unset: undefined (a single Redis at `REDIS_URL`).
 */
export function parseClusterNodes(value: string | undefined): ClusterNode[] | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  return text.split(',').map((item) => {
    const entry = item.trim();
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535)
      throw new RedisClusterNodesError(
        `REDIS_CLUSTER_NODES: "${entry}" is not host:port (e.g. redis-0.redis:6379,redis-1.redis:6379)`,
      );
    return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port };
  });
}

export interface RedisClientSettings {
  /** `redis://[user:password@]host:port[/db]`: the single Redis, and the credentials/TLS of cluster nodes. */
  readonly url: string;
  /** Seed nodes of a Redis Cluster; when given, `url` contributes only credentials and TLS. */
  readonly clusterNodes?: readonly ClusterNode[];
  /** Options of each connection (timeouts, retries, auto-pipelining). */
  readonly options?: RedisOptions;
}

/** Connection options of `url` that a cluster's nodes share (no host, port or database: a cluster has db 0). */
function credentialsOf(url: string): RedisOptions {
  const u = new URL(url);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * A single Redis for `url`, or a Cluster client for `clusterNodes`. Cluster choices: reads go to masters
 * (`scaleReads: 'master'`; a replica's copy of a bucket or a config key may be behind), a failover is retried
 * briefly and then surfaces as an error so the caller's failure mode applies, and auto-pipelining groups
 * commands per node.
 */
export function createRedisClient(settings: RedisClientSettings): RedisClient {
  const options = settings.options ?? {};
  if (!settings.clusterNodes?.length) return new Redis(settings.url, options);
  const {
    enableOfflineQueue,
    enableAutoPipelining,
    retryStrategy,
    host: _h,
    port: _p,
    db: _db,
    ...perNode
  } = options;
  const clusterOptions: ClusterOptions = {
    scaleReads: 'master',
    enableOfflineQueue: enableOfflineQueue ?? true,
    enableAutoPipelining: enableAutoPipelining ?? false,
    // A failover takes the cluster's node timeout to be noticed: retry a command a few times meanwhile, then
    // let it fail (the limiter applies the tenant's failure mode) rather than queue it for seconds.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 50,
    maxRedirections: 8,
    clusterRetryStrategy: retryStrategy
      ? (times: number) => retryStrategy(times) ?? null
      : (times: number) => Math.min(100 * times, 2000),
    slotsRefreshTimeout: 2000,
    redisOptions: { ...credentialsOf(settings.url), ...perNode },
  };
  return new Cluster(
    settings.clusterNodes.map((n) => ({ host: n.host, port: n.port })),
    clusterOptions,
  );
}

export const isCluster = (client: RedisClient): client is Cluster => client instanceof Cluster;

/** The masters to run a per-node command on (SCAN, INFO): every master of a cluster, or the one Redis. */
export function masters(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

/** Resolves when the client is ready, or after `timeoutMs` (reconnection continues in the background). */
export function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    client.once('ready', done);
  });
}
