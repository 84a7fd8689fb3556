import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pino from 'pino';
import type { EventPublisher } from '../../../lib/events.js';
import { createEventPublisher } from '../../../lib/kafka-events.js';
import { createLogger, type Logger } from '../../../lib/log.js';
import { createRedisClient, type RedisClient } from '../../../lib/redis-client.js';
import { healthRoutes, sendJson, startAdminListener } from '../../../lib/service-kit/admin-listener.js';
import { MemorySessionRevocation, RedisSessionRevocation } from '../../../lib/session-revocation.js';
import { VaultClient } from '../../../lib/vault.js';
import { createApp } from './app.js';
import type { AuthConfig } from './config.js';
import { createAuthService } from './domain/auth-service.js';
import { type Clock, systemClock } from './domain/clock.js';
import { KeyRing, type KeysetSource } from './domain/keyring.js';
import { PasswordHasher } from './domain/passwords.js';
import { SuspiciousLoginDetector, SuspiciousWebhook } from './domain/suspicious.js';
import { createMetrics } from './metrics.js';
import { readiness } from './routes/health.js';
import { connectPostgres, type Db, openPglite } from './storage/db.js';
import { sealMfaSecrets } from './storage/mfa-secrets.js';
import { migrate } from './storage/migrate.js';
import { AuthRepository } from './storage/repo.js';
import { TransitCipher } from './storage/transit-cipher.js';
import { VaultKeysetSource } from './storage/vault-keys.js';

export interface RunningAuthService {
  readonly url: string;
  readonly port: number;
  /** The admin listener: `/metrics` (with the per-tenant gauges), never on the API port. */
  readonly adminUrl: string;
  readonly adminPort: number;
  readonly db: Db;
  readonly repo: AuthRepository;
  readonly keyring: KeyRing;
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where log records go (tests capture them to scan for secrets); stdout by default. */
  readonly logDestination?: pino.DestinationStream;
  readonly events?: EventPublisher;
  /** Key material from somewhere other than Vault (benchmarks); Vault per config otherwise. */
  readonly keysetSource?: KeysetSource;
  /** The domain's clock (lockout windows, TOTP steps, token expiry); the system clock by default. */
  readonly clock?: Clock;
}

export async function openDatabase(config: AuthConfig): Promise<Db> {
  return config.databaseUrl ? connectPostgres(config.databaseUrl) : openPglite(config.pgliteDataDir);
}

