import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type pg from 'pg';
import type pino from 'pino';
import { type EventPublisher, LogEventPublisher } from '../../../lib/events.js';
import { RemoteJwksVerifier } from '../../../lib/jwks-verifier.js';
import { createLogger, type Logger } from '../../../lib/log.js';
import { createApp } from './app.js';
import type { GatewayConfig } from './config.js';
import { ApiKeyAuthenticator } from './domain/api-keys.js';
import { Authenticator } from './domain/authenticate.js';
import type { GatewayDefaults } from './domain/limits.js';
import { RateLimiter } from './domain/rate-limiter.js';
import { UsageTracker } from './domain/usage.js';
import { ConfigStore } from './limiter/config-store.js';
import { RedisLimiter } from './limiter/redis-limiter.js';
import { GatewayMetrics } from './metrics.js';
import { createProxy, type UpstreamProxy } from './routes/proxy.js';
import { PgApiKeyStore } from './storage/api-keys.js';
import { createPool } from './storage/db.js';
import { migrate } from './storage/migrate.js';
import { PgUsageStore } from './storage/usage.js';

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly configStore: ConfigStore;
  readonly usage?: UsageTracker;
  readonly redis: Redis;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where log records go (tests capture them to scan for secrets); stdout by default. */
  readonly logDestination?: pino.DestinationStream;
  readonly events?: EventPublisher;
  /** How long start waits for Redis before serving anyway (failure modes apply meanwhile). Default 3 s. */
  readonly redisWaitMs?: number;
}

/** Connection settings that make a Redis outage visible at once, so failure modes apply without waiting. */
export function limiterRedisOptions(commandTimeoutMs: number) {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    // Reconnect fast and keep trying: the limiter resumes as soon as Redis is back.
    retryStrategy: (attempt: number) => Math.min(50 * attempt, 500),
  };
}

/** Wires config → adapters → domain → HTTP and starts listening. */
export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  const logger = createLogger({
    component: 'integration-gateway',
    level: config.logLevel,
    destination: opts.logDestination,
  });
  const redis = new Redis(config.redisUrl, limiterRedisOptions(config.redisCommandTimeoutMs));
  const subscriber = redis.duplicate({
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  });
  let lastRedisError = 0;
  const onRedisError = (err: Error) => {
    if (Date.now() - lastRedisError < 5000) return;
    lastRedisError = Date.now();
    logger.warn(
      { event: 'redis_error', error: err.message },
      'Redis unavailable: tenants use their redisFailureMode',
    );
  };
  redis.on('error', onRedisError);
  subscriber.on('error', () => {});
  redis.on('ready', () => logger.info({ event: 'redis_ready' }, 'Redis connected: limiting in Redis'));

  let pool: pg.Pool | undefined;
  if (config.databaseUrl) {
    pool = createPool(config.databaseUrl);
    const applied = await migrate(pool);
    if (applied.length)
      logger.info({ event: 'migrations_applied', migrations: applied }, 'database migrated');
  }

  const defaults: GatewayDefaults = {
    requestsPerMinute: config.limits.defaultRequestsPerMinute,
    burst: config.limits.defaultBurst,
    redisFailureMode: config.limits.defaultRedisFailureMode,
    localFallback: {
      requestsPerMinute: config.limits.defaultLocalFallbackRpm,
      burst: config.limits.defaultBurst,
    },
  };
  let configStore: ConfigStore | undefined;
  const metrics = new GatewayMetrics({
    processMetrics: true,
    tenantLabelAllowed: (t) =>
      config.metricTenants.includes(t) || (configStore?.get(t).fromResource ?? false),
  });
  configStore = new ConfigStore({
    redis,
    subscriber,
    replicaId: config.replicaId,
    defaults,
    log: logger,
    onApplied: (tenant) => metrics.configApplied.inc({ tenant: metrics.tenantLabel(tenant) }),
  });
  const store = configStore;
  await waitForReady(redis, opts.redisWaitMs ?? 3000);
  await store.start();
  await store.announce();

  const limiter = new RateLimiter({
    backend: new RedisLimiter(redis),
    onBackendError: (err) => onRedisError(err as Error),
  });
  const jwt = config.jwt.jwksUrl
    ? new RemoteJwksVerifier({
        jwksUrl: config.jwt.jwksUrl,
        issuer: config.jwt.issuer,
        audience: config.jwt.audience,
        clockToleranceSeconds: config.jwt.clockToleranceSeconds,
        maxCacheSeconds: config.jwt.jwksMaxCacheSeconds,
        requiredClaims: ['exp', 'iat', 'sub', 'tid'],
        onFetch: ({ ok, kids, cacheSeconds, error }) =>
          ok
            ? logger.info({ event: 'jwks_fetched', kids, cache_seconds: cacheSeconds }, 'JWKS loaded')
            : logger.warn({ event: 'jwks_fetch_failed', error }, 'JWKS fetch failed'),
      })
    : undefined;
  // Load the key set now, not on the first token: /keys/status then tells the operator what this replica
  // verifies with from the start. Best effort: an unreachable issuer is retried on demand.
  await jwt?.refresh().catch(() => {});
  const apiKeys = pool
    ? new ApiKeyAuthenticator({
        store: new PgApiKeyStore(pool),
        revalidateMs: config.apiKeys.revalidateSeconds * 1000,
        cacheSize: config.apiKeys.cacheSize,
      })
    : undefined;
  const events = opts.events ?? new LogEventPublisher(logger);
  const usage = pool
    ? new UsageTracker({
        store: new PgUsageStore(pool),
        events,
        topic: config.usage.auditTopic,
        replicaId: config.replicaId,
        onError: (_what, err) =>
          logger.warn(
            { event: 'usage_flush_failed', error: (err as Error).message },
            'API key usage not written; kept for the next flush',
          ),
      })
    : undefined;
  usage?.start(config.usage.flushSeconds * 1000, config.usage.summarySeconds * 1000);
  const proxy: UpstreamProxy | undefined = config.upstreamUrl
    ? createProxy(config.upstreamUrl, config.upstreamTimeoutMs, (reason, err) => {
        metrics.upstreamErrors.inc({ reason });
        logger.warn(
          { event: 'upstream_error', reason, error: (err as Error).message },
          'upstream request failed',
        );
      })
    : undefined;

  const app = createApp({
    keys: jwt,
    authenticator: new Authenticator({ jwt, apiKeys }),
    limits: store,
    limiter,
    metrics,
    usage,
    proxy,
    logger,
    ready: () => store.hasLoaded || redis.status !== 'ready',
    trustProxyHops: config.trustProxyHops,
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info(
    { event: 'started', port, replica_id: config.replicaId, upstream: config.upstreamUrl ?? null },
    'integration-gateway listening',
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    logger,
    metrics,
    configStore: store,
    usage,
    redis,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await usage?.stop().catch(() => {});
        await store.stop();
        await proxy?.close();
        redis.disconnect();
        subscriber.disconnect();
        await pool?.end();
        await events.close();
      })()),
  };
}

function waitForReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}
