import { Annotations } from '../../../operator/src/api/meta.js';
import type {
  DisasterRecoveryDrill,
  DrillRun,
} from '../../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import { runProgress } from '../render/drill.js';
import type { Progress } from './trigger.js';

export function runNowAnnotations(value: string): Record<string, string> {
  return { [Annotations.runNow]: value };
}

/** The run a run-now request started: the newest runNow run that started after the request. */
export function runOf(drill: DisasterRecoveryDrill, requestedAt: Date): DrillRun | undefined {
  return (drill.status?.lastRuns ?? [])
    .filter((r) => r.trigger === 'runNow' && Date.parse(r.startedAt) >= requestedAt.getTime() - 1000)
    .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))[0];
}

export function drillProgress(
  drill: DisasterRecoveryDrill,
  value: string,
  requestedAt: Date,
  now: Date,
): Progress & { run?: DrillRun } {
  if (drill.status?.lastHandled?.runNow !== value)
    return { done: false, line: `waiting for the operator to take run-now=${value}` };
  const run = runOf(drill, requestedAt);
  if (!run) return { done: false, line: 'operator took the request; the run is starting' };
  return {
    done: run.result !== 'Running',
    failed: run.result === 'Failed',
    line: runProgress(run, now),
    run,
  };
}
