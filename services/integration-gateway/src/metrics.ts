import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { dropOldest } from '../../../lib/bounded-map.js';
import { type CheckOutcome, LIMITER_MODES, type LimiterMode } from './domain/rate-limiter.js';
import { RequestMetrics } from './http/request-metrics.js';

export interface GatewayMetricsOptions {
  /** Tenants allowed as a label value; everyone else is `other`. Consulted at every use (it grows with resources). */
  readonly tenantLabelAllowed: (tenant: string) => boolean;
  /** Key prefixes allowed as a label value: only keys the database confirmed (issued keys). */
  readonly processMetrics?: boolean;
  /** How long a tenant counts in the mode of its last decision. Default 60 s. */
  readonly modeWindowMs?: number;
  readonly now?: () => number;
}

/**
 * The gateway's metrics on its own Registry, named as in the runbooks and docs/contracts.md. Label values
 * are bounded: tenants are the configured ones or `other`; key prefixes are those of keys that verified.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly checks: Counter<'outcome'>;
  readonly hits: Counter<'tenant'>;
  readonly rejections: Counter<'tenant'>;
  readonly apiKeyRequests: Counter<'key_prefix'>;
  readonly signatureFailures: Counter;
  readonly authFailures: Counter<'method' | 'reason'>;
  readonly configApplied: Counter<'tenant'>;
  readonly upstreamErrors: Counter<'reason'>;
  /**
   * Per request: the fleet names with auth-service's labels (docs/contracts.md, "Metrics"),
   * `http_requests_total` and `http_request_duration_seconds`, and `gateway_request_duration_seconds`.
   */
  readonly requests: RequestMetrics;
  readonly jwtValidationFailures: Counter<'reason'>;
  /** `cache` = hit (no signature check) or miss: the SLO is judged on misses. */
  readonly jwtValidationDuration: Histogram<'cache'>;
  /** argon2id verifies run (each costs tens of ms of CPU). */
  readonly apiKeyVerifications: Counter;
  /** Requests refused before verification (`reason` = failure_budget, store_unavailable). */
  readonly authThrottled: Counter<'reason'>;
  private readonly lastMode = new Map<string, { mode: LimiterMode; at: number }>();
  private readonly now: () => number;
  /**
   * Decisions not yet added to the counters: every request makes one, so they are counted in plain maps
   * and handed to prom-client when it collects (a scrape), instead of prom-client hashing the label set
   * two or three times per request.
   */
  private readonly pendingChecks = new Map<CheckOutcome, number>();
  private readonly pendingHits = new Map<string, number>();
  private readonly pendingRejections = new Map<string, number>();

  constructor(private readonly opts: GatewayMetricsOptions) {
    this.now = opts.now ?? Date.now;
    const registers = [this.registry];
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.checks = new Counter({
      name: 'gateway_rate_limit_checks_total',
      help: 'Rate-limit decisions by outcome (allowed, rejected, shadow_rejected, error).',
      labelNames: ['outcome'],
      registers,
      collect: addPending('outcome', this.pendingChecks),
    });
    for (const outcome of ['allowed', 'rejected', 'shadow_rejected', 'error'] satisfies CheckOutcome[])
      this.checks.inc({ outcome }, 0);
    this.hits = new Counter({
      name: 'gateway_rate_limit_hits_total',
      help: "Requests checked against a tenant's limit.",
      labelNames: ['tenant'],
      registers,
      collect: addPending('tenant', this.pendingHits),
    });
    this.rejections = new Counter({
      name: 'gateway_rate_limit_rejections_total',
      help: 'Requests refused by the rate limiter (429, or 503 when Redis is down and the tenant fails closed).',
      labelNames: ['tenant'],
      registers,
      collect: addPending('tenant', this.pendingRejections),
    });
    const lastMode = this.lastMode;
    const window = opts.modeWindowMs ?? 60_000;
    const now = this.now;
    new Gauge({
      name: 'gateway_rate_limit_mode',
      help: 'Tenants whose last rate-limit decision (within the last minute) was made in this mode (normal, fail_open, fail_closed, local_fallback).',
      labelNames: ['mode'],
      registers,
      collect() {
        const counts = Object.fromEntries(LIMITER_MODES.map((m) => [m, 0])) as Record<LimiterMode, number>;
        const t = now();
        for (const [tenant, v] of lastMode) {
          if (t - v.at > window) lastMode.delete(tenant);
          else counts[v.mode] += 1;
        }
        for (const m of LIMITER_MODES) this.set({ mode: m }, counts[m]);
      },
    });
    this.apiKeyRequests = new Counter({
      name: 'gateway_api_key_requests_total',
      help: 'Requests authenticated with an API key, by key prefix (issued keys only).',
      labelNames: ['key_prefix'],
      registers,
    });
    this.signatureFailures = new Counter({
      name: 'gateway_signature_verification_failures_total',
      help: 'Deprecated for access tokens (use auth_jwt_validation_failures_total): bearer tokens refused because their signature, key or algorithm did not verify; kept one release.',
      registers,
    });
    this.authFailures = new Counter({
      name: 'gateway_auth_failures_total',
      help: 'Requests refused by authentication, by method (jwt, api_key, none) and bounded reason.',
      labelNames: ['method', 'reason'],
      registers,
    });
    this.configApplied = new Counter({
      name: 'gateway_rate_limit_config_applied_total',
      help: 'TenantRateLimit generations applied from Redis.',
      labelNames: ['tenant'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'gateway_upstream_errors_total',
      help: 'Proxied requests that got no answer from the upstream, by reason (timeout, connect, aborted, other).',
      labelNames: ['reason'],
      registers,
    });
    this.requests = new RequestMetrics(this.registry);
    this.jwtValidationFailures = new Counter({
      name: 'auth_jwt_validation_failures_total',
      help: 'Access tokens rejected by the gateway, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.jwtValidationDuration = new Histogram({
      name: 'auth_jwt_validation_duration_seconds',
      help: 'Time to validate an access token (SLO: 99.5% under 200 ms), by cache (hit, miss).',
      labelNames: ['cache'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1],
      registers,
    });
    this.apiKeyVerifications = new Counter({
      name: 'gateway_api_key_verifications_total',
      help: 'argon2id verifications of API keys (cache misses that reached a hash).',
      registers,
    });
    this.authThrottled = new Counter({
      name: 'gateway_auth_throttled_total',
      help: 'Requests refused before verification: failure budget spent, or its store unavailable.',
      labelNames: ['reason'],
      registers,
    });
  }

  tenantLabel(tenant: string): string {
    return this.opts.tenantLabelAllowed(tenant) ? tenant : 'other';
  }

  recordDecision(tenant: string, outcome: CheckOutcome, mode: LimiterMode, rejected: boolean): void {
    const label = this.tenantLabel(tenant);
    countOne(this.pendingChecks, outcome);
    countOne(this.pendingHits, label);
    if (rejected) countOne(this.pendingRejections, label);
    const last = this.lastMode.get(tenant);
    if (last !== undefined) {
      last.mode = mode;
      last.at = this.now();
    } else {
      this.lastMode.set(tenant, { mode, at: this.now() });
      dropOldest(this.lastMode, 10_000);
    }
  }
}

/** One more in `key`'s pending count. */
function countOne<K>(pending: Map<K, number>, key: K): void {
  pending.set(key, (pending.get(key) ?? 0) + 1);
}

/** A counter's `collect` (run at each scrape): the counts pending under its one label, added and forgotten. */
function addPending<L extends string>(label: L, pending: Map<string, number>) {
  return function (this: Counter<L>): void {
    for (const [value, n] of pending) this.inc({ [label]: value } as Partial<Record<L, string>>, n);
    pending.clear();
  };
}
