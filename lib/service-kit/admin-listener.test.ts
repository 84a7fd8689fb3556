import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AdminListener,
  adminPortFromEnv,
  healthRoutes,
  type Readiness,
  startAdminListener,
} from './admin-listener.js';
import { ConfigError } from './env.js';

describe('the admin listener', () => {
  let listener: AdminListener | undefined;
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  it('serves /metrics from the given registry in the Prometheus text format', async () => {
    const registry = new Registry();
    new Counter({ name: 'kit_test_total', help: 'test', registers: [registry] }).inc(3);
    listener = await startAdminListener({ port: 0, host: '127.0.0.1', registry });
    const res = await fetch(`${listener.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('kit_test_total 3');
  });

  it('serves admin routes by exact method and path, 405 for another method, 404 otherwise', async () => {
    let reloads = 0;
    listener = await startAdminListener({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      routes: [
        {
          method: 'POST',
          path: '/keys/reload',
          handle: (_req, res) => {
            reloads++;
            res.writeHead(202).end();
          },
        },
      ],
    });
    expect((await fetch(`${listener.url}/keys/reload`, { method: 'POST' })).status).toBe(202);
    expect(reloads).toBe(1);
    const wrongMethod = await fetch(`${listener.url}/keys/reload`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    const missing = await fetch(`${listener.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'no such admin route' } });
  });

  it('answers 500 with the error class only when a route throws', async () => {
    listener = await startAdminListener({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      routes: [
        {
          method: 'GET',
          path: '/boom',
          handle: () => {
            throw new TypeError('secret-looking input s3cr3t');
          },
        },
      ],
    });
    const res = await fetch(`${listener.url}/boom`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).toContain('TypeError');
    expect(text).not.toContain('s3cr3t');
  });
});

describe('ADMIN_PORT', () => {
  it('defaults per service and never to 9090 (Prometheus)', () => {
    expect(adminPortFromEnv({}, 'auth-service')).toBe(9085);
    expect(adminPortFromEnv({}, 'integration-gateway')).toBe(9083);
    expect(adminPortFromEnv({}, 'audit-service')).not.toBe(9090);
  });
  it('takes a valid port and refuses anything else with the variable named', () => {
    expect(adminPortFromEnv({ ADMIN_PORT: '19083' }, 'integration-gateway')).toBe(19083);
    expect(() => adminPortFromEnv({ ADMIN_PORT: 'abc' }, 'auth-service')).toThrow(/ADMIN_PORT/);
    expect(() => adminPortFromEnv({ ADMIN_PORT: '70000' }, 'auth-service')).toThrow(
      'ADMIN_PORT=70000: must be a port number 0-65535',
    );
    expect(() => adminPortFromEnv({ ADMIN_PORT: 'abc' }, 'auth-service')).toThrow(ConfigError);
  });
});

describe('health routes', () => {
  let listener: AdminListener | undefined;
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  const start = async (ready: () => Readiness | Promise<Readiness>) => {
    listener = await startAdminListener({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      routes: healthRoutes(ready),
    });
    return listener.url;
  };
  const get = async (url: string) => {
    const res = await fetch(url);
    return { status: res.status, body: await res.json() };
  };

  it('/healthz is live whatever the dependencies say (a database outage never restarts the pod)', async () => {
    const url = await start(() => ({ ready: false, checks: { database: 'error' } }));
    expect(await get(`${url}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } });
  });

  const cases: [string, () => Readiness | Promise<Readiness>, number, unknown][] = [
    [
      'ready with its checks',
      () => ({ ready: true, checks: { database: 'ok' } }),
      200,
      { status: 'ready', checks: { database: 'ok' } },
    ],
    [
      'not ready is 503 and names the failing check',
      async () => ({ ready: false, checks: { database: 'error' } }),
      503,
      { status: 'not_ready', checks: { database: 'error' } },
    ],
    ['a check without details', () => ({ ready: true }), 200, { status: 'ready' }],
    [
      'a check that throws is not ready, and its message is not shown',
      () => {
        throw new Error('password authentication failed for user s3cr3t');
      },
      503,
      { status: 'not_ready' },
    ],
  ];
  for (const [name, ready, status, body] of cases) {
    it(`/readyz: ${name}`, async () => {
      const url = await start(ready);
      expect(await get(`${url}/readyz`)).toEqual({ status, body });
    });
  }
});
