import { hostname } from 'node:os';
import { type KafkaClientConfig, kafkaConfigFromEnv } from '../../../lib/kafka-events.js';
import type { RedisFailureMode } from '../../../lib/ratelimit-contract.js';
import { type ClusterNode, parseClusterNodes, RedisClusterNodesError } from '../../../lib/redis-client.js';
import { adminPortFromEnv } from '../../../lib/service-kit/admin-listener.js';
import {
  asConfigError,
  ConfigError,
  type Env,
  type EnvReader,
  envReader,
  invalid,
} from '../../../lib/service-kit/env.js';
import { vaultAuthFromEnv } from '../../../lib/service-kit/vault-env.js';
import type { VaultAuth } from '../../../lib/vault.js';
import { WEBHOOK_SEGMENT } from './domain/partner-webhooks.js';
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
  /** Partner webhooks, `POST /webhooks/<partner>/<tenant>` (docs/contracts.md "Partner webhooks"). */
  readonly webhooks: WebhookConfig;
}

export interface WebhookConfig {
  /** `GATEWAY_WEBHOOK_PARTNERS`: the partners taken; none by default (every webhook path is a 404). */
  readonly partners: readonly string[];
  /** `GATEWAY_WEBHOOK_TOLERANCE_SECONDS` (300): how far `event.created_at` may be from now. */
  readonly toleranceSeconds: number;
  /** `GATEWAY_WEBHOOK_MAX_BYTES` (262144): a larger body is refused with 413 before it is verified. */
  readonly maxBodyBytes: number;
  /** The tenants' shared secrets: KV v2 `<mount>/<prefix>/<partner>/<tenant>`, fields `webhook_secret` and, during a rotation, `previous_webhook_secret`. */
  readonly secretMount: string;
  readonly secretPrefix: string;
  /** Where the secrets are read (VAULT_ADDR, VAULT_AUTH_METHOD...): required when partners are set. */
  readonly vault: { readonly addr: string; readonly auth: VaultAuth } | undefined;
}

export { ConfigError };

const FAILURE_MODES: readonly RedisFailureMode[] = ['failOpen', 'failClosed', 'localFallback'];
const REDIS_SCHEMES = ['redis:', 'rediss:'];
const POSTGRES_SCHEMES = ['postgres:', 'postgresql:'];

/** The upstream is an origin only: requests are sent to it with their own (normalised) path. */
function upstreamOrigin(r: EnvReader): string | undefined {
  const v = r.url('GATEWAY_UPSTREAM_URL');
  if (v === undefined) return undefined;
  const u = new URL(v);
  if (u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw invalid('GATEWAY_UPSTREAM_URL', v, 'must be an http(s) origin: scheme, host and port, no path');
  }
  return u.origin;
}

