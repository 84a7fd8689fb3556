import type { Logger } from '../../../../../lib/log.js';
import type { RedisFailureMode } from '../../../../../lib/ratelimit-contract.js';
import type {
  CreatedApiKey,
  DrillAdapters,
  SyntheticSession,
  TrafficSample,
} from '../../../adapters/drill/ports.js';
import type { DisasterRecoveryDrillSpec } from '../../../api/v1alpha1/disasterrecoverydrill.js';

/** Timings of the runner and its steps; defaults suit a cluster, tests shorten them. */
export interface RunnerTiming {
  /** How often the abort guard reads the gateway's counters. */
  readonly guardIntervalMs: number;
  /** Real (non-drill) requests failing above this share stop the drill. */
  readonly guardMaxErrorRatio: number;
  /** ... once at least this many real requests were seen during the step. */
  readonly guardMinRequests: number;
  /** The guard stops the drill when it cannot read the gateway's counters for this long. */
  readonly guardBlindMs: number;
  /** Wait for the synthetic TenantRateLimit to be acknowledged by every gateway replica. */
  readonly appliedTimeoutMs: number;
  /** After the outage, normal answers must come back within this. */
  readonly recoveryTimeoutMs: number;
  /** Status polls (SigningKeyRotation, alert deliveries). */
  readonly pollMs: number;
  /** How often the synthetic session gets a new access token during the rotation. */
  readonly tokenRefreshMs: number;
  /** Bound on the whole cleanup. */
  readonly cleanupTimeoutMs: number;
}

export const DEFAULT_RUNNER_TIMING: RunnerTiming = {
  guardIntervalMs: 2_000,
  guardMaxErrorRatio: 0.05,
  guardMinRequests: 20,
  guardBlindMs: 15_000,
  appliedTimeoutMs: 30_000,
  recoveryTimeoutMs: 15_000,
  pollMs: 1_000,
  tokenRefreshMs: 2_000,
  cleanupTimeoutMs: 60_000,
};

/** The gateway's error code for a client refused before verification (its failed authentications spent the budget). */
export const TOO_MANY_AUTH_FAILURES = 'too_many_auth_failures';

/**
 * Whether the abort guard counts an answer as a failed request: 5xx, 401, 403, and a 429
 * `too_many_auth_failures`. The last one is a client whose authentications keep failing, answered 429 before
 * verification once its failure budget is spent (docs/integration-gateway.md, "Failed authentications"):
 * it still fails, only its status changed, and not counting it let failing traffic vanish from the guard's
 * ratio. A 429 `rate_limited` is the limiter doing its job and does not count.
 */
export function isGuardError(sample: Pick<TrafficSample, 'status' | 'code'>): boolean {
  const { status } = sample;
  return (
    status >= 500 ||
    status === 401 ||
    status === 403 ||
    (status === 429 && sample.code === TOO_MANY_AUTH_FAILURES)
  );
}

/** The drill's own requests, so the guard can tell them from real traffic. */
export class OwnTraffic {
  requests = 0;
  errors = 0;
  record(sample: TrafficSample): void {
    this.requests++;
    if (isGuardError(sample)) this.errors++;
  }
}

export interface StepContext {
  readonly namespace: string;
  readonly drillName: string;
  readonly runId: string;
  readonly spec: DisasterRecoveryDrillSpec;
  readonly adapters: DrillAdapters;
  readonly timing: RunnerTiming;
  readonly log: Logger;
  readonly now: () => Date;
  /** Aborted by the step's time bound, the guard, operator shutdown or the drill's deletion. */
  readonly signal: AbortSignal;
  readonly own: OwnTraffic;
  /** Set up before the steps when the traffic steps run. */
  readonly tenant?: string;
  readonly session?: SyntheticSession;
  readonly apiKey?: CreatedApiKey;
  /** The synthetic tenant's redisFailureMode as its TenantRateLimit says. */
  readonly expectedMode?: RedisFailureMode;
}

/**
 * What a step needs that the runner set up before it (its spec section, the synthetic tenant, session or
 * API key): the value, or an error saying what is missing, instead of a non-null assertion.
 */
export function prepared<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`drill step started without ${what}`);
  return value;
}

export interface StepOutcome {
  readonly passed: boolean;
  readonly message: string;
  readonly figures: Record<string, number>;
}