/** Wires config → adapters → domain → HTTP and starts listening. */
export async function startAuthService(
  config: AuthConfig,
  opts: StartOptions = {},
): Promise<RunningAuthService> {
  const logger = createLogger({
    component: 'auth-service',
    level: config.logLevel,
    destination: opts.logDestination,
  });
  const db = await openDatabase(config);
  const applied = await migrate(db);
  if (applied.length > 0)
    logger.info({ event: 'migrations_applied', migrations: applied }, 'database migrated');
  const repo = new AuthRepository(db);
  const metrics = createMetrics({ usersByTenant: () => repo.countUsersByTenant() });

  const vault = new VaultClient({
    addr: config.vault.addr,
    auth: config.vault.auth,
    namespace: config.vault.namespace,
  });
  const source = opts.keysetSource ?? new VaultKeysetSource(vault, config.signingKeys.keysetPath);
  // TOTP secrets at rest: Vault transit (storage/transit-cipher.ts). Rows written before encryption are
  // sealed now; Vault down at start only delays that (MFA answers 503 mfa_unavailable meanwhile).
  const mfaCipher = new TransitCipher(vault, {
    mount: config.mfaTransit.mount,
    key: config.mfaTransit.key,
    namespace: config.vault.namespace,
  });
  const sealLegacy = () =>
    sealMfaSecrets(repo, mfaCipher, { plaintextOnly: true })
      .then(({ sealed }) => {
        if (sealed > 0)
          logger.info({ event: 'mfa_secrets_sealed', sealed }, 'TOTP secrets encrypted at rest');
      })
      .catch((err: unknown) =>
        logger.warn(
          { event: 'mfa_secrets_seal_failed', error: err instanceof Error ? err.name : 'unknown' },
          'TOTP secrets not sealed yet; retried at the next start or POST /admin/mfa-secrets/seal',
        ),
      );
  if (!opts.keysetSource) await sealLegacy();
  const keyring = new KeyRing(source, {
    loaded: ({ keysetHash, activeKid, kids, changed }) => {
      metrics.keysetReloads.inc({ result: changed ? 'changed' : 'unchanged' });
      if (changed) {
        metrics.keysetLoadedTimestamp.set(Date.now() / 1000);
        logger.info(
          {
            event: 'key_rotation',
            action: 'keyset_loaded',
            keyset_hash: keysetHash,
            active_kid: activeKid,
            kids,
          },
          'signing key set loaded',
        );
      }
    },
    failed: (err) => {
      metrics.keysetReloads.inc({ result: 'failed' });
      logger.warn(
        {
          event: 'key_rotation',
          action: 'keyset_load_failed',
          error_code: err.code,
          error: err.message,
          keeping: keyring.status().keysetHash,
        },
        'signing key set not loaded; keeping the last good set',
      );
    },
  });
  await keyring.reload();
  keyring.startPolling(config.signingKeys.pollSeconds * 1000);

  const hasher = new PasswordHasher(config.argon2);
  await hasher.warmUp();
  // The log line always; Kafka through the outbox in this service's database when KAFKA_BOOTSTRAP is set.
  const events =
    opts.events ??
    (await createEventPublisher({
      kafka: config.kafka,
      db,
      producer: 'auth-service',
      logger,
      registry: metrics.registry,
    }));
  const bootstrapToken =
    config.bootstrapToken ??
    (config.bootstrapTokenFile ? (await readFile(config.bootstrapTokenFile, 'utf8')).trim() : undefined);
  // Session revocation: the Redis (or Redis Cluster) shared with the gateways; in-process only without either
  // (one replica).
  const onCluster = (config.redisClusterNodes?.length ?? 0) > 0;
  const redis =
    config.redisUrl || onCluster
      ? createRedisClient({
          url: config.redisUrl ?? 'redis://127.0.0.1:6379/0',
          clusterNodes: config.redisClusterNodes,
          options: {
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            commandTimeout: 500,
            connectTimeout: 2000,
            retryStrategy: (attempt: number) => Math.min(50 * attempt, 500),
          },
        })
      : undefined;
  redis?.on('error', () => {}); // each command reports its own failure (503 session_check_unavailable)
  if (redis) await waitForRedis(redis, 3000);
  // On a single Redis it reads the names before issues 17, 22 too while writers write both (docs/contracts.md,
  // "Session revocation"). Not on a cluster: no earlier release wrote there, and the old names are in other
  // slots than the new ones (one MGET cannot read both).
  const sessions = redis
    ? new RedisSessionRevocation(redis, { readLegacyNames: !onCluster })
    : new MemorySessionRevocation();
  const clock = opts.clock ?? systemClock;
  const service = createAuthService({
    config,
    clock,
    mfaCipher,
    sessions,
    bootstrapToken,
    store: repo,
    hasher,
    keyring,
    metrics,
    events,
    logger,
    detector: new SuspiciousLoginDetector(config.suspicious, () => clock.now()),
    webhook: new SuspiciousWebhook({
      url: config.suspicious.webhookUrl,
      bearer: config.suspicious.webhookBearer,
      minIntervalSeconds: config.suspicious.webhookMinIntervalSeconds,
      maxPerMinute: config.suspicious.webhookMaxPerMinute,
      logger,
    }),
  });
  const app = createApp({ config, service, keyring, metrics, db, logger });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const admin = await startAdminListener({
    port: config.adminPort,
    host: config.host,
    registry: metrics.registry,
    routes: [
      // /healthz (live) and /readyz (ready: database and key set), for the probes.
      ...healthRoutes(() => readiness({ db, keyring })),
      // The operator's reload notification goes to the `admin` port of a serviceRef (docs/contracts.md); no
      // body, no data: it only makes the service re-read Vault now. Also served on the API port (statusURL).
      {
        method: 'POST',
        path: '/keys/reload',
        handle: (_req, res) => {
          void keyring.reload();
          sendJson(res, 202, { reloading: true });
        },
      },
      // Operations (admin port only): seal rows written in clear; rewrap every row after a key rotation.
      {
        method: 'POST',
        path: '/admin/mfa-secrets/seal',
        handle: async (_req, res) => {
          sendJson(res, 200, await sealMfaSecrets(repo, mfaCipher, { plaintextOnly: true }));
        },
      },
      {
        method: 'POST',
        path: '/admin/mfa-secrets/rewrap',
        handle: async (_req, res) => {
          sendJson(res, 200, await sealMfaSecrets(repo, mfaCipher, { plaintextOnly: false }));
        },
      },
    ],
  });
  logger.info(
    { event: 'started', port, admin_port: admin.port, database: db.kind },
    'auth-service listening',
  );
  return {
    url: `http://${host}:${port}`,
    port,
    adminUrl: admin.url,
    adminPort: admin.port,
    db,
    repo,
    keyring,
    logger,
    async close() {
      keyring.stopPolling();
      await admin.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await events.close();
      redis?.disconnect();
      await db.close();
    },
  };
}

/** Waits (bounded) for the first Redis connection, so the first requests do not fail for a cold client. */
function waitForRedis(redis: RedisClient, timeoutMs: number): Promise<void> {
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
