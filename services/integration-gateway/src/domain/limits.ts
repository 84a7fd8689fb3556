import type { LimitDocument, RateSpec, RedisFailureMode } from '../../../../lib/ratelimit-contract.js';

/**
 * Which limits a request is charged against: always its tenant's, plus the longest matching route
 * override and the API-key-prefix override when one matches. Every bucket must allow the request; a
 * rejected request charges none of them.
 */

/** The `RateLimit-Policy` item names. */
export type PolicyName = 'tenant' | 'route' | 'api-key';

export interface Bucket {
  readonly policy: PolicyName;
  /** Redis key suffix after `novapos:ratelimit:bucket:`; also the local fallback's map key. */
  readonly id: string;
  readonly limit: RateSpec;
}

/** A tenant's effective limits: its TenantRateLimit document, or the gateway defaults. */
export interface TenantLimits {
  readonly tenant: string;
  /** 0 for the defaults. */
  readonly generation: number;
  readonly limit: RateSpec;
  readonly routes: LimitDocument['routes'];
  readonly apiKeys: LimitDocument['apiKeys'];
  readonly enforcement: LimitDocument['enforcement'];
  readonly redisFailureMode: RedisFailureMode;
  readonly localFallback: RateSpec;
  readonly fromResource: boolean;
}

export interface GatewayDefaults {
  /** GATEWAY_RATE_LIMIT_RPM. */
  readonly requestsPerMinute: number;
  readonly burst: number;
  readonly redisFailureMode: RedisFailureMode;
  /** Per replica, used with localFallback. */
  readonly localFallback: RateSpec;
}

export function defaultLimits(tenant: string, d: GatewayDefaults): TenantLimits {
  return {
    tenant,
    generation: 0,
    limit: { requestsPerMinute: d.requestsPerMinute, burst: d.burst },
    routes: [],
    apiKeys: [],
    enforcement: 'enforce',
    redisFailureMode: d.redisFailureMode,
    localFallback: d.localFallback,
    fromResource: false,
  };
}

export function limitsFromDocument(doc: LimitDocument, d: GatewayDefaults): TenantLimits {
  return {
    tenant: doc.tenant,
    generation: doc.generation,
    limit: { requestsPerMinute: doc.requestsPerMinute, burst: doc.burst },
    routes: doc.routes,
    apiKeys: doc.apiKeys,
    enforcement: doc.enforcement,
    redisFailureMode: doc.redisFailureMode,
    localFallback: doc.localFallback ?? d.localFallback,
    fromResource: true,
  };
}

/** Whether `path` is `prefix` or below it as a path (`/api/exports` covers `/api/exports/1`, not `/api/exportsx`). */
export function pathMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return (
    prefix.endsWith('/') ||
    path.length === prefix.length ||
    path[prefix.length] === '/' ||
    path[prefix.length] === '?'
  );
}

/**
 * The buckets for one request. `keyPrefix` is the API key's lookup prefix when the request came with an
 * API key: an override whose prefix it starts with gives that key its own bucket (each key, not the
 * prefix group, gets the override's rate).
 */
export function bucketsFor(limits: TenantLimits, path: string, keyPrefix?: string): Bucket[] {
  const t = limits.tenant;
  const buckets: Bucket[] = [{ policy: 'tenant', id: t, limit: limits.limit }];
  let route: (typeof limits.routes)[number] | undefined;
  for (const r of limits.routes) {
    if (pathMatches(r.pathPrefix, path) && (!route || r.pathPrefix.length > route.pathPrefix.length))
      route = r;
  }
  if (route) buckets.push({ policy: 'route', id: `${t}:route:${route.pathPrefix}`, limit: route });
  if (keyPrefix) {
    let key: (typeof limits.apiKeys)[number] | undefined;
    for (const k of limits.apiKeys) {
      if (keyPrefix.startsWith(k.prefix) && (!key || k.prefix.length > key.prefix.length)) key = k;
    }
    if (key) buckets.push({ policy: 'api-key', id: `${t}:key:${keyPrefix}`, limit: key });
  }
  return buckets;
}
