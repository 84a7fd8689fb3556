import type { Logger } from '../../../../lib/log.js';
import { VaultError } from '../../../../lib/vault.js';
import { checkServiceUrl } from '../../adapters/services/endpoint-policy.js';
import {
  type KeyStatusProbe,
  type KeyStatusReport,
  reloadUrlOf,
} from '../../adapters/services/key-status-probe.js';
import type {
  ServiceEndpoints,
  ServiceEndpointsResolver,
} from '../../adapters/services/service-endpoints.js';
import type {
  KeyLocation,
  SigningKeyStore,
  SigningKeyStoreResolver,
} from '../../adapters/vault/signing-key-store.js';
import {
  formatTime,
  type SigningKey,
  type SigningKeyRotation,
  type SigningKeyRotationStatus,
  setCondition,
} from '../../api/index.js';
import type { KeyStatusEndpoints } from '../../connections-file.js';
import {
  addFinalizer,
  describeError,
  hasFinalizer,
  isBeingDeleted,
  isNotFound,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
  removeFinalizer,
} from '../../runtime/index.js';
import { SkrCondition, SkrReason } from './conditions.js';
import {
  type DecideOptions,
  type Decision,
  decide,
  type ServiceObservation,
  type Step,
  transitions,
} from './desired.js';
import { keyPortsOf } from './key-ports.js';
import { type GeneratedKey, generateSigningKey } from './keys.js';
import type { SigningKeyMetrics } from './metrics.js';

/** Cleans the key tree in Vault up when the resource is deleted. */
export const SIGNING_KEYS_FINALIZER = 'security.novapos.io/signing-keys';

/** Vault failures that mean "not reachable now": Degraded, back off, nothing half-done. */
const VAULT_DOWN = new Set(['unavailable', 'timeout', 'sealed', 'login_failed']);

export function isVaultUnavailable(err: unknown): err is VaultError {
  return err instanceof VaultError && VAULT_DOWN.has(err.code);
}

export interface ReconcilerDeps {
  readonly stores: SigningKeyStoreResolver;
  readonly probe: KeyStatusProbe;
  /** The URLs the operator may call for a resource (the connections file's keyStatusEndpoints). */
  readonly endpoints: KeyStatusEndpoints;
  /** Ready replicas of the Services named by serviceRef (EndpointSlices). */
  readonly serviceEndpoints?: ServiceEndpointsResolver;
  readonly clock: () => Date;
  readonly options: DecideOptions;
  readonly metrics: SigningKeyMetrics;
  readonly generateKey: (
    alg: SigningKeyRotation['spec']['algorithm'],
    keySize?: number,
  ) => Promise<GeneratedKey>;
  /** Called after each Vault step and each status write, with the step's kind (crash-point tests). */
  readonly afterStep?: (kind: Step['kind'] | 'status') => void | Promise<void>;
}

/**
 * fetch → finalizer/delete → observe Vault and the services → decide → one Vault step → observe again →
 * one status write → events and metrics → requeue (at once while steps remain).
 */
export class SigningKeyRotationReconciler implements Reconciler<SigningKeyRotation> {
  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(_key: string, ctx: ReconcileContext<SigningKeyRotation>): Promise<ReconcileResult> {
    let obj = await this.fetch(ctx);
    if (!obj) return {};
    const loc: KeyLocation = {
      mount: obj.spec.vault?.mount ?? 'secret',
      namespace: obj.metadata.namespace ?? 'default',
      name: obj.metadata.name ?? '',
    };
    const store = this.deps.stores(obj.spec.vault?.connection ?? 'local');

    if (isBeingDeleted(obj)) return this.finalize(ctx, obj, loc, store);
    if (!hasFinalizer(obj, SIGNING_KEYS_FINALIZER))
      obj = await addFinalizer(ctx.client, obj, SIGNING_KEYS_FINALIZER);
    if (!store) return this.unknownConnection(ctx, obj);

    try {
      return await this.sync(ctx, obj, loc, store);
    } catch (err) {
      if (!isVaultUnavailable(err)) throw err;
      await this.degraded(ctx, obj, err);
      throw err; // the work queue backs off
    }
  }

