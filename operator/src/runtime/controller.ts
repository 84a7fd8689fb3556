import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../../../lib/log.js';
import type { BackoffPolicy } from './backoff.js';
import { KindClient } from './client.js';
import type { EventRecorder } from './events.js';
import { Informer } from './informer.js';
import { describeError, isConflict, keyOf, type ResourceKind, splitKey } from './kube.js';
import type { RuntimeMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { type StatusWriteMode, StatusWriter } from './status.js';

/** What a reconcile asks for: nothing (done until the next change or resync), or another pass after a delay. */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

export interface ReconcileContext<T extends KubernetesObject> {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace?: string;
  readonly name: string;
  /** Unique per reconcile; on every log line of it. */
  readonly reconcileId: string;
  readonly log: Logger;
  /** The object as the informer cache has it, or undefined when it no longer exists. */
  get(): T | undefined;
  /** API access to the controller's kind (finalizer patches go through it). */
  readonly client: KindClient<T>;
  /** One status write per reconcile, skipped when the status is unchanged. */
  readonly status: StatusWriter<T>;
  readonly events: EventRecorder;
  /** Aborted when the operator shuts down; long calls should stop early. */
  readonly signal: AbortSignal;
}

/** A reconciler: errors (thrown or rejected) are retried with per-key exponential backoff. */
export interface Reconciler<T extends KubernetesObject> {
  reconcile(key: string, ctx: ReconcileContext<T>): Promise<ReconcileResult | undefined>;
}

/** What a controller registers with the manager. */
export interface ControllerSpec<T extends KubernetesObject = KubernetesObject> {
  /** `controller` label of the metrics and logs, and the work queue's name. */
  readonly name: string;
  /** The kind this controller owns; its objects are the queue's keys. */
  readonly kind: ResourceKind;
  readonly reconciler: Reconciler<T>;
  /** Parallel reconciles (different keys). Default: the manager's. */
  readonly maxConcurrentReconciles?: number;
  /** Re-reconcile every object this often. Default: the manager's. */
  readonly resyncPeriodMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly rateLimit?: { readonly ratePerSecond: number; readonly burst: number };
  /** How /status is written. Default merge patch with a resourceVersion precondition. */
  readonly statusWrite?: StatusWriteMode;
  /**
   * Whether an update event is worth a reconcile. Default: skip updates that only changed status (the
   * controller's own writes); generation, labels, annotations, finalizers and deletion all count.
   */
  readonly shouldReconcileUpdate?: (oldObj: T, newObj: T) => boolean;
}

/** What a controller factory receives from the manager. */
export interface ControllerDeps {
  readonly kubeConfig: KubeConfig;
  /** The operator's metrics registry, for per-kind metrics. */
  readonly registry: Registry;
  readonly log: Logger;
  readonly identity: string;
}

/** Later issues register controllers as factories: `(deps) => ControllerSpec`. */
// biome-ignore lint/suspicious/noExplicitAny: each controller has its own kind
export type ControllerFactory = (deps: ControllerDeps) => ControllerSpec<any>;

export function specOrMetadataChanged(oldObj: KubernetesObject, newObj: KubernetesObject): boolean {
  const o = oldObj.metadata ?? {};
  const n = newObj.metadata ?? {};
  return (
    o.generation !== n.generation ||
    o.deletionTimestamp !== n.deletionTimestamp ||
    !isDeepStrictEqual(o.labels ?? {}, n.labels ?? {}) ||
    !isDeepStrictEqual(o.annotations ?? {}, n.annotations ?? {}) ||
    !isDeepStrictEqual(o.finalizers ?? [], n.finalizers ?? [])
  );
}

export interface ControllerRuntimeDeps {
  readonly kubeConfig: KubeConfig;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly events: EventRecorder;
  /** Namespaces to watch; all when empty. */
  readonly namespaces: readonly string[];
  readonly defaults: {
    readonly maxConcurrentReconciles: number;
    readonly resyncPeriodMs: number;
    readonly backoff: BackoffPolicy;
    readonly rateLimit?: { readonly ratePerSecond: number; readonly burst: number };
    readonly informerBackoff?: BackoffPolicy;
  };
}

/**
 * One controller at run time: informers (one per watched namespace) feed keys into the work queue; once the
 * replica leads, workers take keys and call the reconciler, one reconcile per key at a time.
 */
export class Controller<T extends KubernetesObject & { status?: unknown } = KubernetesObject> {
  readonly queue: WorkQueue;
  readonly informers: Informer<T>[];
  readonly client: KindClient<T>;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];

  constructor(
    readonly spec: ControllerSpec<T>,
    private readonly deps: ControllerRuntimeDeps,
  ) {
    this.log = deps.log.child({ controller: spec.name });
    this.client = new KindClient<T>(deps.kubeConfig, spec.kind);
    this.queue = new WorkQueue({
      name: spec.name,
      backoff: spec.backoff ?? deps.defaults.backoff,
      rateLimit: spec.rateLimit ?? deps.defaults.rateLimit,
      metrics: deps.metrics,
    });
    const shouldReconcile = spec.shouldReconcileUpdate ?? specOrMetadataChanged;
    const handlers = {
      onAdd: (obj: T) => this.queue.add(keyOf(obj)),
      onUpdate: (oldObj: T, newObj: T) => {
        if (shouldReconcile(oldObj, newObj)) this.queue.add(keyOf(newObj));
      },
      onDelete: (obj: T) => this.queue.add(keyOf(obj)),
      onResync: (obj: T) => this.queue.add(keyOf(obj)),
    };
    const namespaces = spec.kind.namespaced && deps.namespaces.length ? deps.namespaces : [undefined];
    this.informers = namespaces.map(
      (namespace) =>
        new Informer<T>(
          {
            kubeConfig: deps.kubeConfig,
            kind: spec.kind,
            namespace,
            log: this.log,
            metrics: deps.metrics,
            resyncPeriodMs: spec.resyncPeriodMs ?? deps.defaults.resyncPeriodMs,
            backoff: deps.defaults.informerBackoff,
          },
          handlers,
        ),
    );
  }

  get hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced);
  }

  /** The cached object for a key (from whichever namespace's informer holds it). */
  cached(key: string): T | undefined {
    for (const i of this.informers) {
      const obj = i.get(key);
      if (obj) return obj;
    }
    return undefined;
  }

  startInformers(): void {
    for (const i of this.informers) i.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
  }

  /** Starts the workers (call once this replica leads). */
  startWorkers(): void {
    if (this.workers.length) return;
    const n = this.spec.maxConcurrentReconciles ?? this.deps.defaults.maxConcurrentReconciles;
    this.workers = Array.from({ length: n }, () => this.work());
    this.log.info({ workers: n }, 'controller started');
  }

  /** Stops informers and the queue, then waits up to `timeoutMs` for in-flight reconciles. */
  async stop(timeoutMs: number): Promise<boolean> {
    this.queue.shutDown();
    await Promise.all(this.informers.map((i) => i.stop()));
    const drained = await this.queue.drain(timeoutMs);
    if (!drained) {
      this.abort.abort();
      this.log.warn(
        { inFlight: this.queue.inFlight, timeoutMs },
        'reconciles still running at shutdown timeout',
      );
    }
    await Promise.race([Promise.all(this.workers), sleep(100)]);
    return drained;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.reconcileKey(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async reconcileKey(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const reconcileId = randomUUID();
    const log = this.log.child({ namespace, name, reconcileId });
    const controller = this.spec.name;
    const ctx: ReconcileContext<T> = {
      key,
      namespace,
      name,
      reconcileId,
      log,
      get: () => this.cached(key),
      client: this.client,
      status: new StatusWriter<T>(this.client, this.spec.statusWrite),
      events: this.deps.events,
      signal: this.abort.signal,
    };
    const end = this.deps.metrics.reconcileTime.startTimer({ controller });
    try {
      const result = await this.spec.reconciler.reconcile(key, ctx);
      this.queue.forget(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined && after > 0) {
        this.queue.addAfter(key, after);
        this.deps.metrics.reconcileTotal.inc({ controller, result: 'requeue_after' });
      } else {
        this.deps.metrics.reconcileTotal.inc({ controller, result: 'success' });
      }
      log.debug({ requeueAfterMs: after }, 'reconciled');
    } catch (err) {
      this.deps.metrics.reconcileTotal.inc({ controller, result: 'error' });
      this.deps.metrics.reconcileErrors.inc({ controller });
      if (this.queue.isShuttingDown) return;
      const retryInMs = this.queue.addRateLimited(key);
      const detail = {
        err: describeError(err),
        attempt: this.queue.failureCount(key),
        retryInMs: Math.round(retryInMs),
      };
      // A conflict means the object moved on while we worked; the newer version is already queued.
      if (isConflict(err)) log.info(detail, 'reconcile conflict: retrying');
      else log.error(detail, 'reconcile failed: retrying with backoff');
    } finally {
      end();
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
