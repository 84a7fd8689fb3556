import type { KubeConfig } from '@kubernetes/client-node';
import { type ClusterNode, createRedisClient, type RedisClient } from '../../../../lib/redis-client.js';
import { AlertmanagerProbe } from './alertmanager.js';
import { HttpAuditAdmin } from './audit-service.js';
import { HttpSyntheticTenantAdmin } from './auth-service.js';
import { GatewayMetricsHealth } from './gateway-metrics.js';
import {
  KubeCredentialsSource,
  KubeRateLimits,
  KubeRotationTrigger,
  KubeSecretValues,
} from './kubernetes.js';
import type { DrillAdapters } from './ports.js';
import { RedisDeliveryLog, RedisFaultInjector } from './redis.js';
import { HttpTrafficGenerator } from './traffic.js';

export { AlertmanagerProbe, RUN_LABEL, SYNTHETIC_ALERT_NAME } from './alertmanager.js';
export { AuditAdminError, consumerStateFromText, HttpAuditAdmin } from './audit-service.js';
export { AuthServiceError, HttpSyntheticTenantAdmin } from './auth-service.js';
export { countersFromText, GatewayMetricsHealth } from './gateway-metrics.js';
export {
  DRILL_LABEL,
  KubeCredentialsSource,
  KubeRateLimits,
  KubeRotationTrigger,
  KubeSecretValues,
  RESTORE_LEAD_TIME_ANNOTATION,
} from './kubernetes.js';
export {
  deliveryKey,
  inFlightKey,
  MAX_DELIVERIES_PER_RUN,
  RedisDeliveryLog,
  RedisFaultInjector,
} from './redis.js';
export { type DrillSettings, drillSettingsFromEnv } from './settings.js';
export { HttpTrafficGenerator, PING_PATH } from './traffic.js';
export { DRILL_WEBHOOK_PATH, type DrillWebhookServer, startDrillWebhookServer } from './webhook.js';

export interface DrillAdapterOptions {
  readonly kubeConfig: KubeConfig;
  /**
   * The operator's Redis connection: the same Redis or Redis Cluster as the gateway's limiter
   * (`createRedisClient` from lib/redis-client.ts, chosen by REDIS_URL / REDIS_CLUSTER_NODES).
   */
  readonly redis: RedisClient;
  readonly authServiceUrl: string;
  readonly gatewayUrl: string;
  /** Each gateway replica's /metrics (one URL with one replica); default `<gatewayUrl>/metrics`. */
  readonly gatewayMetricsUrls?: readonly string[];
  readonly alertmanagerUrl: string;
  /** The audit-service's admin port (DRILL_AUDIT_SERVICE_URL); without it the auditCatchUp step fails saying so. */
  readonly auditServiceUrl?: string;
  readonly runbookUrl?: string;
}

/**
 * The drill's Redis connection, where the gateways' limiter reads fault keys: the one Redis at `url`
 * (REDIS_URL), or the Redis Cluster of `clusterNodes` (REDIS_CLUSTER_NODES; `url` then gives credentials/TLS).
 */
export function drillRedisClient(
  url: string | undefined,
  clusterNodes?: readonly ClusterNode[],
): RedisClient {
  const redis = createRedisClient({
    url: url ?? 'redis://',
    clusterNodes,
    options: { maxRetriesPerRequest: 1 },
  });
  redis.on('error', () => {});
  return redis;
}

/** The real adapters, plus the delivery log the drill webhook server writes to. */
export function drillAdapters(
  opts: DrillAdapterOptions,
): DrillAdapters & { readonly deliveryLog: RedisDeliveryLog } {
  const deliveryLog = new RedisDeliveryLog(opts.redis);
  return {
    credentials: new KubeCredentialsSource(opts.kubeConfig),
    tenants: new HttpSyntheticTenantAdmin(opts.authServiceUrl),
    traffic: new HttpTrafficGenerator({ gatewayUrl: opts.gatewayUrl }),
    faults: new RedisFaultInjector(opts.redis),
    rateLimits: new KubeRateLimits(opts.kubeConfig),
    rotation: new KubeRotationTrigger(opts.kubeConfig),
    alerts: new AlertmanagerProbe({
      alertmanagerUrl: opts.alertmanagerUrl,
      deliveries: deliveryLog,
      runbookUrl: opts.runbookUrl,
    }),
    gateway: new GatewayMetricsHealth(opts.gatewayMetricsUrls ?? [`${opts.gatewayUrl}/metrics`]),
    secrets: new KubeSecretValues(opts.kubeConfig),
    ...(opts.auditServiceUrl ? { audit: new HttpAuditAdmin(opts.auditServiceUrl) } : {}),
    deliveryLog,
  };
}