export function configFromEnv(env: Env): GatewayConfig {
  const r = envReader(env);
  const rpm = r.int('GATEWAY_RATE_LIMIT_RPM', 600, { min: 1 });
  const host = r.string('HOST', '0.0.0.0');
  return {
    port: r.port('PORT', 8083),
    host,
    adminPort: adminPortFromEnv(env, 'integration-gateway'),
    adminHost: r.string('ADMIN_HOST', host),
    logLevel: r.string('LOG_LEVEL', 'info'),
    replicaId: r.optional('POD_NAME') ?? r.string('GATEWAY_REPLICA_ID', `${hostname()}-${process.pid}`),
    redisUrl: r.url('REDIS_URL', REDIS_SCHEMES) ?? 'redis://127.0.0.1:6379/0',
    redisClusterNodes: asConfigError(
      () => parseClusterNodes(r.optional('REDIS_CLUSTER_NODES')),
      RedisClusterNodesError,
    ),
    redisCommandTimeoutMs: r.int('GATEWAY_REDIS_COMMAND_TIMEOUT_MS', 500, { min: 10 }),
    databaseUrl: r.url('DATABASE_URL', POSTGRES_SCHEMES),
    jwt: {
      jwksUrl: r.url('JWKS_URL'),
      issuer: r.string('JWT_ISSUER', 'https://auth.novapos.local'),
      audience: r.string('JWT_AUDIENCE', 'novapos-api'),
      clockToleranceSeconds: r.int('JWT_CLOCK_TOLERANCE_SECONDS', 30),
      jwksMaxCacheSeconds: r.int('JWKS_MAX_CACHE_SECONDS', 300),
      tokenCacheSize: r.int('GATEWAY_TOKEN_CACHE_SIZE', 10_000),
    },
    scopes: asConfigError(
      () => ({
        routes: parseRouteScopes(r.string('GATEWAY_ROUTE_SCOPES', '')),
        roles: parseRoleScopes(r.string('GATEWAY_ROLE_SCOPES', '')),
      }),
      ScopeConfigError,
    ),
    authFailures: {
      perAddress: r.int('GATEWAY_AUTH_FAILURES_PER_ADDRESS', 30, { min: 1 }),
      perKeyPrefix: r.int('GATEWAY_AUTH_FAILURES_PER_KEY_PREFIX', 10, { min: 1 }),
      windowSeconds: r.int('GATEWAY_AUTH_FAILURE_WINDOW_SECONDS', 60, { min: 1 }),
    },
    apiKeys: {
      revalidateSeconds: r.int('GATEWAY_API_KEY_REVALIDATE_SECONDS', 30, { min: 1 }),
      cacheSize: r.int('GATEWAY_API_KEY_CACHE_SIZE', 10_000, { min: 1 }),
    },
    limits: {
      defaultRequestsPerMinute: rpm,
      defaultBurst: r.int('GATEWAY_RATE_LIMIT_BURST', 0),
      defaultRedisFailureMode: r.oneOf('GATEWAY_REDIS_FAILURE_MODE', FAILURE_MODES, 'failOpen'),
      defaultLocalFallbackRpm: r.int('GATEWAY_LOCAL_FALLBACK_RPM', rpm, { min: 1 }),
    },
    metricTenants: r.list('GATEWAY_METRIC_TENANTS', []),
    upstreamUrl: upstreamOrigin(r),
    upstreamTimeoutMs: r.int('GATEWAY_UPSTREAM_TIMEOUT_MS', 30_000, { min: 1 }),
    usage: {
      flushSeconds: r.int('GATEWAY_USAGE_FLUSH_SECONDS', 300, { min: 1 }),
      summarySeconds: r.int('GATEWAY_USAGE_SUMMARY_SECONDS', 3600, { min: 1 }),
      auditTopic: r.string('SECURITY_AUDIT_TOPIC', 'audit.events.v1'),
    },
    trustProxyHops: r.int('TRUST_PROXY_HOPS', 0),
    kafka: kafkaConfigFromEnv(env),
    webhooks: webhookConfig(r),
  };
}

function webhookConfig(r: EnvReader): WebhookConfig {
  const partners = r.list('GATEWAY_WEBHOOK_PARTNERS', []);
  for (const p of partners)
    if (!WEBHOOK_SEGMENT.test(p))
      throw invalid(
        'GATEWAY_WEBHOOK_PARTNERS',
        partners.join(','),
        `${p} must be lowercase letters, digits and -`,
      );
  const addr = r.url('VAULT_ADDR');
  if (partners.length && !addr)
    throw new ConfigError(
      'VAULT_ADDR is required when GATEWAY_WEBHOOK_PARTNERS is set (the webhook secrets are in Vault)',
    );
  return {
    partners,
    toleranceSeconds: r.int('GATEWAY_WEBHOOK_TOLERANCE_SECONDS', 300, { min: 1, max: 86_400 }),
    maxBodyBytes: r.int('GATEWAY_WEBHOOK_MAX_BYTES', 262_144, { min: 1024, max: 10 * 1024 * 1024 }),
    secretMount: r.string('GATEWAY_WEBHOOK_SECRET_MOUNT', 'secret'),
    secretPrefix: r.string('GATEWAY_WEBHOOK_SECRET_PREFIX', 'novapos/partners'),
    vault: partners.length && addr ? { addr, auth: vaultAuthFromEnv(r) } : undefined,
  };
}
