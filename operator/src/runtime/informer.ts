import { type KubeConfig, type KubernetesObject, Watch } from '@kubernetes/client-node';
import type { Logger } from '../../../lib/log.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import { CacheIndex, type IndexFunc } from './cache-index.js';
import { KindClient } from './client.js';
import { collectionPath, describeError, isGone, keyOf, type ResourceKind } from './kube.js';
import type { RuntimeMetrics } from './metrics.js';

export interface InformerHandlers<T extends KubernetesObject> {
  onAdd(obj: T): void;
  /** `relisted`: the change was found by a relist (it may sum several writes), not one watch event. */
  onUpdate(oldObj: T, newObj: T, relisted: boolean): void;
  onDelete(obj: T): void;
  /** Every cached object, once per resync period. */
  onResync(obj: T): void;
}

export interface InformerOptions<T extends KubernetesObject = KubernetesObject> {
  readonly kubeConfig: KubeConfig;
  readonly kind: ResourceKind;
  /** Watch one namespace; all namespaces when absent. */
  readonly namespace?: string;
  readonly log: Logger;
  readonly metrics?: RuntimeMetrics;
  /** Delay between failed list/watch attempts. Default 500 ms doubling to 30 s. */
  readonly backoff?: BackoffPolicy;
  /** Re-deliver every cached object this often (0 = never). Default 10 min. */
  readonly resyncPeriodMs?: number;
  /** The apiserver ends each watch after this long and the informer resumes from the last resourceVersion. Default 300 s. */
  readonly watchTimeoutSeconds?: number;
  /** Objects per list page. Default 500. */
  readonly pageSize?: number;
  /**
   * Applied to every object on its way into the cache (controller-runtime's cache transform): keep only
   * what reconcilers read. Default `stripForCache`. It may change the object in place and must keep
   * metadata.name, namespace and resourceVersion.
   */
  readonly transform?: (obj: T) => T;
  /** Secondary indexes of the cache (`byIndex`): name → the values an object is found under. */
  readonly indexers?: Readonly<Record<string, IndexFunc<T>>>;
}

/** The last-applied annotation kubectl apply keeps: a second copy of the spec no reconciler reads. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The default cache transform: drops metadata.managedFields (most of an object's size; what server-side
 * apply needs is on the server) and kubectl's last-applied annotation, as controller-runtime's
 * TransformStripManagedFields does. Everything a reconciler reads (spec, status, labels, other annotations,
 * finalizers, owner references, generation, uid) stays.
 */
export function stripForCache<T extends KubernetesObject>(obj: T): T {
  const meta = obj.metadata;
  if (!meta || (!meta.managedFields && !(meta.annotations && LAST_APPLIED in meta.annotations))) return obj;
  // A fresh metadata object rather than `delete`: V8 turns an object a property was deleted from into a
  // (larger) dictionary.
  const { managedFields: _dropped, annotations, ...rest } = meta;
  let kept = annotations;
  if (annotations && LAST_APPLIED in annotations) {
    const { [LAST_APPLIED]: _lastApplied, ...others } = annotations;
    kept = Object.keys(others).length ? others : undefined;
  }
  obj.metadata = kept ? { ...rest, annotations: kept } : rest;
  return obj;
}

type WatchOutcome = 'gone' | 'expired' | 'closed-early';

/**
 * List-then-watch cache of one kind (in one namespace or all). A 410 Gone (compacted resourceVersion,
 * expired continue token) relists at once; the relist is diffed against the cache, so every add, change and
 * delete missed while disconnected is still delivered. Any other error, or a stream that ends before its
 * timeout, restarts with capped exponential backoff. Handlers run synchronously and must not throw.
 */