  /**
   * The object from the apiserver, not the informer cache: the status is the lifecycle record and the
   * cache can lag behind the status this controller wrote a moment ago.
   */
  private async fetch(ctx: ReconcileContext<SigningKeyRotation>): Promise<SigningKeyRotation | undefined> {
    if (!ctx.get()) return undefined;
    try {
      return await ctx.client.get(ctx.name, ctx.namespace);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async sync(
    ctx: ReconcileContext<SigningKeyRotation>,
    obj: SigningKeyRotation,
    loc: KeyLocation,
    store: SigningKeyStore,
  ): Promise<ReconcileResult> {
    const input = {
      spec: obj.spec,
      generation: obj.metadata.generation ?? 0,
      annotations: obj.metadata.annotations ?? {},
      location: loc,
      options: this.deps.options,
    };
    const services = await this.probeServices(obj, ctx.signal);
    let vault = await store.observe(loc);
    let decision: Decision = decide({
      ...input,
      status: obj.status,
      now: this.deps.clock(),
      vault,
      services,
    });
    let recordBase = obj.status;
    const step = decision.invalidSpec ? undefined : decision.step;

    if (step) {
      const generated = await this.apply(step, store, loc, obj, ctx.log);
      await this.deps.afterStep?.(step.kind);
      if (generated) recordBase = withGeneratedKey(obj.status, generated, this.deps.clock());
      if (step.kind === 'publish') await this.notifyServices(obj, ctx.signal);
      vault = await store.observe(loc);
      decision = decide({ ...input, status: recordBase, now: this.deps.clock(), vault, services });
    }

    // A service that answers but reports an older key set missed the notification (it started after the
    // publish, or the request was lost): notify it again rather than wait for its own poll.
    if (!step && vault.keyset) {
      const current = vault.keyset.keysetHash;
      const behind = services.filter((s) => s.report && s.report.keysetHash !== current).map((s) => s.name);
      if (behind.length) await this.notifyServices(obj, ctx.signal, behind);
    }

    const status = decision.status;
    await ctx.status.write(obj, status);
    await this.deps.afterStep?.('status');
    const now = this.deps.clock();
    this.deps.metrics.observe(loc.namespace, loc.name, status, now);
    for (const t of transitions(obj.status, status)) {
      if (t.reason === SkrReason.Rotated || t.reason === SkrReason.EmergencyRotated) {
        this.deps.metrics.rotations.inc({
          namespace: loc.namespace,
          name: loc.name,
          reason: status.lastRotationReason ?? 'scheduled',
        });
      }
      ctx.log.info({ event: t.reason, kid: t.kid }, t.note);
      await ctx.events.record(obj, t.type, t.reason, 'Reconcile', t.note);
    }
    for (const n of decision.notices) {
      ctx.log.warn({ event: n.reason }, n.note);
      await ctx.events.record(obj, n.type, n.reason, 'Reconcile', n.note);
    }
    // More steps to take: at once (the next reconcile observes the result of this one).
    if (!decision.invalidSpec && decision.step) return { requeueAfterMs: 10 };
    return { requeueAfterMs: decision.requeueAfterMs };
  }

  /** Carries out one step; for `generate`, returns the new key's public record. */
  private async apply(
    step: Step,
    store: SigningKeyStore,
    loc: KeyLocation,
    obj: SigningKeyRotation,
    log: Logger,
  ): Promise<GeneratedKey | undefined> {
    switch (step.kind) {
      case 'generate': {
        const key = await this.deps.generateKey(obj.spec.algorithm, obj.spec.keySize);
        await store.createKey(loc, {
          kid: key.kid,
          alg: key.alg,
          state: step.state,
          privateJwk: key.privateJwk,
          createdAt: formatTime(this.deps.clock()),
        });
        log.info(
          { step: step.kind, kid: key.kid, alg: key.alg, state: step.state },
          'generated a signing key in Vault',
        );
        return key;
      }
      case 'prepare-active':
        await store.setKeyState(loc, step.kid, 'active', step.expectedVersion);
        log.info(
          { step: step.kind, kid: step.kid },
          'marked the next key active in Vault before publishing it as active',
        );
        return undefined;
      case 'publish':
        await store.writeKeyset(loc, step.doc, step.expectedVersion);
        log.info(
          {
            step: step.kind,
            activeKid: step.doc.activeKid,
            nextKid: step.doc.nextKid,
            kids: step.doc.jwks.keys.map((k) => k.kid),
            keysetHash: step.doc.keysetHash,
          },
          'wrote the key-set document',
        );
        return undefined;
      case 'sync-state':
        await store.setKeyState(loc, step.kid, step.state, step.expectedVersion);
        log.info({ step: step.kind, kid: step.kid, state: step.state }, 'updated the state of a key secret');
        return undefined;
      case 'destroy':
        await store.destroyKey(loc, step.kid);
        log.info(
          { step: step.kind, kid: step.kid, why: step.why },
          'destroyed every version of a key secret',
        );
        return undefined;
    }
  }

  private async probeServices(obj: SigningKeyRotation, signal: AbortSignal): Promise<ServiceObservation[]> {
    return Promise.all(
      (obj.spec.services ?? []).map(async (svc): Promise<ServiceObservation> => {
        const checkedAt = this.deps.clock();
        const check = this.allowed(obj, svc);
        if (!check.allowed) return { name: svc.name, refused: check.message, checkedAt };
        if (svc.serviceRef)
          return { ...(await this.probeReplicas(obj, svc.serviceRef, signal)), name: svc.name, checkedAt };
        try {
          const report = await this.deps.probe.status(svc.statusURL as string, signal);
          return { name: svc.name, report, checkedAt };
        } catch (err) {
          return { name: svc.name, error: describeError(err), checkedAt };
        }
      }),
    );
  }

  /**
   * Every ready replica of a referenced Service, each on its `http` port (`admin` when the Service has no
   * `http` port: keyPortsOf): the service has loaded a key set only when all of them report it (a rolling
   * restart can leave one replica behind).
   */
  private async probeReplicas(
    obj: SigningKeyRotation,
    ref: { name: string; namespace?: string },
    signal: AbortSignal,
  ): Promise<Pick<ServiceObservation, 'report' | 'error' | 'note'>> {
    const ns = ref.namespace ?? obj.metadata.namespace ?? '';
    const where = `Service ${ns}/${ref.name}`;
    const endpoints = this.deps.serviceEndpoints;
    if (!endpoints) return { error: `${where}: the operator has no Kubernetes client for EndpointSlices` };
    let eps: ServiceEndpoints;
    try {
      eps = await endpoints.resolve(ns, ref.name);
    } catch (err) {
      const code = (err as { code?: number }).code;
      return { error: `${where}: cannot list its EndpointSlices (${code ?? 'error'})` };
    }
    const port = keyPortsOf(eps).status;
    if (!port) return { error: `${where} has no port named http or admin` };
    if (!eps.ready.length) return { error: `${where} has no ready replica` };
    const results = await Promise.all(
      eps.ready.map((address) =>
        this.deps.probe.status(`http://${address}:${port}/keys/status`, signal).then(
          (report) => ({ report }),
          (err: unknown) => ({ error: describeError(err) }),
        ),
      ),
    );
    const failed = results.filter((r) => 'error' in r);
    if (failed.length)
      return {
        error: `${failed.length} of ${results.length} ready replicas of ${where} did not answer (${(failed[0] as { error: string }).error})`,
      };
    const reports = results.map((r) => (r as { report: KeyStatusReport }).report);
    const hashes = new Set(reports.map((r) => r.keysetHash));
    const first = reports[0] as KeyStatusReport;
    if (hashes.size === 1) {
      const loadedAt =
        reports
          .map((r) => r.loadedAt)
          .sort()
          .at(-1) ?? null;
      return { report: { ...first, loadedAt } };
    }
    // Which replica holds which set (hash prefixes, public like the JWKS header), so a person can see which
    // is behind the status' keysetHash.
    const who = eps.ready.map((address, i) => {
      const pod = eps.pods?.get(address);
      const hash = reports[i]?.keysetHash;
      return `${pod ? `${pod} (${address})` : address}: ${hash ? hash.slice(0, 12) : 'none'}`;
    });
    return {
      report: { ...first, keysetHash: null },
      note: `its ${reports.length} ready replicas report ${hashes.size} different key sets (${who.join(', ')})`,
    };
  }

  private async notifyServices(
    obj: SigningKeyRotation,
    signal: AbortSignal,
    only?: readonly string[],
  ): Promise<void> {
    await Promise.all(
      (obj.spec.services ?? [])
        .filter((svc) => !only || only.includes(svc.name))
        .filter((svc) => this.allowed(obj, svc).allowed)
        .map(async (svc) => {
          if (!svc.serviceRef)
            return this.deps.probe.reload(reloadUrlOf(svc as { statusURL: string }), signal);
          const ns = svc.serviceRef.namespace ?? obj.metadata.namespace ?? '';
          const eps = await this.deps.serviceEndpoints
            ?.resolve(ns, svc.serviceRef.name)
            .catch(() => undefined);
          const port = eps && keyPortsOf(eps).reload;
          if (!eps || !port) return false;
          await Promise.all(
            eps.ready.map((address) =>
              this.deps.probe.reload(`http://${address}:${port}/keys/reload`, signal),
            ),
          );
          return true;
        }),
    );
  }

  /**
   * A referenced Service must be in the resource's namespace or one the configuration allows; both URLs of
   * a (deprecated) URL-listed service must be allowed before the operator calls either.
   */
  private allowed(
    obj: SigningKeyRotation,
    svc: { statusURL?: string; reloadURL?: string; serviceRef?: { name: string; namespace?: string } },
  ): { allowed: true } | { allowed: false; message: string } {
    const ns = obj.metadata.namespace ?? '';
    if (svc.serviceRef) {
      const target = svc.serviceRef.namespace ?? ns;
      if (target === ns || this.deps.endpoints.serviceNamespaces.includes(target)) return { allowed: true };
      return {
        allowed: false,
        message: `serviceRef is not allowed: only Services of namespace ${[ns, ...this.deps.endpoints.serviceNamespaces].join(', ')} (keyStatusEndpoints.serviceNamespaces in the operator's connections file); the operator did not call it`,
      };
    }
    if (!svc.statusURL) return { allowed: false, message: 'neither serviceRef nor statusURL is set' };
    const status = checkServiceUrl(svc.statusURL, 'status', ns, this.deps.endpoints);
    if (!status.allowed) return status;
    return checkServiceUrl(reloadUrlOf(svc as { statusURL: string }), 'reload', ns, this.deps.endpoints);
  }

  /** Vault is unreachable: record it (Degraded, Ready False) and keep everything else as it was. */
  private async degraded(
    ctx: ReconcileContext<SigningKeyRotation>,
    obj: SigningKeyRotation,
    err: VaultError,
  ): Promise<void> {
    const now = this.deps.clock();
    const generation = obj.metadata.generation ?? 0;
    const message = `Vault is not reachable (${err.message}); retrying with backoff, nothing changed`;
    let conditions = obj.status?.conditions ?? [];
    conditions = setCondition(
      conditions,
      generation,
      { type: SkrCondition.Degraded, status: 'True', reason: SkrReason.VaultUnavailable, message },
      now,
    );
    conditions = setCondition(
      conditions,
      generation,
      { type: SkrCondition.Ready, status: 'False', reason: SkrReason.VaultUnavailable, message },
      now,
    );
    const status = { ...(obj.status ?? {}), conditions };
    try {
      await ctx.status.write(obj, status);
    } catch (writeErr) {
      ctx.log.warn({ err: describeError(writeErr) }, 'could not record Vault unavailability in status');
    }
    const before = obj.status?.conditions?.find((c) => c.type === SkrCondition.Degraded);
    if (before?.status !== 'True' || before.reason !== SkrReason.VaultUnavailable) {
      await ctx.events.record(obj, 'Warning', SkrReason.VaultUnavailable, 'Reconcile', message);
    }
  }

  private async unknownConnection(
    ctx: ReconcileContext<SigningKeyRotation>,
    obj: SigningKeyRotation,
  ): Promise<ReconcileResult> {
    const generation = obj.metadata.generation ?? 0;
    const message = `spec.vault.connection "${obj.spec.vault?.connection}" is not configured in the operator: use "local" or a connection from its configuration file`;
    const conditions = setCondition(
      obj.status?.conditions,
      generation,
      { type: SkrCondition.Ready, status: 'False', reason: SkrReason.UnknownVaultConnection, message },
      this.deps.clock(),
    );
    await ctx.status.write(obj, { ...(obj.status ?? {}), observedGeneration: generation, conditions });
    return { requeueAfterMs: 300_000 };
  }

  private async finalize(
    ctx: ReconcileContext<SigningKeyRotation>,
    obj: SigningKeyRotation,
    loc: KeyLocation,
    store: SigningKeyStore | undefined,
  ): Promise<ReconcileResult> {
    if (!hasFinalizer(obj, SIGNING_KEYS_FINALIZER)) return {};
    if (store) {
      await store.destroyAll(loc);
      ctx.log.info(
        { keys: (obj.status?.keys ?? []).map((k) => k.kid) },
        'resource deleted: destroyed its key tree in Vault',
      );
    }
    this.deps.metrics.forget(
      loc.namespace,
      loc.name,
      (obj.spec.services ?? []).map((s) => s.name),
    );
    await removeFinalizer(ctx.client, obj, SIGNING_KEYS_FINALIZER);
    return {};
  }
}

/** The status record with a just-generated key added (state next, unpublished): written to Vault, not announced. */
function withGeneratedKey(
  status: SigningKeyRotationStatus | undefined,
  key: GeneratedKey,
  now: Date,
): SigningKeyRotationStatus {
  const entry: SigningKey = { kid: key.kid, state: 'next', algorithm: key.alg, createdAt: formatTime(now) };
  return { ...(status ?? {}), keys: [...(status?.keys ?? []).filter((k) => k.kid !== key.kid), entry] };
}

export { generateSigningKey };
