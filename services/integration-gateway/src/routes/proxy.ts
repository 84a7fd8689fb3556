import type { IncomingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { Agent, errors, request } from 'undici';
import type { Principal } from '../domain/authenticate.js';

/** Hop-by-hop fields (RFC 9110 7.6.1) and the credentials the gateway consumed. */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'x-api-key',
  'x-tenant-id',
  'x-novapos-tenant',
  'x-novapos-subject',
  'x-novapos-auth-method',
  'x-novapos-key-prefix',
]);
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface UpstreamProxy {
  forward(
    req: Request,
    res: Response,
    principal: Principal,
    extraHeaders: Record<string, string>,
  ): Promise<void>;
  close(): Promise<void>;
}

export type UpstreamErrorReason = 'timeout' | 'connect' | 'other';

/**
 * Forwards an allowed request to the upstream with undici (connection pooling, streaming both ways). The
 * upstream gets the verified identity (`X-Tenant-ID`, `X-NovaPOS-Subject`, ...) instead of anything the
 * client claimed, and never the API key. A failed upstream answers 502/504 with no detail.
 */
export function createProxy(
  upstreamUrl: string,
  timeoutMs: number,
  onError: (reason: UpstreamErrorReason, err: unknown) => void,
): UpstreamProxy {
  const base = new URL(upstreamUrl);
  const agent = new Agent({
    connections: 128,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 10_000,
  });
  return {
    async forward(req, res, principal, extraHeaders) {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(req.headers as IncomingHttpHeaders)) {
        if (value !== undefined && !DROP_REQUEST.has(name)) headers[name] = value;
      }
      headers['x-tenant-id'] = principal.tenant;
      headers['x-novapos-subject'] = principal.subject;
      headers['x-novapos-auth-method'] = principal.method;
      if (principal.keyPrefix) headers['x-novapos-key-prefix'] = principal.keyPrefix;
      const forwardedFor = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = forwardedFor
        ? `${forwardedFor}, ${req.socket.remoteAddress ?? ''}`
        : (req.socket.remoteAddress ?? '');
      const hasBody =
        req.method !== 'GET' &&
        req.method !== 'HEAD' &&
        (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined);
      const target = new URL(req.originalUrl, base);
      try {
        const upstream = await request(target, {
          method: req.method as 'GET',
          headers,
          body: hasBody ? req : undefined,
          dispatcher: agent,
        });
        res.status(upstream.statusCode);
        for (const [name, value] of Object.entries(upstream.headers)) {
          if (value !== undefined && !DROP_RESPONSE.has(name)) res.setHeader(name, value);
        }
        for (const [name, value] of Object.entries(extraHeaders)) res.setHeader(name, value);
        await pipeline(upstream.body, res);
      } catch (err) {
        const reason: UpstreamErrorReason =
          err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError
            ? 'timeout'
            : (err as { code?: string }).code === 'ECONNREFUSED' || err instanceof errors.ConnectTimeoutError
              ? 'connect'
              : 'other';
        onError(reason, err);
        if (!res.headersSent) {
          res
            .status(reason === 'timeout' ? 504 : 502)
            .json({ error: { code: 'upstream_unavailable', message: 'the upstream did not answer' } });
        } else res.destroy();
      }
    },
    close: () => agent.close(),
  };
}
