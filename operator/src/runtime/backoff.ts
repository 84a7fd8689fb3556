/** Capped exponential backoff: `base * factor^(attempt-1)`, at most `max`; attempt 1 is the first retry. */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Default 2. */
  readonly factor?: number;
  /** 0..1: the delay is spread by up to this fraction, so replicas do not retry in lockstep. Default 0. */
  readonly jitter?: number;
}

export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const factor = policy.factor ?? 2;
  const exp = policy.baseMs * factor ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxMs, exp);
  const jitter = policy.jitter ?? 0;
  return jitter > 0 ? Math.min(policy.maxMs, capped * (1 + jitter * random())) : capped;
}

/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`. `take()` answers how long to wait
 * before a token is available and reserves it, so callers that each wait that long stay within the rate.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new Error(`token bucket needs rate > 0 and burst >= 1, got ${ratePerSecond}/${burst}`);
    this.tokens = burst;
    this.last = now();
  }

  /** Reserves one token; returns the milliseconds to wait before using it (0 when one was available). */
  take(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
  }
}
