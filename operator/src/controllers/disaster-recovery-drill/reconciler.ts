import { randomBytes } from 'node:crypto';
import { describeError } from '../../../../lib/errors.js';
import type { Logger } from '../../../../lib/log.js';
import type { DrillAdapters } from '../../adapters/drill/ports.js';
import { Annotations } from '../../api/meta.js';
import type {
  DisasterRecoveryDrill,
  DisasterRecoveryDrillStatus,
  DrillRun,
} from '../../api/v1alpha1/disasterrecoverydrill.js';
import {
  addFinalizer,
  hasFinalizer,
  isBeingDeleted,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
  removeFinalizer,
} from '../../runtime/index.js';
import { cleanupRun } from './cleanup.js';
import {
  DrillReason,
  describeSpecProblems,
  desiredStatus,
  FINALIZER,
  interruptedRun,
  newRun,
  runId,
  specProblems,
  summarizeRun,
} from './desired.js';
import type { DrillMetrics } from './metrics.js';
import type { DrillRunner } from './runner.js';
import { DEFAULT_SCHEDULE_OPTIONS, decideSchedule, type ScheduleOptions } from './schedule.js';

interface OwnedRun {
  /** The latest state of the run, as the runner reported it. */
  run: DrillRun;
  readonly abort: AbortController;
  /** Settles when the runner (and its cleanup) is done. */
  done?: Promise<void>;
}

export interface DrillReconcilerDeps {
  readonly adapters: DrillAdapters;
  readonly runner: DrillRunner;
  readonly metrics: DrillMetrics;
  /** This operator replica: recorded as the owner of the runs it starts. */
  readonly identity: string;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly schedule?: Partial<ScheduleOptions>;
  /** Bound on the cleanup of a run interrupted by a restart, and on waiting for aborted runs at deletion. */
  readonly cleanupTimeoutMs?: number;
}

/**
 * fetch → deletion/finalizer → validate → fail and clean up runs interrupted by a restart → decide (due
 * run, run-now, Forbid, suspend) → one status write (the run-in-progress marker goes to status before the
 * run starts) → start the run in this process → requeue (every few seconds while a run is in progress, to
 * put its progress in status; at the next scheduled time otherwise).
 *
 * A run is owned by the process that started it (kept in memory here). A run that status says is in
 * progress but this process does not own was interrupted by an operator restart: it is marked failed
 * (OperatorRestarted) and its synthetic state is removed; it is never resumed half-way.
 */
export class DisasterRecoveryDrillReconciler implements Reconciler<DisasterRecoveryDrill> {
  private readonly owned = new Map<string, Map<string, OwnedRun>>();
  /** Runs this process finished, kept briefly: a stale cache that still shows them Running is not a restart. */
  private readonly finished = new Map<string, Map<string, DrillRun>>();
  private readonly now: () => Date;
  private readonly scheduleOptions: ScheduleOptions;

  constructor(private readonly deps: DrillReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.scheduleOptions = { ...DEFAULT_SCHEDULE_OPTIONS, ...deps.schedule };
  }

  /** Ids of the runs this process is running now (for tests and shutdown). */
  runningIds(key: string): string[] {
    return [...(this.owned.get(key)?.values() ?? [])]
      .filter((o) => o.run.result === 'Running')
      .map((o) => o.run.id);
  }

  /** Aborts every run of this process and waits for their cleanup (graceful shutdown). */
  async stopAll(timeoutMs = 60_000): Promise<void> {
    const all = [...this.owned.values()].flatMap((m) => [...m.values()]);
    for (const o of all) o.abort.abort(new Error('the operator is shutting down'));
    await Promise.race([Promise.all(all.map((o) => o.done)), sleep(timeoutMs)]);
  }

