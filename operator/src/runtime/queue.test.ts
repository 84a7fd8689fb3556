import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, TokenBucket } from './backoff.js';
import { WorkQueue } from './queue.js';

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    const policy = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(policy, a))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('spreads the delay by the jitter fraction but never past the cap', () => {
    expect(backoffDelay({ baseMs: 100, maxMs: 1_000, jitter: 0.5 }, 1, () => 1)).toBe(150);
    expect(backoffDelay({ baseMs: 100, maxMs: 1_000, jitter: 0.5 }, 10, () => 1)).toBe(1000);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then paces to the rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect(bucket.take()).toBe(100);
    expect(bucket.take()).toBe(200);
    now = 1_000;
    expect(bucket.take()).toBe(0);
  });
});

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const queue = () =>
    new WorkQueue({ name: 't', backoff: { baseMs: 100, maxMs: 1_000 }, now: () => Date.now() });

  it('dedupes a key that is already queued', async () => {
    const q = queue();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
  });

  it('hands a key to one worker at a time and re-queues it when added while in flight', async () => {
    const q = queue();
    q.add('ns/a');
    const key = await q.get();
    q.add('ns/a');
    expect(q.length).toBe(0);
    q.done(key as string);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('ns/a');
  });

  it('retries with per-key exponential backoff that resets on forget', () => {
    const q = queue();
    expect([q.addRateLimited('k'), q.addRateLimited('k'), q.addRateLimited('k')]).toEqual([100, 200, 400]);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(100);
  });

  it('queues a scheduled key when its time comes, keeping the earliest schedule', async () => {
    const q = queue();
    q.addAfter('k', 5_000);
    q.addAfter('k', 1_000);
    q.addAfter('k', 3_000);
    vi.advanceTimersByTime(999);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.length).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(q.length).toBe(1);
  });

  it('serves 10,000 scheduled keys in due order with one timer, no closure per key', async () => {
    const q = queue();
    const before = vi.getTimerCount();
    const due = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const ms = 1_000 + ((i * 7919) % 10_000);
      due.set(`k${i}`, ms);
      q.addAfter(`k${i}`, ms);
    }
    expect(vi.getTimerCount() - before).toBe(1);
    expect(q.scheduled).toBe(10_000);
    const order: string[] = [];
    let last = 0;
    for (let t = 1_000; t <= 11_000; t += 500) {
      vi.advanceTimersByTime(t - last);
      last = t;
      while (q.length) {
        const key = (await q.get()) as string;
        expect(due.get(key)).toBeLessThanOrEqual(t);
        order.push(key);
        q.done(key);
      }
    }
    expect(order).toHaveLength(10_000);
    expect(q.scheduled).toBe(0);
    expect(vi.getTimerCount() - before).toBe(0);
  });

  it('paces hand-outs with the token bucket', async () => {
    const q = new WorkQueue({
      name: 't',
      backoff: { baseMs: 1, maxMs: 1 },
      rateLimit: { ratePerSecond: 10, burst: 1 },
      now: () => Date.now(),
    });
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('a');
    let second: string | undefined;
    void q.get().then((k) => {
      second = k;
    });
    await vi.advanceTimersByTimeAsync(50);
    expect(second).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60);
    expect(second).toBe('b');
  });

  it('on shutdown stops handing out work, drops schedules and waits for in-flight keys', async () => {
    const q = queue();
    q.add('a');
    const key = (await q.get()) as string;
    const waiting = q.get();
    q.addAfter('later', 1_000);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('b');
    expect(q.length).toBe(0);
    let drained: boolean | undefined;
    void q.drain(5_000).then((d) => {
      drained = d;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(drained).toBeUndefined();
    q.done(key);
    await vi.advanceTimersByTimeAsync(0);
    expect(drained).toBe(true);
  });

  it('gives up draining after the timeout', async () => {
    const q = queue();
    q.add('a');
    await q.get();
    q.shutDown();
    const result = q.drain(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await result).toBe(false);
  });
});
