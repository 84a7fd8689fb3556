import { alert, type RuleArea } from './model.js';

/** The operator's scrape job; controller-runtime metric names are shared with other operators in a cluster. */
export const OPERATOR_JOB = 'novapos-operator';
export const ROTATION_OVERDUE_WARNING_SECONDS = 3600;
export const ROTATION_OVERDUE_CRITICAL_SECONDS = 86400;
/** Seed 001: DR drills are quarterly; a quarter plus ten days of slack. */
export const DRILL_OVERDUE_SECONDS = 100 * 86400;

const nextRotation = 'novapos_signing_key_next_rotation_timestamp_seconds';

/**
 * Alerts on a drill's own metrics must reach a person. Alertmanager sends every alert with a `drill` label to
 * the drill webhook (synthetic drill alerts, never paged), so a `drill` label coming from the metric is
 * renamed to `drill_name` before it can become an alert label.
 */
function withoutDrillLabel(metric: string): string {
  return `max without (drill) (label_replace(${metric}, "drill_name", "$1", "drill", "(.+)"))`;
}

function rotationOverdue(severity: 'warning' | 'critical', seconds: number) {
  return alert({
    name: 'SigningKeyRotationOverdue',
    expr: `time() - ${nextRotation} > ${seconds} and ${nextRotation} > 0`,
    for: '10m',
    severity,
    team: 'security',
    summary: 'Signing key rotation {{ $labels.namespace }}/{{ $labels.name }} is overdue',
    description:
      'SigningKeyRotation {{ $labels.namespace }}/{{ $labels.name }} should have rotated {{ $value | humanizeDuration }} ago ' +
      `(${severity} after ${seconds / 3600}h): the operator is not rotating this key.`,
  });
}

export const operatorRules: RuleArea = {
  area: 'operator',
  groups: [
    {
      name: 'novapos-operator',
      rules: [
        alert({
          name: 'NovaposReconcileErrors',
          expr: `sum by (job, controller) (rate(controller_runtime_reconcile_errors_total{job="${OPERATOR_JOB}"}[5m])) > 0`,
          for: '15m',
          severity: 'warning',
          team: 'sre',
          summary: 'Controller {{ $labels.controller }} keeps failing to reconcile',
          description:
            'The {{ $labels.controller }} controller has returned reconcile errors for 15 minutes ' +
            '({{ printf "%.3f" $value }} errors/s): resources of this kind are not converging.',
        }),
        alert({
          name: 'NovaposOperatorNoLeader',
          expr: `max by (job) (leader_election_master_status{job="${OPERATOR_JOB}"}) < 1`,
          for: '5m',
          severity: 'warning',
          team: 'sre',
          summary: 'No novapos-operator replica holds the leader lease',
          description:
            'The operator is running but no replica has been leader for 5 minutes: nothing reconciles.',
        }),
        rotationOverdue('warning', ROTATION_OVERDUE_WARNING_SECONDS),
        rotationOverdue('critical', ROTATION_OVERDUE_CRITICAL_SECONDS),
        alert({
          name: 'SigningKeyServicesNotLoaded',
          expr: 'novapos_signing_key_services_loaded == 0',
          for: '10m',
          severity: 'warning',
          team: 'security',
          summary: '{{ $labels.service }} has not loaded the current signing key set',
          description:
            '{{ $labels.service }} has not reported the current key-set hash of {{ $labels.namespace }}/{{ $labels.name }} ' +
            'on /keys/status for 10 minutes; the rotation cannot proceed safely.',
        }),
        alert({
          name: 'SigningKeyRotated',
          expr: 'sum by (namespace, name, reason) (increase(novapos_signing_key_rotations_total[10m])) > 0',
          for: '1m',
          severity: 'info',
          team: 'security',
          summary: 'Signing key {{ $labels.namespace }}/{{ $labels.name }} rotated ({{ $labels.reason }})',
          description:
            'A rotation of {{ $labels.namespace }}/{{ $labels.name }} happened in the last 10 minutes (reason {{ $labels.reason }}).',
        }),
        alert({
          // The second half catches a conflict counter born at 1 (no earlier sample for increase() to see).
          name: 'SecretPromotionConflict',
          expr:
            'increase(novapos_secret_promotion_conflicts_total[15m]) > 0 or ' +
            '(novapos_secret_promotion_conflicts_total > 0 unless novapos_secret_promotion_conflicts_total offset 15m)',
          for: '1m',
          severity: 'warning',
          team: 'security',
          summary: 'Secret promotion {{ $labels.namespace }}/{{ $labels.name }} hit a conflict',
          description:
            'A target secret of {{ $labels.namespace }}/{{ $labels.name }} changed after the plan was made; the promotion ' +
            'stopped instead of overwriting it and needs a new plan and approval.',
        }),
        alert({
          name: 'DrDrillStepFailed',
          expr: `${withoutDrillLabel('novapos_drill_step_result')} == 0`,
          for: '1m',
          severity: 'warning',
          team: 'sre',
          summary: 'DR drill {{ $labels.namespace }}/{{ $labels.name }} failed step {{ $labels.step }}',
          description:
            'The last run of drill {{ $labels.namespace }}/{{ $labels.name }} failed its {{ $labels.step }} step; see the drill ' +
            'report in its status and Events.',
        }),
        alert({
          name: 'DrDrillOverdue',
          // The last success, or the drill's creation while it has never succeeded (`or` keeps the success
          // where both exist), so a drill that never passed is overdue too.
          expr: `time() - ${withoutDrillLabel('(novapos_drill_last_success_timestamp_seconds or novapos_drill_created_timestamp_seconds)')} > ${DRILL_OVERDUE_SECONDS}`,
          for: '1h',
          severity: 'warning',
          team: 'sre',
          summary: 'DR drill {{ $labels.namespace }}/{{ $labels.name }} has not succeeded this quarter',
          description:
            'Drill {{ $labels.namespace }}/{{ $labels.name }} last succeeded (or, never having succeeded, was created) ' +
            '{{ $value | humanizeDuration }} ago (quarterly drills, overdue after 100 days).',
        }),
      ],
    },
  ],
};
