import { CronExpressionParser } from 'cron-parser';
import { Annotations } from '../../api/meta.js';
import type {
  DisasterRecoveryDrillSpec,
  DisasterRecoveryDrillStatus,
} from '../../api/v1alpha1/disasterrecoverydrill.js';
import { nextScheduleTime } from '../../api/validation.js';

/**
 * When does a drill run? Pure decisions over (spec, status, annotations, the runs this process owns, the
 * clock), as a CronJob decides: the latest scheduled time not yet handled starts a run unless the drill is
 * suspended, another run is in progress under Forbid, or it was missed by more than the starting deadline;
 * each distinct run-now value starts one run (waiting, under Forbid, for the run in progress to end); a run
 * in status that this process does not own was interrupted by an operator restart.
 */

export interface ScheduleOptions {
  /** A scheduled time missed by more than this (operator down) is skipped, not run late. */
  readonly startingDeadlineMs: number;
  /** How often a drill with a run in progress is reconciled (status refresh, end of run). */
  readonly runPollMs: number;
  /** Upper bound on the wait until the next scheduled time (re-checked then). */
  readonly maxRequeueMs: number;
}

export const DEFAULT_SCHEDULE_OPTIONS: ScheduleOptions = {
  startingDeadlineMs: 60 * 60_000,
  runPollMs: 2_000,
  maxRequeueMs: 60 * 60_000,
};

export interface ScheduleInput {
  readonly spec: DisasterRecoveryDrillSpec;
  readonly status: DisasterRecoveryDrillStatus | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  /** metadata.creationTimestamp: the first scheduled time counted is the first one after it. */
  readonly createdAt: Date;
  /** Run ids this operator process is running right now. */
  readonly ownRuns: ReadonlySet<string>;
  readonly now: Date;
}

export type SkipReason = 'Suspended' | 'ConcurrencyForbid' | 'MissedSchedule';

export interface ScheduleDecision {
  /** Runs in status.activeRuns this process does not own: interrupted by a restart, to fail and clean up. */
  readonly orphaned: readonly string[];
  /** Start a run now. */
  readonly start?: { readonly trigger: 'schedule' | 'runNow'; readonly runNowValue?: string };
  /** A scheduled time handled without a run, and why. */
  readonly skipped?: { readonly reason: SkipReason; readonly scheduledFor: Date; readonly message: string };
  /** The run-now value is waiting for the run in progress (Forbid). */
  readonly runNowWaiting?: string;
  /** status.lastScheduleTime after this decision. */
  readonly lastScheduleTime?: Date;
  readonly nextScheduleTime: Date;
  readonly requeueAfterMs: number;
}

/** The latest scheduled time in (after, now], if any. */
export function latestDue(
  schedule: string,
  timeZone: string | undefined,
  after: Date,
  now: Date,
): Date | undefined {
  if (nextScheduleTime(schedule, timeZone, after).getTime() > now.getTime()) return undefined;
  // prev() answers the latest time strictly before currentDate: step 1 ms past now to include now.
  const latest = CronExpressionParser.parse(schedule, {
    tz: timeZone ?? 'UTC',
    currentDate: new Date(now.getTime() + 1),
  })
    .prev()
    .toDate();
  return latest.getTime() > after.getTime() ? latest : undefined;
}

export function decideSchedule(
  input: ScheduleInput,
  options: ScheduleOptions = DEFAULT_SCHEDULE_OPTIONS,
): ScheduleDecision {
  const { spec, status, now } = input;
  const nowMs = now.getTime();
  const active = status?.activeRuns ?? [];
  const orphaned = active.filter((id) => !input.ownRuns.has(id));
  const running = active.filter((id) => input.ownRuns.has(id));
  const lastScheduled = status?.lastScheduleTime ? new Date(status.lastScheduleTime) : undefined;
  const reference = lastScheduled ?? input.createdAt;
  const next = nextScheduleTime(spec.schedule, spec.timeZone, new Date(Math.max(nowMs, reference.getTime())));
  const untilNext = Math.max(1_000, Math.min(next.getTime() - nowMs, options.maxRequeueMs));

  // An interrupted run is failed and cleaned up first; nothing starts in the same pass.
  if (orphaned.length) {
    return {
      orphaned,
      lastScheduleTime: lastScheduled,
      nextScheduleTime: next,
      requeueAfterMs: Math.min(options.runPollMs, untilNext),
    };
  }

  let busy = running.length > 0;
  const forbid = spec.concurrencyPolicy === 'Forbid';
  let start: ScheduleDecision['start'];
  let runNowWaiting: string | undefined;

  const runNow = input.annotations[Annotations.runNow];
  if (runNow && runNow !== status?.lastHandled?.runNow) {
    if (busy && forbid) runNowWaiting = runNow;
    else {
      start = { trigger: 'runNow', runNowValue: runNow };
      busy = true;
    }
  }

  let lastScheduleTime = lastScheduled;
  let skipped: ScheduleDecision['skipped'];
  const due = latestDue(spec.schedule, spec.timeZone, reference, now);
  if (due) {
    lastScheduleTime = due;
    const late = nowMs - due.getTime();
    if (spec.suspend) {
      skipped = { reason: 'Suspended', scheduledFor: due, message: 'the drill is suspended' };
    } else if (late > options.startingDeadlineMs) {
      skipped = {
        reason: 'MissedSchedule',
        scheduledFor: due,
        message: `the run due at ${due.toISOString()} was missed by ${Math.round(late / 60_000)} min (more than the starting deadline): waiting for the next one`,
      };
    } else if (busy && forbid) {
      skipped = {
        reason: 'ConcurrencyForbid',
        scheduledFor: due,
        message: `another run is in progress and concurrencyPolicy is Forbid: the run due at ${due.toISOString()} is skipped`,
      };
    } else if (!start) {
      start = { trigger: 'schedule' };
      busy = true;
    } else {
      // run-now started a run in this same pass: it stands in for the scheduled one.
      skipped = {
        reason: 'ConcurrencyForbid',
        scheduledFor: due,
        message: 'a run-now run started at the same time stands in for the scheduled run',
      };
    }
  }

  return {
    orphaned,
    start,
    skipped,
    runNowWaiting,
    lastScheduleTime,
    nextScheduleTime: next,
    requeueAfterMs: busy || runNowWaiting ? Math.min(options.runPollMs, untilNext) : untilNext,
  };
}
