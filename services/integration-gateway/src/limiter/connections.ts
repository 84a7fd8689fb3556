import { Cluster } from 'ioredis';
import { type ClusterNode, createRedisClient, type RedisClient } from '../../../../lib/redis-client.js';
import type { RevocationRedis } from '../../../../lib/session-revocation.js';

/** Connection settings that make a Redis outage visible at once, so failure modes apply without waiting. */
export function limiterRedisOptions(commandTimeoutMs: number) {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    // Reconnect fast and keep trying: the limiter resumes as soon as Redis is back.
    retryStrategy: (attempt: number) => Math.min(50 * attempt, 500),
    // No auto-pipelining: with a command timeout it can throw an uncaught `TypeError: results[i] is not
    // iterable` inside ioredis (redis/ioredis#1931), seen here under load, and that ends the process — a
    // gateway pod restarted in the node suite of CI. The limiter batches its checks itself (one gcra.lua call
    // for the checks that arrive while one is in flight), and ioredis still sends commands without waiting
    // for earlier replies.
    enableAutoPipelining: false,
  };
}

/**
 * The gateway's two Redis connections: commands (limiter, config, acknowledgements, failure counts,
 * revocation) and the change subscription. `clusterNodes` (REDIS_CLUSTER_NODES) selects a Redis Cluster;
 * otherwise the single Redis at `url` (REDIS_URL).
 */
export function limiterConnections(settings: {
  url: string;
  clusterNodes?: readonly ClusterNode[];
  commandTimeoutMs: number;
}): { redis: RedisClient; subscriber: RedisClient } {
  const redis = createRedisClient({
    url: settings.url,
    clusterNodes: settings.clusterNodes,
    options: limiterRedisOptions(settings.commandTimeoutMs),
  });
  // The subscriber waits for Redis instead of failing: its SUBSCRIBE is sent once connected.
  const subscriberOptions = {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  };
  const subscriber =
    redis instanceof Cluster
      ? createRedisClient({
          url: settings.url,
          clusterNodes: settings.clusterNodes,
          options: { ...limiterRedisOptions(settings.commandTimeoutMs), ...subscriberOptions },
        })
      : redis.duplicate(subscriberOptions);
  return { redis, subscriber };
}

/**
 * The session-revocation store's commands, the same on either client: a token's two keys (`valid-after` of
 * the user, `session-revoked` of the session) carry its tenant's hash tag (lib/session-revocation.ts), so
 * its MGET reads one slot, on a cluster from the master that also holds the tenant's limiter keys: one
 * command, valid on a cluster too, that a failover of another master does not reach.
 */
export function revocationCommands(redis: RedisClient): RevocationRedis {
  return redis;
}
