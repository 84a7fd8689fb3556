import type { AdminResponse } from '../../../lib/service-kit/admin-listener.js';
import type { AuditMetrics } from './metrics.js';

/**
 * `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,route}` for the
 * audit-service's admin listener, its only HTTP (docs/contracts.md, "Fleet HTTP and token metrics"): the
 * listener's `onResponse` hook (lib/service-kit/admin-listener.ts) for every request it answers — the admin
 * routes, `/metrics`, the probes and whatever it refuses.
 *
 * Labels are bounded as auth-service's and the gateway's are: `route` is the path of one of the listener's
 * routes, or `not_found` for any other path (the listener's doing), so no raw path becomes a series;
 * `method` is a known method or `other`.
 */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The admin listener's `onResponse` that records into `metrics`. */
export function listenerRequestRecorder(
  metrics: Pick<AuditMetrics, 'httpRequests' | 'httpDuration'>,
): (r: AdminResponse) => void {
  return ({ method, route, status, seconds }) => {
    const m = KNOWN_METHODS.has(method) ? method : 'other';
    metrics.httpRequests.inc({ method: m, route, status: String(status) });
    metrics.httpDuration.observe({ method: m, route }, seconds);
  };
}
