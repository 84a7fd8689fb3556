import type { Logger } from '../../lib/log.js';
import { parseClusterNodes } from '../../lib/redis-client.js';
import { VaultClient } from '../../lib/vault.js';
import {
  drillAdapters,
  drillRedisClient,
  drillSettingsFromEnv,
  startDrillWebhookServer,
} from './adapters/drill/index.js';
import { RedisLimitPublisher } from './adapters/redis/index.js';
import { vaultSigningKeyStores } from './adapters/vault/vault-signing-key-store.js';
import { connectionsFromConfig } from './adapters/vault-connections/index.js';
import { LOCAL_VAULT_CONNECTION } from './api/meta.js';
import type { OperatorConfig } from './config.js';
import {
  type DisasterRecoveryDrillReconciler,
  disasterRecoveryDrillController,
} from './controllers/disaster-recovery-drill/index.js';
import { secretPromotionController } from './controllers/secret-promotion/index.js';
import { signingKeyRotationController } from './controllers/signing-key-rotation/index.js';
import { tenantRateLimitController } from './controllers/tenant-rate-limit/index.js';
import { type ControllerFactory, loadKubeConfig } from './runtime/index.js';

type Env = Readonly<Record<string, string | undefined>>;

/** What the operator runs with this configuration, and what it skipped and why (logged at start). */
export interface Wiring {
  readonly controllers: ControllerFactory[];
  readonly skipped: { readonly controller: string; readonly why: string }[];
  /** Before the manager stops: ends running drills and cleans up their synthetic state. */
  beforeStop(): Promise<void>;
  /** Closes the adapters' connections (Redis, the drill webhook) after the manager stopped. */
  close(): Promise<void>;
}

/** A client for the operator's own Vault (`local`), the one signing keys live in. */
function localVaultClient(config: OperatorConfig, env: Env): VaultClient | undefined {
  const v = config.vault;
  if (!v) return undefined;
  if (v.auth.method === 'kubernetes') {
    return new VaultClient({
      addr: v.address,
      auth: {
        method: 'kubernetes',
        role: v.auth.role,
        mountPath: v.auth.mount,
        jwtPath: v.auth.serviceAccountTokenPath,
      },
    });
  }
  const token = v.token ?? (v.auth.method === 'token' && v.auth.tokenEnv ? env[v.auth.tokenEnv] : undefined);
  return token ? new VaultClient({ addr: v.address, auth: { method: 'token', token } }) : undefined;
}

/**
 * Builds every controller the configuration supports. A controller whose dependency is not configured is
 * skipped with the reason (the operator still serves the others), never started half-wired.
 */
export async function controllersFor(config: OperatorConfig, env: Env, log: Logger): Promise<Wiring> {
  const controllers: ControllerFactory[] = [];
  const skipped: Wiring['skipped'] = [];
  const closers: (() => Promise<void>)[] = [];

  const vault = localVaultClient(config, env);
  if (vault) {
    controllers.push(
      signingKeyRotationController({
        vault: vaultSigningKeyStores(new Map([[LOCAL_VAULT_CONNECTION, vault]])),
        endpoints: config.file.keyStatusEndpoints,
      }),
    );
  } else {
    skipped.push({ controller: 'signingkeyrotation', why: 'VAULT_ADDR is not set' });
  }

  const connections = connectionsFromConfig(config, env);
  if (connections.length > 0) {
    controllers.push(secretPromotionController({ operatorNamespace: config.operatorNamespace, connections }));
  } else {
    skipped.push({
      controller: 'secretpromotion',
      why: 'no Vault connection (VAULT_ADDR or OPERATOR_CONNECTIONS_FILE)',
    });
  }

  // REDIS_CLUSTER_NODES: the gateways' Redis is a Redis Cluster (REDIS_URL then gives credentials/TLS).
  const redisClusterNodes = parseClusterNodes(env.REDIS_CLUSTER_NODES);
  if (config.redisUrl || redisClusterNodes) {
    const limits = new RedisLimitPublisher(config.redisUrl ?? 'redis://', {
      clusterNodes: redisClusterNodes,
    });
    closers.push(() => limits.close());
    // Deny unless owned (issue 19): without tenantOwners no namespace owns any tenant, so no TenantRateLimit
    // applies (each says so in its TenantOwned condition); another namespace can never squat a tenant.
    controllers.push(tenantRateLimitController({ limits, tenantOwners: config.file.tenantOwners ?? [] }));
    if (!config.file.tenantOwners)
      log.warn(
        'no tenantOwners in the operator configuration: no TenantRateLimit applies until tenantOwners names the namespace that owns its tenant (docs/api.md, TenantRateLimit)',
      );
  } else {
    skipped.push({ controller: 'tenantratelimit', why: 'REDIS_URL is not set' });
  }

  // Drills run inside the operator: they need the services they exercise, Alertmanager and Redis.
  let drills: DisasterRecoveryDrillReconciler | undefined;
  const drillSettings = drillSettingsFromEnv(env);
  if (drillSettings && (config.redisUrl || redisClusterNodes)) {
    // The fault keys go where the gateways' limiter reads them: the one Redis or the Redis Cluster.
    const redis = drillRedisClient(config.redisUrl, redisClusterNodes);
    const adapters = drillAdapters({ kubeConfig: loadKubeConfig(env), redis, ...drillSettings });
    if (!drillSettings.webhookToken && !drillSettings.webhookTokenFile) {
      log.warn(
        'the drill webhook accepts deliveries without a bearer token: set DRILL_WEBHOOK_TOKEN_FILE (the chart mounts the novapos-operator-drill-webhook Secret)',
      );
    }
    const webhook = await startDrillWebhookServer({
      port: drillSettings.webhookPort,
      host: config.bindAddress,
      deliveries: adapters.deliveryLog,
      log,
      bearerToken: drillSettings.webhookToken,
      bearerTokenFile: drillSettings.webhookTokenFile,
    });
    closers.push(async () => {
      await webhook.close();
      redis.disconnect();
    });
    controllers.push(disasterRecoveryDrillController({ adapters, onReconciler: (r) => (drills = r) }));
  } else {
    skipped.push({
      controller: 'disasterrecoverydrill',
      why: 'needs DRILL_AUTH_SERVICE_URL, DRILL_GATEWAY_URL, ALERTMANAGER_URL and REDIS_URL (or REDIS_CLUSTER_NODES)',
    });
  }

  return {
    controllers,
    skipped,
    async beforeStop() {
      await drills?.stopAll();
    },
    async close() {
      await Promise.all(closers.map((c) => c().catch(() => {})));
    },
  };
}
