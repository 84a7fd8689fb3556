import { Gauge, type Registry } from 'prom-client';
import type { LimitPublisher } from '../../adapters/redis/limit-publisher.js';
import { GROUP, VERSION } from '../../api/index.js';
import type { TenantRateLimit } from '../../api/v1alpha1/index.js';
import type { TenantOwner } from '../../connections-file.js';
import type { ControllerFactory, ResourceKind } from '../../runtime/index.js';
import { TENANT_INDEX, TenantRateLimitReconciler } from './reconciler.js';

export const tenantRateLimitKind: ResourceKind = {
  group: GROUP,
  version: VERSION,
  kind: 'TenantRateLimit',
  plural: 'tenantratelimits',
  namespaced: true,
};

function appliedGauge(registry: Registry): Gauge<'tenant'> {
  const name = 'novapos_tenant_rate_limit_applied';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<'tenant'>;
  return new Gauge({
    name,
    help: "1 when every live gateway replica acknowledged the tenant's current TenantRateLimit generation, 0 while waiting or failing.",
    labelNames: ['tenant'],
    registers: [registry],
  });
}

export interface TenantRateLimitControllerOptions {
  /** The Redis adapter (`RedisLimitPublisher` from operator/src/adapters/redis). */
  readonly limits: LimitPublisher;
  readonly now?: () => Date;
  /** Which namespace sets which tenant's limits (the connections file's tenantOwners); default: any. */
  readonly tenantOwners?: readonly TenantOwner[];
  /** How often an applied resource's generation is verified in Redis (default 60 s). */
  readonly verifyEveryMs?: number;
  /** After publishing, how long a reconcile waits for the gateways' acknowledgements (default 1 s). */
  readonly ackWaitMs?: number;
}

/** The TenantRateLimit controller, for `Manager.register`. */
export function tenantRateLimitController(opts: TenantRateLimitControllerOptions): ControllerFactory {
  return ({ registry }) => ({
    name: 'tenantratelimit',
    kind: tenantRateLimitKind,
    // One owner per tenant: each reconcile reads the other resources of its tenant (not every resource).
    indexers: { [TENANT_INDEX]: (o: TenantRateLimit) => (o.spec?.tenant ? [o.spec.tenant] : []) },
    reconciler: new TenantRateLimitReconciler({
      limits: opts.limits,
      appliedGauge: appliedGauge(registry),
      now: opts.now,
      tenantOwners: opts.tenantOwners,
      verifyEveryMs: opts.verifyEveryMs,
      ackWaitMs: opts.ackWaitMs,
    }),
  });
}

export { FINALIZER, TenantRateLimitReason } from './desired.js';
