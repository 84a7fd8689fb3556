import type { GatewayCounters, GatewayHealth } from './ports.js';

const REQUESTS = 'gateway_request_duration_seconds_count';
const THROTTLED = 'gateway_auth_throttled_total';

/**
 * Sums `gateway_request_duration_seconds_count` by status class from Prometheus text. Errors are 5xx, 401 and
 * 403, plus the 429s the gateway answers `too_many_auth_failures` (`gateway_auth_throttled_total` with
 * `reason="failure_budget"`): clients whose authentication fails during a drill are throttled, and that must
 * still read as failing traffic, not as traffic the drill may ignore.
 */
export function countersFromText(text: string): GatewayCounters {
  let requests = 0;
  let errors = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${THROTTLED}{`) && line.includes('reason="failure_budget"')) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) errors += value;
      continue;
    }
    if (!line.startsWith(`${REQUESTS}{`) && !line.startsWith(`${REQUESTS} `)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    requests += value;
    const status = /status="(\d+)"/.exec(line)?.[1];
    if (status && (status.startsWith('5') || status === '401' || status === '403')) errors += value;
  }
  return { requests, errors };
}

/**
 * The gateway's own counters from its /metrics, summed over the listed replicas (each replica's URL, or
 * one URL when there is one replica): what the abort guard compares with the drill's own requests.
 */
export class GatewayMetricsHealth implements GatewayHealth {
  constructor(
    private readonly metricsUrls: readonly string[],
    private readonly timeoutMs = 3_000,
  ) {}

  async counters(): Promise<GatewayCounters> {
    const all = await Promise.all(
      this.metricsUrls.map(async (url) => {
        const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
        return countersFromText(await res.text());
      }),
    );
    return all.reduce((a, b) => ({ requests: a.requests + b.requests, errors: a.errors + b.errors }), {
      requests: 0,
      errors: 0,
    });
  }
}
