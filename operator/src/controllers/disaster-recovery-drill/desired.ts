import { type Condition, ConditionType, formatTime, Reason, setCondition } from '../../api/conditions.js';
import {
  type DisasterRecoveryDrillSpec,
  type DisasterRecoveryDrillStatus,
  DRILL_STEPS,
  type DrillRun,
  type DrillStepName,
  isSyntheticTenant,
  type StepReport,
  SYNTHETIC_TENANT_PREFIX,
} from '../../api/v1alpha1/disasterrecoverydrill.js';
import {
  describeProblems,
  parseDuration,
  type SpecProblem,
  validateDisasterRecoveryDrillSpec,
} from '../../api/validation.js';

/**
 * The drill's status as pure functions: which steps a run has, a run entering and leaving status, history
 * trimmed to spec.historyLimit, the conditions. Nothing here does I/O; the clock is an argument.
 */

/** Run-level reasons (DrillRun.reason) and Event reasons of this controller. */
export const DrillReason = {
  OperatorRestarted: 'OperatorRestarted',
  SetupFailed: 'SetupFailed',
  Aborted: 'Aborted',
  CleanupFailed: 'CleanupFailed',
  DrillDeleted: 'DrillDeleted',
  StepPassed: 'DrillStepPassed',
  StepFailed: 'DrillStepFailed',
  StepStarted: 'DrillStepStarted',
  RunStarted: 'DrillRunStarted',
  RunSucceeded: Reason.DrillSucceeded,
  RunFailed: Reason.DrillFailed,
  RunSkipped: Reason.RunSkipped,
  InvalidSpec: Reason.InvalidSpec,
} as const;

export const FINALIZER = 'security.novapos.io/drill-cleanup';

/** The name of the TenantRateLimit a drill creates for its synthetic tenant. */
export function syntheticRateLimitName(drillName: string): string {
  const base = `${drillName}-synthetic`;
  return base.length <= 253 ? base : base.slice(0, 253);
}

/** API keys a drill creates are named so cleanup finds them: drill-<drill>-<run>. */
export function apiKeyNamePrefix(drillName: string): string {
  return `drill-${drillName}-`;
}

/** The steps present in the spec, in run order. */
export function stepsOf(spec: DisasterRecoveryDrillSpec): DrillStepName[] {
  return DRILL_STEPS.filter((s) => spec.steps[s] !== undefined);
}

/** Spec checks beyond the CRD's: the shared ones, plus the synthetic tenant the traffic steps need. */
export function specProblems(spec: DisasterRecoveryDrillSpec, now: Date): SpecProblem[] {
  const problems = validateDisasterRecoveryDrillSpec(spec, now);
  const { keyRotation, redisOutage, auditCatchUp } = spec.steps;
  const synthetic = spec.syntheticTenant;
  if ((keyRotation || redisOutage || auditCatchUp) && !synthetic) {
    problems.push({
      field: 'spec.syntheticTenant',
      message:
        'is required by the keyRotation, redisOutage and auditCatchUp steps: name the synthetic tenant and the Secret with its admin credentials (docs/drills.md, "Setup")',
    });
  }
  if (synthetic && !isSyntheticTenant(synthetic.tenant)) {
    problems.push({
      field: 'spec.syntheticTenant.tenant',
      message: `"${synthetic.tenant}" does not start with "${SYNTHETIC_TENANT_PREFIX}": a drill only ever touches synthetic tenants`,
    });
  }
  if (redisOutage?.tenant !== undefined && redisOutage.tenant !== synthetic?.tenant) {
    problems.push({
      field: 'spec.steps.redisOutage.tenant',
      message: `must be the synthetic tenant (spec.syntheticTenant.tenant${synthetic ? ` = ${synthetic.tenant}` : ''}): the drill sends the outage traffic with that tenant's credentials`,
    });
  }
  if (
    synthetic?.localFallbackRequestsPerMinute !== undefined &&
    synthetic.redisFailureMode !== 'localFallback'
  ) {
    problems.push({
      field: 'spec.syntheticTenant.localFallbackRequestsPerMinute',
      message:
        'applies only when spec.syntheticTenant.redisFailureMode is localFallback: remove it or set that mode',
    });
  }
  if (
    keyRotation &&
    keyRotation.syntheticRps * 60 > (synthetic?.requestsPerMinute ?? Number.POSITIVE_INFINITY)
  ) {
    problems.push({
      field: 'spec.steps.keyRotation.syntheticRps',
      message: `${keyRotation.syntheticRps}/s is more than the synthetic tenant's limit (${synthetic?.requestsPerMinute}/min): rate-limited requests would hide verification failures; raise spec.syntheticTenant.requestsPerMinute`,
    });
  }
  return problems;
}

