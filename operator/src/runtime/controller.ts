import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../../../lib/log.js';
import type { BackoffPolicy } from './backoff.js';
import type { IndexFunc } from './cache-index.js';
import { KindClient } from './client.js';
import type { EventRecorder } from './events.js';
import { Informer } from './informer.js';
import { apiVersionOf, describeError, isConflict, keyOf, type ResourceKind, splitKey } from './kube.js';
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
  /** The cached objects (every watched namespace) an index of the controller (`indexers`) finds under `value`. */
  byIndex(name: string, value: string): T[];
  /**
   * API access to the controller's kind (finalizer patches go through it). As controller-runtime's client,
   * `list()` reads the informer cache (the watched namespaces), not the apiserver; `get()` reads the apiserver.
   */
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
  /** Cache transform (see InformerOptions.transform); default strips managedFields and last-applied. */
  readonly cacheTransform?: (obj: T) => T;
  /**
   * Indexes of the cache, read with `ReconcileContext.byIndex` (controller-runtime's field indexes): e.g.
   * `{ tenant: (o) => [o.spec.tenant] }` finds a tenant's resources without filtering every cached object.
   */
  readonly indexers?: Readonly<Record<string, IndexFunc<T>>>;
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

/** How long a reconcile waits for the cache to show the controller's own last write before going ahead. */
const CACHE_LAG_LIMIT_MS = 5_000;

/**
 * The controller's client as reconcilers get it: writes go to the apiserver and the resourceVersion each
 * returns is remembered, so the write's own watch event is not taken for someone else's change; `list()`
 * serves the informer cache.
 */
class ReconcileClient<T extends KubernetesObject> extends KindClient<T> {
  constructor(
    kubeConfig: KubeConfig,
    kind: ResourceKind,
    private readonly cachedList: () => T[],
    private readonly wrote: (obj: T) => void,
  ) {
    super(kubeConfig, kind);
  }

  override async list(
    opts: { namespace?: string; limit?: number; continueToken?: string } = {},
  ): Promise<KubernetesListObject<T>> {
    const all = this.cachedList();
    const items = opts.namespace ? all.filter((o) => o.metadata?.namespace === opts.namespace) : all;
    return { apiVersion: apiVersionOf(this.kind), kind: `${this.kind.kind}List`, metadata: {}, items };
  }

  override async mergePatch(name: string, namespace: string | undefined, body: unknown): Promise<T> {
    const obj = await super.mergePatch(name, namespace, body);
    this.wrote(obj);
    return obj;
  }

  override async mergePatchStatus(name: string, namespace: string | undefined, body: unknown): Promise<T> {
    const obj = await super.mergePatchStatus(name, namespace, body);
    this.wrote(obj);
    return obj;
  }

  override async applyStatus(
    name: string,
    namespace: string | undefined,
    status: unknown,
    fieldManager: string,
  ): Promise<T> {
    const obj = await super.applyStatus(name, namespace, status, fieldManager);
    this.wrote(obj);
    return obj;
  }
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
  /**
   * Per key, the resourceVersion of this controller's last write the cache has not shown yet, and since when.
   * An entry lives from a write's response until its watch event (milliseconds).
   */
  private readonly unseenWrites = new Map<string, { rv: string; at: number }>();
  /** Keys whose reconcile waits for the cache to show the controller's last write. */
  private readonly waitingForCache = new Set<string>();
  /**
   * Per key being reconciled: the versions that came in by watch meanwhile, and the versions the reconcile
   * wrote. When every one that came in is one it wrote, the key is not reconciled again for them.
   */
  private readonly busy = new Map<string, { seen: string[]; wrote: Set<string> }>();

