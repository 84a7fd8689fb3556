import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';

// The shared Prometheus has a fixed configuration, so this suite starts its own, scraping a target it owns.
describe('Prometheus', () => {
  let env: Env;
  let target: http.Server;
  const registry = new Registry();
  const requests = new Counter({
    name: 'smoke_requests_total',
    help: 'Requests the smoke target has seen.',
    labelNames: ['outcome'],
    registers: [registry],
  });

  beforeAll(async () => {
    target = http.createServer(async (req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(await registry.metrics());
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const { port } = target.address() as AddressInfo;
    env = await startEnv({ label: 'smoke-prom', prometheus: { scrape: { smoke: [`127.0.0.1:${port}`] } } });
  });

  afterAll(async () => {
    await env?.stop();
    target?.closeAllConnections();
    await new Promise((resolve) => target?.close(resolve));
  });

  it('scrapes the target and answers a PromQL query with its value', async () => {
    requests.inc({ outcome: 'ok' }, 42);
    requests.inc({ outcome: 'error' }, 3);
    const result = await waitUntil(
      'Prometheus to have scraped smoke_requests_total{outcome="ok"} = 42',
      async () => {
        const r = await env.prometheus!.query('smoke_requests_total{job="smoke",outcome="ok"}');
        return r.length === 1 && r[0]!.value[1] === '42' ? r : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(result[0]!.metric).toMatchObject({
      __name__: 'smoke_requests_total',
      job: 'smoke',
      outcome: 'ok',
    });
    const up = await env.prometheus!.query('up{job="smoke"}');
    expect(up[0]?.value[1]).toBe('1');
    const sum = await env.prometheus!.query('sum(smoke_requests_total{job="smoke"})');
    expect(sum[0]?.value[1]).toBe('45');
  });

  it('rejects malformed PromQL with the parser error', async () => {
    await expect(env.prometheus!.query('sum(smoke_requests_total')).rejects.toThrow(/parse error/);
  });
});
