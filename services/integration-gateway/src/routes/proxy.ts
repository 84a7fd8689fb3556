import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent, errors } from 'undici';
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
  forward(req: IncomingMessage, res: ServerResponse, f: ForwardRequest): Promise<void>;
  close(): Promise<void>;
}

export type UpstreamErrorReason = 'timeout' | 'connect' | 'aborted' | 'other';

/**
 * Forwards an allowed request to the configured upstream origin with undici (pooled keep-alive
 * connections, bodies streamed both ways). The URL is the origin from configuration plus the normalised
 * path: nothing the caller sent chooses the host. A caller that goes away cancels the upstream request. A
 * failed upstream answers 502 `upstream_unavailable` or 504 `upstream_timeout`, with no detail.
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
    async forward(req, res, f) {
      const method = req.method ?? 'GET';
      const hasBody =
        method !== 'GET' &&
        method !== 'HEAD' &&
        (req.headers['transfer-encoding'] !== undefined ||
          (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0'));
      // undici accepts an EventEmitter emitting 'abort' as its signal: cheaper than an AbortController
      // (no DOMException, no EventTarget) on a path every proxied request takes.
      const abort = new EventEmitter();
      let aborted = false;
      const onClose = () => {
        if (res.writableFinished) return;
        aborted = true;
        abort.emit('abort');
      };
      res.once('close', onClose);
      try {
        // origin + path straight to the dispatcher: no URL is parsed per request, and the host is always
        // the configured origin.
        const upstream = await agent.request({
          origin: base,
          path: f.pathAndQuery,
          method: method as 'GET',
          headers: f.headers,
          body: hasBody ? req : undefined,
          signal: abort,
        });
        const headers = downstreamHeaders(upstream.headers);
        for (const [name, value] of Object.entries(f.extraHeaders)) headers[name] = value;
        res.writeHead(upstream.statusCode, headers);
        await pipeline(upstream.body, res);
      } catch (err) {
        if (aborted) {
          onError('aborted', err);
          res.destroy();
          return;
        }
        const reason: UpstreamErrorReason =
          err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError
            ? 'timeout'
            : (err as { code?: string }).code === 'ECONNREFUSED' || err instanceof errors.ConnectTimeoutError
              ? 'connect'
              : 'other';
        onError(reason, err);
        if (res.headersSent) res.destroy();
        else if (reason === 'timeout')
          sendError(res, 504, 'upstream_timeout', 'the upstream did not answer in time');
        else sendError(res, 502, 'upstream_unavailable', 'the upstream did not answer');
      } finally {
        res.off('close', onClose);
      }
    },
    close: () => agent.close(),
  };
}
