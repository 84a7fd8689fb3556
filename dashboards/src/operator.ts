import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { MONITORED_JOBS } from '../../alerts/src/availability.js';
import { OPERATOR_JOB } from '../../alerts/src/operator.js';
import { finish, newDashboard, row, stateTimelinePanel, statPanel, timeseriesPanel } from './panels.js';

const op = `job="${OPERATOR_JOB}"`;

export function operatorDashboard(): Dashboard {
  return finish(
    newDashboard({
      uid: 'novapos-operator',
      title: 'NovaPOS / Operator health',
      description: 'The novapos operator: reconciles, work queues, leadership, DR drills and scrape health.',
      tags: ['operator'],
    })
      .withRow(row('Reconciles'))
      .withPanel(
        timeseriesPanel({
          title: 'Reconciles by controller and result',
          description:
            'Reconciles per second per controller and result (success, error, requeue, requeue_after).',
          queries: [
            {
              expr: `sum by (controller, result) (rate(controller_runtime_reconcile_total{${op}}[5m]))`,
              legend: '{{controller}} {{result}}',
            },
          ],
          unit: 'ops',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Reconcile errors',
          description:
            'Errors per second per controller; errors for 15 minutes raise NovaposReconcileErrors.',
          queries: [
            {
              expr: `sum by (controller) (rate(controller_runtime_reconcile_errors_total{${op}}[5m]))`,
              legend: '{{controller}}',
            },
          ],
          unit: 'ops',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Reconcile time p99',
          description:
            '99th percentile of reconcile duration per controller (Vault and /keys/status calls included).',
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (controller, le) (rate(controller_runtime_reconcile_time_seconds_bucket{${op}}[5m])))`,
              legend: '{{controller}}',
            },
          ],
          unit: 's',
        }),
      )
      .withPanel(
        statPanel({
          title: 'Leader',
          description:
            '1 when a replica holds the leader lease; 0 for 5 minutes raises NovaposOperatorNoLeader.',
          queries: [{ expr: `max(leader_election_master_status{${op}})` }],
          width: 12,
        }),
      )
      .withRow(row('Work queues'))
      .withPanel(
        timeseriesPanel({
          title: 'Work queue depth',
          description:
            'Items waiting per queue; a depth that only grows means the controller cannot keep up.',
          queries: [{ expr: `sum by (name) (workqueue_depth{${op}})`, legend: '{{name}}' }],
          width: 8,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Queue wait p99',
          description: 'How long an item waits before a worker picks it up.',
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (name, le) (rate(workqueue_queue_duration_seconds_bucket{${op}}[5m])))`,
              legend: '{{name}}',
            },
          ],
          unit: 's',
          width: 8,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Adds and retries',
          description: 'Items added and retried (with backoff) per second.',
          queries: [
            { expr: `sum by (name) (rate(workqueue_adds_total{${op}}[5m]))`, legend: 'adds {{name}}' },
            { expr: `sum by (name) (rate(workqueue_retries_total{${op}}[5m]))`, legend: 'retries {{name}}' },
          ],
          unit: 'ops',
          width: 8,
        }),
      )
      .withRow(row('Rate limits and DR drills'))
      .withPanel(
        stateTimelinePanel({
          title: 'Tenant rate limits applied by the gateway',
          description:
            '1 when every gateway replica acknowledged the tenant’s current TenantRateLimit generation.',
          queries: [{ expr: 'min by (tenant) (novapos_tenant_rate_limit_applied)', legend: '{{tenant}}' }],
        }),
      )
      .withPanel(
        stateTimelinePanel({
          title: 'DR drill step results (last run)',
          description: '1 passed, 0 failed, per drill and step. A failed step raises DrDrillStepFailed.',
          queries: [
            {
              expr: 'min by (namespace, name, step) (novapos_drill_step_result)',
              legend: '{{namespace}}/{{name}} {{step}}',
            },
          ],
        }),
      )
      .withPanel(
        statPanel({
          title: 'Time since last successful drill',
          description: 'Drills are quarterly; DrDrillOverdue fires after 100 days.',
          queries: [
            {
              expr: 'time() - max by (namespace, name) (novapos_drill_last_success_timestamp_seconds)',
              legend: '{{namespace}}/{{name}}',
            },
          ],
          unit: 's',
          width: 12,
        }),
      )
      .withPanel(
        stateTimelinePanel({
          title: 'Scrape targets up',
          description:
            '1 when Prometheus scraped the target; all targets of a job down for 30 s raises ServiceDown.',
          queries: [{ expr: `up{job=~"${MONITORED_JOBS.join('|')}"}`, legend: '{{job}} {{instance}}' }],
        }),
      ),
  );
}
