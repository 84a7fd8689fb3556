import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LimitDocument } from '../../lib/ratelimit-contract.js';
import { RedisSessionRevocation } from '../../lib/session-revocation.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { privateRedisDb } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import {
  type AuthFixture,
  expectNoSecrets,
  metricValue,
  type RecordingUpstream,
  rawRequest,
  startAuth,
  startRecordingUpstream,
  startTestGateway,
  type TestGateway,
} from './support.js';

/**
 * The gateway as an edge, against the real auth-service (tokens and API keys), PostgreSQL, Redis and a real
 * upstream on loopback that records what it receives. Each finding of issue 17 ("What was seen") is a
 * test here, with variants: request targets that are not origin-form, paths that leave /api/ or dodge a
 * route limit after decoding, the caller's credentials and forwarding headers, the admin routes on the API
 * port, scopes, Expect: 100-continue and floods of wrong API keys.
 */
describe('integration-gateway: the edge', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const tenant = `edge-${suffix}`;
  // Its attacks spend per-address authentication budgets from 127.0.0.1: in a Redis database of its own.
  const redisUrl = privateRedisDb(env.redisUrl, 13);
  let auth: AuthFixture;
  let upstream: RecordingUpstream;
  /** Stands for any host the gateway can reach that is not the upstream (e.g. an internal admin server). */
  let internal: RecordingUpstream;
  let gateway: TestGateway;
  let publisher: RedisLimitPublisher;
  let token: string;
  const secrets: Record<string, string> = {};
  const bearer = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    auth = await startAuth(env, `edge-${suffix}`);
    upstream = await startRecordingUpstream();
    internal = await startRecordingUpstream();
    gateway = await startTestGateway({
      REDIS_URL: redisUrl,
      DATABASE_URL: auth.databaseUrl,
      JWKS_URL: auth.jwksUrl,
      GATEWAY_UPSTREAM_URL: upstream.url,
      GATEWAY_REPLICA_ID: `gw-edge-${suffix}`,
      GATEWAY_RATE_LIMIT_RPM: '100000',
      GATEWAY_ROUTE_SCOPES: 'GET /api/exports=exports:read, /api/orders=orders, /api/echo=echo',
      GATEWAY_ROLE_SCOPES: 'user=*',
    });
    publisher = new RedisLimitPublisher(redisUrl);
    await publisher.ready();
    const doc: LimitDocument = {
      tenant,
      generation: 1,
      requestsPerMinute: 100_000,
      burst: 0,
      routes: [{ pathPrefix: '/api/exports', requestsPerMinute: 1, burst: 0 }],
      apiKeys: [],
      enforcement: 'enforce',
      redisFailureMode: 'failClosed',
      source: { namespace: 'test', name: 'edge', uid: `uid-edge-${suffix}` },
      publishedAt: new Date().toISOString(),
    };
    await publisher.publish(doc);
    await waitUntil('the gateway applied the tenant', () => gateway.configStore.get(tenant).generation === 1);
    token = await auth.token(tenant);
    secrets['token'] = token;
  });

  afterAll(async () => {
    expectNoSecrets(gateway?.logs.text ?? '', secrets);
    await publisher?.close();
    await gateway?.close();
    await upstream?.close();
    await internal?.close();
    await auth?.close();
  });

  const raw = (target: string, headers: Record<string, string> = bearer(), method = 'GET') =>
    rawRequest(
      gateway.port,
      [
        `${method} ${target} HTTP/1.1`,
        'Host: 127.0.0.1',
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        'Connection: close',
      ].join('\r\n'),
    );
  const errorCode = (body: string) => (JSON.parse(body) as { error?: { code?: string } }).error?.code;

  describe('request targets: only origin-form', () => {
    it.each([
      ['absolute-form to an internal server', (p: number) => `http://127.0.0.1:${p}/api/../x`],
      ['absolute-form under /api/', (p: number) => `http://127.0.0.1:${p}/api/orders/1`],
      ['absolute-form with userinfo', (p: number) => `http://user:pass@127.0.0.1:${p}/api/orders/1`],
      ['absolute-form, https', (p: number) => `https://127.0.0.1:${p}/api/orders/1`],
      ['absolute-form, upper-case scheme', (p: number) => `HTTP://127.0.0.1:${p}/api/orders/1`],
      ['asterisk-form', () => '*'],
      ['a relative target', () => 'api/orders/1'],
    ])('refuses %s with 400 and reaches nobody', async (_name, target) => {
      const before = upstream.received.length + internal.received.length;
      const res = await raw(target(internal.port));
      expect(res.status).toBe(400);
      expect(errorCode(res.body)).toBe('invalid_request_target');
      expect(upstream.received.length + internal.received.length).toBe(before);
    });

    it('refuses CONNECT (authority-form) and OPTIONS * with 400', async () => {
      const before = upstream.received.length + internal.received.length;
      const connect = await raw(`127.0.0.1:${internal.port}`, bearer(), 'CONNECT');
      expect(connect.status).toBe(400);
      const options = await raw('*', bearer(), 'OPTIONS');
      expect(options.status).toBe(400);
      expect(upstream.received.length + internal.received.length).toBe(before);
    });

    it('builds the upstream URL from the configured origin whatever the Host header says', async () => {
      const res = await raw('/api/orders/7', {
        ...bearer(),
        'X-Forwarded-Host': `127.0.0.1:${internal.port}`,
      });
      expect(res.status).toBe(200);
      const viaHost = await rawRequest(
        gateway.port,
        [
          'GET /api/orders/8 HTTP/1.1',
          `Host: 127.0.0.1:${internal.port}`,
          `Authorization: Bearer ${token}`,
          'Connection: close',
        ].join('\r\n'),
      );
      expect(viaHost.status).toBe(200);
      expect(internal.received).toEqual([]);
      const last = upstream.received.at(-1)!;
      expect(last.url).toBe('/api/orders/8');
      expect(last.headers['host']).toBe(`127.0.0.1:${upstream.port}`);
      expect(last.headers['x-forwarded-host']).toBeUndefined();
    });
  });

  describe('other bad input: a clear 4xx with a stable code', () => {
    it.each([
      ['TRACE', '/api/orders/1', 405, 'method_not_allowed'],
      ['GET', '/metrics', 404, 'not_found'],
      ['GET', '/API/orders/1', 404, 'not_found'],
      ['POST', '/healthz', 404, 'not_found'],
      ['GET', '/api/orders/1?q=a"b', 400, 'invalid_path'],
    ])('%s %s → %i %s', async (method, target, status, code) => {
      const res = await raw(target, bearer(), method);
      expect(res.status).toBe(status);
      expect(errorCode(res.body)).toBe(code);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('echoes a safe X-Request-ID and replaces an unsafe one', async () => {
      expect((await raw('/healthz', { 'X-Request-ID': 'req-0123456789' })).headers['x-request-id']).toBe(
        'req-0123456789',
      );
      expect((await raw('/healthz', { 'X-Request-ID': 'a b<script>' })).headers['x-request-id']).toMatch(
        /^[0-9a-f-]{36}$/,
      );
    });
  });

  describe('paths: normalised once, refused when they leave /api/', () => {
    it.each([
      '/api/../admin',
      '/api/%2e%2e/admin',
      '/api/%2E%2E/admin',
      '/api/.%2e/admin',
      '/api/%2e./admin',
      '/api/orders/../../admin',
      '/api//../admin',
      '/api/./../admin',
      '/api/%2e%2e%2fadmin',
      '/api/..%2fadmin',
      '/api/..%2Fadmin',
      '/api/%252e%252e/admin',
      '/api/..%5cadmin',
      '/api/..\\admin',
      '/api\\..\\admin',
      '/api/orders%00/1',
      '/api/orders/%ZZ',
      '//evil.example/api/orders',
      '/%2e%2e/api/orders',
      '/api/../../../../etc/passwd',
    ])('%s: a 4xx with a stable code, nothing upstream', async (target) => {
      const before = upstream.received.length;
      const res = await raw(target);
      expect(res.status === 400 || res.status === 404, `${target} answered ${res.status}`).toBe(true);
      expect(['invalid_path', 'path_outside_api', 'not_found']).toContain(errorCode(res.body));
      expect(res.body).not.toMatch(/at .*\.ts|stack/i);
      expect(upstream.received.length).toBe(before);
    });

    it.each([
      ['/api/./orders/1', '/api/orders/1'],
      ['/api//orders///1', '/api/orders/1'],
      ['/api/%6Frders/1', '/api/orders/1'],
      ['/api/orders/x/../1', '/api/orders/1'],
      ['/%61pi/orders/1', '/api/orders/1'],
      ['/api/orders/a%20b?q=%2F..&r=1', '/api/orders/a%20b?q=%2F..&r=1'],
      ['/api/orders/%7euser', '/api/orders/~user'],
      ['/api/orders/caf%c3%a9', '/api/orders/caf%C3%A9'],
    ])('%s is forwarded as %s', async (target, forwarded) => {
      const res = await raw(target);
      expect(res.status).toBe(200);
      expect(upstream.received.at(-1)!.url).toBe(forwarded);
    });

    it('charges every spelling of /api/exports to the /api/exports route limit', async () => {
      const first = await raw('/api/exports/1');
      expect(first.status).toBe(200);
      for (const spelling of [
        '/api/./exports/1',
        '/api//exports/2',
        '/api/%65xports/3',
        '/api/x/../exports/4',
      ]) {
        const res = await raw(spelling);
        expect(res.status, spelling).toBe(429);
        expect(res.headers['ratelimit']).toContain('"route"');
      }
    });
  });

  describe('headers to the upstream', () => {
    it("never forwards the caller's credentials, cookies, hop-by-hop or identity claims", async () => {
      const before = upstream.received.length;
      const res = await raw('/api/orders/1', {
        ...bearer(),
        Cookie: 'session=cookie-secret-value',
        'X-API-Key': 'npk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
        'Proxy-Authorization': 'Basic cHJveHk6c2VjcmV0',
        'X-Forwarded-For': '6.6.6.6',
        Forwarded: 'for=6.6.6.6;proto=https',
        'X-Real-IP': '6.6.6.6',
        'X-Tenant-ID': tenant,
        'X-NovaPOS-Subject': 'forged-subject',
        'X-NovaPOS-Scopes': 'everything',
        'X-NovaPOS-Auth-Method': 'api_key',
        'X-Custom-Hop': 'hop-value',
        'X-Kept': 'kept',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'Connection-Extra': 'x',
        TE: 'trailers',
      });
      expect(res.status).toBe(200);
      expect(upstream.received.length).toBe(before + 1);
      const h = upstream.received.at(-1)!.headers;
      for (const name of ['authorization', 'cookie', 'x-api-key', 'proxy-authorization', 'x-real-ip', 'te'])
        expect(h[name], name).toBeUndefined();
      expect(h['x-forwarded-for']).toBe('127.0.0.1');
      expect(h['forwarded']).toBe('for=127.0.0.1;proto=http');
      expect(h['x-tenant-id']).toBe(tenant);
      expect(h['x-novapos-auth-method']).toBe('jwt');
      expect(h['x-novapos-subject']).not.toBe('forged-subject');
      expect(h['x-novapos-scopes']).toBe('*');
      expect(h['x-kept']).toBe('kept');
      // The caller's trace continues upstream with the gateway's own span id.
      expect(String(h['traceparent'])).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
      expect(String(h['traceparent'])).not.toContain('b7ad6b7169203331');
      expect(h['x-request-id']).toBe(res.headers['x-request-id']);
      const record = gateway.logs
        .records()
        .find((r) => r['event'] === 'request' && r['request_id'] === res.headers['x-request-id']);
      expect(record?.['trace_id']).toBe('0af7651916cd43dd8448eb211c80319c');
      secrets['cookie'] = 'cookie-secret-value';
    });

    it('drops the fields the caller names in Connection', async () => {
      await raw('/api/orders/2', { ...bearer(), Connection: 'X-Custom-Hop', 'X-Custom-Hop': 'hop' });
      expect(upstream.received.at(-1)!.headers['x-custom-hop']).toBeUndefined();
    });

    it('starts a trace when the caller sends none', async () => {
      const res = await raw('/api/orders/3');
      expect(res.status).toBe(200);
      expect(String(upstream.received.at(-1)!.headers['traceparent'])).toMatch(
        /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/,
      );
    });

    it('refuses a request that is both Content-Length and chunked (smuggling), reaching nobody', async () => {
      const before = upstream.received.length;
      const smuggled = 'GET /api/../admin HTTP/1.1\r\nHost: x\r\n\r\n';
      const res = await rawRequest(
        gateway.port,
        [
          'POST /api/echo HTTP/1.1',
          'Host: 127.0.0.1',
          `Authorization: Bearer ${token}`,
          'Content-Length: 4',
          'Transfer-Encoding: chunked',
        ].join('\r\n'),
        `0\r\n\r\n${smuggled}`,
      );
      expect(res.status).toBe(400);
      expect(errorCode(res.body)).toBe('malformed_request');
      expect(upstream.received.length).toBe(before);
    });

    it.each([
      ['two different Content-Length values', ['Content-Length: 4', 'Content-Length: 40'], 'abcd'],
      ['an obsolete line folding header', ['X-Folded: a', ' b', 'Content-Length: 0'], ''],
      ['Transfer-Encoding that is not chunked last', ['Transfer-Encoding: chunked, identity'], '0\r\n\r\n'],
      ['a space before the colon', ['Content-Length : 4'], 'abcd'],
    ])('refuses %s with 400, reaching nobody', async (_name, lines, body) => {
      const before = upstream.received.length;
      const res = await rawRequest(
        gateway.port,
        ['POST /api/echo HTTP/1.1', 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, ...lines].join(
          '\r\n',
        ),
        body,
      );
      expect(res.status).toBe(400);
      expect(upstream.received.length).toBe(before);
    });

    it('never lets Host choose the upstream, even sent twice', async () => {
      const res = await rawRequest(
        gateway.port,
        [
          'GET /api/orders/9 HTTP/1.1',
          `Host: 127.0.0.1:${internal.port}`,
          'Host: 127.0.0.1',
          `Authorization: Bearer ${token}`,
          'Connection: close',
        ].join('\r\n'),
      );
      expect([200, 400]).toContain(res.status);
      expect(internal.received).toEqual([]);
    });

    it('answers oversized headers with 431 and a stable code', async () => {
      const res = await raw('/api/orders/1', { ...bearer(), 'X-Big': 'x'.repeat(20_000) });
      expect(res.status).toBe(431);
      expect(errorCode(res.body)).toBe('headers_too_large');
    });
  });

  describe('the admin routes are not on the API port', () => {
    it('/metrics and POST /keys/reload answer 404 on the API port and work on the admin port', async () => {
      const key = await auth.apiKey(tenant, ['orders']);
      secrets['apiKey'] = key.key;
      expect((await fetch(`${gateway.url}/api/orders/1`, { headers: { 'x-api-key': key.key } })).status).toBe(
        200,
      );
      const metrics = await fetch(`${gateway.url}/metrics`);
      expect(metrics.status).toBe(404);
      expect(await metrics.text()).not.toContain(key.prefix);
      expect((await fetch(`${gateway.url}/keys/reload`, { method: 'POST' })).status).toBe(404);

      expect((await fetch(`${gateway.adminUrl}/keys/reload`, { method: 'POST' })).status).toBe(202);
      expect(
        await metricValue(gateway.adminUrl, 'gateway_api_key_requests_total', { key_prefix: key.prefix }),
      ).toBe(1);
      // /keys/status, /healthz and /readyz stay on the API port.
      for (const p of ['/keys/status', '/healthz', '/readyz'])
        expect((await fetch(`${gateway.url}${p}`)).status).toBe(200);
    });

    it('serves the probes on the admin port too: /healthz live, /readyz with what it checked', async () => {
      const live = await fetch(`${gateway.adminUrl}/healthz`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${gateway.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { limits: 'loaded', redis: 'ready' } });
    });
  });

  describe('scopes', () => {
    it('an API key reaches only the routes whose scope it holds; none reaches only the ping', async () => {
      const none = await auth.apiKey(tenant);
      const exportsKey = await auth.apiKey(tenant, ['exports:read']);
      secrets['none'] = none.key;
      secrets['exports'] = exportsKey.key;
      const get = (path: string, key: string, method = 'GET') =>
        fetch(`${gateway.url}${path}`, { method, headers: { 'x-api-key': key } });
      expect((await get('/api/tenant/ping', none.key)).status).toBe(200);
      const refused = await get('/api/orders/1', none.key);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        error: { code: 'insufficient_scope', message: expect.any(String) },
      });
      expect((await get('/api/unlisted', none.key)).status).toBe(403);
      expect((await get('/api/orders/1', exportsKey.key)).status).toBe(403);
      // The scope is declared for GET only: a POST needs a scope nobody can hold.
      expect((await get('/api/exports/9', exportsKey.key, 'POST')).status).toBe(403);
      const before = upstream.received.length;
      const allowed = await get('/api/exports/9', exportsKey.key);
      expect([200, 429]).toContain(allowed.status); // the route limit of 1/min may already be spent
      if (allowed.status === 200) {
        expect(upstream.received.length).toBe(before + 1);
        expect(upstream.received.at(-1)!.headers['x-novapos-scopes']).toBe('exports:read');
        expect(upstream.received.at(-1)!.headers['x-novapos-key-prefix']).toBe(exportsKey.prefix);
        expect(upstream.received.at(-1)!.headers['x-api-key']).toBeUndefined();
      }
    });
  });

  describe('Expect: 100-continue', () => {
    it('answers 100 Continue once the request is allowed and forwards the body', async () => {
      const before = upstream.received.length;
      const res = await rawRequest(
        gateway.port,
        [
          'POST /api/echo HTTP/1.1',
          'Host: 127.0.0.1',
          `Authorization: Bearer ${token}`,
          'Content-Type: text/plain',
          'Content-Length: 5',
          'Expect: 100-continue',
          'Connection: close',
        ].join('\r\n'),
        'hello',
        { waitForContinue: true },
      );
      expect(res.statusLines[0]).toMatch(/^HTTP\/1\.1 100/);
      expect(res.status).toBe(200);
      expect(upstream.received.length).toBe(before + 1);
      expect(upstream.received.at(-1)!.body.toString()).toBe('hello');
      expect(upstream.received.at(-1)!.headers['expect']).toBeUndefined();
    });

    it('answers 401 without 100 Continue when the caller is not authenticated', async () => {
      const res = await rawRequest(
        gateway.port,
        [
          'POST /api/echo HTTP/1.1',
          'Host: 127.0.0.1',
          'Content-Length: 5',
          'Expect: 100-continue',
          'Connection: close',
        ].join('\r\n'),
        'hello',
        { waitForContinue: true },
      );
      expect(res.statusLines.length).toBe(1);
      expect(res.status).toBe(401);
    });
  });
});

