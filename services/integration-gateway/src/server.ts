import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type pg from 'pg';
import type pino from 'pino';
import { describeError, errorClass, errorCode } from '../../../lib/errors.js';
import type { EventPublisher } from '../../../lib/events.js';
import { RemoteJwksVerifier } from '../../../lib/jwks-verifier.js';
import { createEventPublisher } from '../../../lib/kafka-events.js';
import { createLogger, type Logger } from '../../../lib/log.js';
import type { RedisClient } from '../../../lib/redis-client.js';
import {
  type AdminListener,
  healthRoutes,
  sendJson,
  startAdminListener,
} from '../../../lib/service-kit/admin-listener.js';
import { postgresDb } from '../../../lib/service-kit/db.js';
import { answerClientError, rawErrorResponse } from '../../../lib/service-kit/http.js';
import { CachedRevocationCheck, RedisSessionRevocation } from '../../../lib/session-revocation.js';
import { VaultClient } from '../../../lib/vault.js';
import { createHandler } from './app.js';
import type { GatewayConfig } from './config.js';
import { ApiKeyAuthenticator } from './domain/api-keys.js';
import { AuthThrottle } from './domain/auth-throttle.js';
import { Authenticator, type CredentialHeaders, type TokenVerifier } from './domain/authenticate.js';
import { CachedTokenVerifier } from './domain/jwt-cache.js';
import type { GatewayDefaults } from './domain/limits.js';
import { RateLimiter } from './domain/rate-limiter.js';
import { UsageTracker } from './domain/usage.js';
import { RedisFailureCounts } from './limiter/auth-failures.js';
import { ConfigStore } from './limiter/config-store.js';
import { limiterConnections, revocationCommands } from './limiter/connections.js';
import { RedisLimiter } from './limiter/redis-limiter.js';
import { GatewayMetrics } from './metrics.js';
import { createProxy, type UpstreamProxy } from './routes/proxy.js';
import { type PartnerWebhookDeps, partnerWebhookCounter } from './routes/webhooks.js';
import { PgApiKeyStore } from './storage/api-keys.js';
import { createPool } from './storage/db.js';
import { migrate } from './storage/migrate.js';
import { PgUsageStore } from './storage/usage.js';
import {
  RedisWebhookReplay,
  upstreamWebhookForwarder,
  VaultWebhookSecrets,
} from './storage/webhook-stores.js';

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  /** The admin listener: `/metrics`, `POST /keys/reload`. */
  readonly adminUrl: string;
  readonly adminPort: number;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly configStore: ConfigStore;
  readonly usage?: UsageTracker;
  readonly redis: RedisClient;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where log records go (tests capture them to scan for secrets); stdout by default. */
  readonly logDestination?: pino.DestinationStream;
  readonly events?: EventPublisher;
  /** How long start waits for Redis before serving anyway (failure modes apply meanwhile). Default 3 s. */
  readonly redisWaitMs?: number;
  /** On close, how long requests in flight may take before their connections are cut. Default 10 s. */
  readonly shutdownDrainMs?: number;
}

export { limiterRedisOptions } from './limiter/connections.js';