export class Informer<T extends KubernetesObject = KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private readonly index: CacheIndex<T>;
  private readonly client: KindClient<T>;
  private readonly watcher: Watch;
  private readonly backoff: BackoffPolicy;
  private resourceVersion = '';
  private synced = false;
  private stopped = true;
  private failures = 0;
  private loop?: Promise<void>;
  private currentWatch?: AbortController;
  private resyncTimer?: NodeJS.Timeout;
  private wake?: () => void;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly kindLabel: string;
  private readonly transform: (obj: T) => T;

  constructor(
    private readonly opts: InformerOptions<T>,
    private readonly handlers: InformerHandlers<T>,
  ) {
    this.client = new KindClient<T>(opts.kubeConfig, opts.kind);
    this.watcher = new Watch(opts.kubeConfig);
    this.backoff = opts.backoff ?? { baseMs: 500, maxMs: 30_000, jitter: 0.2 };
    this.kindLabel = opts.kind.kind;
    this.transform = opts.transform ?? stripForCache;
    this.index = new CacheIndex(opts.indexers);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been loaded into the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** The cached objects an index (InformerOptions.indexers) finds under `value`. */
  byIndex(name: string, value: string): T[] {
    const out: T[] = [];
    for (const key of this.index.keys(name, value)) {
      const obj = this.cache.get(key);
      if (obj !== undefined) out.push(obj);
    }
    return out;
  }

  /** Every cached object, without copying the list. */
  values(): IterableIterator<T> {
    return this.cache.values();
  }

  get size(): number {
    return this.cache.size;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
    const resync = this.opts.resyncPeriodMs ?? 600_000;
    if (resync > 0) {
      this.resyncTimer = setInterval(() => this.resync(), resync);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.currentWatch?.abort();
    this.wake?.();
    // A request stuck in connect ends by client-node's own 30 s timeout at the latest; do not wait on it.
    await Promise.race([this.loop, sleep(2_000)]);
  }

  private resync(): void {
    if (!this.synced || this.stopped) return;
    for (const obj of this.cache.values()) this.handlers.onResync(obj);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        const outcome = await this.watchOnce();
        if (this.stopped) break;
        if (outcome === 'gone') {
          this.opts.metrics?.informerRestarts.inc({ kind: this.kindLabel, reason: 'gone' });
          this.opts.log.info(
            { kind: this.kindLabel, namespace: this.opts.namespace },
            'watch resourceVersion too old (410 Gone): relisting',
          );
          this.resourceVersion = '';
          continue;
        }
        if (outcome === 'expired') continue;
        this.failures += 1;
        this.opts.metrics?.informerRestarts.inc({ kind: this.kindLabel, reason: 'closed' });
        const delay = backoffDelay(this.backoff, this.failures);
        this.opts.log.warn(
          { kind: this.kindLabel, namespace: this.opts.namespace, retryInMs: Math.round(delay) },
          'watch stream closed early: restarting',
        );
        await this.pause(delay);
      } catch (err) {
        if (this.stopped) break;
        if (isGone(err)) {
          this.opts.metrics?.informerRestarts.inc({ kind: this.kindLabel, reason: 'gone' });
          this.resourceVersion = '';
          continue;
        }
        this.failures += 1;
        this.opts.metrics?.informerRestarts.inc({ kind: this.kindLabel, reason: 'error' });
        const delay = backoffDelay(this.backoff, this.failures);
        this.opts.log.warn(
          {
            kind: this.kindLabel,
            namespace: this.opts.namespace,
            err: describeError(err),
            retryInMs: Math.round(delay),
          },
          'list/watch failed: restarting with backoff',
        );
        await this.pause(delay);
      }
    }
  }

  /** Lists every object (paged) and reconciles the cache with it, delivering the differences. */
  private async relist(): Promise<void> {
    // Each page goes through the transform as it arrives, so a relist of 10,000 objects never holds their
    // managedFields all at once.
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.client.list({
        namespace: this.opts.namespace,
        limit: this.opts.pageSize ?? 500,
        continueToken,
      });
      for (const obj of page.items) items.push(this.transform(obj));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      // CustomObjectsApi answers the apiserver's JSON as is: the token is metadata.continue (`_continue` is the
      // name client-node's typed models give it). Reading only `_continue` stopped every list at its first page.
      const meta = page.metadata as { _continue?: string; continue?: string } | undefined;
      continueToken = meta?.continue || meta?._continue || undefined;
    } while (continueToken && !this.stopped);
    if (this.stopped) return;

    const seen = new Set<string>();
    for (const obj of items) {
      const key = keyOf(obj);
      seen.add(key);
      this.upsert(key, obj, true);
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.index.update(key, old, undefined);
        this.handlers.onDelete(old);
      }
    }
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    this.opts.log.debug(
      { kind: this.kindLabel, namespace: this.opts.namespace, count: items.length, resourceVersion },
      'listed',
    );
  }

  private upsert(key: string, obj: T, relisted: boolean): void {
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    this.index.update(key, old, obj);
    if (!old) this.handlers.onAdd(obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
      this.handlers.onUpdate(old, obj, relisted);
  }

  /** One watch from the current resourceVersion until the stream ends. */
  private watchOnce(): Promise<WatchOutcome> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300;
    const startedAt = Date.now();
    let gone = false;
    let sawEvent = false;
    return new Promise<WatchOutcome>((resolve, reject) => {
      let settled = false;
      // The apiserver closes the stream after timeoutSeconds; a silent, half-open connection is cut here.
      const watchdog = setTimeout(() => this.currentWatch?.abort(), (timeoutSeconds + 30) * 1000);
      watchdog.unref();
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.currentWatch = undefined;
        if (this.stopped) return resolve('expired');
        if (gone) return resolve('gone');
        // client-node 2.x cuts a watch that was silent for 30 s (a quiet kind between bookmarks): resume from
        // the last resourceVersion at once, as its own ListWatch does, instead of backing off as on a failure.
        if (err && (err as { name?: string }).name === 'TimeoutError') return resolve('expired');
        if (err) return reject(err);
        const lived = Date.now() - startedAt;
        if (sawEvent || lived >= timeoutSeconds * 1000 - 1000) {
          this.failures = 0;
          return resolve('expired');
        }
        resolve('closed-early');
      };
      const onEvent = (type: string, obj: T & { code?: number; message?: string }) => {
        if (type === 'ERROR') {
          if (obj.code === 410) gone = true;
          else
            this.opts.log.warn(
              { kind: this.kindLabel, code: obj.code, message: obj.message },
              'watch error event',
            );
          return;
        }
        sawEvent = true;
        this.failures = 0;
        const rv = obj.metadata?.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') this.upsert(keyOf(obj), this.transform(obj), false);
        else if (type === 'DELETED') {
          const key = keyOf(obj);
          const old = this.cache.get(key);
          if (this.cache.delete(key)) {
            this.index.update(key, old, undefined);
            this.handlers.onDelete(obj);
          }
        }
        if (rv) this.resourceVersion = rv;
      };
      this.watcher
        .watch(
          collectionPath(this.opts.kind, this.opts.namespace),
          { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
          onEvent,
          finish,
        )
        .then((controller) => {
          if (settled) return;
          this.currentWatch = controller;
          if (this.stopped) controller.abort();
        }, finish);
    });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
