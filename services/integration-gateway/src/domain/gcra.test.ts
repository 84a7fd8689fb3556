import { describe, expect, it } from 'vitest';
import { type BucketState, gcra } from './gcra.js';

function run(limit: { requestsPerMinute: number; burst: number }, times: number[]) {
  let state: BucketState | undefined;
  return times.map((t) => {
    const r = gcra(state, limit, t);
    if (r.allowed) state = r.next;
    return r;
  });
}

describe('gcra', () => {
  it('lets a full bucket pass requestsPerMinute + burst at once, then rejects (the runbook drill: 70 of 75)', () => {
    const results = run({ requestsPerMinute: 60, burst: 10 }, Array(75).fill(1_000));
    expect(results.filter((r) => r.allowed)).toHaveLength(70);
    expect(results.slice(70).every((r) => !r.allowed)).toBe(true);
  });

  it('refills one request per interval after the bucket is empty', () => {
    const limit = { requestsPerMinute: 60, burst: 0 };
    const results = run(limit, [...Array(60).fill(0), 999, 1000, 1000, 2000]);
    expect(results.slice(60).map((r) => r.allowed)).toEqual([false, true, false, true]);
  });

  it('tells a rejected client exactly when to retry', () => {
    const [, second] = run({ requestsPerMinute: 6, burst: 0 }, Array(7).fill(0)).slice(5);
    expect(second!.allowed).toBe(false);
    expect(second!.retryAfterMs).toBe(10_000);
  });

  it('reports what remains and when the bucket is full again', () => {
    const [first] = run({ requestsPerMinute: 60, burst: 10 }, [0]);
    expect(first).toMatchObject({ allowed: true, remaining: 69, resetMs: 1000 });
  });

  it('never lets twice the limit through around a minute boundary, unlike a fixed window', () => {
    const limit = { requestsPerMinute: 60, burst: 0 };
    // 60 at the end of one minute, 60 at the start of the next: a fixed window allows 120.
    const results = run(limit, [...Array(60).fill(59_999), ...Array(60).fill(60_000)]);
    expect(results.filter((r) => r.allowed).length).toBe(60);
  });

  it('keeps the debt when the limit changes: raising it frees requests at once, lowering it does not reset', () => {
    const slow = { requestsPerMinute: 60, burst: 0 };
    let state: BucketState | undefined;
    for (let i = 0; i < 60; i++) state = gcra(state, slow, 0).next;
    expect(gcra(state, slow, 0).allowed).toBe(false);
    // Ten times the rate: the 60 requests used are 60 of 600, so the next one passes at once.
    expect(gcra(state, { requestsPerMinute: 600, burst: 0 }, 0).allowed).toBe(true);
    // A lower limit does not hand out a fresh bucket.
    expect(gcra(state, { requestsPerMinute: 30, burst: 0 }, 0).allowed).toBe(false);
  });
});