  async reconcile(key: string, ctx: ReconcileContext<DisasterRecoveryDrill>): Promise<ReconcileResult> {
    let drill = ctx.get();
    if (!drill) {
      for (const o of this.owned.get(key)?.values() ?? []) o.abort.abort(new Error('the drill was deleted'));
      return {};
    }
    if (isBeingDeleted(drill)) return this.finalize(key, drill, ctx);
    if (!hasFinalizer(drill, FINALIZER)) drill = await addFinalizer(ctx.client, drill, FINALIZER);

    const now = this.now();
    const namespace = drill.metadata.namespace ?? 'default';
    const name = drill.metadata.name ?? '';
    const generation = drill.metadata.generation ?? 0;
    const spec = drill.spec;
    const status = drill.status;
    const owned = this.owned.get(key) ?? new Map<string, OwnedRun>();
    this.owned.set(key, owned);
    const recentlyFinished = this.finished.get(key) ?? new Map<string, DrillRun>();

    // What this process knows about runs: in progress, just finished (not yet in status), finished earlier.
    const runs: DrillRun[] = [...owned.values()].map((o) => o.run);
    for (const id of status?.activeRuns ?? []) {
      const done = recentlyFinished.get(id);
      if (done && !owned.has(id)) runs.push(done);
    }
    const running = new Set(runs.filter((r) => r.result === 'Running').map((r) => r.id));
    const known = new Set(runs.map((r) => r.id));
    const statusForDecision: DisasterRecoveryDrillStatus | undefined = status && {
      ...status,
      activeRuns: (status.activeRuns ?? []).filter((id) => running.has(id) || !known.has(id)),
    };

    const problems = specProblems(spec, now);
    const invalid = problems.length ? describeSpecProblems(problems) : undefined;
    const decision = decideSchedule(
      {
        spec,
        status: statusForDecision,
        annotations: drill.metadata.annotations ?? {},
        createdAt: new Date(drill.metadata.creationTimestamp ?? now),
        ownRuns: running,
        now,
      },
      this.scheduleOptions,
    );

    // Runs interrupted by a restart: clean up first, then record them as failed.
    for (const id of decision.orphaned) {
      const recorded: DrillRun = status?.lastRuns?.find((r) => r.id === id) ?? {
        id,
        trigger: 'schedule',
        startedAt: status?.lastScheduleTime ?? new Date(0).toISOString(),
        result: 'Running',
        steps: [],
      };
      ctx.log.warn(
        { runId: id, owner: recorded.owner },
        'drill run interrupted by an operator restart: cleaning up',
      );
      const cleanupProblems = await cleanupRun(this.deps.adapters, {
        namespace,
        drillName: name,
        run: recorded,
        spec,
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(this.deps.cleanupTimeoutMs ?? 60_000)]),
        log: ctx.log,
      });
      const failed = interruptedRun(recorded, now, cleanupProblems.join('; ') || undefined);
      runs.push(failed);
      await ctx.events.record(drill, 'Warning', DrillReason.OperatorRestarted, 'Run', summarizeRun(failed));
    }

    // Start a run: registered here before the marker is written, launched only once it is in status.
    let started: OwnedRun | undefined;
    const start = invalid ? undefined : decision.start;
    if (start) {
      const run = newRun({
        id: runId(now, randomBytes(3).toString('hex')),
        trigger: start.trigger,
        spec,
        drillName: name,
        owner: this.deps.identity,
        now,
      });
      started = { run, abort: new AbortController() };
      owned.set(run.id, started);
      runs.push(run);
    }

    const reconcileNow = drill.metadata.annotations?.[Annotations.reconcileNow];
    const next = desiredStatus({
      generation,
      prev: status,
      now,
      invalid,
      lastScheduleTime: invalid
        ? status?.lastScheduleTime
          ? new Date(status.lastScheduleTime)
          : undefined
        : decision.lastScheduleTime,
      nextScheduleTime: decision.nextScheduleTime,
      runs,
      historyLimit: spec.historyLimit,
      runNowHandled: start?.runNowValue,
      reconcileNowHandled: reconcileNow,
      waitingMessage: decision.runNowWaiting
        ? `run-now ${decision.runNowWaiting} waits for the run in progress (concurrencyPolicy Forbid)`
        : undefined,
    });
    try {
      await ctx.status.write(drill, next);
    } catch (err) {
      if (started) owned.delete(started.run.id);
      throw err;
    }
    this.deps.metrics.observe(namespace, name, next, drill.metadata?.creationTimestamp as string | undefined);

    // Finished runs are in status now: forget them (keeping their final record a while against stale caches).
    for (const [id, o] of owned) {
      if (o.run.result !== 'Running') {
        owned.delete(id);
        recentlyFinished.set(id, o.run);
        await ctx.events.record(
          drill,
          o.run.result === 'Succeeded' ? 'Normal' : 'Warning',
          o.run.result === 'Succeeded' ? DrillReason.RunSucceeded : DrillReason.RunFailed,
          'Run',
          summarizeRun(o.run),
        );
      }
    }
    for (const id of [...recentlyFinished.keys()].slice(0, Math.max(0, recentlyFinished.size - 20)))
      recentlyFinished.delete(id);
    this.finished.set(key, recentlyFinished);

    if (decision.skipped && !invalid) {
      await ctx.events.record(
        drill,
        decision.skipped.reason === 'MissedSchedule' ? 'Warning' : 'Normal',
        DrillReason.RunSkipped,
        'Schedule',
        decision.skipped.message,
      );
    }
    if (
      invalid &&
      !status?.conditions?.some((c) => c.reason === DrillReason.InvalidSpec && c.message === invalid)
    )
      await ctx.events.record(drill, 'Warning', DrillReason.InvalidSpec, 'Validate', invalid);

    if (started) this.launch(started, drill, ctx);
    const busy = owned.size > 0;
    return { requeueAfterMs: busy ? this.scheduleOptions.runPollMs : decision.requeueAfterMs };
  }

  /** Runs the drill in the background; its progress reaches status through the next reconciles. */
  private launch(
    o: OwnedRun,
    drill: DisasterRecoveryDrill,
    ctx: ReconcileContext<DisasterRecoveryDrill>,
  ): void {
    const namespace = drill.metadata.namespace ?? 'default';
    const name = drill.metadata.name ?? '';
    o.done = this.deps.runner
      .execute({
        namespace,
        drillName: name,
        spec: drill.spec,
        run: o.run,
        signal: o.abort.signal,
        onProgress: (run) => {
          o.run = run;
        },
        onEvent: (type, reason, note) => {
          void ctx.events.record(drill, type, reason, 'Run', note);
        },
      })
      .then((run) => {
        o.run = run;
      })
      .catch((err: unknown) => {
        // The runner never throws; if it did, the run is failed rather than left Running forever.
        ctx.log.error({ err: describeError(err), runId: o.run.id }, 'drill runner failed');
        o.run = { ...o.run, result: 'Failed', reason: 'RunnerError', message: describeError(err) };
      });
  }

  /** Deletion: stop our runs (they clean up), clean up runs interrupted earlier, then let go. */
  private async finalize(
    key: string,
    drill: DisasterRecoveryDrill,
    ctx: ReconcileContext<DisasterRecoveryDrill>,
  ): Promise<ReconcileResult> {
    const owned = this.owned.get(key);
    if (owned?.size) {
      for (const o of owned.values()) o.abort.abort(new Error('the drill was deleted'));
      await Promise.race([
        Promise.all([...owned.values()].map((o) => o.done)),
        sleep(this.deps.cleanupTimeoutMs ?? 60_000),
      ]);
    }
    for (const id of drill.status?.activeRuns ?? []) {
      if (owned?.has(id)) continue;
      const run = drill.status?.lastRuns?.find((r) => r.id === id);
      if (!run) continue;
      await cleanupRun(this.deps.adapters, {
        namespace: drill.metadata.namespace ?? 'default',
        drillName: drill.metadata.name ?? '',
        run,
        spec: drill.spec,
        signal: AbortSignal.timeout(this.deps.cleanupTimeoutMs ?? 60_000),
        log: ctx.log,
      });
    }
    this.owned.delete(key);
    this.finished.delete(key);
    this.deps.metrics.forget(drill.metadata.namespace ?? 'default', drill.metadata.name ?? '');
    if (hasFinalizer(drill, FINALIZER)) await removeFinalizer(ctx.client, drill, FINALIZER);
    return {};
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
