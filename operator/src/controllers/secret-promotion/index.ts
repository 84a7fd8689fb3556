import { CoreV1Api } from '@kubernetes/client-node';
import { type FingerprintKeySource, KubernetesSecretFingerprintKey } from '../../adapters/hmac-key/index.js';
import { type ConnectionDefinition, VaultConnections } from '../../adapters/vault-connections/index.js';
import { GROUP, VERSION } from '../../api/meta.js';
import type { SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import type { ControllerFactory, ResourceKind } from '../../runtime/index.js';
import type { SecretStoreProvider } from './gather.js';
import { PromotionMetrics } from './metrics.js';
import type { PromotionPolicies } from './policy.js';
import { SecretPromotionReconciler } from './reconciler.js';

export { FINALIZER } from './finalizer.js';
export { Provenance, type SecretStoreProvider } from './gather.js';
export { PromotionMetrics } from './metrics.js';
export { checkPromotionPolicy, type PolicyDecision, type PromotionPolicies } from './policy.js';
export { SecretPromotionReconciler } from './reconciler.js';

export const secretPromotionKind: ResourceKind = {
  group: GROUP,
  version: VERSION,
  kind: 'SecretPromotion',
  plural: 'secretpromotions',
  namespaced: true,
};

export interface SecretPromotionControllerOptions {
  /** The operator's namespace: home of the fingerprint key Secret and of connection token Secrets. */
  readonly operatorNamespace: string;
  /** Named Vault connections (see `connectionsFromConfig`); built with a Kubernetes client for token Secrets. */
  readonly connections?: readonly ConnectionDefinition[];
  /** Or a ready provider (tests, benchmarks that count requests). */
  readonly stores?: SecretStoreProvider;
  /**
   * The promotion policy per connection. Default: each connection definition's `promotion` (a connection
   * without one may not be used by any promotion; a name not configured is refused).
   */
  readonly policies?: PromotionPolicies;
  /** Default: an immutable Secret `novapos-promotion-fingerprint-key` in the operator's namespace. */
  readonly fingerprintKey?: FingerprintKeySource;
  /** An approval counts only with admission's approved-by stamp. Default true. */
  readonly requireApproverStamp?: boolean;
  readonly historyLimit?: number;
  readonly concurrency?: number;
  readonly maxConcurrentReconciles?: number;
  readonly now?: () => Date;
}

/** The SecretPromotion controller: `manager.register(secretPromotionController({ operatorNamespace, connections }))`. */
export function secretPromotionController(opts: SecretPromotionControllerOptions): ControllerFactory {
  return ({ kubeConfig, registry, log }) => {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const stores =
      opts.stores ??
      new VaultConnections({
        connections: opts.connections ?? [],
        core,
        operatorNamespace: opts.operatorNamespace,
        concurrency: opts.concurrency,
      });
    const fingerprintKey =
      opts.fingerprintKey ??
      new KubernetesSecretFingerprintKey({
        core,
        namespace: opts.operatorNamespace,
        log: log.child({ controller: 'secretpromotion' }),
      });
    return {
      name: 'secretpromotion',
      kind: secretPromotionKind,
      maxConcurrentReconciles: opts.maxConcurrentReconciles,
      reconciler: new SecretPromotionReconciler({
        connections: stores,
        policies: opts.policies ?? new Map((opts.connections ?? []).map((c) => [c.name, c.promotion])),
        fingerprintKey,
        metrics: new PromotionMetrics(registry),
        requireApproverStamp: opts.requireApproverStamp,
        historyLimit: opts.historyLimit,
        concurrency: opts.concurrency,
        now: opts.now,
      }),
    } satisfies ReturnType<ControllerFactory> & { reconciler: SecretPromotionReconciler };
  };
}

export type { SecretPromotion };
