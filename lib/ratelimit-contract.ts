/**
 * The Redis contract between the TenantRateLimit controller and the integration gateway
 * (docs/contracts.md, "Rate limits"): key and channel names, and the JSON document the controller writes.
 * Both sides import this file so the names and the document shape cannot drift apart.
 */

export const RATE_LIMIT_KEY_PREFIX = 'novapos:ratelimit';

/**
 * Every key of one tenant carries the tenant as a Redis Cluster hash tag (`{<tenant>}`), so the tenant's
 * keys live in one slot: the limiter's Lua script (fault key + buckets) and the controller's write of the
 * config key run on one node of a cluster, and a single Redis ignores the braces. Since issue 22; the names
 * before it are `legacyRateLimitKeys` (docs/contracts.md, "Rate limits", upgrade path).
 */
export const tenantTag = (tenant: string) => `{${tenant}}`;

/** The tenant's limits as JSON (`LimitDocument`). */
export const configKey = (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:config:${tenantTag(tenant)}`;
/** SCAN pattern over every config key (on each master of a cluster). */
export const CONFIG_KEY_PATTERN = `${RATE_LIMIT_KEY_PREFIX}:config:{*`;
/** The tenant of a key matched by CONFIG_KEY_PATTERN, or undefined for another key. */
export function tenantOfConfigKey(key: string): string | undefined {
  const prefix = `${RATE_LIMIT_KEY_PREFIX}:config:{`;
  if (!key.startsWith(prefix) || !key.endsWith('}') || key.length <= prefix.length + 1) return undefined;
  return key.slice(prefix.length, -1);
}
/**
 * Publishing sends the tenant id on this channel. Classic PUBLISH: a Redis Cluster forwards it to every
 * node, so a gateway subscribed on any node receives it (docs/contracts.md says why not sharded pub/sub).
 */
export const CHANGED_CHANNEL = `${RATE_LIMIT_KEY_PREFIX}:changed`;
/** Hash: gateway replica id → generation it applied; refreshed by every replica, expiring. */
export const ackKey = (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:ack:${tenantTag(tenant)}`;
/** While this key exists (set with a TTL) the gateway treats the tenant exactly as if Redis were down. */
export const faultKey = (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:fault:${tenantTag(tenant)}`;
/**
 * One GCRA bucket of the tenant (string `"<tat ms> <interval ms>"` with a TTL). `bucketId` is the limiter's
 * bucket id (domain/limits.ts): `<tenant>`, `<tenant>:route:<pathPrefix>` or `<tenant>:key:<prefix>`; the
 * tenant part becomes the hash tag.
 */
export function bucketKey(tenant: string, bucketId: string): string {
  const rest = bucketId.startsWith(tenant) ? bucketId.slice(tenant.length) : `:${bucketId}`;
  return `${RATE_LIMIT_KEY_PREFIX}:bucket:${tenantTag(tenant)}${rest}`;
}

/**
 * The names before issue 22 (no hash tag), for the upgrade on a single Redis: the operator writes the config
 * under both names and deletes both, and reads acknowledgements from both, so gateways of either version
 * work during a rollout. Removed in the release after next (docs/contracts.md).
 */
export const legacyRateLimitKeys = {
  config: (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:config:${tenant}`,
  ack: (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:ack:${tenant}`,
  fault: (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:fault:${tenant}`,
  bucket: (bucketId: string) => `${RATE_LIMIT_KEY_PREFIX}:bucket:${bucketId}`,
} as const;

/**
 * Sorted set: gateway replica id → last heartbeat (Redis server time, ms). A refinement of the contract:
 * it tells the controller which replicas are alive, so an acknowledgement left by a replica that has gone
 * away does not count and a replica that never acknowledged does.
 */
export const REPLICAS_KEY = `${RATE_LIMIT_KEY_PREFIX}:replicas`;
/** A replica whose heartbeat is older than this is not alive. */
export const REPLICA_LIVENESS_MS = 15_000;
/** How long an acknowledgement hash lives without being refreshed. */
export const ACK_TTL_SECONDS = 60;

export type Enforcement = 'enforce' | 'shadow';
export type RedisFailureMode = 'failOpen' | 'failClosed' | 'localFallback';

export interface RateSpec {
  readonly requestsPerMinute: number;
  readonly burst: number;
}

export interface LimitDocument extends RateSpec {
  readonly tenant: string;
  /** metadata.generation of the TenantRateLimit this was computed from. */
  readonly generation: number;
  readonly routes: readonly (RateSpec & { readonly pathPrefix: string })[];
  readonly apiKeys: readonly (RateSpec & { readonly prefix: string })[];
  readonly enforcement: Enforcement;
  readonly redisFailureMode: RedisFailureMode;
  /** Present when redisFailureMode is localFallback. */
  readonly localFallback?: RateSpec;
  /** Which resource owns the tenant's key: a duplicate's finalizer must not delete it. */
  readonly source: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly publishedAt: string;
}

export class LimitDocumentError extends Error {
  override readonly name = 'LimitDocumentError';
  readonly code = 'invalid_limit_document';
}

const FAILURE_MODES: readonly string[] = ['failOpen', 'failClosed', 'localFallback'];

function rate(value: unknown, where: string): RateSpec {
  const v = value as Record<string, unknown> | null;
  const rpm = v?.['requestsPerMinute'];
  const burst = v?.['burst'] ?? 0;
  if (typeof rpm !== 'number' || !Number.isInteger(rpm) || rpm < 1) {
    throw new LimitDocumentError(`${where}.requestsPerMinute must be a positive integer`);
  }
  if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 0) {
    throw new LimitDocumentError(`${where}.burst must be a non-negative integer`);
  }
  return { requestsPerMinute: rpm, burst };
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw new LimitDocumentError(`${where} must be a non-empty string`);
  return v;
}

/** Parses and checks a config key's value; throws LimitDocumentError naming the bad field. */
export function parseLimitDocument(json: string): LimitDocument {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new LimitDocumentError('not JSON');
  }
  if (!raw || typeof raw !== 'object') throw new LimitDocumentError('not an object');
  const generation = raw['generation'];
  if (typeof generation !== 'number' || !Number.isInteger(generation) || generation < 0) {
    throw new LimitDocumentError('generation must be a non-negative integer');
  }
  const enforcement = raw['enforcement'] ?? 'enforce';
  if (enforcement !== 'enforce' && enforcement !== 'shadow') {
    throw new LimitDocumentError('enforcement must be enforce or shadow');
  }
  const mode = raw['redisFailureMode'] ?? 'failOpen';
  if (typeof mode !== 'string' || !FAILURE_MODES.includes(mode)) {
    throw new LimitDocumentError('redisFailureMode must be failOpen, failClosed or localFallback');
  }
  const localFallback =
    raw['localFallback'] === undefined ? undefined : rate(raw['localFallback'], 'localFallback');
  if (mode === 'localFallback' && !localFallback) {
    throw new LimitDocumentError('localFallback is required with redisFailureMode localFallback');
  }
  const routes = Array.isArray(raw['routes']) ? raw['routes'] : [];
  const apiKeys = Array.isArray(raw['apiKeys']) ? raw['apiKeys'] : [];
  const source = (raw['source'] ?? {}) as Record<string, unknown>;
  return {
    tenant: str(raw['tenant'], 'tenant'),
    generation,
    ...rate(raw, 'limit'),
    routes: routes.map((r, i) => ({
      pathPrefix: str((r as Record<string, unknown>)['pathPrefix'], `routes[${i}].pathPrefix`),
      ...rate(r, `routes[${i}]`),
    })),
    apiKeys: apiKeys.map((k, i) => ({
      prefix: str((k as Record<string, unknown>)['prefix'], `apiKeys[${i}].prefix`),
      ...rate(k, `apiKeys[${i}]`),
    })),
    enforcement,
    redisFailureMode: mode as RedisFailureMode,
    ...(localFallback ? { localFallback } : {}),
    source: {
      namespace: typeof source['namespace'] === 'string' ? source['namespace'] : '',
      name: typeof source['name'] === 'string' ? source['name'] : '',
      uid: typeof source['uid'] === 'string' ? source['uid'] : '',
    },
    publishedAt: typeof raw['publishedAt'] === 'string' ? raw['publishedAt'] : '',
  };
}
