/**
 * The Redis contract between the TenantRateLimit controller and the integration gateway
 * (docs/contracts.md, "Rate limits"): key and channel names, and the JSON document the controller writes.
 * Both sides import this file so the names and the document shape cannot drift apart.
 */

export const RATE_LIMIT_KEY_PREFIX = 'novapos:ratelimit';

/** The tenant's limits as JSON (`LimitDocument`). */
export const configKey = (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:config:${tenant}`;
/** SCAN pattern over every config key. */
export const CONFIG_KEY_PATTERN = `${RATE_LIMIT_KEY_PREFIX}:config:*`;
/** Publishing sends the tenant id on this channel. */
export const CHANGED_CHANNEL = `${RATE_LIMIT_KEY_PREFIX}:changed`;
/** Hash: gateway replica id → generation it applied; refreshed by every replica, expiring. */
export const ackKey = (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:ack:${tenant}`;
/** While this key exists (set with a TTL) the gateway treats the tenant exactly as if Redis were down. */
export const faultKey = (tenant: string) => `${RATE_LIMIT_KEY_PREFIX}:fault:${tenant}`;
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
