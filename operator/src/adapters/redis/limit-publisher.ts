import type { LimitDocument } from '../../../../lib/ratelimit-contract.js';

/** Which gateway replicas are alive and which generation each acknowledged for one tenant. */
export interface Acknowledgements {
  /** Replicas with a recent heartbeat (`novapos:ratelimit:replicas`). */
  readonly liveReplicas: readonly string[];
  /** replica id → generation, from `novapos:ratelimit:ack:{<tenant>}`, for live replicas only. */
  readonly acked: Readonly<Record<string, number>>;
}

/**
 * What the TenantRateLimit controller needs from Redis (docs/contracts.md, "Rate limits"). The ioredis
 * adapter is `RedisLimitPublisher`; unit tests of the decisions need none, they are pure.
 */
export interface LimitPublisher {
  /** The document currently in `novapos:ratelimit:config:{<tenant>}`, if any (unparseable counts as none). */
  current(tenant: string): Promise<LimitDocument | undefined>;
  /** Writes the document and announces the tenant on `novapos:ratelimit:changed`, atomically. */
  publish(doc: LimitDocument): Promise<void>;
  /**
   * Deletes the tenant's config key, only if `ownerUid` wrote it, and announces the tenant: the gateway goes
   * back to GATEWAY_RATE_LIMIT_RPM. Returns false when another resource owns the key (left alone).
   */
  withdraw(tenant: string, ownerUid: string): Promise<boolean>;
  acknowledgements(tenant: string): Promise<Acknowledgements>;
  close(): Promise<void>;
}
