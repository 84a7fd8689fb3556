import type { Redis } from 'ioredis';
import { faultKey } from '../../../../lib/ratelimit-contract.js';
import { isSyntheticTenant } from '../../controllers/disaster-recovery-drill/desired.js';
import type { AlertDelivery, FaultInjector } from '../../controllers/disaster-recovery-drill/ports.js';

function requireSynthetic(tenant: string): void {
  // The last line of defence: whatever the caller got wrong, a real tenant is never put in outage.
  if (!isSyntheticTenant(tenant))
    throw new Error(`refusing to inject a fault for "${tenant}": not a synthetic (drill-) tenant`);
}

/** novapos:ratelimit:fault:<tenant> with a TTL (docs/contracts.md), synthetic tenants only. */
export class RedisFaultInjector implements FaultInjector {
  constructor(private readonly redis: Redis) {}

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

/** Where every operator replica's drill webhook records what Alertmanager delivered, per run. */
export const deliveryKey = (runId: string) => `novapos:drill:delivery:${runId}`;
const DELIVERY_TTL_SECONDS = 24 * 3600;

/**
 * Deliveries of synthetic drill alerts, kept in Redis so that whichever operator replica Alertmanager's
 * webhook reaches, the replica running the drill sees them.
 */
export class RedisDeliveryLog {
  constructor(private readonly redis: Redis) {}

  async record(runId: string, delivery: AlertDelivery): Promise<void> {
    const key = deliveryKey(runId);
    await this.redis.multi().rpush(key, JSON.stringify(delivery)).expire(key, DELIVERY_TTL_SECONDS).exec();
  }

  async list(runId: string): Promise<AlertDelivery[]> {
    const raw = await this.redis.lrange(deliveryKey(runId), 0, 199);
    return raw.map((r) => JSON.parse(r) as AlertDelivery);
  }
}
