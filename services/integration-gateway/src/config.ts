import { hostname } from 'node:os';
import { describeError } from '../../../lib/errors.js';
import { type KafkaClientConfig, kafkaConfigFromEnv } from '../../../lib/kafka-events.js';
import type { RedisFailureMode } from '../../../lib/ratelimit-contract.js';
import { type ClusterNode, parseClusterNodes, RedisClusterNodesError } from '../../../lib/redis-client.js';
import { adminPortFromEnv } from '../../../lib/service-kit/admin-listener.js';
import { parseRoleScopes, parseRouteScopes, type RouteScope, ScopeConfigError } from './domain/scopes.js';

/** Typed configuration of the integration gateway, built once from an env object. */
export interface GatewayConfig {
  readonly port: number;
  readonly host: string;
  /** ADMIN_PORT: `/metrics` and `POST /keys/reload` (docs/contracts.md, "Ports"); default 9083. */
  readonly adminPort: number;
  /** ADMIN_HOST: default HOST. */
  readonly adminHost: string;
  readonly logLevel: string;
  /** This replica's id in the acknowledgement hashes: the pod name. */
  readonly replicaId: string;
  readonly redisUrl: string;
  /**
   * REDIS_CLUSTER_NODES: seed nodes of a Redis Cluster (`host:port,...`); when set the gateway uses the
   * cluster (REDIS_URL then only gives credentials/TLS). Unset: the single Redis at REDIS_URL.
   */
  readonly redisClusterNodes: readonly ClusterNode[] | undefined;
  /** Per Redis command; a slower answer counts as Redis being down for that request. */
  readonly redisCommandTimeoutMs: number;
  /** PostgreSQL holding auth-service's api_keys (read) and the gateway's api_key_usage (written). */
  readonly databaseUrl: string | undefined;
  readonly jwt: {
    readonly jwksUrl: string | undefined;
    readonly issuer: string;
    readonly audience: string;
    readonly clockToleranceSeconds: number;
    /** Upper bound on the JWKS cache, whatever max-age the issuer sends. */
    readonly jwksMaxCacheSeconds: number;
    /** How many verified tokens are kept (by hash) until their exp. 0 disables the cache. */
    readonly tokenCacheSize: number;
  };
  /** Scopes (docs/integration-gateway.md, "Scopes"). */
  readonly scopes: {
    /** GATEWAY_ROUTE_SCOPES: the scope each route needs; a route without one is reached by `*` only. */
    readonly routes: readonly RouteScope[];
    /** GATEWAY_ROLE_SCOPES: what each JWT role holds; default none (tokens reach the ping only). */
    readonly roles: ReadonlyMap<string, readonly string[]>;
  };
  /** Failed authentications allowed per window before verification is refused (429). */
  readonly authFailures: {
    readonly perAddress: number;
    readonly perKeyPrefix: number;
    readonly windowSeconds: number;
  };
  readonly apiKeys: {
    /** A verified key is re-checked against the database (revocation) at least this often. */
    readonly revalidateSeconds: number;
    /** How many verified keys are kept in memory. */
    readonly cacheSize: number;
  };
  readonly limits: {
    /** GATEWAY_RATE_LIMIT_RPM: tenants without a TenantRateLimit. */
    readonly defaultRequestsPerMinute: number;
    readonly defaultBurst: number;
    readonly defaultRedisFailureMode: RedisFailureMode;
    /** Per replica, for tenants in localFallback without their own fallback limit. */
    readonly defaultLocalFallbackRpm: number;
  };
  /** Tenants that get their own metric label (besides those with a TenantRateLimit); others are `other`. */
  readonly metricTenants: readonly string[];
  /** Where allowed requests are proxied: an origin (`http(s)://host[:port]`, no path); undefined → only the gateway's own routes answer. */
  readonly upstreamUrl: string | undefined;
  readonly upstreamTimeoutMs: number;
  readonly usage: {
    /** How often API key usage deltas are written to api_key_usage (runbook 001: every five minutes). */
    readonly flushSeconds: number;
    /** How often the usage summary event is published (runbook 001: hourly). */
    readonly summarySeconds: number;
    readonly auditTopic: string;
  };
  readonly trustProxyHops: number;
  /** KAFKA_BOOTSTRAP + credentials: security events also go to Kafka through an outbox (lib/kafka-events.ts); log only when unset. */
  readonly kafka: KafkaClientConfig | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
}

type Env = Readonly<Record<string, string | undefined>>;

const present = (env: Env, name: string) => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
};

