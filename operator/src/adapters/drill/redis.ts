import { faultKey } from '../../../../lib/ratelimit-contract.js';
import type { RedisClient } from '../../../../lib/redis-client.js';
import { isSyntheticTenant } from '../../api/v1alpha1/disasterrecoverydrill.js';
import type { AlertDelivery, FaultInjector } from './ports.js';

function requireSynthetic(tenant: string): void {
  // The last line of defence: whatever the caller got wrong, a real tenant is never put in outage.
  if (!isSyntheticTenant(tenant))
    throw new Error(`refusing to inject a fault for "${tenant}": not a synthetic (drill-) tenant`);
}

/**
 * `novapos:ratelimit:fault:{<tenant>}` with a TTL (docs/contracts.md), synthetic tenants only, on the Redis or
 * Redis Cluster the gateways' limiter uses (lib/redis-client.ts): the key carries the tenant's hash tag, so on
 * a cluster it lands in the slot the limiter's script reads.
 */
export class RedisFaultInjector implements FaultInjector {
  constructor(private readonly redis: RedisClient) {}

  async inject(tenant: string, ttlMs: number): Promise<void> {
    requireSynthetic(tenant);
    await this.redis.set(faultKey(tenant), 'drill', 'PX', Math.max(1, Math.round(ttlMs)));
  }

  async clear(tenant: string): Promise<void> {
    requireSynthetic(tenant);
    await this.redis.del(faultKey(tenant));
  }

  async isSet(tenant: string): Promise<boolean> {
    return (await this.redis.exists(faultKey(tenant))) === 1;
  }
}

/**
 * Where every operator replica's drill webhook records what Alertmanager delivered, per run. The drill's
 * own key space (`novapos:drill:`), apart from the gateway's `novapos:ratelimit:` keys in the same Redis,
 * and bounded: only runs in flight are recorded, at most MAX_DELIVERIES_PER_RUN entries each, each entry
 * a few hundred bytes, every key with a TTL.
 */
export const deliveryKey = (runId: string) => `novapos:drill:delivery:${runId}`;
/** Set by the replica that fires a run's synthetic alert, for as long as deliveries may come. */
export const inFlightKey = (runId: string) => `novapos:drill:inflight:${runId}`;
export const MAX_DELIVERIES_PER_RUN = 20;
const DELIVERY_TTL_SECONDS = 3600;
const MAX_RECEIVER_LENGTH = 64;

/**
 * Deliveries of synthetic drill alerts, kept in Redis so that whichever operator replica Alertmanager's
 * webhook reaches, the replica running the drill sees them.
 */
export class RedisDeliveryLog {
  constructor(private readonly redis: RedisClient) {}

  /** The run is in flight for `ttlMs`: deliveries naming it are recorded until then. */
  async expect(runId: string, ttlMs: number): Promise<void> {
    await this.redis.set(inFlightKey(runId), '1', 'PX', Math.max(1_000, Math.round(ttlMs)));
  }

  async inFlight(runId: string): Promise<boolean> {
    return (await this.redis.exists(inFlightKey(runId))) === 1;
  }

  /** Records a delivery for a run in flight (false, nothing written, for any other run id). */
  async record(runId: string, delivery: AlertDelivery): Promise<boolean> {
    if (!(await this.inFlight(runId))) return false;
    const key = deliveryKey(runId);
    const entry = { ...delivery, receiver: delivery.receiver.slice(0, MAX_RECEIVER_LENGTH) };
    await this.redis
      .multi()
      .rpush(key, JSON.stringify(entry))
      .ltrim(key, -MAX_DELIVERIES_PER_RUN, -1)
      .expire(key, DELIVERY_TTL_SECONDS)
      .exec();
    return true;
  }

  async list(runId: string): Promise<AlertDelivery[]> {
    const raw = await this.redis.lrange(deliveryKey(runId), 0, MAX_DELIVERIES_PER_RUN - 1);
    return raw.map((r) => JSON.parse(r) as AlertDelivery);
  }
}
