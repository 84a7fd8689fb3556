import { alert, type RuleArea } from './model.js';

/** Seed 001: no audit chain gap longer than 60 seconds (the audit-service counts one at AUDIT_GAP_SLO_SECONDS). */
export const AUDIT_CHAIN_GAP_SLO_SECONDS = 60;
export const AUDIT_CONSUMER_LAG_RECORDS = 1000;
export const OUTBOX_OLDEST_SECONDS = 300;
/** Retention (seed 004) may miss this many of its intervals (AUDIT_RETENTION_CHECK_MS) before it alerts. */
export const RETENTION_MISSED_INTERVALS = 3;

/** issue 20: the security event pipeline (outbox → Kafka → audit-service) and the audit chain's integrity. */
export const auditRules: RuleArea = {
  area: 'audit',
  groups: [
    {
      name: 'novapos-audit',
      rules: [
        alert({
          name: 'AuditChainGap',
          expr: `max by (producer) (audit_chain_gap_open_seconds) > ${AUDIT_CHAIN_GAP_SLO_SECONDS}`,
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'Audit chain gap for producer {{ $labels.producer }}',
          description:
            'An event of {{ $labels.producer }} has been missing from the audit chain for {{ $value | humanize }}s ' +
            `(SLO: no gap longer than ${AUDIT_CHAIN_GAP_SLO_SECONDS}s): an event lost between the outbox and the chain.`,
        }),
        alert({
          name: 'AuditChainVerifyFailed',
          expr: 'min(audit_verify_ok) < 1',
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'Audit chain verification found a broken link',
          description:
            'The last `audit verify` recomputed the hash chain and found a row that does not match: the audit log was altered.',
        }),
        alert({
          name: 'AuditConsumerLagHigh',
          expr: `sum by (topic) (audit_consumer_lag) > ${AUDIT_CONSUMER_LAG_RECORDS}`,
          for: '5m',
          severity: 'warning',
          team: 'sre',
          summary: 'audit-service behind on {{ $labels.topic }}',
          description: `{{ $value | humanize }} records of {{ $labels.topic }} not chained yet (threshold ${AUDIT_CONSUMER_LAG_RECORDS}).`,
        }),
        alert({
          // The window follows the service's own interval (the gauge), so a changed AUDIT_RETENTION_CHECK_MS
          // needs no rule change; 0 (never succeeded since start) counts as long ago.
          name: 'AuditRetentionNotRunning',
          expr:
            'time() - max(audit_retention_last_success_timestamp_seconds) > ' +
            `${RETENTION_MISSED_INTERVALS} * max(audit_retention_check_interval_seconds)`,
          for: '10m',
          severity: 'warning',
          team: 'security',
          summary: 'Audit retention has not succeeded within its window',
          description:
            'No audit-service replica has completed a retention run for {{ $value | humanizeDuration }} ' +
            `(${RETENTION_MISSED_INTERVALS} intervals of AUDIT_RETENTION_CHECK_MS): rows past AUDIT_RETENTION_DAYS are kept and the table grows.`,
        }),
        alert({
          name: 'SecurityEventOutboxBacklog',
          expr: `max by (producer) (security_events_outbox_oldest_seconds) > ${OUTBOX_OLDEST_SECONDS}`,
          for: '5m',
          severity: 'warning',
          team: 'sre',
          summary: 'Security events of {{ $labels.producer }} stuck in the outbox',
          description:
            'The oldest undelivered security event of {{ $labels.producer }} is {{ $value | humanize }}s old ' +
            `(threshold ${OUTBOX_OLDEST_SECONDS}s): Kafka unreachable or refusing the producer.`,
        }),
      ],
    },
  ],
};
