import type { Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { NextFunction, Request, Response } from 'express';
import { requestContext } from '../../../../lib/service-kit/http.js';
import { AppError } from '../domain/errors.js';
import type { RequestContext } from '../domain/model.js';
import { type SchemaName, Schemas } from './api.js';

export const TENANT_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface Locals {
  requestId: string;
  traceId: string;
  tenantId?: string;
}

export function locals(res: Response): Locals {
  return res.locals as Locals;
}

/**
 * The request id and W3C trace context by the service kit's one rule (lib/service-kit/http.ts): the
 * caller's `X-Request-ID` when it is a safe token, a new UUID otherwise, echoed on the answer; `traceId` is
 * the caller's `traceparent` trace id when that header is valid, a new trace's otherwise. Both are kept in
 * `res.locals` for the request log, the error envelope and the domain's events.
 */
export function requestIds(req: Request, res: Response, next: NextFunction): void {
  const { requestId, trace } = requestContext(req, res);
  locals(res).requestId = requestId;
  locals(res).traceId = trace.traceId;
  next();
}

/** X-Tenant-ID is required and must be a well-formed tenant id on every tenant route. */
export function requireTenant(req: Request, res: Response, next: NextFunction): void {
  const tenant = req.get('x-tenant-id');
  if (!tenant) throw new AppError('tenant_required');
  if (!TENANT_ID_RE.test(tenant)) throw new AppError('invalid_tenant');
  locals(res).tenantId = tenant;
  next();
}

export function ctxOf(req: Request, res: Response): RequestContext {
  const l = locals(res);
  return {
    tenantId: l.tenantId ?? 'unknown',
    ip: req.ip ?? 'unknown',
    requestId: l.requestId,
    traceId: l.traceId,
    userAgent: req.get('user-agent'),
    acceptLanguage: req.get('accept-language'),
  };
}

export function bearer(req: Request): string | undefined {
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(req.get('authorization') ?? '');
  return m?.[1];
}

/**
 * The JSON body as an object (arrays and scalars are refused). A NUL character anywhere in it is refused
 * too: PostgreSQL text cannot hold one (found by the API fuzzer: it was a 500).
 */
export function bodyOf(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === undefined) return {};
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new AppError('invalid_request');
  if (hasNul(b)) throw new AppError('invalid_request');
  return b as Record<string, unknown>;
}

/**
 * The JSON body, checked against its TypeBox schema in routes/api.ts (the one the OpenAPI document
 * publishes) and typed by it: `400 invalid_request` with `details.field` naming the first field that does
 * not fit. The domain receives it as a typed command and checks only what a schema cannot say.
 */
export function bodyAs<S extends SchemaName>(req: Request, schema: S): Static<(typeof Schemas)[S]> {
  const body = bodyOf(req);
  const compiled = checkers[schema] ?? TypeCompiler.Compile(Schemas[schema]);
  checkers[schema] = compiled;
  if (!compiled.Check(body)) {
    const path = compiled.Errors(body).First()?.path ?? '';
    const field = path.split('/').filter(Boolean)[0];
    throw new AppError('invalid_request', field ? { field } : undefined);
  }
  return body as Static<(typeof Schemas)[S]>;
}
const checkers: Partial<Record<SchemaName, ReturnType<typeof TypeCompiler.Compile>>> = {};

function hasNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (depth > 16 || v === null || typeof v !== 'object') return false;
  return Object.entries(v).some(([k, x]) => k.includes('\u0000') || hasNul(x, depth + 1));
}
