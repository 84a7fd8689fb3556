import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  AUDIT_PAUSE_BUDGET_SECONDS,
  DRILL_CATCH_UP_WINDOW,
  HEAD_SIGNING_FAILING_FOR,
  RETENTION_MISSED_INTERVALS,
} from '../../alerts/src/audit.js';
import { finish, newDashboard, stateTimelinePanel, statPanel, timeseriesPanel } from './panels.js';

/** The audit-service (issue 20): chain integrity, signed heads, consumer lag and pauses, retention runs. */
export function auditDashboard(): Dashboard {
  return finish(
    newDashboard({
      uid: 'novapos-audit',
      title: 'NovaPOS / Audit',
      description:
        'The audit-service: the hash chain, its signed heads, its consumer and its retention runs.',
      tags: ['audit', 'security'],
    })
      .withPanel(
        statPanel({
          title: 'Chain verified',
          description:
            '1 when the last `audit verify` passed, 0 when it found a broken link (AuditChainVerifyFailed).',
          queries: [{ expr: 'min(audit_verify_ok)' }],
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Consumer lag by topic',
          description: 'Records not chained yet (AuditConsumerLagHigh above 1000 for 5 minutes).',
          queries: [{ expr: 'sum by (topic) (audit_consumer_lag)', legend: '{{topic}}' }],
        }),
      )
      .withPanel(
        statPanel({
          title: 'Time since the last successful retention run',
          description:
            'Seconds since any replica completed a retention run (AUDIT_RETENTION_DAYS); ' +
            `AuditRetentionNotRunning fires past ${RETENTION_MISSED_INTERVALS} intervals.`,
          queries: [{ expr: 'time() - max(audit_retention_last_success_timestamp_seconds)' }],
          unit: 's',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Retention runs by outcome (6h)',
          description:
            'Runs in the last six hours, successes and failures (a failure is retried each interval).',
          queries: [
            { expr: 'sum by (outcome) (increase(audit_retention_runs_total[6h]))', legend: '{{outcome}}' },
          ],
        }),
      )
      .withPanel(
        stateTimelinePanel({
          title: 'Chain-head signer',
          description:
            "The signer's state (1 = current): ok; refused (Vault refused the login or policy: the pod is not ready); " +
            'unavailable (Vault unreachable or sealed: retried); pending (first login unanswered); off (no VAULT_ADDR, ' +
            `development). refused, unavailable or pending for ${HEAD_SIGNING_FAILING_FOR} raises AuditHeadSigningFailing.`,
          queries: [{ expr: 'max by (state) (audit_head_signing_state)', legend: '{{state}}' }],
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Rows above the newest signed head',
          description:
            'Chained rows not yet covered by a head signed with the transit key (kept outside PostgreSQL). Below one ' +
            "signing interval's worth while the signer works; growing while it fails.",
          queries: [
            { expr: 'max(audit_chain_length) - max(audit_chain_signed_seq)', legend: 'unsigned rows' },
          ],
        }),
      )
      .withPanel(
        statPanel({
          title: 'Consumer paused (DR drill)',
          description:
            "1 while the DR drill's audit catch-up step has the consumer paused. AuditChainGap and AuditConsumerLagHigh " +
            `are inhibited meanwhile and for ${DRILL_CATCH_UP_WINDOW} after, up to ${AUDIT_PAUSE_BUDGET_SECONDS}s of pause an hour ` +
            '(AuditConsumerPausedTooLong past it).',
          queries: [{ expr: 'max(audit_consumer_paused)' }],
          threshold: 1,
        }),
      ),
  );
}
