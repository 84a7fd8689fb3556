import { randomFillSync, randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sendJson } from './admin-listener.js';

/**
 * HTTP pieces every service uses, as plain `node:http` request/response functions: they work on an
 * Express `req`/`res` (which extend IncomingMessage/ServerResponse) and on a bare `node:http` server alike.
 *
 * - request id: the caller's `X-Request-ID` when it is a safe token, a new UUID otherwise; echoed back;
 * - W3C trace context: the caller's `traceparent` continued with a new span id, or a new trace;
 * - the error envelope `{"error":{"code","message"}}` with a stable code and a fixed message;
 * - an error handler that logs the error's class and code, never its message (which may quote input).
 */

export { sendJson };

/** What an `X-Request-ID` may be: a token safe to log and echo. */
export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{8,128}$/;

/** The caller's request id when safe, a new UUID otherwise. */
export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID_RE.test(header) ? header : randomUUID();
}

export interface TraceContext {
  /** 32 lower-case hex digits; logged as `trace_id`. */
  readonly traceId: string;
  /** This service's span: the parent of whatever it calls. */
  readonly spanId: string;
  /** The caller's span, when the caller sent a valid traceparent. */
  readonly parentSpanId?: string;
  /** Two hex digits; `01` = sampled. */
  readonly flags: string;
  /** Whether the trace came from the caller (then `tracestate` may be passed on). */
  readonly continued: boolean;
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a W3C `traceparent` (Trace Context level 1, section 3.2): version `ff` and all-zero ids are
 * invalid; a version above 00 is read as 00 when its first four fields are well formed. Anything invalid
 * starts a new trace, as the specification asks.
 */
export function traceContextOf(header: string | string[] | undefined): TraceContext {
  const m = typeof header === 'string' ? TRACEPARENT_RE.exec(header.trim()) : null;
  if (m) {
    const [, version, traceId, parent, flags, rest] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
      string?,
    ];
    const valid =
      version !== 'ff' &&
      (version !== '00' || rest === undefined) &&
      !/^0+$/.test(traceId) &&
      !/^0+$/.test(parent);
    if (valid) return { traceId, parentSpanId: parent, spanId: newSpanId(), flags, continued: true };
  }
  return { traceId: randomHex(16), spanId: newSpanId(), flags: '00', continued: false };
}

// Random ids on every request: bytes are taken from a pool filled 4 KiB at a time, which costs far less
// than one randomBytes call per id (the same CSPRNG; crypto.randomUUID caches the same way).
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

/** The `traceparent` to send to a callee: same trace, this service's span as parent. */
export function traceparentOf(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}

function newSpanId(): string {
  for (;;) {
    const id = randomHex(8);
    if (id !== '0000000000000000') return id;
  }
}

export interface RequestContext {
  readonly requestId: string;
  readonly trace: TraceContext;
}

/** Reads the request id and trace context of `req` and sets `X-Request-ID` on `res`. */
export function requestContext(req: IncomingMessage, res: ServerResponse): RequestContext {
  const requestId = requestIdOf(req.headers['x-request-id']);
  res.setHeader('X-Request-ID', requestId);
  return { requestId, trace: traceContextOf(req.headers['traceparent']) };
}

/** An error with a stable code and a fixed, human message that never quotes input. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(message);
  }
}

/** Answers `{"error":{"code","message"}}` with `status` (and extra headers, e.g. Retry-After). */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value);
  sendJson(res, status, { error: { code, message } });
}

/**
 * A whole HTTP/1.1 error answer as bytes, for a socket that has no ServerResponse: node:http's
 * `clientError` (the request could not be parsed) and `connect` (CONNECT) events. The connection closes.
 */
export function rawErrorResponse(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * node:http `clientError` handler: a request node's parser refused (malformed, smuggling attempts such as
 * Content-Length with chunked, an invalid target, oversized headers, a slow client) gets the error
 * envelope with a stable code instead of a bare status line.
 */
export function answerClientError(
  err: Error & { code?: string },
  socket: import('node:stream').Duplex,
): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const answer =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? rawErrorResponse(
          431,
          'Request Header Fields Too Large',
          'headers_too_large',
          'request header fields too large',
        )
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? rawErrorResponse(408, 'Request Timeout', 'request_timeout', 'the request took too long to arrive')
        : err.code === 'HPE_INVALID_URL'
          ? rawErrorResponse(
              400,
              'Bad Request',
              'invalid_request_target',
              'only origin-form request targets (/path?query) are accepted',
            )
          : rawErrorResponse(400, 'Bad Request', 'malformed_request', 'the request is not valid HTTP/1.1');
  socket.end(answer);
}

/** The minimal logger the handler needs (pino's shape). */
export interface ErrorLogger {
  error(obj: Record<string, unknown>, msg: string): void;
}

/**
 * Turns any error into an answer: an HttpError answers its own status and code; anything else is logged
 * by class and code only (a message may quote input: SQL, a header, a body) and answers 500
 * `internal_error`. A response already under way is cut, since its status is gone.
 */
export function handleError(
  err: unknown,
  res: ServerResponse,
  log: ErrorLogger,
  context: Record<string, unknown> = {},
): void {
  if (err instanceof HttpError) {
    if (!res.headersSent) sendError(res, err.status, err.code, err.message, err.headers);
    else res.destroy();
    return;
  }
  log.error(
    {
      event: 'unhandled_error',
      ...context,
      error: err instanceof Error ? err.name : typeof err,
      error_code:
        typeof (err as { code?: unknown } | null)?.code === 'string'
          ? (err as { code: string }).code
          : undefined,
    },
    'request failed',
  );
  if (!res.headersSent) sendError(res, 500, 'internal_error', 'internal error');
  else res.destroy();
}

/** The same, as an Express error middleware (four arguments; Express recognises it by its arity). */
export function expressErrorHandler(log: ErrorLogger) {
  return (err: unknown, _req: IncomingMessage, res: ServerResponse, _next: (e?: unknown) => void): void =>
    handleError(err, res, log);
}
