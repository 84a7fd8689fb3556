/**
 * GCRA (generic cell rate algorithm), the same arithmetic as `limiter/gcra.lua`, for the in-process
 * fallback limiter and as the reference the Lua script is tested against.
 *
 * A limit of `requestsPerMinute` with `burst` is a bucket of `capacity = requestsPerMinute + burst`
 * requests refilled at one request every `interval = 60000 / requestsPerMinute` ms. The only state is the
 * theoretical arrival time (TAT): when the bucket would be full again. A request is allowed when
 * `TAT + interval - capacity * interval <= now`; allowing it moves TAT on by one interval. So a full bucket
 * lets exactly `capacity` requests through at once and then one per interval, and unlike a fixed window
 * there is no window edge at which twice the limit can pass.
 */

export interface RateLimit {
  readonly requestsPerMinute: number;
  readonly burst: number;
}

export interface BucketState {
  /** Theoretical arrival time, ms. */
  readonly tat: number;
  /** The interval `tat` was computed with: a changed limit rescales the debt instead of resetting it. */
  readonly interval: number;
}

export interface GcraResult {
  readonly allowed: boolean;
  /** Requests that could still pass now (after this one when allowed). */
  readonly remaining: number;
  /** ms until the bucket is full again. */
  readonly resetMs: number;
  /** ms until a request would be allowed; 0 when allowed. */
  readonly retryAfterMs: number;
  /** The state to store when allowed; the old state stays when rejected. */
  readonly next: BucketState;
}

export const intervalMs = (limit: RateLimit) => 60_000 / limit.requestsPerMinute;
export const capacityOf = (limit: RateLimit) => limit.requestsPerMinute + limit.burst;

/** One GCRA decision at `now` (ms) for a bucket in `state` (undefined: full). */
export function gcra(state: BucketState | undefined, limit: RateLimit, now: number, cost = 1): GcraResult {
  const interval = intervalMs(limit);
  const capacity = capacityOf(limit);
  let tat = state?.tat ?? now;
  if (tat < now) tat = now;
  else if (state && state.interval !== interval) tat = now + ((tat - now) * interval) / state.interval;
  const newTat = tat + interval * cost;
  const allowAt = newTat - interval * capacity;
  if (now < allowAt) {
    return {
      allowed: false,
      remaining: 0,
      resetMs: tat - now,
      retryAfterMs: allowAt - now,
      next: { tat, interval },
    };
  }
  return {
    allowed: true,
    remaining: Math.floor((now - allowAt) / interval),
    resetMs: newTat - now,
    retryAfterMs: 0,
    next: { tat: newTat, interval },
  };
}