  constructor(
    readonly spec: ControllerSpec<T>,
    private readonly deps: ControllerRuntimeDeps,
  ) {
    this.log = deps.log.child({ controller: spec.name });
    this.client = new ReconcileClient<T>(
      deps.kubeConfig,
      spec.kind,
      () => this.informers.flatMap((i) => i.list()),
      (obj) => this.wrote(obj),
    );
    this.queue = new WorkQueue({
      name: spec.name,
      backoff: spec.backoff ?? deps.defaults.backoff,
      rateLimit: spec.rateLimit ?? deps.defaults.rateLimit,
      metrics: deps.metrics,
    });
    const shouldReconcile = spec.shouldReconcileUpdate ?? specOrMetadataChanged;
    const handlers = {
      onAdd: (obj: T) => this.queue.add(keyOf(obj)),
      onUpdate: (oldObj: T, newObj: T, relisted: boolean) => {
        const key = keyOf(newObj);
        // One watch event is one write: the event of our own write carries nothing the reconcile that made
        // it did not already act on. A relist may sum several writes, so it is always looked at.
        const rv = newObj.metadata?.resourceVersion;
        const own = this.sawInCache(key, rv) && !relisted;
        if (own || !shouldReconcile(oldObj, newObj)) return;
        // The event of a write still in flight can come before its response: hold it until the reconcile ends.
        const busy = this.busy.get(key);
        if (busy && rv && !relisted) busy.seen.push(rv);
        else this.queue.add(key);
      },
      onDelete: (obj: T) => {
        const key = keyOf(obj);
        this.unseenWrites.delete(key);
        this.waitingForCache.delete(key);
        this.queue.add(key);
      },
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
            transform: spec.cacheTransform,
            indexers: spec.indexers,
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

  /** Keys whose last write by this controller the cache has not shown yet (for tests and the benchmark). */
  get writesAwaitingCache(): number {
    return this.unseenWrites.size;
  }

  private wrote(obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    if (!rv) return;
    const key = keyOf(obj);
    this.busy.get(key)?.wrote.add(rv);
    // The watch event may already have come (it races the response): then there is nothing to wait for.
    if (this.cached(key)?.metadata?.resourceVersion === rv) return;
    this.unseenWrites.set(key, { rv, at: Date.now() });
  }

  /**
   * Called for each object version the cache takes: true when it is this controller's own last write. Any
   * version other than the awaited one ends the wait too (the cache moved past it: a relist, or a write
   * whose event raced its response); a key parked for the cache is queued again.
   */
  private sawInCache(key: string, rv: string | undefined): boolean {
    const unseen = this.unseenWrites.get(key);
    if (!unseen) return false;
    if (unseen.rv !== rv && !newerOrEqual(rv, unseen.rv)) return false;
    this.unseenWrites.delete(key);
    if (this.waitingForCache.delete(key)) this.queue.add(key);
    return unseen.rv === rv;
  }

  /**
   * A key whose previous reconcile wrote a version the cache does not show yet would be reconciled from a
   * stale object (a 409, or a write undone): it waits for the watch event instead, at most
   * CACHE_LAG_LIMIT_MS.
   */
  private cacheBehind(key: string): boolean {
    const unseen = this.unseenWrites.get(key);
    if (!unseen) return false;
    const cachedRv = this.cached(key)?.metadata?.resourceVersion;
    if (cachedRv === unseen.rv || newerOrEqual(cachedRv, unseen.rv)) {
      this.unseenWrites.delete(key);
      return false;
    }
    const waited = Date.now() - unseen.at;
    if (waited >= CACHE_LAG_LIMIT_MS) {
      this.unseenWrites.delete(key);
      return false;
    }
    this.waitingForCache.add(key);
    this.queue.addAfter(key, CACHE_LAG_LIMIT_MS - waited);
    return true;
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
        if (this.cacheBehind(key)) continue;
        this.waitingForCache.delete(key);
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
      byIndex: (name, value) => this.informers.flatMap((i) => i.byIndex(name, value)),
      client: this.client,
      status: new StatusWriter<T>(this.client, this.spec.statusWrite),
      events: this.deps.events,
      signal: this.abort.signal,
    };
    const end = this.deps.metrics.reconcileTime.startTimer({ controller });
    const busy = { seen: [] as string[], wrote: new Set<string>() };
    this.busy.set(key, busy);
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
      this.busy.delete(key);
      // Someone else's change came in while this reconcile ran: the key goes round again.
      if (busy.seen.some((rv) => !busy.wrote.has(rv))) this.queue.add(key);
    }
  }
}

/**
 * Whether resourceVersion `a` is at or after `b`. Kubernetes 1.35 documents resourceVersions of one kind as
 * comparable integers (KEP-5504, client-go's CompareResourceVersion); anything else compares as unknown (false).
 */
function newerOrEqual(a: string | undefined, b: string): boolean {
  if (!a || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return a.length !== b.length ? a.length > b.length : a >= b;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
