import { Redis } from 'ioredis';
import { createLogger } from '../../lib/log.js';
import { ConfigStore } from '../../services/integration-gateway/src/limiter/config-store.js';

/**
 * One gateway replica's acknowledging side without the HTTP server: the integration gateway's own
 * ConfigStore on `redisUrl` heartbeats (the first before this resolves) and acknowledges every TenantRateLimit generation it applies. Used by
 * tests and bench/operator-scale.ts where only the TenantRateLimit controller's side is under test.
 */
export async function startAckReplica(
  redisUrl: string,
  replicaId: string,
): Promise<{ readonly store: ConfigStore; stop(): Promise<void> }> {
  const redis = new Redis(redisUrl);
  const subscriber = new Redis(redisUrl);
  // Connected first: the store's heartbeat (and its first full reload) skip a Redis that is not ready yet.
  await Promise.all(
    [redis, subscriber].map((c) =>
      c.status === 'ready' ? undefined : new Promise((resolve) => c.once('ready', resolve)),
    ),
  );
  const store = new ConfigStore({
    redis,
    subscriber,
    replicaId,
    defaults: {
      requestsPerMinute: 600,
      burst: 10,
      redisFailureMode: 'failOpen',
      localFallback: { requestsPerMinute: 60, burst: 5 },
    },
    log: createLogger({ component: 'ack-replica', level: 'warn' }),
  });
  await store.start();
  // Live at once (the first heartbeat), not after the first 5 s interval: a controller that sees no live
  // replica does not wait for an acknowledgement.
  await store.announce();
  return {
    store,
    async stop() {
      await store.stop();
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}
