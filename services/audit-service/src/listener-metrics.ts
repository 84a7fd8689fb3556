import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditMetrics } from './metrics.js';

/**
 * `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,route}` for the
 * audit-service's admin listener, its only HTTP (docs/contracts.md, "Fleet HTTP and token metrics").
 *
 * The listener is lib/service-kit/admin-listener.ts, which answers its own 404s and 405s and takes no
 * per-request hook, so the requests are read from node:http's diagnostics channels
 * (`http.server.request.start`, `http.server.response.finish`), keeping those of the listener's port. Every
 * request is counted: the admin routes, `/metrics`, the probes and whatever the listener refuses.
 *
 * Labels are bounded as auth-service's and the gateway's are: `route` is the path of one of the listener's
 * routes (the query string dropped), or `not_found` for any other path, so no raw path becomes a series;
 * `method` is a known method or `other`.
 */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface ListenerMetricsOptions {
  readonly metrics: Pick<AuditMetrics, 'httpRequests' | 'httpDuration'>;
  /** The admin listener's port: requests to other servers of the process are not counted. */
  readonly port: number;
  /** The paths of the listener's routes (`/metrics` is always one). */
  readonly paths: Iterable<string>;
}

interface ServerMessage {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly server: Server;
}

/** Starts recording; returns the function that stops it. */
export function recordListenerRequests(opts: ListenerMetricsOptions): () => void {
  const paths = new Set(['/metrics', ...opts.paths]);
  const started = new WeakMap<IncomingMessage, bigint>();
  const ours = (server: Server) => (server.address() as AddressInfo | null)?.port === opts.port;

  const onStart = (message: unknown) => {
    const { request, server } = message as ServerMessage;
    if (ours(server)) started.set(request, process.hrtime.bigint());
  };
  const onFinish = (message: unknown) => {
    const { request, response, server } = message as ServerMessage;
    if (!ours(server)) return;
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const route = paths.has(path) ? path : 'not_found';
    const method = KNOWN_METHODS.has(request.method ?? '') ? (request.method as string) : 'other';
    opts.metrics.httpRequests.inc({ method, route, status: String(response.statusCode) });
    const t0 = started.get(request);
    if (t0 !== undefined)
      opts.metrics.httpDuration.observe({ method, route }, Number(process.hrtime.bigint() - t0) / 1e9);
  };
  subscribe('http.server.request.start', onStart);
  subscribe('http.server.response.finish', onFinish);
  return () => {
    unsubscribe('http.server.request.start', onStart);
    unsubscribe('http.server.response.finish', onFinish);
  };
}