function int(env: Env, name: string, fallback: number, min = 0): number {
  const v = present(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}`);
  return n;
}

function url(env: Env, name: string): string | undefined {
  const v = present(env, name);
  if (v === undefined) return undefined;
  try {
    new URL(v);
  } catch {
    throw new ConfigError(`${name} must be a URL`);
  }
  return v;
}

function clusterNodes(env: Env): ClusterNode[] | undefined {
  try {
    return parseClusterNodes(env['REDIS_CLUSTER_NODES']);
  } catch (err) {
    if (err instanceof RedisClusterNodesError) throw new ConfigError(err.message);
    throw err;
  }
}

const FAILURE_MODES: readonly RedisFailureMode[] = ['failOpen', 'failClosed', 'localFallback'];

/** The upstream is an origin only: requests are sent to it with their own (normalised) path. */
function upstreamOrigin(env: Env): string | undefined {
  const v = url(env, 'GATEWAY_UPSTREAM_URL');
  if (v === undefined) return undefined;
  const u = new URL(v);
  if (
    (u.protocol !== 'http:' && u.protocol !== 'https:') ||
    u.username ||
    u.password ||
    (u.pathname !== '/' && u.pathname !== '') ||
    u.search ||
    u.hash
  ) {
    throw new ConfigError('GATEWAY_UPSTREAM_URL must be an http(s) origin: scheme, host and port, no path');
  }
  return u.origin;
}

function scopesFromEnv(env: Env): GatewayConfig['scopes'] {
  try {
    return {
      routes: parseRouteScopes(present(env, 'GATEWAY_ROUTE_SCOPES') ?? ''),
      roles: parseRoleScopes(present(env, 'GATEWAY_ROLE_SCOPES') ?? ''),
    };
  } catch (err) {
    if (err instanceof ScopeConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

function adminPort(env: Env): number {
  try {
    return adminPortFromEnv(env, 'integration-gateway');
  } catch (err) {
    throw new ConfigError(describeError(err));
  }
}

export function configFromEnv(env: Env): GatewayConfig {
  const failureMode = present(env, 'GATEWAY_REDIS_FAILURE_MODE') ?? 'failOpen';
  if (!FAILURE_MODES.includes(failureMode as RedisFailureMode)) {
    throw new ConfigError(`GATEWAY_REDIS_FAILURE_MODE must be one of ${FAILURE_MODES.join(', ')}`);
  }
  const rpm = int(env, 'GATEWAY_RATE_LIMIT_RPM', 600, 1);
  const host = present(env, 'HOST') ?? '0.0.0.0';
  return {
    port: int(env, 'PORT', 8083),
    host,
    adminPort: adminPort(env),
    adminHost: present(env, 'ADMIN_HOST') ?? host,
    logLevel: present(env, 'LOG_LEVEL') ?? 'info',
    replicaId:
      present(env, 'POD_NAME') ?? present(env, 'GATEWAY_REPLICA_ID') ?? `${hostname()}-${process.pid}`,
    redisUrl: url(env, 'REDIS_URL') ?? 'redis://127.0.0.1:6379/0',
    redisClusterNodes: clusterNodes(env),
    redisCommandTimeoutMs: int(env, 'GATEWAY_REDIS_COMMAND_TIMEOUT_MS', 500, 10),
    databaseUrl: url(env, 'DATABASE_URL'),
    jwt: {
      jwksUrl: url(env, 'JWKS_URL'),
      issuer: present(env, 'JWT_ISSUER') ?? 'https://auth.novapos.local',
      audience: present(env, 'JWT_AUDIENCE') ?? 'novapos-api',
      clockToleranceSeconds: int(env, 'JWT_CLOCK_TOLERANCE_SECONDS', 30),
      jwksMaxCacheSeconds: int(env, 'JWKS_MAX_CACHE_SECONDS', 300),
      tokenCacheSize: int(env, 'GATEWAY_TOKEN_CACHE_SIZE', 10_000),
    },
    scopes: scopesFromEnv(env),
    authFailures: {
      perAddress: int(env, 'GATEWAY_AUTH_FAILURES_PER_ADDRESS', 30, 1),
      perKeyPrefix: int(env, 'GATEWAY_AUTH_FAILURES_PER_KEY_PREFIX', 10, 1),
      windowSeconds: int(env, 'GATEWAY_AUTH_FAILURE_WINDOW_SECONDS', 60, 1),
    },
    apiKeys: {
      revalidateSeconds: int(env, 'GATEWAY_API_KEY_REVALIDATE_SECONDS', 30, 1),
      cacheSize: int(env, 'GATEWAY_API_KEY_CACHE_SIZE', 10_000, 1),
    },
    limits: {
      defaultRequestsPerMinute: rpm,
      defaultBurst: int(env, 'GATEWAY_RATE_LIMIT_BURST', 0),
      defaultRedisFailureMode: failureMode as RedisFailureMode,
      defaultLocalFallbackRpm: int(env, 'GATEWAY_LOCAL_FALLBACK_RPM', rpm, 1),
    },
    metricTenants: (present(env, 'GATEWAY_METRIC_TENANTS') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    upstreamUrl: upstreamOrigin(env),
    upstreamTimeoutMs: int(env, 'GATEWAY_UPSTREAM_TIMEOUT_MS', 30_000, 1),
    usage: {
      flushSeconds: int(env, 'GATEWAY_USAGE_FLUSH_SECONDS', 300, 1),
      summarySeconds: int(env, 'GATEWAY_USAGE_SUMMARY_SECONDS', 3600, 1),
      auditTopic: present(env, 'SECURITY_AUDIT_TOPIC') ?? 'audit.events.v1',
    },
    trustProxyHops: int(env, 'TRUST_PROXY_HOPS', 0),
    kafka: kafkaConfigFromEnv(env),
  };
}
