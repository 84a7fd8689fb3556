import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/log.js';
import { AuditMetrics } from './metrics.js';
import { RetentionRunner } from './retention.js';

const DAY = 86_400_000;

function runner(
  prune: (cutoff: Date) => Promise<{ base: { seq: number; hash: string }; removed: number } | undefined>,
) {
  const metrics = new AuditMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    component: 'audit-service',
    level: 'info',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  let t = Date.parse('2026-12-03T12:00:00Z');
  const r = new RetentionRunner({
    prune,
    retentionDays: 30,
    intervalMs: 3_600_000,
    metrics,
    logger,
    now: () => t,
  });
  const value = async (name: string, labels: Record<string, string> = {}) =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values.find((v) =>
      Object.entries(labels).every(([k, x]) => v.labels[k] === x),
    )?.value;
  return { r, metrics, lines, value, advance: (ms: number) => (t += ms), at: () => t };
}

describe('RetentionRunner', () => {
  it('exports zero runs, no success yet (0) and its interval before the first run', async () => {
    const { value } = runner(async () => undefined);
    expect(await value('audit_retention_runs_total', { outcome: 'success' })).toBe(0);
    expect(await value('audit_retention_runs_total', { outcome: 'failure' })).toBe(0);
    expect(await value('audit_retention_last_success_timestamp_seconds')).toBe(0);
    expect(await value('audit_retention_check_interval_seconds')).toBe(3600);
  });

  it('removes with the cutoff AUDIT_RETENTION_DAYS back, counts the rows, and stamps the success', async () => {
    const cutoffs: Date[] = [];
    const { r, value, at } = runner(async (cutoff) => {
      cutoffs.push(cutoff);
      return { base: { seq: 41, hash: 'h' }, removed: 41 };
    });
    expect(await r.run()).toEqual({ base: { seq: 41, hash: 'h' }, removed: 41 });
    expect(cutoffs).toEqual([new Date(at() - 30 * DAY)]);
    expect(await value('audit_retention_runs_total', { outcome: 'success' })).toBe(1);
    expect(await value('audit_retention_rows_removed_total')).toBe(41);
    expect(await value('audit_retention_last_success_timestamp_seconds')).toBe(at() / 1000);
  });

  it('counts a run with nothing due as a success (the alert is about runs, not deletions)', async () => {
    const { r, value, at } = runner(async () => undefined);
    await r.run();
    expect(await value('audit_retention_last_success_timestamp_seconds')).toBe(at() / 1000);
    expect(await value('audit_retention_rows_removed_total')).toBe(0);
  });

  it('counts a failure, keeps the last success, and logs the error class only (no message, no URL)', async () => {
    let fail = false;
    const { r, value, lines, advance } = runner(async () => {
      if (fail)
        throw Object.assign(new Error('connect to postgres://admin:hunter2@db failed'), { code: '28P01' });
      return undefined;
    });
    await r.run();
    const success = await value('audit_retention_last_success_timestamp_seconds');
    fail = true;
    advance(3_600_000);
    expect(await r.run()).toBeUndefined();
    expect(await value('audit_retention_runs_total', { outcome: 'failure' })).toBe(1);
    expect(await value('audit_retention_last_success_timestamp_seconds')).toBe(success);
    const failed = lines.find((l) => l['event'] === 'audit_retention_failed');
    expect(failed).toMatchObject({ error: 'Error', sqlstate: '28P01' });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('joins a run in flight instead of starting a second one', async () => {
    let calls = 0;
    let release: () => void = () => {};
    const { r } = runner(
      () =>
        new Promise((resolve) => {
          calls++;
          release = () => resolve(undefined);
        }),
    );
    const a = r.run();
    const b = r.run();
    release();
    await Promise.all([a, b]);
    expect(calls).toBe(1);
  });
});