export function describeSpecProblems(problems: readonly SpecProblem[]): string {
  return describeProblems(problems);
}

/** A new run as it enters status, before anything is touched: the in-progress marker. */
export function newRun(opts: {
  id: string;
  trigger: DrillRun['trigger'];
  spec: DisasterRecoveryDrillSpec;
  drillName: string;
  owner: string;
  now: Date;
}): DrillRun {
  const { spec } = opts;
  const touched: NonNullable<DrillRun['touched']> = {};
  const { keyRotation, redisOutage, auditCatchUp } = spec.steps;
  if (spec.syntheticTenant && (keyRotation || redisOutage || auditCatchUp)) {
    // auditCatchUp alone signs the synthetic admin in (API keys, sessions to clean up), no TenantRateLimit.
    touched.tenant = spec.syntheticTenant.tenant;
    if ((keyRotation || redisOutage) && !redisOutage?.tenantRateLimitRef)
      touched.tenantRateLimit = syntheticRateLimitName(opts.drillName);
  }
  if (spec.steps.keyRotation) touched.signingKeyRotation = spec.steps.keyRotation.signingKeyRotationRef.name;
  return {
    id: opts.id,
    trigger: opts.trigger,
    startedAt: formatTime(opts.now),
    result: 'Running',
    owner: opts.owner,
    touched,
    steps: stepsOf(spec).map((name) => ({ name, result: 'Skipped', message: 'not started yet' })),
  };
}

/** A run id: sortable by start time, unique enough for one drill. */
export function runId(now: Date, random: string): string {
  return `${formatTime(now).replace(/[-:]/g, '').replace('T', '-').replace('Z', '')}-${random}`;
}

/**
 * status.lastRuns with `run` put in (replacing the entry with its id, or in front), trimmed to
 * `historyLimit` entries; a run still in progress is never trimmed away.
 */
export function withRun(
  lastRuns: readonly DrillRun[] | undefined,
  run: DrillRun,
  historyLimit: number,
): DrillRun[] {
  const all = [run, ...(lastRuns ?? []).filter((r) => r.id !== run.id)].sort(
    (a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id),
  );
  const running = all.filter((r) => r.result === 'Running');
  const room = Math.max(0, Math.max(1, historyLimit) - running.length);
  const finished = new Set(all.filter((r) => r.result !== 'Running').slice(0, room));
  return all.filter((r) => r.result === 'Running' || finished.has(r));
}

/** The result of a run from its steps: Succeeded only when every step passed and nothing failed the run. */
export function runResult(steps: readonly StepReport[], runFailure?: string): DrillRun['result'] {
  if (runFailure) return 'Failed';
  if (steps.some((s) => s.result === 'Running')) return 'Running';
  return steps.length > 0 && steps.every((s) => s.result === 'Passed') ? 'Succeeded' : 'Failed';
}

/** A run found in progress that no process owns any more: failed, steps interrupted, cleanup to follow. */
export function interruptedRun(run: DrillRun, now: Date, cleanupProblem?: string): DrillRun {
  const at = formatTime(now);
  return {
    ...run,
    result: 'Failed',
    finishedAt: at,
    reason: DrillReason.OperatorRestarted,
    message:
      'the operator restarted while this run was in progress: it was not resumed; its synthetic state was cleaned up' +
      (cleanupProblem ? `, except: ${cleanupProblem}` : ''),
    steps: run.steps.map((s) =>
      s.result === 'Running'
        ? { ...s, result: 'Failed', finishedAt: at, message: 'interrupted by an operator restart' }
        : s.result === 'Skipped' && !s.startedAt
          ? { ...s, message: 'not run: the run was interrupted by an operator restart' }
          : s,
    ),
  };
}

export interface StatusInput {
  readonly generation: number;
  readonly prev: DisasterRecoveryDrillStatus | undefined;
  readonly now: Date;
  readonly invalid?: string;
  readonly lastScheduleTime?: Date;
  readonly nextScheduleTime?: Date;
  /** Runs to put in (started, progressed, finished, interrupted). */
  readonly runs: readonly DrillRun[];
  readonly historyLimit: number;
  readonly runNowHandled?: string;
  readonly reconcileNowHandled?: string;
  readonly waitingMessage?: string;
}

