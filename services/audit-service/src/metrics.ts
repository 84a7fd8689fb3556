import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

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
  readonly paused: Gauge;

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
    this.lastVerifyOk = new Gauge({
      name: 'audit_verify_ok',
      help: '1 when the last chain verification passed, 0 when it found a broken link.',
      registers,
    });
  }
}
