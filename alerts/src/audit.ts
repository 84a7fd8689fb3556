import { alert, type RuleArea } from './model.js';

/** Seed 001: no audit chain gap longer than 60 seconds (the audit-service counts one at AUDIT_GAP_SLO_SECONDS). */
export const AUDIT_CHAIN_GAP_SLO_SECONDS = 60;
export const AUDIT_CONSUMER_LAG_RECORDS = 1000;
export const OUTBOX_OLDEST_SECONDS = 300;
/** Retention (seed 004) may miss this many of its intervals (AUDIT_RETENTION_CHECK_MS) before it alerts. */
export const RETENTION_MISSED_INTERVALS = 3;
/**
 * After the DR drill's pause ends, the consumer catches up (the drill's catch-up timeout is 2m by default):
 * the gap and lag alerts stay inhibited this long after the resume, so the catch-up is not news.
 */
export const DRILL_CATCH_UP_WINDOW = '5m';
/**
 * Seconds in any hour the consumer may be paused with the gap and lag alerts inhibited: the audit-service's
 * longest pause by default (AUDIT_MAX_PAUSE_SECONDS, 900) plus room. Past it the inhibition ends and
 * AuditConsumerPausedTooLong warns, so the pause route (one admin token) cannot hide the pipeline for long.
 */
export const AUDIT_PAUSE_BUDGET_SECONDS = 1200;
/** Ten attempts of the chain-head signer at its default interval (AUDIT_SIGN_INTERVAL_MS, 60 s). */
export const HEAD_SIGNING_FAILING_FOR = '10m';

/** The alert that says the drill paused the consumer; Alertmanager inhibits the alerts below while it fires. */
export const AUDIT_PAUSED_BY_DRILL_ALERT = 'AuditConsumerPausedByDrill';
/** What a paused consumer causes by design: no news while the drill's pause and its catch-up last. */
export const ALERTS_EXPLAINED_BY_A_DRILL_PAUSE = ['AuditChainGap', 'AuditConsumerLagHigh'] as const;

/**
 * Seconds the consumer was paused in the last hour, at one-minute resolution. The subquery counts minutes the
 * gauge was absent (no audit-service yet, a new pod's series) as not paused, so a young series does not look
 * paused for most of the hour.
 */
const pausedSecondsLastHour = 'avg_over_time((max(audit_consumer_paused) or vector(0))[1h:1m]) * 3600';

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
          // Only the drill's catch-up step pauses the consumer (POST /audit/consumer/pause). Delivered to nobody:
          // it is the source of Alertmanager's inhibition of the gap and lag alerts (alerts/alertmanager/config.ts),
          // while paused and DRILL_CATCH_UP_WINDOW after, within AUDIT_PAUSE_BUDGET_SECONDS an hour.
          name: AUDIT_PAUSED_BY_DRILL_ALERT,
          expr:
            `max(max_over_time(audit_consumer_paused[${DRILL_CATCH_UP_WINDOW}])) > 0 ` +
            `unless ${pausedSecondsLastHour} > ${AUDIT_PAUSE_BUDGET_SECONDS}`,
          for: '30s',
          severity: 'info',
          team: 'sre',
          summary: 'audit-service consumer paused by the DR drill',
          description:
            `The audit consumer is paused through its admin route (the DR drill's audit catch-up step) or was in the last ${DRILL_CATCH_UP_WINDOW}: ` +
            `${ALERTS_EXPLAINED_BY_A_DRILL_PAUSE.join(' and ')} are inhibited meanwhile (at most ${AUDIT_PAUSE_BUDGET_SECONDS}s of pause an hour).`,
        }),
        alert({
          name: 'AuditConsumerPausedTooLong',
          expr: `${pausedSecondsLastHour} > ${AUDIT_PAUSE_BUDGET_SECONDS}`,
          for: '1m',
          severity: 'warning',
          team: 'security',
          summary: 'audit-service consumer paused longer than a drill needs',
          description:
            'The audit consumer was paused through its admin route for {{ $value | humanizeDuration }} of the last hour ' +
            `(budget ${AUDIT_PAUSE_BUDGET_SECONDS}s): events are not chained meanwhile, and the gap and lag alerts are no longer inhibited.`,
        }),
        alert({
          // Heads are signed every AUDIT_SIGN_INTERVAL_MS; a failure sets refused (Vault refused the login or the
          // policy: the pod is not ready) or unavailable (Vault unreachable or sealed: retried), and pending means
          // the first login never answered. `off` (no VAULT_ADDR) is development only and not alerted.
          name: 'AuditHeadSigningFailing',
          expr: 'max by (state) (audit_head_signing_state{state=~"refused|unavailable|pending"}) > 0',
          for: HEAD_SIGNING_FAILING_FOR,
          severity: 'warning',
          team: 'security',
          summary: 'Audit chain heads not signed: the signer is {{ $labels.state }}',
          description:
            `The audit-service's chain-head signer has been {{ $labels.state }} for ${HEAD_SIGNING_FAILING_FOR}: new chain heads are not ` +
            'signed with the OpenBao transit key, so rows chained meanwhile are not covered by a signature kept outside PostgreSQL.',
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
