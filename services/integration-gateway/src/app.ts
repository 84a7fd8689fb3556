import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../../../lib/log.js';
import { type Authenticator, AuthFailure, type Principal } from './domain/authenticate.js';
import type { TenantLimits } from './domain/limits.js';
import type { RateLimiter } from './domain/rate-limiter.js';
import type { UsageTracker } from './domain/usage.js';
import type { GatewayMetrics } from './metrics.js';
import type { UpstreamProxy } from './routes/proxy.js';

export interface AppDeps {
  readonly authenticator: Authenticator;
  readonly limits: { get(tenant: string): TenantLimits };
  readonly limiter: RateLimiter;
  readonly metrics: GatewayMetrics;
  readonly usage?: UsageTracker;
  readonly proxy?: UpstreamProxy;
  readonly logger: Logger;
  /** /readyz: tenant limits loaded once (or Redis known to be down, so failure modes apply). */
  readonly ready: () => boolean;
  readonly trustProxyHops: number;
  /** The JWKS verifier, for `GET /keys/status` and `POST /keys/reload` (contracts); absent without JWT auth. */
  readonly keys?: {
    keyStatus(): { keysetHash: string | null; kids: string[]; activeKid: null; loadedAt: string | null };
    refresh(): Promise<unknown>;
  };
}

const PING_PATH = '/api/tenant/ping';

function fail(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

/**
 * The HTTP layer: every `/api/` request is authenticated (JWT or API key), charged to its tenant's limits
 * and then answered (`/api/tenant/ping`, locally) or proxied upstream. `/metrics`, `/healthz`, `/readyz`
 * are open and not limited. Reads no env; every dependency is passed in.
 */
export function createApp(deps: AppDeps): express.Express {
  const { metrics, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', deps.trustProxyHops);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.ready();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'starting' });
  });
  app.get('/keys/status', (_req, res) => {
    res.json(deps.keys?.keyStatus() ?? { keysetHash: null, kids: [], activeKid: null, loadedAt: null });
  });
  // No body, no data: it only makes the gateway refetch the JWKS now.
  app.post('/keys/reload', (_req, res) => {
    deps.keys?.refresh().catch(() => {
      // A failed refetch is logged by the verifier; the cached set keeps serving within its age.
    });
    res.status(202).json({ status: 'reloading' });
  });
  app.get('/metrics', async (_req, res, next) => {
    try {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  app.use(async (req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith('/api/')) return next();
    const started = process.hrtime.bigint();
    const routeKind = req.path === PING_PATH ? 'ping' : deps.proxy ? 'proxy' : 'other';
    const requestId = validRequestId(req.header('x-request-id')) ?? randomUUID();
    res.setHeader('X-Request-ID', requestId);
    res.on('finish', () => {
      metrics.requestDuration.observe(
        { route: routeKind, status: String(res.statusCode) },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });

    let principal: Principal;
    try {
      principal = await deps.authenticator.authenticate({
        authorization: req.header('authorization'),
        apiKey: req.header('x-api-key'),
        tenantHeader: req.header('x-tenant-id'),
      });
    } catch (err) {
      if (!(err instanceof AuthFailure)) return next(err);
      if (err.isSignatureFailure) metrics.signatureFailures.inc();
      metrics.authFailures.inc({ method: err.method, reason: err.reason });
      logger.info(
        { event: 'auth_failed', request_id: requestId, method: err.method, reason: err.reason },
        'request refused',
      );
      if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
      const code =
        err.status === 403 ? 'tenant_mismatch' : err.status === 503 ? 'auth_unavailable' : 'unauthorized';
      return fail(
        res,
        err.status,
        code,
        err.status === 403 ? 'X-Tenant-ID does not match the credential' : 'authentication required',
      );
    }
    if (principal.keyPrefix) metrics.apiKeyRequests.inc({ key_prefix: principal.keyPrefix });

    const limits = deps.limits.get(principal.tenant);
    const decision = await deps.limiter.decide(limits, req.path, principal.keyPrefix);
    const refused = !decision.allow;
    metrics.recordDecision(principal.tenant, decision.outcome, decision.mode, refused);
    if (principal.keyId && principal.keyPrefix)
      deps.usage?.record(
        { id: principal.keyId, tenant: principal.tenant, prefix: principal.keyPrefix },
        refused,
      );
    if (refused) {
      res.set(decision.headers);
      logger.debug(
        {
          event: 'rate_limited',
          request_id: requestId,
          tenant_id: principal.tenant,
          mode: decision.mode,
          status: decision.status,
        },
        'request refused by the rate limiter',
      );
      if (decision.status === 503) {
        return fail(
          res,
          503,
          'rate_limiter_unavailable',
          'the rate limiter is unavailable and this tenant fails closed; retry shortly',
        );
      }
      return fail(
        res,
        429,
        'rate_limited',
        `rate limit exceeded; retry after ${decision.headers['Retry-After'] ?? '1'} s`,
      );
    }

    if (req.path === PING_PATH) {
      res.set(decision.headers);
      res.json({
        status: 'ok',
        tenant: principal.tenant,
        auth: principal.method,
        limiter: decision.mode,
        at: new Date().toISOString(),
      });
      return;
    }
    if (!deps.proxy) return fail(res, 404, 'not_found', 'no such route');
    await deps.proxy.forward(req, res, principal, decision.headers);
  });

  app.use((_req: Request, res: Response) => fail(res, 404, 'not_found', 'no such route'));
  // Express needs the four-argument signature to recognise an error handler.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    logger.error(
      {
        event: 'unhandled_error',
        error: err instanceof Error ? err.name : 'unknown',
        message: err instanceof Error ? err.message : undefined,
      },
      'request failed',
    );
    if (!res.headersSent) fail(res, 500, 'internal_error', 'internal error');
  });
  return app;
}

function validRequestId(value: string | undefined): string | undefined {
  return value && /^[A-Za-z0-9._-]{8,128}$/.test(value) ? value : undefined;
}