/** Wires config → adapters → domain → HTTP and starts listening. */
export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  const logger = createLogger({
    component: 'integration-gateway',
    level: config.logLevel,
    destination: opts.logDestination,
  });
  // REDIS_CLUSTER_NODES selects a Redis Cluster, else the one Redis at REDIS_URL (docs/contracts.md).
  const { redis, subscriber } = limiterConnections({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    commandTimeoutMs: config.redisCommandTimeoutMs,
  });
  let lastRedisError = 0;
  // The class and code only: a Redis reply error may quote a command's keys and arguments.
  const onRedisError = (err: unknown) => {
    if (Date.now() - lastRedisError < 5000) return;
    lastRedisError = Date.now();
    logger.warn(
      { event: 'redis_error', error: errorClass(err), code: errorCode(err) },
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
    onBackendError: onRedisError,
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
        onVerify: () => metrics.apiKeyVerifications.inc(),
      })
    : undefined;
  // Verified tokens by hash until exp, re-verified once whenever the verifier loads a key set.
  const tokens =
    jwt && config.jwt.tokenCacheSize > 0
      ? new CachedTokenVerifier({ verifier: jwt, maxEntries: config.jwt.tokenCacheSize })
      : undefined;
  const tokenVerifier = tokens ?? jwt;
  // auth_jwt_validation_duration_seconds{cache}: a hit is the hash and the lookup, a miss the signature check.
  const hitDuration = metrics.jwtValidationDuration.labels({ cache: 'hit' });
  const timedTokens: TokenVerifier | undefined = tokenVerifier && {
    cached: tokens
      ? (token: string) => {
          const started = performance.now();
          const hit = tokens.cached(token);
          if (hit) hitDuration.observe((performance.now() - started) / 1000);
          return hit;
        }
      : undefined,
    verify: async (token: string) => {
      const end = metrics.jwtValidationDuration.startTimer({ cache: 'miss' });
      try {
        return await tokenVerifier.verify(token);
      } finally {
        end();
      }
    },
  };
  const bearerOf = (h: CredentialHeaders) => /^Bearer\s+(\S+)$/i.exec(h.authorization ?? '')?.[1];
  const throttle = new AuthThrottle({
    store: new RedisFailureCounts(redis),
    perAddress: config.authFailures.perAddress,
    perKeyPrefix: config.authFailures.perKeyPrefix,
    windowMs: config.authFailures.windowSeconds * 1000,
    failureMode: config.limits.defaultRedisFailureMode,
    onStoreError: onRedisError,
  });
  // Tokens of sessions auth-service ended are refused within ~1 s (cache) of the revocation.
  const revocation = new CachedRevocationCheck(new RedisSessionRevocation(revocationCommands(redis)), {
    cacheMs: 1000,
  });
  // The log line always; Kafka through the outbox in the gateway's database when KAFKA_BOOTSTRAP is set.
  const events =
    opts.events ??
    (await createEventPublisher({
      kafka: config.kafka,
      db: pool && postgresDb(pool),
      producer: 'integration-gateway',
      logger,
      registry: metrics.registry,
    }));
  const usage = pool
    ? new UsageTracker({
        store: new PgUsageStore(pool),
        events,
        topic: config.usage.auditTopic,
        replicaId: config.replicaId,
        onError: (_what, err) =>
          logger.warn(
            { event: 'usage_flush_failed', error: describeError(err) },
            'API key usage not written; kept for the next flush',
          ),
      })
    : undefined;
  usage?.start(config.usage.flushSeconds * 1000, config.usage.summarySeconds * 1000);
  const proxy: UpstreamProxy | undefined = config.upstreamUrl
    ? createProxy(config.upstreamUrl, config.upstreamTimeoutMs, (reason, err) => {
        metrics.upstreamErrors.inc({ reason });
        logger.warn(
          { event: 'upstream_error', reason, error: describeError(err) },
          'upstream request failed',
        );
      })
    : undefined;

  // Partner webhooks (seed 001): the tenants' secrets in Vault, replays refused through Redis, verified
  // bodies forwarded to the upstream and published on the audit topic.
  const hooks = config.webhooks;
  let webhooks: PartnerWebhookDeps | undefined;
  if (hooks.vault && hooks.partners.length) {
    const secrets = new VaultWebhookSecrets({
      vault: new VaultClient(hooks.vault),
      mount: hooks.secretMount,
      prefix: hooks.secretPrefix,
    });
    const replay = new RedisWebhookReplay(redis);
    const counter = partnerWebhookCounter(metrics.registry);
    webhooks = {
      partners: new Set(hooks.partners),
      secrets: (partner, tenant) => secrets.get(partner, tenant),
      markSeen: (partner, tenant, id, ttlMs) => replay.markSeen(partner, tenant, id, ttlMs),
      unmarkSeen: (partner, tenant, id) => replay.unmarkSeen(partner, tenant, id),
      forward: config.upstreamUrl
        ? upstreamWebhookForwarder(config.upstreamUrl, config.upstreamTimeoutMs)
        : undefined,
      publish: (event) => events.publish(config.usage.auditTopic, event),
      count: (partner, outcome) => {
        counter.inc({ partner, outcome });
        // The runbook's signature alert (> 10 per minute) counts forged webhooks too.
        if (outcome === 'signature_invalid' || outcome === 'signature_missing')
          metrics.signatureFailures.inc();
        if (outcome !== 'forwarded' && outcome !== 'accepted')
          logger.info({ event: 'webhook_refused', partner, outcome }, 'partner webhook refused');
      },
      toleranceSeconds: hooks.toleranceSeconds,
      maxBodyBytes: hooks.maxBodyBytes,
      now: () => new Date(),
    };
  }

  const handler = createHandler({
    webhooks,
    keys: jwt,
    authenticator: new Authenticator({ jwt: timedTokens, apiKeys, sessions: revocation }),
    limits: store,
    limiter,
    metrics,
    usage,
    proxy,
    logger,
    ready: () => store.hasLoaded || redis.status !== 'ready',
    trustProxyHops: config.trustProxyHops,
    scopes: config.scopes,
    throttle,
    throttleRetryAfterSeconds: config.authFailures.windowSeconds,
    isKnownCredential: (h) => {
      const token = bearerOf(h);
      if (token && jwt) return tokens?.has(token) ?? false;
      return h.apiKey !== undefined && (apiKeys?.isKnown(h.apiKey) ?? false);
    },
  });
  // The Host rule is the handler's (app.ts oneHost), answered with the error envelope.
  const server: Server = createServer({ keepAliveTimeout: 65_000, requireHostHeader: false }, handler);
  server.on('checkContinue', handler.withContinue);
  // CONNECT (authority-form) is not a request this gateway serves: a 400 on the socket, then close. The
  // socket has left node:http's hands: what the client still sends is read and dropped, so that its close
  // is seen (a paused socket never saw it and stayed open for ever, and so did server.close(); found by
  // test/gateway/fuzz.int.test.ts), and it is cut after 5 s at most.
  server.on('connect', (_req, socket: Socket) => {
    socket.on('error', () => {});
    socket.resume();
    socket.setTimeout(5000, () => socket.destroy());
    socket.end(
      rawErrorResponse(
        400,
        'Bad Request',
        'invalid_request_target',
        'only origin-form request targets (/path?query) are accepted',
      ),
    );
  });
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const admin: AdminListener = await startAdminListener({
    port: config.adminPort,
    host: config.adminHost,
    registry: metrics.registry,
    routes: [
      // The probes' paths (docs/contracts.md, "Health"); /healthz and /readyz stay on the API port too.
      ...healthRoutes(() => ({
        ready: store.hasLoaded || redis.status !== 'ready',
        checks: { limits: store.hasLoaded ? 'loaded' : 'not_loaded', redis: redis.status },
      })),
      {
        // No body, no data: it only makes the gateway refetch the JWKS now (docs/contracts.md).
        method: 'POST',
        path: '/keys/reload',
        handle: (_req, res) => {
          jwt?.reload().catch(() => {
            // A failed refetch is logged by the verifier; the cached set keeps serving within its age.
          });
          sendJson(res, 202, { status: 'reloading' });
        },
      },
    ],
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info(
    {
      event: 'started',
      port,
      admin_port: admin.port,
      replica_id: config.replicaId,
      upstream: config.upstreamUrl ?? null,
    },
    'integration-gateway listening',
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    adminUrl: admin.url,
    adminPort: admin.port,
    logger,
    metrics,
    configStore: store,
    usage,
    redis,
    close: () =>
      (closing ??= (async () => {
        // Stop accepting; let requests in flight finish (closing each connection as it goes idle), and
        // cut what is still open after the drain time.
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          const idle = setInterval(() => server.closeIdleConnections(), 100);
          const cut = setTimeout(() => server.closeAllConnections(), opts.shutdownDrainMs ?? 10_000);
          server.once('close', () => {
            clearInterval(idle);
            clearTimeout(cut);
          });
        });
        await admin.close();
        await usage?.stop().catch(() => {});
        await store.stop();
        await proxy?.close();

        redis.disconnect();
        subscriber.disconnect();
        // Before the pool ends: the outbox relay gets a last chance to send.
        await events.close();
        await pool?.end();
      })()),
  };
}

function waitForReady(redis: RedisClient, timeoutMs: number): Promise<void> {
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
