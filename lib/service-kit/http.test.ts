import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import {
  answerClientError,
  expressErrorHandler,
  HttpError,
  handleError,
  requestContext,
  requestIdOf,
  traceContextOf,
  traceparentOf,
} from './http.js';

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('request ids', () => {
  it.each([
    ['a safe caller id is kept', 'req-12345678', true],
    ['too short is replaced', 'abc', false],
    ['a newline is replaced', 'req-1234\nX-Injected: 1', false],
    ['spaces are replaced', 'req 12345678', false],
    ['absent gets a UUID', undefined, false],
  ])('%s', (_name, given, kept) => {
    const id = requestIdOf(given);
    if (kept) expect(id).toBe(given);
    else expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('W3C trace context', () => {
  it('continues a valid traceparent with a new span id', () => {
    const t = traceContextOf(VALID);
    expect(t).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: 'b7ad6b7169203331',
      flags: '01',
      continued: true,
    });
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe('b7ad6b7169203331');
    expect(traceparentOf(t)).toBe(`00-0af7651916cd43dd8448eb211c80319c-${t.spanId}-01`);
  });

  it.each([
    ['version ff', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    ['all-zero trace id', '00-00000000000000000000000000000000-b7ad6b7169203331-01'],
    ['all-zero parent', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'],
    ['upper case', '00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01'],
    ['version 00 with extra fields', `${VALID}-extra`],
    ['garbage', 'hello'],
  ])('starts a new trace for %s', (_name, header) => {
    const t = traceContextOf(header);
    expect(t.continued).toBe(false);
    expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(t.traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
  });

  it('new traces and spans are unique well past one refill of the random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = traceContextOf(undefined);
      expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
      seen.add(t.traceId).add(t.spanId);
    }
    expect(seen.size).toBe(4000);
  });

  it('reads a future version by its first four fields', () => {
    expect(traceContextOf(`01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future`).continued).toBe(
      true,
    );
  });
});

describe('the error envelope and handler, on a bare node:http server and on Express', () => {
  let server: Server | undefined;
  const logged: Record<string, unknown>[] = [];
  const log = { error: (obj: Record<string, unknown>) => logged.push(obj) };
  afterEach(async () => {
    await new Promise((r) => server?.close(r));
    server = undefined;
    logged.length = 0;
  });
  const listen = async (s: Server) => {
    server = s;
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };

  it('node:http: an HttpError answers its code; anything else 500 with the class logged, not the message', async () => {
    const url = await listen(
      createServer((req, res) => {
        const ctx = requestContext(req, res);
        if (req.url === '/known')
          return handleError(new HttpError(409, 'conflict', 'it conflicts'), res, log);
        handleError(new TypeError("bad input 'secret-value-123'"), res, log, { request_id: ctx.requestId });
      }),
    );
    const known = await fetch(`${url}/known`);
    expect(known.status).toBe(409);
    expect(await known.json()).toEqual({ error: { code: 'conflict', message: 'it conflicts' } });
    const other = await fetch(`${url}/other`, { headers: { 'x-request-id': 'req-abcdefgh' } });
    expect(other.status).toBe(500);
    expect(other.headers.get('x-request-id')).toBe('req-abcdefgh');
    expect(await other.json()).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
    expect(logged).toEqual([
      { event: 'unhandled_error', request_id: 'req-abcdefgh', error: 'TypeError', error_code: undefined },
    ]);
    expect(JSON.stringify(logged)).not.toContain('secret-value-123');
  });

  it('Express: the same envelope through expressErrorHandler', async () => {
    const app = express();
    app.get('/boom', () => {
      throw new RangeError('quoting secret-value-456');
    });
    app.get('/gone', () => {
      throw new HttpError(410, 'gone', 'no longer here', { 'Retry-After': '5' });
    });
    app.use(expressErrorHandler(log));
    const url = await listen(createServer(app));
    const boom = await fetch(`${url}/boom`);
    expect(boom.status).toBe(500);
    expect(await boom.json()).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
    const gone = await fetch(`${url}/gone`);
    expect(gone.status).toBe(410);
    expect(gone.headers.get('retry-after')).toBe('5');
    expect(JSON.stringify(logged)).not.toContain('secret-value-456');
    expect(logged[0]?.['error']).toBe('RangeError');
  });

  it('answers a request node cannot parse with the envelope (clientError)', async () => {
    const s = createServer((_req, res) => res.end('ok'));
    s.on('clientError', answerClientError);
    const url = await listen(s);
    const port = Number(new URL(url).port);
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (c) => {
        text += c.toString();
      });
      socket.on('end', () => resolve(text));
      socket.write(
        'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      );
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toContain(
      '{"error":{"code":"malformed_request","message":"the request is not valid HTTP/1.1"}}',
    );
  });
});
