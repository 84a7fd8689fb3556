import type { DisasterRecoveryDrill } from '../../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import { disasterRecoveryDrill } from '../../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import { annotate, getObject } from '../api.js';
import { drillProgress, runNowAnnotations } from '../decide/drill.js';
import { triggerValue } from '../decide/trigger.js';
import { CliError, ExitCode } from '../errors.js';
import { renderRun } from '../render/drill.js';
import { parseRef } from '../resources.js';
import { parseDurationFlag, type Session } from '../session.js';

export interface DrillRunOptions {
  readonly wait?: boolean;
  readonly timeout?: string;
}

export async function drillRun(session: Session, ref: string, opts: DrillRunOptions): Promise<void> {
  const { name } = parseRef(ref, ['DisasterRecoveryDrill']);
  await getObject(session, disasterRecoveryDrill, name);
  const requestedAt = session.io.now();
  const value = triggerValue(requestedAt);
  const patched = await annotate<DisasterRecoveryDrill>(
    session,
    disasterRecoveryDrill,
    name,
    runNowAnnotations(value),
  );
  const what = `drdrill/${name}: run requested (run-now=${value})`;
  if (!opts.wait) {
    session.emit(patched, () => `${what}\n`);
    return;
  }
  session.io.stderr.write(`${what}\n`);
  const { progress } = await session.waitFor(
    `drdrill/${name}`,
    () => getObject<DisasterRecoveryDrill>(session, disasterRecoveryDrill, name),
    (d, now) => drillProgress(d, value, requestedAt, now),
    parseDurationFlag(opts.timeout ?? '15m', '--timeout'),
    2000,
  );
  const run = progress.run;
  session.emit(run ?? null, () => `${renderRun(run, session.io.now(), session.style)}\n`);
  if (progress.failed) throw new CliError(`drill run ${run?.id ?? ''} failed`, ExitCode.drillFailed);
}

export interface DrillReportOptions {
  readonly run?: string;
}

export async function drillReport(session: Session, ref: string, opts: DrillReportOptions): Promise<void> {
  const { name } = parseRef(ref, ['DisasterRecoveryDrill']);
  const drill = await getObject<DisasterRecoveryDrill>(session, disasterRecoveryDrill, name);
  const runs = drill.status?.lastRuns ?? [];
  const run = opts.run ? runs.find((r) => r.id === opts.run) : runs[0];
  if (opts.run && !run)
    throw new CliError(
      `no run ${opts.run} in drdrill/${name}`,
      ExitCode.notFound,
      `runs kept: ${runs.map((r) => r.id).join(', ') || 'none'}`,
    );
  session.emit(run ?? null, () => `${renderRun(run, session.io.now(), session.style)}\n`);
}
