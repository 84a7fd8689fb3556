import { dropOldest } from '../../../../lib/bounded-map.js';
import { type BucketState, gcra } from './gcra.js';
import { type LimitOutcome, type PolicyState, policyField, rateLimitHeaders } from './headers.js';
import { type Bucket, bucketsFor, type TenantLimits } from './limits.js';

/** A request's buckets and the policies its `RateLimit-Policy` field lists, worked out once per route. */
interface Plan {
  readonly buckets: readonly Bucket[];
  readonly policies: readonly PolicyState[];
  readonly policyField: string;
}

/** Plans kept per limits object and (path, key prefix); paths are unbounded, so each map is capped. */
const PLANS_PER_LIMITS = 64;

/** What the Redis limiter answers (see limiter/redis-limiter.ts); it throws when Redis cannot answer. */
export type BackendCheck =
  | {
      readonly status: 'allowed' | 'rejected';
      readonly bucket: number;
      readonly remaining: number;
      readonly resetMs: number;
      readonly retryAfterMs: number;
    }
  | { readonly status: 'fault' };

export interface LimitBackend {
  check(tenant: string, buckets: readonly Bucket[]): Promise<BackendCheck>;
}

/** `gateway_rate_limit_mode{mode}` values. */
export type LimiterMode = 'normal' | 'fail_open' | 'fail_closed' | 'local_fallback';
export const LIMITER_MODES: readonly LimiterMode[] = ['normal', 'fail_open', 'fail_closed', 'local_fallback'];

/** `gateway_rate_limit_checks_total{outcome}` values. */
export type CheckOutcome = 'allowed' | 'rejected' | 'shadow_rejected' | 'error';

export interface Decision {
  /** Whether the request goes on. */
  readonly allow: boolean;
  readonly outcome: CheckOutcome;
  readonly mode: LimiterMode;
  /** 429 over the limit; 503 when Redis is unavailable and the tenant fails closed. */
  readonly status?: 429 | 503;
  readonly headers: Record<string, string>;
  /** Why the limiter was not normal: `redis_error` or `fault_injected`. */
  readonly degradedBecause?: 'redis_error' | 'fault_injected';
}

export interface RateLimiterOptions {
  readonly backend: LimitBackend;
  readonly now?: () => number;
  /** Called with the error when Redis could not decide (logged by the caller, rate-limited). */
  readonly onBackendError?: (err: unknown) => void;
}

/**
 * One decision per request: the tenant's buckets are checked in Redis; when Redis cannot answer, or the
 * tenant's drill fault key is set, the tenant's redisFailureMode decides (failOpen, failClosed, or the
 * in-process localFallback limit, per replica). In shadow enforcement nothing is rejected: a would-be
 * rejection is allowed and counted as shadow_rejected.
 */
export class RateLimiter {
  private readonly local = new Map<string, BucketState>();
  private readonly now: () => number;
  private lastPrune = 0;
  /**
   * A tenant's limits object is replaced, never changed, when its TenantRateLimit changes (the config store
   * keeps one per generation, and one per tenant for the defaults), so a plan is keyed by it and dropped
   * with it.
   */
  private readonly plans = new WeakMap<TenantLimits, Map<string, Plan>>();

  constructor(private readonly opts: RateLimiterOptions) {
    this.now = opts.now ?? Date.now;
  }

