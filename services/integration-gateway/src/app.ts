import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../lib/log.js';
import { sendJson } from '../../../lib/service-kit/admin-listener.js';
import {
  handleError,
  type RequestContext,
  requestContext,
  sendError,
  traceparentOf,
} from '../../../lib/service-kit/http.js';
import { apiKeyPrefix } from './domain/api-keys.js';
import type { AuthThrottle } from './domain/auth-throttle.js';
import {
  type Authentication,
  type Authenticator,
  AuthFailure,
  type CredentialHeaders,
  type Principal,
} from './domain/authenticate.js';
import type { TenantLimits } from './domain/limits.js';
import { WEBHOOK_SEGMENT } from './domain/partner-webhooks.js';
import type { RateLimiter } from './domain/rate-limiter.js';
import { holdsScope, type RouteScope, requiredScope, scopesOfRoles } from './domain/scopes.js';
import type { UsageTracker } from './domain/usage.js';
import { type ClientChain, clientChain, clientProto, upstreamHeaders } from './http/forwarding.js';
import { type OriginTarget, parseTarget } from './http/target.js';
import type { GatewayMetrics } from './metrics.js';
import { gatewayOpenApiDocument } from './openapi.js';
import type { UpstreamProxy } from './routes/proxy.js';
import { handlePartnerWebhook, type PartnerWebhookDeps } from './routes/webhooks.js';

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
  /** The JWKS verifier, for `GET /keys/status` (contracts); absent without JWT auth. */
  readonly keys?: {
    keyStatus(): { keysetHash: string | null; kids: string[]; activeKid: null; loadedAt: string | null };
  };
  readonly scopes: {
    readonly routes: readonly RouteScope[];
    readonly roles: ReadonlyMap<string, readonly string[]>;
  };
  /** Failed-authentication budgets, checked before any verification of an unknown credential. */
  readonly throttle?: AuthThrottle;
  /** Seconds a throttled caller is told to wait (the failure window). */
  readonly throttleRetryAfterSeconds?: number;
  /** Whether a credential is already known (cached good or bad): it is answered without a verify. */
  readonly isKnownCredential?: (h: CredentialHeaders) => boolean;
  /** Partner webhooks (`POST /webhooks/<partner>/<tenant>`); absent: every webhook path is a 404. */
  readonly webhooks?: PartnerWebhookDeps;
}

export interface GatewayHandler {
  /** A request (node:http `request` event). */
  (req: IncomingMessage, res: ServerResponse): void;
  /** A request with `Expect: 100-continue` (node:http `checkContinue`): 100 is sent once it is allowed. */
  readonly withContinue: (req: IncomingMessage, res: ServerResponse) => void;
}

const PING_PATH = '/api/tenant/ping';
const NO_SCOPES: readonly string[] = [];
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** The methods of the document's /api/ operations (HEAD is GET without the body); any other is 405 there. */
const API_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const API_ALLOW = [...API_METHODS].join(', ');
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;
type RouteLabel =
  | 'ping'
  | 'proxy'
  | 'other'
  | 'health'
  | 'keys_status'
  | 'openapi'
  | 'webhook'
  | 'not_found'
  | 'invalid';

/**
 * The HTTP layer on plain node:http (docs/adr/0005): every request target is parsed once (origin-form only,
 * one normalised path, http/target.ts); `/api/` requests are authenticated (JWT or API key, after the
 * failed-authentication budget), checked against the route's scope, charged to their tenant's limits and
 * answered (`/api/tenant/ping`, locally) or proxied to the configured origin. `/healthz`, `/readyz` and
 * `/keys/status` answer on this port; `/metrics` and `POST /keys/reload` are on the admin listener.
 */
