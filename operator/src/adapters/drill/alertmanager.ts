import { describeError } from '../../../../lib/errors.js';
import type { AlertDelivery, AlertProbe, SyntheticAlert } from './ports.js';
import type { RedisDeliveryLog } from './redis.js';

/** The synthetic alert's name; its labels: drill (the drill's name), drill_namespace, drill_run (dedup key). */
export const SYNTHETIC_ALERT_NAME = 'DrDrillSyntheticAlert';
export const RUN_LABEL = 'drill_run';

export interface AlertmanagerProbeOptions {
  /** Alertmanager's base URL (its /api/v2). */
  readonly alertmanagerUrl: string;
  readonly deliveries: RedisDeliveryLog;
  readonly runbookUrl?: string;
  readonly timeoutMs?: number;
}

/**
 * Posts the synthetic alert to Alertmanager's /api/v2/alerts (as Prometheus does) and reads what the
 * drill webhook recorded. The alert carries `drill`, so the configuration's first route sends it to the
 * drill receiver and nobody is paged.
 */
export class AlertmanagerProbe implements AlertProbe {
  constructor(private readonly opts: AlertmanagerProbeOptions) {}

  private alert(a: SyntheticAlert, endsAt: Date) {
    return {
      labels: {
        alertname: SYNTHETIC_ALERT_NAME,
        drill: a.drillName,
        drill_namespace: a.drillNamespace,
        [RUN_LABEL]: a.runId,
        severity: 'critical',
      },
      annotations: {
        summary: `Synthetic alert of DR drill ${a.drillNamespace}/${a.drillName} (run ${a.runId}): proves delivery, needs no action`,
        ...(this.opts.runbookUrl ? { runbook_url: this.opts.runbookUrl } : {}),
      },
      endsAt: endsAt.toISOString(),
      generatorURL: `novapos-operator://disasterrecoverydrills/${a.drillNamespace}/${a.drillName}`,
    };
  }

  private async post(body: unknown): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.opts.alertmanagerUrl}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([body]),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new Error(`Alertmanager unreachable at ${this.opts.alertmanagerUrl}: ${describeError(err)}`);
    }
    if (!res.ok)
      throw new Error(
        `Alertmanager refused the synthetic alert: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`,
      );
  }

  async fire(a: SyntheticAlert): Promise<void> {
    // The webhook records deliveries only for runs in flight: this one, until its alert ends (plus the
    // resolve notification's time to arrive).
    await this.opts.deliveries.expect(a.runId, a.endsAt.getTime() - Date.now() + 5 * 60_000);
    await this.post({ ...this.alert(a, a.endsAt), startsAt: new Date().toISOString() });
  }

  async resolve(a: SyntheticAlert): Promise<void> {
    await this.post(this.alert(a, new Date()));
  }

  deliveries(runId: string): Promise<readonly AlertDelivery[]> {
    return this.opts.deliveries.list(runId);
  }

  async routedTo(runId: string): Promise<readonly string[]> {
    const url = new URL(`${this.opts.alertmanagerUrl}/api/v2/alerts`);
    url.searchParams.append('filter', `${RUN_LABEL}="${runId}"`);
    const res = await fetch(url, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
    if (!res.ok) return [];
    const alerts = (await res.json()) as { receivers?: { name: string }[] }[];
    return [...new Set(alerts.flatMap((a) => (a.receivers ?? []).map((r) => r.name)))];
  }
}
