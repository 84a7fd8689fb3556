import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { privateRedisDb } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import {
  type AuthFixture,
  expectNoSecrets,
  type RecordingUpstream,
  startAuth,
  startRecordingUpstream,
  startTestGateway,
  type TestGateway,
} from './support.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Proxying end to end, against the real auth-service (tokens), Redis and a real upstream on loopback:
 * bodies streamed both ways (large ones too), slow and dead upstreams (504/502 without detail), upstream
 * keep-alive, and a caller that goes away mid-stream cancelling the upstream request.
 */
describe('integration-gateway: proxying', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const tenant = `proxy-${suffix}`;
  let auth: AuthFixture;
  let upstream: RecordingUpstream;
  let gateway: TestGateway;
  let dead: TestGateway;
  let token: string;

  beforeAll(async () => {
    auth = await startAuth(env, `proxy-${suffix}`);
    upstream = await startRecordingUpstream();
    const common = {
      REDIS_URL: privateRedisDb(env.redisUrl, 14),
      JWKS_URL: auth.jwksUrl,
      GATEWAY_RATE_LIMIT_RPM: '100000',
      GATEWAY_ROLE_SCOPES: 'user=*',
      GATEWAY_UPSTREAM_TIMEOUT_MS: '500',
    };
    gateway = await startTestGateway({
      ...common,
      GATEWAY_UPSTREAM_URL: upstream.url,
      GATEWAY_REPLICA_ID: `gw-proxy-${suffix}`,
    });
    // A port nothing listens on: taken, then released.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closedPort = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    dead = await startTestGateway({
      ...common,
      GATEWAY_UPSTREAM_URL: `http://127.0.0.1:${closedPort}`,
      GATEWAY_REPLICA_ID: `gw-proxy-dead-${suffix}`,
    });
    token = await auth.token(tenant);
  });
  afterAll(async () => {
    expectNoSecrets(`${gateway?.logs.text}\n${dead?.logs.text}`, { token });
    await gateway?.close();
    await dead?.close();
    await upstream?.close();
    await auth?.close();
  });

  const headers = () => ({ authorization: `Bearer ${token}` });

  it('streams a large body both ways, byte for byte', async () => {
    upstream.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    };
    const body = randomBytes(8 * 1024 * 1024);
    const res = await fetch(`${gateway.url}/api/echo`, {
      method: 'POST',
      headers: { ...headers(), 'content-type': 'application/octet-stream' },
      body,
    });
    expect(res.status).toBe(200);
    const back = Buffer.from(await res.arrayBuffer());
    expect(back.length).toBe(body.length);
    expect(sha(back)).toBe(sha(body));
    upstream.handler = undefined;
  });

  it('passes a request body on while it arrives, not after (chunked, streaming)', async () => {
    let firstChunkAt = 0;
    let upstreamEnded = false;
    upstream.handler = (req, res) => {
      req.once('data', () => {
        firstChunkAt = Date.now();
      });
      req.on('end', () => {
        upstreamEnded = true;
        res.writeHead(200, { 'content-type': 'text/plain' }).end('done');
      });
      req.resume();
    };
    const answer = new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gateway.url}/api/stream`, {
        method: 'POST',
        headers: { ...headers(), 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('first chunk;');
      // The rest is sent only once the upstream has seen the first chunk: a buffering proxy would hang.
      waitUntil('the upstream to see the first chunk', () => firstChunkAt > 0, { timeoutMs: 5000 })
        .then(() => {
          expect(upstreamEnded).toBe(false);
          req.end('last chunk');
        })
        .catch(reject);
    });
    expect(await answer).toBe(200);
    upstream.handler = undefined;
  });

  it('streams a response as the upstream writes it', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part one;');
      void released.then(() => res.end('part two'));
    };
    const res = await fetch(`${gateway.url}/api/stream`, { headers: headers() });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).toString()).toBe('part one;');
    release();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += Buffer.from(value).toString();
    }
    expect(rest).toBe('part two');
    upstream.handler = undefined;
  });

  it('reuses its upstream connections (keep-alive)', async () => {
    const before = upstream.connections();
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${gateway.url}/api/orders/${i}`, { headers: headers() });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
    }
    expect(upstream.connections() - before).toBeLessThanOrEqual(1);
  });

  it('answers 504 upstream_timeout for a slow upstream and 502 upstream_unavailable for a dead one, without detail', async () => {
    upstream.handler = () => {
      // never answers
    };
    const slow = await fetch(`${gateway.url}/api/slow`, { headers: headers() });
    expect(slow.status).toBe(504);
    const slowBody = await slow.text();
    expect(JSON.parse(slowBody)).toEqual({
      error: { code: 'upstream_timeout', message: 'the upstream did not answer in time' },
    });
    upstream.handler = undefined;

    const down = await fetch(`${dead.url}/api/orders/1`, { headers: headers() });
    expect(down.status).toBe(502);
    const downBody = await down.text();
    expect(JSON.parse(downBody)).toEqual({
      error: { code: 'upstream_unavailable', message: 'the upstream did not answer' },
    });
    for (const text of [slowBody, downBody])
      expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|timeout:|at /);
  });

  it('cancels the upstream request when the caller goes away mid-stream', async () => {
    let upstreamClosed = false;
    let upstreamFinished = false;
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      const timer = setInterval(() => res.write('more;'), 50);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed = true;
        upstreamFinished = res.writableFinished;
      });
    };
    const abort = new AbortController();
    const res = await fetch(`${gateway.url}/api/forever`, { headers: headers(), signal: abort.signal });
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    await waitUntil('the upstream response to be closed', () => upstreamClosed, { timeoutMs: 5000 });
    expect(upstreamFinished).toBe(false);
    upstream.handler = undefined;
  });
});
