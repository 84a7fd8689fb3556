import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { SecurityEvent } from '../../../../lib/events.js';
import { sendJson } from '../../../../lib/service-kit/admin-listener.js';
import { type RequestContext, sendError } from '../../../../lib/service-kit/http.js';
import { SIGNATURE_HEADER, verifyWebhook, type WebhookRefusal } from '../domain/partner-webhooks.js';

/** `gateway_partner_webhooks_total{partner,outcome}`: partner activity (seed 001). */
export type WebhookOutcome =
  | 'accepted'
  | 'forwarded'
  | WebhookRefusal
  | 'not_configured'
  | 'replayed'
  | 'too_large'
  | 'secret_unavailable'
  | 'replay_store_unavailable'
  | 'upstream_error';

/** `gateway_partner_webhooks_total{partner,outcome}`; partner is only ever a configured name. */
export function partnerWebhookCounter(registry: Registry): Counter<'partner' | 'outcome'> {
  return new Counter({
    name: 'gateway_partner_webhooks_total',
    help: 'Partner webhooks by partner and outcome (forwarded, accepted, or why refused).',
    labelNames: ['partner', 'outcome'],
    registers: [registry],
  });
}

export interface PartnerWebhookDeps {
  /** Partners whose webhooks this gateway takes (`GATEWAY_WEBHOOK_PARTNERS`); any other name is a 404. */
  readonly partners: ReadonlySet<string>;
  /** The tenant's shared secrets for the partner, current first; undefined when none is configured. */
  readonly secrets: (partner: string, tenant: string) => Promise<readonly string[] | undefined>;
  /** Records the event as seen for `ttlMs`; false when it already was (a replay). */
  readonly markSeen: (partner: string, tenant: string, eventId: string, ttlMs: number) => Promise<boolean>;
  /** Forgets a mark, so the partner's retry of an event the upstream did not take is accepted. */
  readonly unmarkSeen: (partner: string, tenant: string, eventId: string) => Promise<void>;
  /** Sends the verified body to the upstream (`POST /webhooks/<partner>/<tenant>`); its status. */
  readonly forward?: (
    partner: string,
    tenant: string,
    body: Buffer,
    headers: Record<string, string>,
  ) => Promise<number>;
  readonly publish: (event: SecurityEvent) => Promise<void>;
  readonly count: (partner: string, outcome: WebhookOutcome) => void;
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly now: () => Date;
}

const REFUSALS: Record<WebhookRefusal, { status: number; code: string; message: string }> = {
  signature_missing: {
    status: 401,
    code: 'webhook_signature_invalid',
    message: `the ${SIGNATURE_HEADER} header is missing`,
  },
  signature_invalid: {
    status: 401,
    code: 'webhook_signature_invalid',
    message: 'the signature does not match the body',
  },
  malformed_event: {
    status: 400,
    code: 'webhook_malformed',
    message: 'the body must be a JSON object with event.id, event.type and event.created_at',
  },
  stale_event: {
    status: 400,
    code: 'webhook_stale',
    message: 'event.created_at is outside the accepted tolerance',
  },
};

/** Reads the whole body up to `max` bytes; undefined when it is larger (the rest is not read). */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * `POST /webhooks/<partner>/<tenant>`: verified before anything else reads the body, refused once seen, then
 * forwarded to the upstream (when one is configured) and published as `partner_webhook_received` on the
 * audit topic. The partner's retry is welcome whenever the answer is not 2xx: a refused or unforwarded event
 * is never marked as seen.
 */
export async function handlePartnerWebhook(
  req: IncomingMessage,
  res: ServerResponse,
  partner: string,
  tenant: string,
  ctx: RequestContext,
  deps: PartnerWebhookDeps,
): Promise<void> {
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    return sendError(res, 405, 'method_not_allowed', 'webhooks are POSTed');
  }
  const body = await readBody(req, deps.maxBodyBytes);
  if (!body) {
    deps.count(partner, 'too_large');
    res.setHeader('Connection', 'close');
    return sendError(res, 413, 'payload_too_large', `webhook bodies are at most ${deps.maxBodyBytes} bytes`);
  }
  let secrets: readonly string[] | undefined;
  try {
    secrets = await deps.secrets(partner, tenant);
  } catch {
    deps.count(partner, 'secret_unavailable');
    res.setHeader('Retry-After', '30');
    return sendError(res, 503, 'webhook_unavailable', 'the webhook secret cannot be read now; retry later');
  }
  const signature = req.headers[SIGNATURE_HEADER];
  // A tenant with no secret answers like a wrong signature: the route does not tell which tenants exist.
  const verdict = secrets?.length
    ? verifyWebhook({
        body,
        signature: typeof signature === 'string' ? signature : undefined,
        secrets,
        now: deps.now(),
        toleranceSeconds: deps.toleranceSeconds,
      })
    : 'not_configured';
  if (verdict === 'not_configured') {
    deps.count(partner, 'not_configured');
    return sendError(res, 401, REFUSALS.signature_invalid.code, REFUSALS.signature_invalid.message);
  }
  if (typeof verdict === 'string') {
    deps.count(partner, verdict);
    const refusal = REFUSALS[verdict];
    return sendError(res, refusal.status, refusal.code, refusal.message);
  }

  // Seen for twice the tolerance: after that the event is refused as stale anyway.
  const ttlMs = 2 * deps.toleranceSeconds * 1000;
  let first: boolean;
  try {
    first = await deps.markSeen(partner, tenant, verdict.eventId, ttlMs);
  } catch {
    deps.count(partner, 'replay_store_unavailable');
    res.setHeader('Retry-After', '30');
    return sendError(res, 503, 'webhook_unavailable', 'replays cannot be checked now; retry later');
  }
  if (!first) {
    deps.count(partner, 'replayed');
    return sendError(res, 409, 'webhook_replayed', 'this event was already received');
  }
  let forwarded = false;
  if (deps.forward) {
    let status: number | undefined;
    try {
      status = await deps.forward(partner, tenant, body, {
        'content-type': String(req.headers['content-type'] ?? 'application/json'),
        [SIGNATURE_HEADER]: String(signature),
        'x-novapos-tenant': tenant,
        'x-novapos-webhook-partner': partner,
        'x-request-id': ctx.requestId,
      });
    } catch {
      status = undefined;
    }
    if (status === undefined || status < 200 || status > 299) {
      await deps.unmarkSeen(partner, tenant, verdict.eventId).catch(() => {});
      deps.count(partner, 'upstream_error');
      return sendError(res, 502, 'upstream_error', 'the upstream did not take the webhook; retry later');
    }
    forwarded = true;
  }
  deps.count(partner, forwarded ? 'forwarded' : 'accepted');
  await deps.publish({
    type: 'partner_webhook_received',
    trace_id: ctx.trace.traceId,
    tenant_id: tenant,
    user_id: null,
    actor_role: 'partner',
    outcome: forwarded ? 'forwarded' : 'accepted',
    partner,
    event_id: verdict.eventId,
    event_type: verdict.eventType,
    created_at: verdict.createdAt.toISOString(),
    request_id: ctx.requestId,
  });
  return sendJson(res, forwarded ? 200 : 202, { received: true, event_id: verdict.eventId });
}
