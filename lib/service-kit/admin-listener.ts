import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { type Env, envReader } from './env.js';

/**
 * The admin listener: a second port that serves `/metrics` and the admin routes of a service, so that
 * nothing operational is reachable on the public API port. Plain `node:http`, no framework: it works the
 * same beside an Express app or a bare `node:http` server.
 *
 * The port comes from `ADMIN_PORT`; each service has a fixed default (docs/contracts.md, "Ports").
 * Not 9090, which is Prometheus's.
 */
export const ADMIN_PORT_DEFAULTS = {
  'auth-service': 9085,
  'integration-gateway': 9083,
  'audit-service': 9087,
} as const;

export type ServiceName = keyof typeof ADMIN_PORT_DEFAULTS;

/** One admin route: exact method and path, a plain request/response handler. */
export interface AdminRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
}

export interface AdminListenerOptions {
  /** Default: ADMIN_PORT_DEFAULTS of the service; 0 picks a free port (tests). */
  readonly port: number;
  /** Default `0.0.0.0` (Prometheus scrapes the pod IP); tests use 127.0.0.1. */
  readonly host?: string;
  /** Served at `GET /metrics` in the Prometheus text format. */
  readonly registry: Registry;
  readonly routes?: readonly AdminRoute[];
  /**
   * Called once per finished response (`finish`; not for a connection that closed before its answer was
   * written), for request metrics. `route` is the path of one of the listener's routes (the query string
   * dropped; also for the 405 of a known path) or `not_found`, so no raw path reaches a label.
   */
  readonly onResponse?: (r: AdminResponse) => void;
}

/** What `onResponse` is told about one request of the admin listener. */
export interface AdminResponse {
  readonly method: string;
  /** A route's path, or `not_found`. */
  readonly route: string;
  readonly status: number;
  /** From the request's arrival to the end of its response. */
  readonly seconds: number;
}

export interface AdminListener {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Reads `ADMIN_PORT` (0–65535), or the service's default. Throws a `ConfigError` naming the variable. */
export function adminPortFromEnv(env: Env, service: ServiceName): number {
  return envReader(env).port('ADMIN_PORT', ADMIN_PORT_DEFAULTS[service]);
}

/**
 * Writes a JSON body with the given status; the error envelope shape of both services. `headers`: more
 * response fields, written in the same call (the object is taken over: the JSON fields are added to it).
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string | number>,
): void {
  const text = JSON.stringify(body);
  const fields = headers ?? {};
  fields['Content-Type'] = 'application/json; charset=utf-8';
  fields['Content-Length'] = Buffer.byteLength(text);
  fields['Cache-Control'] = 'no-store';
  res.writeHead(status, fields);
  res.end(text);
}

/** What a service's readiness check reports: ready or not, and the state of each dependency (no secrets). */
export interface Readiness {
  readonly ready: boolean;
  /** e.g. `{ database: 'ok', signingKeys: 'loaded' }`. */
  readonly checks?: Readonly<Record<string, string>>;
}

/**
 * The health routes every service serves on its admin listener (docs/contracts.md, "Health"):
 * `GET /healthz` (live: the process answers; 200 `{ status: 'ok' }`, never checks a dependency, so a
 * database outage does not restart the pod) and `GET /readyz` (ready: 200 `{ status: 'ready', checks }`,
 * else 503 `{ status: 'not_ready', checks }`; a check that throws counts as not ready). Kubernetes probes
 * point at these two paths on the `admin` port.
 */
export function healthRoutes(ready: () => Readiness | Promise<Readiness>): AdminRoute[] {
  return [
    { method: 'GET', path: '/healthz', handle: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      method: 'GET',
      path: '/readyz',
      handle: async (_req, res) => {
        let report: Readiness;
        try {
          report = await ready();
        } catch {
          report = { ready: false };
        }
        const body = report.checks
          ? { status: report.ready ? 'ready' : 'not_ready', checks: report.checks }
          : { status: report.ready ? 'ready' : 'not_ready' };
        sendJson(res, report.ready ? 200 : 503, body);
      },
    },
  ];
}

/** Starts the admin listener; resolves once it listens. */
export async function startAdminListener(opts: AdminListenerOptions): Promise<AdminListener> {
  const routes = new Map<string, AdminRoute>();
  for (const route of opts.routes ?? []) routes.set(`${route.method} ${route.path}`, route);
  routes.set('GET /metrics', {
    method: 'GET',
    path: '/metrics',
    handle: async (_req, res) => {
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'Content-Type': opts.registry.contentType });
      res.end(body);
    },
  });
  const knownPaths = new Set([...routes.values()].map((r) => r.path));

  const onResponse = opts.onResponse;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (onResponse) {
      const started = performance.now();
      res.once('finish', () =>
        onResponse({
          method: req.method ?? 'GET',
          route: knownPaths.has(path) ? path : 'not_found',
          status: res.statusCode,
          seconds: (performance.now() - started) / 1000,
        }),
      );
    }
    const route = routes.get(`${req.method} ${path}`);
    if (!route) {
      if (knownPaths.has(path)) {
        res.setHeader(
          'Allow',
          [...routes.values()].filter((r) => r.path === path).map((r) => r.method),
        );
        return sendJson(res, 405, { error: { code: 'method_not_allowed', message: 'method not allowed' } });
      }
      return sendJson(res, 404, { error: { code: 'not_found', message: 'no such admin route' } });
    }
    Promise.resolve()
      .then(() => route.handle(req, res))
      .catch((err: unknown) => {
        // The error class only: a message may quote input.
        const name = err instanceof Error ? err.name : 'unknown';
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: name } });
        else res.destroy();
      });
  });
  server.keepAliveTimeout = 65_000;
  const host = opts.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
