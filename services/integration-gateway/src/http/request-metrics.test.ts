import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { GATEWAY_BUCKETS, HTTP_BUCKETS, RequestMetrics } from './request-metrics.js';

/** Observations of a few requests: method, route, status, seconds. */
const REQUESTS: [string, string, number, number][] = [
  ['GET', 'ping', 200, 0.0004],
  ['GET', 'ping', 200, 0.003],
  ['GET', 'ping', 429, 0.012],
  ['POST', 'proxy', 200, 0.2],
  ['POST', 'proxy', 502, 7],
  ['GET', 'health', 200, 0.001],
  ['other', 'not_found', 404, 0.005],
  ['GET', 'other', 401, 0.05],
];

describe('RequestMetrics', () => {
  it('writes the same series as prom-client would for the same requests', async () => {
    const ours = new Registry();
    const metrics = new RequestMetrics(ours);
    for (const [m, route, status, s] of REQUESTS) metrics.observe(m, route, status, s);

    const theirs = new Registry();
    const requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers: [theirs],
    });
    const http = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: [...HTTP_BUCKETS],
      registers: [theirs],
    });
    const gateway = new Histogram({
      name: 'gateway_request_duration_seconds',
      help: 'Gateway request duration by route kind (ping, proxy, other) and status.',
      labelNames: ['route', 'status'],
      buckets: [...GATEWAY_BUCKETS],
      registers: [theirs],
    });
    for (const [method, route, status, s] of REQUESTS) {
      requests.inc({ method, route, status });
      http.observe({ method, route }, s);
      if (route === 'ping' || route === 'proxy' || route === 'other')
        gateway.observe({ route, status: String(status) }, s);
    }
    // Series order within a metric may differ: compare the sorted lines.
    const lines = async (r: Registry) => (await r.metrics()).split('\n').sort();
    expect(await lines(ours)).toEqual(await lines(theirs));
  });

  it('only the API routes count in gateway_request_duration_seconds (what the drill guard reads)', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry);
    metrics.observe('GET', 'health', 200, 0.001);
    metrics.observe('GET', 'proxy', 503, 0.001);
    const text = await registry.metrics();
    expect(text).toContain('gateway_request_duration_seconds_count{route="proxy",status="503"} 1');
    expect(text).not.toMatch(/gateway_request_duration_seconds_count\{route="health"/);
    expect(text).toContain('http_requests_total{method="GET",route="health",status="200"} 1');
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('route="proxy"');
  });
});
