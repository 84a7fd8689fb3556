import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, type Dispatcher, errors } from 'undici';
import { sendError } from '../../../../lib/service-kit/http.js';
import { downstreamHeaders } from '../http/forwarding.js';

export interface ForwardRequest {
  /** The normalised path and the query as sent: appended to the configured origin, nothing else. */
  readonly pathAndQuery: string;
  /** The fields to send (http/forwarding.ts `upstreamHeaders`). */
  readonly headers: Record<string, string | string[]>;
  /** Response fields the gateway adds (RateLimit, ...). */
  readonly extraHeaders: Record<string, string>;
}

export interface UpstreamProxy {
  /** Resolves once the answer is sent, or the exchange failed (and was answered or cut). Never rejects. */
  forward(req: IncomingMessage, res: ServerResponse, f: ForwardRequest): Promise<void>;
  close(): Promise<void>;
}

export type UpstreamErrorReason = 'timeout' | 'connect' | 'aborted' | 'other';

/**
 * Forwards an allowed request to the configured upstream origin with undici (pooled keep-alive
 * connections, bodies streamed both ways). The URL is the origin from configuration plus the normalised
 * path: nothing the caller sent chooses the host. A caller that goes away cancels the upstream request. A
 * failed upstream answers 502 `upstream_unavailable` or 504 `upstream_timeout`, with no detail.
 *
 * The exchange runs on undici's dispatch handler API (docs/adr/0005): the upstream's answer is written to
 * the caller's response as it arrives, with back-pressure (the upstream connection pauses while the caller's
 * socket is full), without a body stream, `stream.pipeline` or an AbortController per request (measured:
 * those were a fifth of the proxied route's CPU; bench/README.md).
 */
export function createProxy(
  origin: string,
  timeoutMs: number,
  onError: (reason: UpstreamErrorReason, err: unknown) => void,
): UpstreamProxy {
  const base = new URL(origin).origin;
  const agent = new Agent({
    connections: 128,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 10_000,
  });
  return {
    forward(req, res, f) {
      return new Promise<void>((resolve) => {
        const method = req.method ?? 'GET';
        const hasBody =
          method !== 'GET' &&
          method !== 'HEAD' &&
          (req.headers['transfer-encoding'] !== undefined ||
            (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0'));
        new Exchange(res, f.extraHeaders, onError, resolve).start(agent, {
          // origin + path straight to the dispatcher: no URL is parsed per request, and the host is always
          // the configured origin.
          origin: base,
          path: f.pathAndQuery,
          method: method as Dispatcher.HttpMethod,
          headers: f.headers,
          body: hasBody ? req : undefined,
        });
      });
    },
    close: () => agent.close(),
  };
}

/** One proxied request: undici's dispatch handler, writing to the caller's response. */
class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  /** The caller went away before the answer was complete. */
  private aborted = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly extraHeaders: Record<string, string>,
    private readonly report: (reason: UpstreamErrorReason, err: unknown) => void,
    private readonly resolve: () => void,
  ) {}

  start(agent: Agent, opts: Dispatcher.DispatchOptions): void {
    this.res.once('close', this.onClose);
    agent.dispatch(opts, this);
  }

  private readonly onClose = () => {
    if (this.done || this.res.writableFinished) return;
    this.aborted = true;
    this.controller?.abort(new errors.RequestAbortedError());
  };

  private readonly onDrain = () => this.controller?.resume();

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.aborted) controller.abort(new errors.RequestAbortedError());
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx informational answers (a 100 Continue to the body the gateway sends) are not the answer.
    if (statusCode < 200 || this.aborted) return;
    const out = downstreamHeaders(headers);
    Object.assign(out, this.extraHeaders);
    this.res.writeHead(statusCode, out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.aborted) return;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', this.onDrain);
    }
  }

  onResponseEnd(): void {
    this.finish();
    if (!this.aborted) this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.finish();
    const res = this.res;
    if (this.aborted) {
      this.report('aborted', err);
      res.destroy();
      return;
    }
    const reason: UpstreamErrorReason =
      err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError
        ? 'timeout'
        : (err as { code?: string }).code === 'ECONNREFUSED' || err instanceof errors.ConnectTimeoutError
          ? 'connect'
          : 'other';
    this.report(reason, err);
    if (res.headersSent) res.destroy();
    else if (reason === 'timeout')
      sendError(res, 504, 'upstream_timeout', 'the upstream did not answer in time');
    else sendError(res, 502, 'upstream_unavailable', 'the upstream did not answer');
  }

  private finish(): void {
    this.done = true;
    this.res.off('close', this.onClose);
    this.res.off('drain', this.onDrain);
    this.resolve();
  }
}
