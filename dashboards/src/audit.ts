import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { RETENTION_MISSED_INTERVALS } from '../../alerts/src/audit.js';
import { finish, newDashboard, statPanel, timeseriesPanel } from './panels.js';

/** The audit-service (issue 20): chain integrity, consumer lag and retention runs. */
export function auditDashboard(): Dashboard {
  return finish(
    newDashboard({
      uid: 'novapos-audit',
      title: 'NovaPOS / Audit',
      description: 'The audit-service: the hash chain, its consumer and its retention runs.',
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
      ),
  );
}
