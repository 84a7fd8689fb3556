import { CliError, ExitCode } from './errors.js';

/** A tenant's live traffic at the gateway, per minute over the last 5 minutes, from Prometheus. */
export interface TenantUsage {
  readonly requestsPerMinute: number | undefined;
  readonly rejectedPerMinute: number | undefined;
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
      `cannot reach Prometheus at ${base}: ${(err as Error).message}`,
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
  if (usage.requestsPerMinute === undefined) return 'no traffic recorded in the last 5 minutes';
  const rpm = usage.requestsPerMinute;
  const pct = limit > 0 ? Math.round((rpm / limit) * 100) : 0;
  const fmt = (n: number) => (n >= 10 ? String(Math.round(n)) : n.toFixed(1));
  return `${fmt(rpm)}/min of ${limit} (${pct}%), ${fmt(usage.rejectedPerMinute ?? 0)} rejected/min (5m average)`;
}
