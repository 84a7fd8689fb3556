import { Gauge, type Registry } from 'prom-client';
import type { DisasterRecoveryDrillStatus } from '../../api/v1alpha1/disasterrecoverydrill.js';
import { DRILL_STEPS } from '../../api/v1alpha1/disasterrecoverydrill.js';

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/**
 * The drill metrics of docs/contracts.md, labelled by resource (namespace, name) as the other kinds'. No
 * `drill` label: Alertmanager routes alerts carrying one to the drill webhook, and DrDrillStepFailed /
 * DrDrillOverdue must reach a person.
 */
export class DrillMetrics {
  readonly lastSuccess: Gauge<'namespace' | 'name'>;
  readonly created: Gauge<'namespace' | 'name'>;
  readonly stepResult: Gauge<'namespace' | 'name' | 'step'>;

  constructor(registry: Registry) {
    this.lastSuccess = gauge(
      registry,
      'novapos_drill_last_success_timestamp_seconds',
      'When the last successful run of a DisasterRecoveryDrill finished (Unix seconds); absent until one succeeds.',
      ['namespace', 'name'],
    );
    // Lets DrDrillOverdue fire for a drill that has never succeeded: without it the overdue alert has no
    // series to compare until a first success.
    this.created = gauge(
      registry,
      'novapos_drill_created_timestamp_seconds',
      'When the DisasterRecoveryDrill was created (Unix seconds): the start of its first overdue window.',
      ['namespace', 'name'],
    );
    this.stepResult = gauge(
      registry,
      'novapos_drill_step_result',
      "Outcome of each step in a DisasterRecoveryDrill's last finished run: 1 passed, 0 failed; absent when the step did not run.",
      ['namespace', 'name', 'step'],
    );
  }

  /** Sets the gauges from the status just written (the last finished run). */
  observe(namespace: string, name: string, status: DisasterRecoveryDrillStatus, createdAt?: string): void {
    if (createdAt) this.created.set({ namespace, name }, Date.parse(createdAt) / 1000);
    if (status.lastSuccessfulTime)
      this.lastSuccess.set({ namespace, name }, Date.parse(status.lastSuccessfulTime) / 1000);
    const last = status.lastRuns?.find((r) => r.result !== 'Running');
    if (!last) return;
    for (const step of DRILL_STEPS) {
      const report = last.steps.find((s) => s.name === step);
      if (report?.result === 'Passed') this.stepResult.set({ namespace, name, step }, 1);
      else if (report?.result === 'Failed') this.stepResult.set({ namespace, name, step }, 0);
      else this.stepResult.remove({ namespace, name, step });
    }
  }

  forget(namespace: string, name: string): void {
    this.lastSuccess.remove({ namespace, name });
    this.created.remove({ namespace, name });
    for (const step of DRILL_STEPS) this.stepResult.remove({ namespace, name, step });
  }
}