export function createHandler(deps: AppDeps): GatewayHandler {
  const { metrics, logger } = deps;
  let openApi: Record<string, unknown> | undefined;

  async function handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> {
    const started = performance.now();
    const ctx = requestContext(req, res);
    const method = req.method ?? 'GET';
    let route: RouteLabel = 'invalid';
    res.once('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      const m = KNOWN_METHODS.has(method) ? method : 'other';
      metrics.requests.observe(m, route, res.statusCode, seconds);
      if (logger.isLevelEnabled('debug'))
        logger.debug(
          {
            event: 'request',
            request_id: ctx.requestId,
            trace_id: ctx.trace.traceId,
            method: m,
            route,
            status: res.statusCode,
            duration_ms: Math.round(seconds * 1e4) / 10,
          },
          'request',
        );
    });

    if (!oneHost(req)) {
      res.setHeader('Connection', 'close');
      return sendError(res, 400, 'malformed_request', 'an HTTP/1.1 request has exactly one Host field');
    }
    // RFC 9112 6.3: with Transfer-Encoding, chunked must be the last coding, else the body's end is unknown
    // (node's parser lets `Transfer-Encoding: gzip` through; found by test/gateway/fuzz.int.test.ts).
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && !CHUNKED_LAST.test(te)) {
      res.setHeader('Connection', 'close');
      return sendError(res, 400, 'malformed_request', 'Transfer-Encoding must end with chunked');
    }
    // The gateway never switches protocols, and after an Upgrade field node's parser reports no error in
    // the body that follows (a bad chunk left the request, and its upstream exchange, open for ever; found by
    // the fuzz): a body sent with Upgrade is refused. An Upgrade without a body is served, the field dropped.
    if (
      req.headers.upgrade !== undefined &&
      (te !== undefined || (req.headers['content-length'] ?? '0') !== '0')
    ) {
      res.setHeader('Connection', 'close');
      return sendError(res, 400, 'malformed_request', 'a request with Upgrade carries no body here');
    }
    const target = parseTarget(req.url ?? '');
    if (typeof target === 'string') {
      return sendError(
        res,
        400,
        target,
        target === 'invalid_request_target'
          ? 'only origin-form request targets (/path?query) are accepted'
          : 'the request path is malformed or ambiguous',
      );
    }
    const inApi = target.path.startsWith('/api/');
    // Before any route or method: a path that left /api/ is not served as the route it landed on.
    if (target.claimsApi && !inApi) {
      return sendError(res, 400, 'path_outside_api', 'the request path leaves /api/ once normalised');
    }
    if (
      method === 'TRACE' ||
      method === 'TRACK' ||
      method === 'CONNECT' ||
      (inApi && !API_METHODS.has(method))
    ) {
      res.setHeader('Allow', API_ALLOW);
      return sendError(res, 405, 'method_not_allowed', 'method not allowed');
    }
    if (inApi) {
      route = target.path === PING_PATH ? 'ping' : deps.proxy ? 'proxy' : 'other';
      return api(req, res, target, ctx, expectContinue);
    }
    if (target.path.startsWith('/webhooks/')) {
      // Partners sign their bodies (routes/webhooks.ts): no token, no tenant limits, only configured names.
      const [partner = '', tenant = '', ...rest] = target.path.slice('/webhooks/'.length).split('/');
      const webhooks = deps.webhooks;
      if (webhooks?.partners.has(partner) && WEBHOOK_SEGMENT.test(tenant) && rest.length === 0) {
        route = 'webhook';
        return handlePartnerWebhook(req, res, partner, tenant, ctx, webhooks);
      }
      route = 'not_found';
      return sendError(res, 404, 'not_found', 'no such route');
    }
    if (method === 'GET' || method === 'HEAD') {
      switch (target.path) {
        case '/healthz':
          route = 'health';
          return sendJson(res, 200, { status: 'ok' });
        case '/readyz': {
          route = 'health';
          const ready = deps.ready();
          return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'starting' });
        }
        case '/openapi.json':
          // This port's OpenAPI 3.1 document (openapi.ts; committed as openapi.json, drift-checked).
          route = 'openapi';
          openApi ??= gatewayOpenApiDocument();
          return sendJson(res, 200, openApi);
        case '/keys/status':
          route = 'keys_status';
          return sendJson(
            res,
            200,
            deps.keys?.keyStatus() ?? { keysetHash: null, kids: [], activeKid: null, loadedAt: null },
          );
      }
    }
    route = 'not_found';
    return sendError(res, 404, 'not_found', 'no such route');
  }

  async function api(
    req: IncomingMessage,
    res: ServerResponse,
    target: OriginTarget,
    ctx: RequestContext,
    expectContinue: boolean,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const chain = clientChain(req.headers['x-forwarded-for'], req.socket.remoteAddress, deps.trustProxyHops);
    const credentials: CredentialHeaders = {
      authorization: single(req.headers.authorization),
      apiKey: single(req.headers['x-api-key']),
      tenantHeader: single(req.headers['x-tenant-id']),
    };
    const keyPrefix = credentials.apiKey ? apiKeyPrefix(credentials.apiKey) : undefined;
    const log = { request_id: ctx.requestId, trace_id: ctx.trace.traceId };

    if (
      deps.throttle &&
      (credentials.authorization || credentials.apiKey) &&
      !deps.isKnownCredential?.(credentials)
    ) {
      const verdict = await deps.throttle.check(chain.client, keyPrefix);
      if (verdict !== 'allow') {
        metrics.authThrottled.inc({
          reason: verdict === 'throttled' ? 'failure_budget' : 'store_unavailable',
        });
        logger.info({ event: 'auth_throttled', ...log, verdict }, 'request refused before verification');
        if (verdict === 'throttled')
          return sendError(
            res,
            429,
            'too_many_auth_failures',
            'too many failed authentications; retry later',
            {
              'Retry-After': String(deps.throttleRetryAfterSeconds ?? 60),
            },
          );
        return sendError(res, 503, 'auth_unavailable', 'authentication is unavailable; retry shortly', {
          'Retry-After': '1',
        });
      }
    }

    let auth: Authentication;
    try {
      const pending = deps.authenticator.authenticate(credentials);
      auth = pending instanceof Promise ? await pending : pending;
    } catch (err) {
      if (!(err instanceof AuthFailure)) return handleError(err, res, logger, log);
      return refuse(res, err, chain, keyPrefix, log);
    }
    const { principal, session } = auth;

    // The session's revocation (auth-service's valid-after and ended sessions) and the rate limit are one
    // Redis round trip: the MGET is issued here, the limiter's script below in the same tick, and ioredis'
    // auto-pipelining writes both at once. A session known revoked (cached) is refused before the limiter,
    // so a revoked token charges its tenant at most once per revocation cache period.
    let revoked: Promise<boolean> | undefined;
    const sessions = deps.authenticator.sessions;
    if (session && sessions) {
      const known = sessions.peek?.(session);
      if (known === true)
        return refuse(res, new AuthFailure(401, 'session_revoked', 'jwt'), chain, keyPrefix, log);
      if (known === undefined) revoked = sessions.isRevoked(session);
    }
    if (principal.keyPrefix) metrics.apiKeyRequests.inc({ key_prefix: principal.keyPrefix });

    // The ping needs no scope: the scopes are worked out for the other routes only.
    const scopes = target.path === PING_PATH ? NO_SCOPES : scopesOf(principal);
    if (
      target.path !== PING_PATH &&
      !holdsScope(scopes, requiredScope(deps.scopes.routes, method, target.path))
    ) {
      if (revoked && (await revoked))
        return refuse(res, new AuthFailure(401, 'session_revoked', 'jwt'), chain, keyPrefix, log);
      logger.info({ event: 'insufficient_scope', ...log, method: principal.method }, 'request refused');
      return sendError(
        res,
        403,
        'insufficient_scope',
        'the credential does not hold the scope this route needs',
      );
    }

    const limits = deps.limits.get(principal.tenant);
    const decision = await deps.limiter.decide(limits, target.path, principal.keyPrefix);
    if (revoked && (await revoked))
      return refuse(res, new AuthFailure(401, 'session_revoked', 'jwt'), chain, keyPrefix, log);
    const refused = !decision.allow;
    metrics.recordDecision(principal.tenant, decision.outcome, decision.mode, refused);
    if (principal.keyId && principal.keyPrefix)
      deps.usage?.record(
        { id: principal.keyId, tenant: principal.tenant, prefix: principal.keyPrefix },
        refused,
      );
    if (refused) {
      logger.debug(
        {
          event: 'rate_limited',
          ...log,
          tenant_id: principal.tenant,
          mode: decision.mode,
          status: decision.status,
        },
        'request refused by the rate limiter',
      );
      if (decision.status === 503) {
        return sendError(
          res,
          503,
          'rate_limiter_unavailable',
          'the rate limiter is unavailable and this tenant fails closed; retry shortly',
          decision.headers,
        );
      }
      return sendError(
        res,
        429,
        'rate_limited',
        `rate limit exceeded; retry after ${decision.headers['Retry-After'] ?? '1'} s`,
        decision.headers,
      );
    }

    if (target.path === PING_PATH) {
      // The limiter's fields go out in the answer's one writeHead (decision.headers is this request's own).
      return sendJson(
        res,
        200,
        {
          status: 'ok',
          tenant: principal.tenant,
          auth: principal.method,
          limiter: decision.mode,
          at: new Date().toISOString(),
        },
        decision.headers,
      );
    }
    if (!deps.proxy) return sendError(res, 404, 'not_found', 'no such route');
    // node's parser may have refused the body meanwhile (a bad chunk: the clientError answer went out and
    // ended the socket) while this request was authenticated: it is not forwarded (found by the fuzz).
    if (req.destroyed || req.socket.writableEnded) return;
    if (expectContinue) res.writeContinue();
    await deps.proxy.forward(req, res, {
      pathAndQuery: target.path + target.query,
      headers: upstreamHeaders({
        headers: req.headers,
        identity: {
          tenant: principal.tenant,
          subject: principal.subject,
          method: principal.method,
          keyPrefix: principal.keyPrefix,
          scopes,
        },
        chain,
        requestId: ctx.requestId,
        traceparent: traceparentOf(ctx.trace),
        continuedTrace: ctx.trace.continued,
        proto: clientProto(req.headers['x-forwarded-proto'], deps.trustProxyHops),
      }),
      extraHeaders: decision.headers,
    });
  }

  // A token's principal is the same object while the token is cached: its scopes are mapped once.
  const scopesOfPrincipal = new WeakMap<Principal, readonly string[]>();
  function scopesOf(principal: Principal): readonly string[] {
    if (principal.method === 'api_key') return principal.scopes ?? NO_SCOPES;
    let scopes = scopesOfPrincipal.get(principal);
    if (scopes === undefined) {
      scopes = scopesOfRoles(deps.scopes.roles, principal.roles ?? []);
      scopesOfPrincipal.set(principal, scopes);
    }
    return scopes;
  }

  /** An authentication failure: counted, logged, charged to the failure budgets, answered. */
  function refuse(
    res: ServerResponse,
    err: AuthFailure,
    chain: ClientChain,
    keyPrefix: string | undefined,
    log: { request_id: string; trace_id: string },
  ): void {
    if (err.isSignatureFailure) metrics.signatureFailures.inc();
    if (err.method === 'jwt') metrics.jwtValidationFailures.inc({ reason: err.reason });
    metrics.authFailures.inc({ method: err.method, reason: err.reason });
    logger.info({ event: 'auth_failed', ...log, method: err.method, reason: err.reason }, 'request refused');
    if (err.status === 401 && err.method !== 'none')
      deps.throttle?.failed(chain.client, err.method === 'api_key' ? keyPrefix : undefined).catch(() => {});
    if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    const code =
      err.status === 403 ? 'tenant_mismatch' : err.status === 503 ? 'auth_unavailable' : 'unauthorized';
    sendError(
      res,
      err.status,
      code,
      err.status === 403 ? 'X-Tenant-ID does not match the credential' : 'authentication required',
    );
  }

  const run = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    handle(req, res, expectContinue).catch((err: unknown) => handleError(err, res, logger));
  };
  return Object.assign((req: IncomingMessage, res: ServerResponse) => run(req, res, false), {
    withContinue: (req: IncomingMessage, res: ServerResponse) => run(req, res, true),
  });
}

/**
 * RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host field (HTTP/1.0 may carry none). node:http's
 * own check (`requireHostHeader`, off in server.ts) answers a bare 400 and does not see a second field.
 */
function oneHost(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  return hosts === 1 || (hosts === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor === 0);
}

/** A field sent more than once is not a credential the gateway will guess about. */
function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

export type { ClientChain };