/**
 * Failed authentications are limited per client address and per key prefix before any argon2 verify, in
 * Redis: a flood of wrong keys with a known prefix costs a Redis call each, not a hash. This gateway trusts
 * one proxy hop, so each test speaks for its own client address through X-Forwarded-For.
 */
describe('integration-gateway: failed authentications before argon2, and trusted proxy hops', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const tenant = `flood-${suffix}`;
  let auth: AuthFixture;
  let upstream: RecordingUpstream;
  let gateway: TestGateway;
  const secrets: Record<string, string> = {};
  const base32 = (n: number) =>
    Array.from(randomBytes(n), (b) => 'abcdefghijklmnopqrstuvwxyz234567'[b % 32]).join('');
  const address = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

  beforeAll(async () => {
    auth = await startAuth(env, `flood-${suffix}`);
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway({
      REDIS_URL: privateRedisDb(env.redisUrl, 13),
      DATABASE_URL: auth.databaseUrl,
      JWKS_URL: auth.jwksUrl,
      GATEWAY_UPSTREAM_URL: upstream.url,
      GATEWAY_REPLICA_ID: `gw-flood-${suffix}`,
      GATEWAY_RATE_LIMIT_RPM: '100000',
      TRUST_PROXY_HOPS: '1',
      GATEWAY_AUTH_FAILURES_PER_ADDRESS: '20',
      GATEWAY_AUTH_FAILURES_PER_KEY_PREFIX: '5',
      GATEWAY_ROUTE_SCOPES: '/api/orders=orders',
    });
  });
  afterAll(async () => {
    expectNoSecrets(gateway?.logs.text ?? '', secrets);
    await gateway?.close();
    await upstream?.close();
    await auth?.close();
  });

  it('random keys with a known prefix cost one argon2 verify each only up to the prefix budget', async () => {
    const key = await auth.apiKey(tenant, ['orders']);
    secrets['key'] = key.key;
    // The real key is verified (and cached) before the flood: it keeps working during it.
    const ok = await fetch(`${gateway.url}/api/orders/1`, {
      headers: { 'x-api-key': key.key, 'x-forwarded-for': address() },
    });
    expect(ok.status).toBe(200);
    const verifiesBefore = await metricValue(gateway.adminUrl, 'gateway_api_key_verifications_total', {});
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const wrong = `npk_${key.prefix}_${base32(32)}`;
      const res = await fetch(`${gateway.url}/api/orders/1`, {
        headers: { 'x-api-key': wrong, 'x-forwarded-for': address() },
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    const verifies =
      (await metricValue(gateway.adminUrl, 'gateway_api_key_verifications_total', {})) - verifiesBefore;
    expect(verifies).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    const still = await fetch(`${gateway.url}/api/orders/2`, {
      headers: { 'x-api-key': key.key, 'x-forwarded-for': address() },
    });
    expect(still.status).toBe(200);
  });

  it('one client address gets a failure budget across keys and tokens, then 429 before any verify', async () => {
    const from = address();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const headers: Record<string, string> =
        i % 2
          ? { authorization: `Bearer e30.e30.${randomBytes(8).toString('hex')}`, 'x-forwarded-for': from }
          : { 'x-api-key': `npk_${base32(12)}_${base32(32)}`, 'x-forwarded-for': from };
      const res = await fetch(`${gateway.url}/api/tenant/ping`, { headers });
      const body = (await res.json()) as { error?: { code?: string } };
      statuses.push(res.status);
      if (res.status === 429) expect(body.error?.code).toBe('too_many_auth_failures');
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    // Another address is not affected.
    const token = await auth.token(tenant);
    secrets['token'] = token;
    const other = await fetch(`${gateway.url}/api/tenant/ping`, {
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': address() },
    });
    expect(other.status).toBe(200);
  });

  it('keeps only the trusted hops of X-Forwarded-For and names the client they vouch for', async () => {
    const token = await auth.token(tenant);
    await fetch(`${gateway.url}/api/tenant/ping`, { headers: { authorization: `Bearer ${token}` } });
    // JWT roles without GATEWAY_ROLE_SCOPES: no scope, so only the ping; the default is documented.
    const refused = await fetch(`${gateway.url}/api/orders/1`, {
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '6.6.6.6, 203.0.113.7' },
    });
    expect(refused.status).toBe(403);
    const key = await auth.apiKey(tenant, ['orders']);
    secrets['key2'] = key.key;
    const res = await fetch(`${gateway.url}/api/orders/1`, {
      headers: { 'x-api-key': key.key, 'x-forwarded-for': '6.6.6.6, 203.0.113.7' },
    });
    expect(res.status).toBe(200);
    const h = upstream.received.at(-1)!.headers;
    expect(h['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(h['forwarded']).toBe('for=203.0.113.7;proto=http, for=127.0.0.1');
    // The trusted proxy terminated TLS and said so; that is kept.
    await fetch(`${gateway.url}/api/orders/2`, {
      headers: { 'x-api-key': key.key, 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' },
    });
    expect(upstream.received.at(-1)!.headers['x-forwarded-proto']).toBe('https');
    expect(upstream.received.at(-1)!.headers['forwarded']).toBe('for=203.0.113.7;proto=https, for=127.0.0.1');
  });

  it('a revoked session is refused, and once known revoked it no longer charges its tenant’s limit', async () => {
    // A tenant of its own: revoking its user must not touch the token the other tests use.
    const revokedTenant = `revoked-${suffix}`;
    const t = await auth.token(revokedTenant);
    secrets['revokedToken'] = t;
    const ping = () =>
      fetch(`${gateway.url}/api/tenant/ping`, { headers: { authorization: `Bearer ${t}` } }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
      );
    // Verified and cached, with its session known good.
    expect(await ping()).toBe(200);
    expect(await ping()).toBe(200);
    const sub = (JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub;
    const redis = new Redis(privateRedisDb(env.redisUrl, 13));
    try {
      await new RedisSessionRevocation(redis).revokeUser(revokedTenant, sub);
    } finally {
      redis.disconnect();
    }
    // The cached token is refused once the gateway's revocation cache (1 s) has asked Redis again.
    const revokedAt = Date.now();
    await waitUntil('the cached token refused', async () => ((await ping()) === 401 ? true : undefined), {
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    expect(Date.now() - revokedAt).toBeLessThan(2_500);
    // Known revoked now: refused before the limiter. Its tenant (not configured: labelled "other") is
    // charged at most once more, when the 1 s cache runs out in the middle of the burst.
    const hits = () => metricValue(gateway.adminUrl, 'gateway_rate_limit_hits_total', { tenant: 'other' });
    const before = await hits();
    for (let i = 0; i < 10; i++) expect(await ping()).toBe(401);
    expect((await hits()) - before).toBeLessThanOrEqual(1);
    expect(
      await metricValue(gateway.adminUrl, 'auth_jwt_validation_failures_total', {
        reason: 'session_revoked',
      }),
    ).toBeGreaterThanOrEqual(11);
  });
});