/** The whole status after a reconcile: runs merged, active list, last results, conditions. */
export function desiredStatus(input: StatusInput): DisasterRecoveryDrillStatus {
  const { prev, generation, now } = input;
  let lastRuns = prev?.lastRuns ?? [];
  for (const run of input.runs) lastRuns = withRun(lastRuns, run, input.historyLimit);
  const running = lastRuns.filter((r) => r.result === 'Running');
  const finished = lastRuns.filter((r) => r.result !== 'Running');
  const lastFinished = finished[0];
  const lastSucceeded = finished.find((r) => r.result === 'Succeeded');
  const successTime = [lastSucceeded?.finishedAt, prev?.lastSuccessfulTime]
    .filter((t): t is string => !!t)
    .sort()
    .at(-1);

  let conditions: Condition[] = prev?.conditions ?? [];
  const cond = (type: string, status: Condition['status'], reason: string, message: string) => {
    conditions = setCondition(conditions, generation, { type, status, reason, message }, now);
  };
  if (input.invalid) cond(ConditionType.Ready, 'False', Reason.InvalidSpec, input.invalid);
  else
    cond(
      ConditionType.Ready,
      'True',
      Reason.Scheduled,
      input.nextScheduleTime ? `next scheduled run at ${formatTime(input.nextScheduleTime)}` : 'scheduled',
    );
  if (running.length)
    cond(
      ConditionType.Progressing,
      'True',
      Reason.DrillRunning,
      `run ${running.map((r) => r.id).join(', ')} in progress${input.waitingMessage ? `; ${input.waitingMessage}` : ''}`,
    );
  else
    cond(ConditionType.Progressing, 'False', Reason.Reconciled, input.waitingMessage ?? 'no run in progress');
  if (lastFinished) {
    const ok = lastFinished.result === 'Succeeded';
    cond(
      ConditionType.LastRunSucceeded,
      ok ? 'True' : 'False',
      ok ? Reason.DrillSucceeded : Reason.DrillFailed,
      summarizeRun(lastFinished),
    );
  }

  const lastHandled = { ...(prev?.lastHandled ?? {}) };
  if (input.runNowHandled !== undefined) lastHandled.runNow = input.runNowHandled;
  if (input.reconcileNowHandled !== undefined) lastHandled.reconcileNow = input.reconcileNowHandled;

  return {
    observedGeneration: generation,
    conditions,
    ...(input.lastScheduleTime ? { lastScheduleTime: formatTime(input.lastScheduleTime) } : {}),
    ...(input.nextScheduleTime && !input.invalid
      ? { nextScheduleTime: formatTime(input.nextScheduleTime) }
      : {}),
    ...(lastFinished ? { lastRunTime: lastFinished.startedAt } : {}),
    ...(running.length
      ? { lastResult: 'Running' as const }
      : lastFinished
        ? { lastResult: lastFinished.result }
        : {}),
    ...(successTime ? { lastSuccessfulTime: successTime } : {}),
    ...(running.length ? { activeRuns: running.map((r) => r.id) } : {}),
    ...(lastRuns.length ? { lastRuns } : {}),
    ...(Object.keys(lastHandled).length ? { lastHandled } : {}),
  };
}

/** One line for a condition or Event: which steps passed and failed, and why the run failed. */
export function summarizeRun(run: DrillRun): string {
  const parts = run.steps.map((s) => `${s.name} ${s.result.toLowerCase()}`);
  const failed = run.steps.filter((s) => s.result === 'Failed');
  const why = run.message ?? failed.map((s) => `${s.name}: ${s.message ?? 'failed'}`).join('; ');
  return `run ${run.id} ${run.result.toLowerCase()} (${parts.join(', ')})${run.result === 'Failed' && why ? `: ${why}` : ''}`;
}

/** How long a step may take in all before it is stopped: its own duration plus room for setup and checks. */
export function stepDeadlineMs(spec: DisasterRecoveryDrillSpec, step: DrillStepName): number {
  switch (step) {
    case 'keyRotation':
      return parseDuration(spec.steps.keyRotation?.duration ?? '2m') + 60_000;
    case 'redisOutage':
      return parseDuration(spec.steps.redisOutage?.duration ?? '1m') + 45_000;
    case 'auditCatchUp':
      // The pause, the catch-up timeout, and room for the sign-in and the final `audit verify`.
      return (
        parseDuration(spec.steps.auditCatchUp?.maxPause ?? '1m') +
        parseDuration(spec.steps.auditCatchUp?.timeout ?? '2m') +
        60_000
      );
    case 'alertDelivery':
      return 2 * parseDuration(spec.steps.alertDelivery?.timeout ?? '2m') + 15_000;
  }
}
