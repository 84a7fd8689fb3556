import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locals, requestIds } from './context.js';

// The middleware on a real Express app and port: what a caller sends, what it gets back, and what the rest
// of the request sees in res.locals.
let server: ReturnType<express.Express['listen']>;
let base = '';

beforeAll(async () => {
  const app = express();
  app.use(requestIds);
  app.get('/ids', (_req, res) => {
    res.json({ requestId: locals(res).requestId, traceId: locals(res).traceId });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function ids(headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/ids`, { headers });
  const body = (await res.json()) as { requestId: string; traceId: string };
  return { header: res.headers.get('x-request-id'), ...body };
}

describe('requestIds (the service kit rule)', () => {
  it("keeps the caller's safe request id and echoes it", async () => {
    const got = await ids({ 'x-request-id': 'smoke-req-1' });
    expect(got).toMatchObject({ header: 'smoke-req-1', requestId: 'smoke-req-1' });
  });

  it.each([
    ['too short', 'abc'],
    ['unsafe characters', 'req id <script>'],
    ['too long', 'a'.repeat(129)],
  ])('replaces a request id that is %s with a new UUID', async (_why, given) => {
    const got = await ids({ 'x-request-id': given });
    expect(got.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(got.header).toBe(got.requestId);
  });

  it("continues the caller's W3C trace", async () => {
    const got = await ids({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(got.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it.each([
    ['no traceparent', {}],
    ['a malformed one', { traceparent: 'not-a-trace' }],
    ['an all-zero trace id', { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }],
  ])('starts a new trace on %s', async (_why, headers: Record<string, string>) => {
    const got = await ids(headers);
    expect(got.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(got.traceId).not.toMatch(/^0+$/);
  });
});
