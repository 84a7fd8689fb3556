import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const SIGNING_STATES = ['ok', 'refused', 'unavailable', 'pending', 'off'] as const;
export type SigningState = (typeof SIGNING_STATES)[number];

/** http_request_duration_seconds buckets: the fleet's (auth-service's and the gateway's are the same). */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5];
/** auth_jwt_validation_duration_seconds buckets: auth-service's (services/auth-service/src/metrics.ts). */
export const JWT_VALIDATION_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1];

/** The audit-service's metrics (docs/contracts.md, "Metrics"; seed 001: processed and gap counters). */
export class AuditMetrics {
  readonly registry = new Registry();
  readonly processed: Counter<'topic' | 'outcome'>;
  readonly gaps: Counter<'producer'>;
  readonly openHoleSeconds: Gauge<'producer'>;
  readonly lag: Gauge<'topic'>;
  readonly newestAge: Gauge;
  readonly chainLength: Gauge;
  readonly verifyFailures: Counter;
  readonly lastVerifyOk: Gauge;
  readonly signedSeq: Gauge;
  readonly signingState: Gauge<'state'>;
  readonly signingFailures: Counter<'reason'>;
  readonly paused: Gauge;
  readonly retentionRuns: Counter<'outcome'>;
  readonly retentionLastSuccess: Gauge;
  readonly retentionRemoved: Counter;
  readonly retentionInterval: Gauge;
  /**
   * The fleet HTTP and token metrics (docs/contracts.md, "Fleet HTTP and token metrics"), with the names,
   * labels and buckets of auth-service and the gateway: every request of the admin listener (its only HTTP;
   * src/listener-metrics.ts), and the query API's verifications of users' tokens (src/query-auth.ts).
   */
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly jwtValidationFailures: Counter<'reason'>;
  readonly jwtValidationDuration: Histogram;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.processed = new Counter({
      name: 'audit_events_processed_total',
      help: 'Events consumed, by topic and outcome: chained, duplicate (event id already chained), rejected (not an event envelope).',
      labelNames: ['topic', 'outcome'],
      registers,
    });
    this.gaps = new Counter({
      name: 'audit_chain_gap_total',
      help: "Chain gaps: a producer's sequence number still missing after the SLO (AUDIT_GAP_SLO_SECONDS, 60 s), counted once per hole.",
      labelNames: ['producer'],
      registers,
    });
    this.openHoleSeconds = new Gauge({
      name: 'audit_chain_gap_open_seconds',
      help: "Age of the producer's oldest missing sequence number (0 when none is missing).",
      labelNames: ['producer'],
      registers,
    });
    this.lag = new Gauge({
      name: 'audit_consumer_lag',
      help: 'Records on the topic not consumed yet by the audit consumer group (sum over partitions).',
      labelNames: ['topic'],
      registers,
    });
    this.newestAge = new Gauge({
      name: 'audit_newest_chained_event_age_seconds',
      help: 'Seconds since the newest chained event occurred.',
      registers,
    });
    this.chainLength = new Gauge({
      name: 'audit_chain_length',
      help: 'Rows in the audit chain (its head seq).',
      registers,
    });
    this.verifyFailures = new Counter({
      name: 'audit_verify_failures_total',
      help: 'Chain verifications that found a broken link.',
      registers,
    });
    this.paused = new Gauge({
      name: 'audit_consumer_paused',
      help: '1 while chaining is paused through the admin route (the DR drill), 0 otherwise.',
      registers,
    });
    this.signedSeq = new Gauge({
      name: 'audit_chain_signed_seq',
      help: 'The seq of the newest chain head signed with the transit key (checkpoints kept in Vault).',
      registers,
    });
    this.signingState = new Gauge({
      name: 'audit_head_signing_state',
      help: "The chain-head signer's state, 1 for the current one: ok, refused (Vault refused the login or the policy: not ready), unavailable (Vault unreachable: retried), pending (first login not answered yet), off (VAULT_ADDR unset).",
      labelNames: ['state'],
      registers,
    });
    this.signingFailures = new Counter({
      name: 'audit_head_signing_failures_total',
      help: "Failed logins or signings of the chain head, by Vault's error code (login_failed, forbidden, unavailable, ...).",
      labelNames: ['reason'],
      registers,
    });
    this.retentionRuns = new Counter({
      name: 'audit_retention_runs_total',
      help: 'Retention runs (AUDIT_RETENTION_DAYS), by outcome: success (rows removed or none due), failure.',
      labelNames: ['outcome'],
      registers,
    });
    this.retentionLastSuccess = new Gauge({
      name: 'audit_retention_last_success_timestamp_seconds',
      help: 'Unix time of the last successful retention run; 0 until the first one (it runs at start).',
      registers,
    });
    this.retentionRemoved = new Counter({
      name: 'audit_retention_rows_removed_total',
      help: 'Audit rows removed by retention (above a signed base).',
      registers,
    });
    this.retentionInterval = new Gauge({
      name: 'audit_retention_check_interval_seconds',
      help: 'How often retention runs (AUDIT_RETENTION_CHECK_MS): the alert allows three intervals without a success.',
      registers,
    });
    this.httpRequests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.jwtValidationFailures = new Counter({
      name: 'auth_jwt_validation_failures_total',
      help: 'Access tokens rejected by the audit-service (GET /audit/events), by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.jwtValidationDuration = new Histogram({
      name: 'auth_jwt_validation_duration_seconds',
      help: 'Time to validate an access token (SLO: 99.5% under 200 ms).',
      buckets: JWT_VALIDATION_BUCKETS,
      registers,
    });
    for (const outcome of ['success', 'failure']) this.retentionRuns.inc({ outcome }, 0);
    this.setSigningState('off');
    this.retentionLastSuccess.set(0);
    this.lastVerifyOk = new Gauge({
      name: 'audit_verify_ok',
      help: '1 when the last chain verification passed, 0 when it found a broken link.',
      registers,
    });
  }

  setSigningState(current: SigningState): void {
    for (const state of SIGNING_STATES) this.signingState.set({ state }, state === current ? 1 : 0);
  }
}