  private planFor(limits: TenantLimits, path: string, keyPrefix: string | undefined): Plan {
    let byRoute = this.plans.get(limits);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.plans.set(limits, byRoute);
    }
    const key = keyPrefix === undefined ? path : `${path}\0${keyPrefix}`;
    let plan = byRoute.get(key);
    if (plan === undefined) {
      const buckets = bucketsFor(limits, path, keyPrefix);
      const policies = buckets.map((b) => ({ policy: b.policy, ...b.limit }));
      plan = { buckets, policies, policyField: policyField(policies) };
      byRoute.set(key, plan);
      dropOldest(byRoute, PLANS_PER_LIMITS);
    }
    return plan;
  }

  async decide(limits: TenantLimits, path: string, keyPrefix?: string): Promise<Decision> {
    const { buckets, policies, policyField: field } = this.planFor(limits, path, keyPrefix);
    const shadow = limits.enforcement === 'shadow';
    let check: BackendCheck;
    try {
      check = await this.opts.backend.check(limits.tenant, buckets);
    } catch (err) {
      this.opts.onBackendError?.(err);
      return this.degraded(limits, 'redis_error', shadow);
    }
    if (check.status === 'fault') return this.degraded(limits, 'fault_injected', shadow);
    const outcome: LimitOutcome = {
      policy: buckets[check.bucket]?.policy ?? 'tenant',
      remaining: check.remaining,
      resetMs: check.resetMs,
      retryAfterMs: check.retryAfterMs,
    };
    if (check.status === 'allowed') {
      return {
        allow: true,
        outcome: 'allowed',
        mode: 'normal',
        headers: rateLimitHeaders(policies, outcome, false, field),
      };
    }
    if (shadow) {
      return {
        allow: true,
        outcome: 'shadow_rejected',
        mode: 'normal',
        headers: rateLimitHeaders(policies, { ...outcome, retryAfterMs: 0 }, false, field),
      };
    }
    return {
      allow: false,
      outcome: 'rejected',
      mode: 'normal',
      status: 429,
      headers: rateLimitHeaders(policies, outcome, true, field),
    };
  }

  private degraded(limits: TenantLimits, why: 'redis_error' | 'fault_injected', shadow: boolean): Decision {
    switch (limits.redisFailureMode) {
      case 'failOpen':
        return { allow: true, outcome: 'error', mode: 'fail_open', headers: {}, degradedBecause: why };
      case 'failClosed':
        if (shadow)
          return {
            allow: true,
            outcome: 'shadow_rejected',
            mode: 'fail_closed',
            headers: {},
            degradedBecause: why,
          };
        return {
          allow: false,
          outcome: 'error',
          mode: 'fail_closed',
          status: 503,
          headers: { 'Retry-After': '1' },
          degradedBecause: why,
        };
      case 'localFallback':
        return this.localDecision(limits, why, shadow);
    }
  }

  /** The tenant limited in process by localFallback: each replica allows that much on its own. */
  private localDecision(
    limits: TenantLimits,
    why: 'redis_error' | 'fault_injected',
    shadow: boolean,
  ): Decision {
    const now = this.now();
    this.prune(now);
    const key = limits.tenant;
    const r = gcra(this.local.get(key), limits.localFallback, now);
    if (r.allowed) this.local.set(key, r.next);
    const policies = [{ policy: 'tenant' as const, ...limits.localFallback }];
    const outcome: LimitOutcome = {
      policy: 'tenant',
      remaining: r.remaining,
      resetMs: r.resetMs,
      retryAfterMs: r.retryAfterMs,
    };
    if (r.allowed) {
      return {
        allow: true,
        outcome: 'allowed',
        mode: 'local_fallback',
        headers: rateLimitHeaders(policies, outcome, false),
        degradedBecause: why,
      };
    }
    if (shadow) {
      return {
        allow: true,
        outcome: 'shadow_rejected',
        mode: 'local_fallback',
        headers: rateLimitHeaders(policies, { ...outcome, retryAfterMs: 0 }, false),
        degradedBecause: why,
      };
    }
    return {
      allow: false,
      outcome: 'rejected',
      mode: 'local_fallback',
      status: 429,
      headers: rateLimitHeaders(policies, outcome, true),
      degradedBecause: why,
    };
  }

  /** Drops local buckets that are full again (their state says nothing), at most once a second. */
  private prune(now: number): void {
    if (now - this.lastPrune < 1000) return;
    this.lastPrune = now;
    for (const [k, s] of this.local) if (s.tat <= now) this.local.delete(k);
  }
}
