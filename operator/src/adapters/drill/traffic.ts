import type { TrafficGenerator, TrafficRun, TrafficSample } from './ports.js';

export const PING_PATH = '/api/tenant/ping';

export interface HttpTrafficOptions {
  /** The gateway's base URL, e.g. http://integration-gateway.novapos.svc:8083. */
  readonly gatewayUrl: string;
  /** Per request. */
  readonly timeoutMs?: number;
  /** Requests in flight at most; further ticks are dropped rather than queued (the rate is a ceiling). */
  readonly maxInFlight?: number;
}

/**
 * Synthetic authenticated requests to the gateway's /api/tenant/ping, one every 1/rps seconds (a ceiling:
 * a tick with too many requests still in flight is skipped). Each answer is reduced to status, latency,
 * error code and the gateway's `limiter` field; bodies and credentials are not kept.
 */
export class HttpTrafficGenerator implements TrafficGenerator {
  constructor(private readonly opts: HttpTrafficOptions) {}

  async run(t: TrafficRun): Promise<void> {
    const intervalMs = 1000 / t.rps;
    const maxInFlight = this.opts.maxInFlight ?? Math.max(8, t.rps * 2);
    const inFlight = new Set<Promise<void>>();
    const started = performance.now();
    for (let i = 0; ; i++) {
      if (t.signal.aborted) break;
      const due = started + i * intervalMs;
      if (due - started >= t.durationMs) break;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait, t.signal);
      if (t.signal.aborted) break;
      if (inFlight.size >= maxInFlight) continue;
      const p = this.one(t).then(t.onSample, () => {});
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await Promise.all(inFlight);
  }

  private async one(t: TrafficRun): Promise<TrafficSample> {
    const cred = t.credential();
    const headers: Record<string, string> = { 'x-tenant-id': t.tenant };
    if (cred.bearer) headers['authorization'] = `Bearer ${cred.bearer}`;
    if (cred.apiKey) headers['x-api-key'] = cred.apiKey;
    const t0 = performance.now();
    try {
      const res = await fetch(`${this.opts.gatewayUrl}${PING_PATH}`, {
        headers,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
      });
      const text = await res.text();
      let body: { limiter?: string; error?: { code?: string } } = {};
      try {
        body = text ? JSON.parse(text) : {};
      } catch {
        // not JSON
      }
      return {
        status: res.status,
        latencyMs: performance.now() - t0,
        code: body.error?.code,
        limiter: typeof body.limiter === 'string' ? body.limiter : undefined,
        tag: cred.tag,
        at: Date.now(),
      };
    } catch {
      return { status: 0, latencyMs: performance.now() - t0, tag: cred.tag, at: Date.now() };
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
