import { alert, type RuleArea } from './model.js';

/** Seed 001: no audit chain gap longer than 60 seconds (the audit-service counts one at AUDIT_GAP_SLO_SECONDS). */
export const AUDIT_CHAIN_GAP_SLO_SECONDS = 60;
export const AUDIT_CONSUMER_LAG_RECORDS = 1000;
export const OUTBOX_OLDEST_SECONDS = 300;

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
