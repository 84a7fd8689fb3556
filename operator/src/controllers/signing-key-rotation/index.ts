import { DiscoveryV1Api } from '@kubernetes/client-node';
import { HttpKeyStatusProbe, type KeyStatusProbe } from '../../adapters/services/key-status-probe.js';
import {
  KubernetesServiceEndpoints,
  type ServiceEndpointsResolver,
} from '../../adapters/services/service-endpoints.js';
import type { SigningKeyStoreResolver } from '../../adapters/vault/signing-key-store.js';
import { signingKeyRotation } from '../../api/index.js';
import type { KeyStatusEndpoints } from '../../connections-file.js';
import type { ControllerFactory, ResourceKind } from '../../runtime/index.js';
import { DEFAULT_DECIDE_OPTIONS, type DecideOptions, type Step } from './desired.js';
import { type GeneratedKey, generateSigningKey } from './keys.js';
import { SigningKeyMetrics } from './metrics.js';
import { SigningKeyRotationReconciler } from './reconciler.js';

export { SkrCondition, SkrReason } from './conditions.js';
export { SIGNING_KEYS_FINALIZER } from './reconciler.js';

export const signingKeyRotationKind: ResourceKind = {
  group: 'security.novapos.io',
  version: 'v1alpha1',
  kind: signingKeyRotation.kind,
  plural: signingKeyRotation.plural,
  namespaced: true,
};

export interface SigningKeyRotationControllerOptions {
  /** Vault per `spec.vault.connection` (see `vaultSigningKeyStores` in adapters/vault). */
  readonly vault: SigningKeyStoreResolver;
  /** The services' /keys/status and /keys/reload; default over fetch with a 3 s timeout. */
  readonly services?: KeyStatusProbe;
  /**
   * The service URLs the operator may call (the connections file's keyStatusEndpoints). Default: only
   * `<service>.<namespace>.svc` names of the resource's own namespace.
   */
  readonly endpoints?: Partial<KeyStatusEndpoints>;
  /** Ready replicas of serviceRef Services; default through the apiserver's EndpointSlices. */
  readonly serviceEndpoints?: ServiceEndpointsResolver;
  readonly clock?: () => Date;
  /** Timings of the state machine (clock skew allowance, service polls); defaults in DEFAULT_DECIDE_OPTIONS. */
  readonly timing?: Partial<DecideOptions>;
  readonly generateKey?: (alg: GeneratedKey['alg'], keySize?: number) => Promise<GeneratedKey>;
  /** Test hook: after each Vault step and each status write. */
  readonly afterStep?: (kind: Step['kind'] | 'status') => void | Promise<void>;
  readonly name?: string;
}

/**
 * The SigningKeyRotation controller, adapters passed in:
 * `manager.register(signingKeyRotationController({ vault: vaultSigningKeyStores(clients) }))`.
 */
export function signingKeyRotationController(opts: SigningKeyRotationControllerOptions): ControllerFactory {
  return (deps) => ({
    name: opts.name ?? 'signingkeyrotation',
    kind: signingKeyRotationKind,
    // One reconcile at a time per resource is the runtime's rule; two resources never share a key tree.
    maxConcurrentReconciles: 2,
    reconciler: new SigningKeyRotationReconciler({
      stores: opts.vault,
      probe: opts.services ?? new HttpKeyStatusProbe(),
      serviceEndpoints:
        opts.serviceEndpoints ??
        new KubernetesServiceEndpoints(deps.kubeConfig.makeApiClient(DiscoveryV1Api)),
      endpoints: {
        serviceNamespaces: opts.endpoints?.serviceNamespaces ?? [],
        allowedOrigins: opts.endpoints?.allowedOrigins ?? [],
      },
      clock: opts.clock ?? (() => new Date()),
      options: { ...DEFAULT_DECIDE_OPTIONS, ...opts.timing },
      metrics: new SigningKeyMetrics(deps.registry),
      generateKey: opts.generateKey ?? generateSigningKey,
      afterStep: opts.afterStep,
    }),
  });
}
