import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../../../lib/log.js';
import type { AuthConfig } from './config.js';
import type { AuthService } from './domain/auth-service.js';
import { AppError } from './domain/errors.js';
import type { KeyRing } from './domain/keyring.js';
import type { AuthMetrics } from './metrics.js';
import { authRoutes } from './routes/auth.js';
import { locals, requestIds } from './routes/context.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';
import type { Db } from './storage/db.js';

export interface AppDeps {
  readonly config: AuthConfig;
  readonly service: AuthService;
  readonly keyring: KeyRing;
  readonly metrics: AuthMetrics;
  readonly db: Db;
  readonly logger: Logger;
}

/** Route pattern for metric labels: the matched route, never the raw URL (bounded cardinality). */
function routeLabel(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? `${req.baseUrl}${route.path}` : 'unmatched';
}

/**
 * The HTTP layer: baseline middleware (seed 003: request ids, security headers, CORS allowlist, body
 * limit, error envelopes, rate limits) around the routes. Receives every dependency; reads no env.
 */
export function createApp(deps: AppDeps): express.Express {
  const { config, metrics, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxyHops);

  app.use(requestIds);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = routeLabel(req);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.httpDuration.observe({ method: req.method, route }, seconds);
      if (route !== '/metrics' && !route.startsWith('/health')) {
        logger.info(
          {
            event: 'http_request',
            request_id: locals(res).requestId,
            trace_id: locals(res).traceId,
            tenant_id: locals(res).tenantId ?? null,
            method: req.method,
            route,
            status: res.statusCode,
            duration_ms: Math.round(seconds * 1000),
          },
          'request',
        );
      }
    });
    next();
  });

  app.use(
    helmet({
      strictTransportSecurity: false, // set below, on HTTPS only
      contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  app.use((req, res, next) => {
    if (req.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  const allowed = new Set(config.corsAllowedOrigins);
  app.use(
    cors({
      origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      allowedHeaders: ['Content-Type', 'Authorization', 'X-Tenant-ID', 'X-Request-ID'],
      exposedHeaders: ['X-Request-ID', 'Retry-After'],
      maxAge: 600,
    }),
  );

  // Health and keys first: no rate limit, no body, no tenant. (/metrics: the admin listener.)
  app.use(healthRoutes({ db: deps.db, keyring: deps.keyring }));
  app.use(keyRoutes(deps.keyring));

  const perIp = new RateLimiterMemory({
    keyPrefix: 'ip',
    points: config.rateLimits.generalPerIpPerMinute,
    duration: 60,
  });
  app.use(async (req, _res, next) => {
    try {
      await perIp.consume(req.ip ?? 'unknown');
      next();
    } catch (res) {
      if (res instanceof RateLimiterRes)
        next(new AppError('rate_limited', undefined, Math.ceil(res.msBeforeNext / 1000)));
      else next(res);
    }
  });

  app.use((req, _res, next) => {
    const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
    if (hasBody && !req.is('application/json')) return next(new AppError('unsupported_media_type'));
    next();
  });
  app.use(express.json({ limit: config.maxRequestBodyBytes, strict: true, type: 'application/json' }));

  const routes = authRoutes(deps.service);
  app.use(routes);
  app.use('/api/auth', routes); // seed 004 paths

  app.use((_req, _res, next) => next(new AppError('not_found')));

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    let appErr: AppError;
    if (err instanceof AppError) appErr = err;
    else if (isBodyError(err, 'entity.too.large')) appErr = new AppError('payload_too_large');
    else if (isBodyError(err, 'entity.parse.failed')) appErr = new AppError('malformed_json');
    else if (isBodyError(err, 'encoding.unsupported') || isBodyError(err, 'charset.unsupported'))
      appErr = new AppError('unsupported_media_type');
    else {
      appErr = new AppError('internal_error');
      // Error class and code only: messages (e.g. PostgreSQL's) can quote input values.
      logger.error(
        {
          event: 'unhandled_error',
          request_id: locals(res).requestId,
          error: err instanceof Error ? err.name : 'unknown',
          error_code:
            typeof (err as { code?: unknown })?.code === 'string'
              ? (err as { code: string }).code
              : undefined,
        },
        'request failed',
      );
    }
    if (appErr.retryAfterSeconds !== undefined)
      res.setHeader('Retry-After', String(appErr.retryAfterSeconds));
    res.status(appErr.status).json({
      error: {
        code: appErr.code,
        message: appErr.message,
        requestId: locals(res).requestId,
        ...(appErr.details ? { details: appErr.details } : {}),
      },
    });
  });
  return app;
}

function isBodyError(err: unknown, type: string): boolean {
  return typeof err === 'object' && err !== null && (err as { type?: unknown }).type === type;
}
