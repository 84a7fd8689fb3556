import { describeError } from '../../lib/errors.js';
import { CliError, ExitCode } from './errors.js';
import { type Replica, readReplica, serviceReplicas } from './replicas.js';
import type { Session } from './session.js';

/**
 * A tenant's live traffic at the gateway, per minute: from Prometheus (over the last 5 minutes) or from
 * the gateway replicas' own counters read twice through the apiserver's proxy.
 */
export interface TenantUsage {
  readonly requestsPerMinute: number | undefined;
  readonly rejectedPerMinute: number | undefined;
  /** Over what the rates are measured; default `5m average` (Prometheus). */
  readonly window?: string;
  /** Why usage could not be read (shown instead of figures). */
  readonly unavailable?: string;
}

/** PromQL on the gateway's metrics (docs/contracts.md): charged requests and rejections per minute. */
export function usageQueries(tenant: string): { requests: string; rejected: string } {
  const t = tenant.replace(/["\\]/g, '');
  return {
    requests: `sum(rate(gateway_rate_limit_hits_total{tenant="${t}"}[5m])) * 60`,
    rejected: `sum(rate(gateway_rate_limit_rejections_total{tenant="${t}"}[5m])) * 60`,
  };
}

async function instant(base: string, query: string): Promise<number | undefined> {
  const url = `${base.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new CliError(
      `cannot reach Prometheus at ${base}: ${describeError(err)}`,
      ExitCode.error,
      'check --prometheus',
    );
  }
  if (!res.ok)
    throw new CliError(`Prometheus answered ${res.status} to ${query}`, ExitCode.error, 'check --prometheus');
  const body = (await res.json()) as { data?: { result?: { value?: [number, string] }[] } };
  const value = body.data?.result?.[0]?.value?.[1];
  return value === undefined ? undefined : Number(value);
}

export async function fetchUsage(prometheusUrl: string, tenant: string): Promise<TenantUsage> {
  const q = usageQueries(tenant);
  const [requestsPerMinute, rejectedPerMinute] = await Promise.all([
    instant(prometheusUrl, q.requests),
    instant(prometheusUrl, q.rejected),
  ]);
  return { requestsPerMinute, rejectedPerMinute };
}

/** `42/min of 600 (7%), 0 rejected/min`. */
export function describeUsage(usage: TenantUsage | undefined, limit: number): string {
  if (!usage) return 'not shown (pass --prometheus URL or set NOVAPOS_PROMETHEUS_URL)';
  if (usage.unavailable)
    return `not shown: ${usage.unavailable} (pass --gateway NAMESPACE/SERVICE, or --prometheus URL)`;
  if (usage.requestsPerMinute === undefined)
    return `no traffic recorded ${usage.window ? `(${usage.window})` : 'in the last 5 minutes'}`;
  const rpm = usage.requestsPerMinute;
  const pct = limit > 0 ? Math.round((rpm / limit) * 100) : 0;
  const fmt = (n: number) => (n >= 10 ? String(Math.round(n)) : n.toFixed(1));
  return `${fmt(rpm)}/min of ${limit} (${pct}%), ${fmt(usage.rejectedPerMinute ?? 0)} rejected/min (${usage.window ?? '5m average'})`;
}

/** `namespace/name` of the gateway's Service, whose port named admin serves /metrics. */
export const DEFAULT_GATEWAY_SERVICE = 'novapos/integration-gateway';

/** The sum over replicas of a counter's samples with `tenant="…"`; undefined when no replica has one. */
export function counterOf(texts: readonly string[], name: string, tenant: string): number | undefined {
  let total: number | undefined;
  const prefix = `${name}{`;
  for (const text of texts)
    for (const line of text.split('\n')) {
      if (!line.startsWith(prefix)) continue;
      const labels = line.slice(prefix.length, line.lastIndexOf('}'));
      if (/(?:^|,)tenant="([^"]*)"/.exec(labels)?.[1] !== tenant) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) total = (total ?? 0) + v;
    }
  return total;
}

interface Sample {
  readonly at: number;
  /** Per replica: hits and rejections of the tenant. */
  readonly byReplica: ReadonlyMap<string, { hits: number; rejected: number }>;
}

/**
 * Live usage from the gateway replicas' /metrics on the admin port, read through the apiserver's proxy
 * (the gateway's metrics are not on its public port): the counters of every ready replica, read twice
 * `sampleMs` apart (under --watch, the previous frame's read is the first), summed over replicas. A replica
 * that restarted (counter went down) counts from zero.
 */
export class GatewayUsage {
  private last: Sample | undefined;

  constructor(
    private readonly session: Session,
    private readonly service: string,
    private readonly sampleMs: number,
  ) {}

  private async sample(tenant: string): Promise<Sample | string> {
    const slash = this.service.indexOf('/');
    if (slash <= 0) throw new CliError(`--gateway ${this.service} is not NAMESPACE/SERVICE`, ExitCode.usage);
    const [ns, name] = [this.service.slice(0, slash), this.service.slice(slash + 1)];
    let replicas: Replica[];
    try {
      replicas = await serviceReplicas(this.session, ns, name, 'admin');
    } catch (err) {
      return `cannot list the replicas of ${this.service}: ${describeError(err)}`;
    }
    if (!replicas.length) return `no ready replica of Service ${this.service} with a port named admin`;
    const at = this.session.io.now().getTime();
    const read = await Promise.all(
      replicas.map(async (replica) => ({
        replica,
        ...(await readReplica(this.session, replica, '/metrics')),
      })),
    );
    const failed = read.find((r) => r.error !== undefined);
    if (failed) return `cannot read ${failed.replica.label} /metrics: ${failed.error}`;
    const byReplica = new Map<string, { hits: number; rejected: number }>();
    for (const { replica, text } of read) {
      const metrics = [text ?? ''];
      byReplica.set(replica.label, {
        hits: counterOf(metrics, 'gateway_rate_limit_hits_total', tenant) ?? 0,
        rejected: counterOf(metrics, 'gateway_rate_limit_rejections_total', tenant) ?? 0,
      });
    }
    return { at, byReplica };
  }

  async usage(tenant: string): Promise<TenantUsage> {
    let first = this.last;
    if (!first) {
      const s = await this.sample(tenant);
      if (typeof s === 'string')
        return { requestsPerMinute: undefined, rejectedPerMinute: undefined, unavailable: s };
      first = s;
      await this.session.io.sleep(this.sampleMs);
    }
    const second = await this.sample(tenant);
    if (typeof second === 'string') {
      this.last = undefined;
      return { requestsPerMinute: undefined, rejectedPerMinute: undefined, unavailable: second };
    }
    this.last = second;
    const minutes = Math.max(second.at - first.at, 1) / 60_000;
    let hits = 0;
    let rejected = 0;
    for (const [replica, now] of second.byReplica) {
      const before = first.byReplica.get(replica) ?? { hits: 0, rejected: 0 };
      hits += now.hits >= before.hits ? now.hits - before.hits : now.hits;
      rejected += now.rejected >= before.rejected ? now.rejected - before.rejected : now.rejected;
    }
    const seconds = Math.round((second.at - first.at) / 100) / 10;
    const names = [...second.byReplica.keys()].join(', ');
    return {
      requestsPerMinute: hits / minutes,
      rejectedPerMinute: rejected / minutes,
      window: `over ${seconds}s from ${second.byReplica.size} gateway replica${second.byReplica.size === 1 ? '' : 's'} via the apiserver: ${names}`,
    };
  }
}
