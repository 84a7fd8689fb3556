import type { DrillAdapters } from '../../adapters/drill/ports.js';
import { disasterRecoveryDrill, GROUP, VERSION } from '../../api/index.js';
import type { DrillStepName } from '../../api/v1alpha1/disasterrecoverydrill.js';
import type { ControllerFactory, ResourceKind } from '../../runtime/index.js';
import { DrillMetrics } from './metrics.js';
import { DisasterRecoveryDrillReconciler } from './reconciler.js';
import { DrillRunner, type StepFunction } from './runner.js';
import type { ScheduleOptions } from './schedule.js';
import type { RunnerTiming } from './steps/context.js';

export type * from '../../adapters/drill/ports.js';
export { apiKeyNamePrefix, DrillReason, FINALIZER, syntheticRateLimitName } from './desired.js';
export { DisasterRecoveryDrillReconciler } from './reconciler.js';
export { DEFAULT_SCHEDULE_OPTIONS, type ScheduleOptions } from './schedule.js';
export { DEFAULT_RUNNER_TIMING, type RunnerTiming } from './steps/context.js';

export const disasterRecoveryDrillKind: ResourceKind = {
  group: GROUP,
  version: VERSION,
  kind: disasterRecoveryDrill.kind,
  plural: disasterRecoveryDrill.plural,
  namespaced: true,
};

export interface DisasterRecoveryDrillControllerOptions {
  /** The real adapters: `drillAdapters(...)` from operator/src/adapters/drill. */
  readonly adapters: DrillAdapters;
  readonly now?: () => Date;
  readonly schedule?: Partial<ScheduleOptions>;
  readonly timing?: Partial<RunnerTiming>;
  /** Test hook: replaces step functions. */
  readonly steps?: Partial<Record<DrillStepName, StepFunction>>;
  /** Receives the reconciler (tests; graceful shutdown: `stopAll()`). */
  readonly onReconciler?: (r: DisasterRecoveryDrillReconciler) => void;
  readonly name?: string;
}

/**
 * The DisasterRecoveryDrill controller, adapters passed in:
 * `manager.register(disasterRecoveryDrillController({ adapters: drillAdapters(config) }))`.
 * Drill runs execute inside the operator process (no Pod): the leader runs them.
 */
export function disasterRecoveryDrillController(
  opts: DisasterRecoveryDrillControllerOptions,
): ControllerFactory {
  return (deps) => {
    const log = deps.log.child({ controller: opts.name ?? 'disasterrecoverydrill' });
    const reconciler = new DisasterRecoveryDrillReconciler({
      adapters: opts.adapters,
      runner: new DrillRunner({
        adapters: opts.adapters,
        log,
        now: opts.now,
        timing: opts.timing,
        steps: opts.steps,
      }),
      metrics: new DrillMetrics(deps.registry),
      identity: deps.identity,
      log,
      now: opts.now,
      schedule: opts.schedule,
      cleanupTimeoutMs: opts.timing?.cleanupTimeoutMs,
    });
    opts.onReconciler?.(reconciler);
    return {
      name: opts.name ?? 'disasterrecoverydrill',
      kind: disasterRecoveryDrillKind,
      maxConcurrentReconciles: 2,
      reconciler,
    };
  };
}
