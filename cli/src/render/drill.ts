import {
  type DisasterRecoveryDrill,
  DRILL_STEPS,
  type DrillRun,
  type StepReport,
} from '../../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import { humanDuration, relative, shortTime, table } from '../format.js';
import type { Style } from '../style.js';
import { type EventView, heading, renderConditions, renderEvents, renderReady } from './common.js';

function colourResult(result: string, s: Style): string {
  if (result === 'Passed' || result === 'Succeeded') return s.green(result);
  if (result === 'Failed') return s.red(result);
  if (result === 'Running') return s.cyan(result);
  return s.dim(result);
}

function stepDuration(step: StepReport, now: Date): string {
  if (!step.startedAt) return '-';
  const end = step.finishedAt ? Date.parse(step.finishedAt) : now.getTime();
  return humanDuration(end - Date.parse(step.startedAt));
}

const figures = (step: StepReport) =>
  Object.entries(step.figures ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/** One run step by step: result, duration, figures, message. */
export function renderRun(run: DrillRun | undefined, now: Date, s: Style): string {
  if (!run) return `${s.bold('Last run:')} none yet`;
  const head = `${s.bold(`Run ${run.id}`)} (${run.trigger}) ${colourResult(run.result, s)}  started ${shortTime(run.startedAt)}${run.finishedAt ? `, took ${humanDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt))}` : ` (${relative(run.startedAt, now)})`}`;
  const lines = [head];
  if (run.reason || run.message)
    lines.push(`  ${run.reason ?? ''}${run.reason && run.message ? ': ' : ''}${run.message ?? ''}`);
  lines.push(
    run.steps.length
      ? table(
          ['STEP', 'RESULT', 'TOOK', 'FIGURES', 'MESSAGE'],
          run.steps.map((st) => [
            st.name,
            colourResult(st.result, s),
            stepDuration(st, now),
            figures(st) || '-',
            st.message ?? '',
          ]),
          '  ',
        )
      : '  (no step started)',
  );
  return lines.join('\n');
}

/** One line of a run in flight, for the progress line of `drill run --wait`. */
export function runProgress(run: DrillRun, now: Date): string {
  const steps = run.steps.map(
    (st) => `${st.name} ${st.result}${st.result === 'Running' ? ` ${stepDuration(st, now)}` : ''}`,
  );
  return `run ${run.id} ${run.result}: ${steps.join(', ') || 'starting'}`;
}

export function renderDrill(
  drill: DisasterRecoveryDrill,
  events: readonly EventView[],
  now: Date,
  s: Style,
): string {
  const sp = drill.spec;
  const st = drill.status ?? {};
  // In run order (keyRotation, redisOutage, auditCatchUp, alertDelivery), whatever order the YAML had.
  const steps = DRILL_STEPS.filter((name) => sp.steps[name] !== undefined).join(', ');
  const out: string[] = [];
  out.push(
    `${heading('DisasterRecoveryDrill', drill.metadata.namespace, drill.metadata.name, s)}  schedule "${sp.schedule}"${sp.timeZone ? ` ${sp.timeZone}` : ''}${sp.suspend ? s.yellow('  (suspended)') : ''}`,
  );
  out.push(renderReady(st.conditions, s));
  out.push(
    `${s.bold('Steps:')} ${steps}   ${s.bold('Next run:')} ${shortTime(st.nextScheduleTime)} (${relative(st.nextScheduleTime, now)})   ${s.bold('Last success:')} ${shortTime(st.lastSuccessfulTime)}`,
  );
  if (st.activeRuns?.length) out.push(`${s.bold('Running now:')} ${st.activeRuns.join(', ')}`);
  out.push('', renderRun(st.lastRuns?.[0], now, s));
  const older = (st.lastRuns ?? []).slice(1);
  if (older.length)
    out.push(
      '',
      `${s.bold('Earlier runs:')}\n${table(
        ['RUN', 'TRIGGER', 'STARTED', 'RESULT'],
        older.map((r) => [r.id, r.trigger, shortTime(r.startedAt), colourResult(r.result, s)]),
        '  ',
      )}`,
    );
  out.push('', renderConditions(st.conditions, s, now), '', renderEvents(events, s, now));
  return `${out.join('\n')}\n`;
}
