import { type BackoffPolicy, backoffDelay, TokenBucket } from './backoff.js';
import type { RuntimeMetrics } from './metrics.js';

export interface WorkQueueOptions {
  /** The `name` label of the workqueue metrics; the controller's name. */
  readonly name: string;
  /** Per-key delay after each failure, reset by `forget`. */
  readonly backoff: BackoffPolicy;
  /** Limit on how fast the whole queue hands out work. */
  readonly rateLimit?: { readonly ratePerSecond: number; readonly burst: number };
  readonly metrics?: RuntimeMetrics;
  readonly now?: () => number;
}

/**
 * A keyed work queue with client-go's semantics: a key is queued at most once (dedupe); a key is handed to
 * at most one worker at a time, and a key added while it is being processed is queued again when `done` is
 * called; `addRateLimited` retries a key after a per-key exponential backoff; `addAfter` schedules work.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys that need processing: queued, or added again while in flight. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly enqueuedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  /** Keys scheduled for later, by due time. One timer serves them all (no closure per key). */
  private readonly delayed = new Map<string, number>();
  private readonly dueHeap = new DueHeap();
  private timer?: NodeJS.Timeout;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly waiters: ((ready: boolean) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private readonly bucket?: TokenBucket;
  private readonly now: () => number;
  private shuttingDown = false;

  constructor(private readonly opts: WorkQueueOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.rateLimit)
      this.bucket = new TokenBucket(opts.rateLimit.ratePerSecond, opts.rateLimit.burst, this.now);
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  /** Whether a worker holds the key now. */
  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Queues a key now, unless it is already queued. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.opts.metrics?.workqueueAdds.inc({ name: this.opts.name });
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Queues a key after `delayMs`; an earlier pending schedule for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending !== undefined && pending <= at) return;
    // A later-scheduled heap entry of the same key is left behind and skipped when it comes due.
    this.delayed.set(key, at);
    this.dueHeap.push(at, key);
    this.arm();
  }

  /** Keys scheduled for later (addAfter, addRateLimited) that are not yet due. */
  get scheduled(): number {
    return this.delayed.size;
  }

  private arm(): void {
    const next = this.dueHeap.peekAt();
    if (next === undefined || next >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => this.fire(), Math.max(0, next - this.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (;;) {
      const at = this.dueHeap.peekAt();
      if (at === undefined || at > now) break;
      const key = this.dueHeap.pop() as string;
      if (this.delayed.get(key) !== at) continue;
      this.delayed.delete(key);
      this.add(key);
    }
    if (!this.shuttingDown) this.arm();
  }

  /** Retries a key after its backoff, which doubles with each consecutive failure up to the cap. */
  addRateLimited(key: string): number {
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    this.opts.metrics?.workqueueRetries.inc({ name: this.opts.name });
    const delay = backoffDelay(this.opts.backoff, attempt);
    this.addAfter(key, delay);
    return delay;
  }

  /** Ends a key's failure streak: its next retry starts again from the base delay. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * The next key to process, waiting for one (and for the rate limit) as needed; `undefined` once the
   * queue is shutting down. The caller must call `done(key)` when finished.
   */
  async get(): Promise<string | undefined> {
    for (;;) {
      if (this.shuttingDown) return undefined;
      if (this.queue.length === 0) {
        await new Promise<boolean>((resolve) => this.waiters.push(resolve));
        continue;
      }
      const wait = this.bucket?.take() ?? 0;
      if (wait > 0) await sleep(wait);
      if (this.shuttingDown) return undefined;
      const key = this.queue.shift();
      if (key === undefined) continue;
      this.processing.add(key);
      this.dirty.delete(key);
      const queuedAt = this.enqueuedAt.get(key);
      this.enqueuedAt.delete(key);
      this.opts.metrics?.workqueueDepth.set({ name: this.opts.name }, this.queue.length);
      if (queuedAt !== undefined)
        this.opts.metrics?.workqueueQueueDuration.observe(
          { name: this.opts.name },
          (this.now() - queuedAt) / 1000,
        );
      return key;
    }
  }

  /** Marks a key processed; if it was added meanwhile it goes back in the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    if (this.processing.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Stops handing out work and drops scheduled retries; in-flight keys finish normally. */
  shutDown(): void {
    this.shuttingDown = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.delayed.clear();
    this.dueHeap.clear();
    for (const w of this.waiters.splice(0)) w(false);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Resolves true when no key is in flight, false if `timeoutMs` passes first. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.processing.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private push(key: string): void {
    this.queue.push(key);
    this.enqueuedAt.set(key, this.now());
    this.opts.metrics?.workqueueDepth.set({ name: this.opts.name }, this.queue.length);
    this.waiters.shift()?.(true);
  }
}

/** A binary min-heap of (due time, key) in two parallel arrays. */
class DueHeap {
  private readonly ats: number[] = [];
  private readonly keys: string[] = [];

  peekAt(): number | undefined {
    return this.ats[0];
  }

  clear(): void {
    this.ats.length = 0;
    this.keys.length = 0;
  }

  push(at: number, key: string): void {
    let i = this.ats.length;
    this.ats.push(at);
    this.keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentAt = this.ats[parent] as number;
      if (parentAt <= at) break;
      this.ats[i] = parentAt;
      this.keys[i] = this.keys[parent] as string;
      i = parent;
    }
    this.ats[i] = at;
    this.keys[i] = key;
  }

  pop(): string | undefined {
    const n = this.ats.length;
    if (n === 0) return undefined;
    const top = this.keys[0];
    const lastAt = this.ats.pop() as number;
    const lastKey = this.keys.pop() as string;
    if (n > 1) {
      let i = 0;
      const size = n - 1;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const c = r < size && (this.ats[r] as number) < (this.ats[l] as number) ? r : l;
        const childAt = this.ats[c] as number;
        if (childAt >= lastAt) break;
        this.ats[i] = childAt;
        this.keys[i] = this.keys[c] as string;
        i = c;
      }
      this.ats[i] = lastAt;
      this.keys[i] = lastKey;
    }
    return top;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
