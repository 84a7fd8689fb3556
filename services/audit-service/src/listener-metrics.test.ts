import { request, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AdminListener,
  healthRoutes,
  sendJson,
  startAdminListener,
} from '../../../lib/service-kit/admin-listener.js';
import { listenerRequestRecorder } from './listener-metrics.js';
import { AuditMetrics } from './metrics.js';

const listeners: AdminListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

/** One request with any method (node:http: the raw status, whatever the method). */
function send(url: string, method: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listener(metrics: AuditMetrics) {
  const routes = [
    ...healthRoutes(() => ({ ready: true })),
    {
      method: 'GET' as const,
      path: '/audit/events',
      handle: (_req: unknown, res: ServerResponse) =>
        sendJson(res, 401, { error: { code: 'unauthorized', message: 'a bearer token is required' } }),
    },
  ];
  const l = await startAdminListener({
    port: 0,
    host: '127.0.0.1',
    registry: metrics.registry,
    routes,
    onResponse: listenerRequestRecorder(metrics),
  });
  listeners.push(l);
  return l;
}

const requestsOf = async (metrics: AuditMetrics) =>
  Object.fromEntries(
    (await metrics.httpRequests.get()).values.map((v) => [
      `${v.labels['method']} ${v.labels['route']} ${v.labels['status']}`,
      v.value,
    ]),
  );

describe('listenerRequestRecorder (http_requests_total, http_request_duration_seconds)', () => {
  it('records every request of the listener with a bounded route label: its path, or not_found', async () => {
    const metrics = new AuditMetrics();
    const l = await listener(metrics);
    expect(await send(`${l.url}/healthz`, 'GET')).toBe(200);
    expect(await send(`${l.url}/healthz?probe=1`, 'GET')).toBe(200);
    expect(await send(`${l.url}/audit/events?tenant_id=acme&limit=5`, 'GET')).toBe(401);
    expect(await send(`${l.url}/metrics`, 'GET')).toBe(200);
    // Unknown paths, however many, are one label: their raw path never becomes a series.
    expect(await send(`${l.url}/no/such/path-1`, 'GET')).toBe(404);
    expect(await send(`${l.url}/wp-admin/abc?x=eyJhbGciOi`, 'POST')).toBe(404);
    // A known path with another method: the listener's 405, under the path's label.
    expect(await send(`${l.url}/healthz`, 'DELETE')).toBe(405);
    expect(await send(`${l.url}/healthz`, 'PROPFIND')).toBe(405);
    // The server counts a response once it is finished, which may be just after the client has it.
    await expect
      .poll(() => requestsOf(metrics))
      .toEqual({
        'GET /healthz 200': 2,
        'GET /audit/events 401': 1,
        'GET /metrics 200': 1,
        'GET not_found 404': 1,
        'POST not_found 404': 1,
        'DELETE /healthz 405': 1,
        'other /healthz 405': 1,
      });
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('no/such');
    expect(text).not.toContain('wp-admin');
    expect(text).not.toContain('tenant_id');
    expect(text).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/healthz"\} 2$/m);
    expect(text).toMatch(/^http_request_duration_seconds_count\{method="GET",route="not_found"\} 1$/m);
  });

  it('uses the fleet buckets of http_request_duration_seconds (auth-service and the gateway have the same)', async () => {
    const metrics = new AuditMetrics();
    metrics.httpDuration.observe({ method: 'GET', route: '/healthz' }, 0.001);
    const les = (await metrics.httpDuration.get()).values
      .filter((v) => v.metricName === 'http_request_duration_seconds_bucket')
      .map((v) => (v.labels as Record<string, unknown>)['le']);
    expect(les).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, '+Inf']);
  });

  it("counts only its own listener's requests", async () => {
    const mine = new AuditMetrics();
    const other = await startAdminListener({ port: 0, host: '127.0.0.1', registry: new Registry() });
    listeners.push(other);
    const l = await listener(mine);
    expect(await send(`${other.url}/healthz`, 'GET')).toBe(404);
    expect(await send(`${l.url}/healthz`, 'GET')).toBe(200);
    await expect.poll(() => requestsOf(mine)).toEqual({ 'GET /healthz 200': 1 });
  });
});
