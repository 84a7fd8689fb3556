import { errorClass, errorCode } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import type { AuditMetrics } from './metrics.js';

export interface PruneOutcome {
  readonly base: { readonly seq: number; readonly hash: string };
  readonly removed: number;
}

export interface RetentionRunnerOptions {
  /** One retention pass: removes what is past the cutoff above a signed base; undefined when nothing is due. */
  readonly prune: (cutoff: Date) => Promise<PruneOutcome | undefined>;
  readonly retentionDays: number;
  readonly intervalMs: number;
  readonly metrics: AuditMetrics;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * Retention runs (seed 004) and what they report: a run at start, then every `intervalMs`; each counted in
 * `audit_retention_runs_total{outcome}`, a success stamping `audit_retention_last_success_timestamp_seconds`
 * (whether or not anything was due), so `AuditRetentionNotRunning` (alerts/src/audit.ts) fires when no replica
 * has succeeded for three intervals. A failure is logged by its error class only (a database error can quote
 * a connection string) and retried at the next interval.
 */
export class RetentionRunner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneOutcome | undefined> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: RetentionRunnerOptions) {
    this.now = opts.now ?? Date.now;
    opts.metrics.retentionInterval.set(opts.intervalMs / 1000);
  }

  /** One run now (a run already in flight is joined, never doubled). Resolves undefined on failure. */
  run(): Promise<PruneOutcome | undefined> {
    this.running ??= this.once().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async once(): Promise<PruneOutcome | undefined> {
    const { metrics, logger } = this.opts;
    const cutoff = new Date(this.now() - this.opts.retentionDays * 86_400_000);
    let result: PruneOutcome | undefined;
    try {
      result = await this.opts.prune(cutoff);
    } catch (err) {
      metrics.retentionRuns.inc({ outcome: 'failure' });
      logger.warn(
        {
          event: 'audit_retention_failed',
          error: errorClass(err),
          sqlstate: errorCode(err),
        },
        'retention not applied; retried at the next interval',
      );
      return undefined;
    }
    metrics.retentionRuns.inc({ outcome: 'success' });
    metrics.retentionLastSuccess.set(this.now() / 1000);
    if (result) {
      metrics.retentionRemoved.inc(result.removed);
      logger.info(
        {
          event: 'audit_retention',
          base_seq: result.base.seq,
          removed: result.removed,
          cutoff: cutoff.toISOString(),
        },
        'audit rows past retention removed',
      );
    }
    return result;
  }

  /** The first run now (in the background), then one per interval. */
  start(): void {
    void this.run();
    this.timer = setInterval(() => void this.run(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a run in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
