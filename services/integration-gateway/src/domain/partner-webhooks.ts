import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Partner webhooks (seed 001: "verify Coinbase webhooks ... emit partner activity"), Coinbase Commerce style:
 * the partner signs the raw request body with HMAC-SHA256 under a secret shared with the tenant and sends the
 * hex digest in `X-CC-Webhook-Signature`. The body is a JSON object whose `event` has an `id`, a `type` and a
 * `created_at`; the gateway refuses an event older (or newer) than its tolerance, and one it has seen before
 * (`replayed`, decided by the caller's store), so a captured request cannot be sent again.
 *
 * Pure: the secrets, the clock and the body come from the caller.
 */

export const SIGNATURE_HEADER = 'x-cc-webhook-signature';

/** Why a webhook is refused, in the order it is checked. The signature comes first: nothing unsigned is parsed. */
export type WebhookRefusal = 'signature_missing' | 'signature_invalid' | 'malformed_event' | 'stale_event';

export interface VerifiedWebhook {
  readonly eventId: string;
  readonly eventType: string;
  readonly createdAt: Date;
}

/** The hex HMAC-SHA256 of the body: what the partner sends. */
export function signWebhook(body: Uint8Array, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
const EVENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const EVENT_TYPE = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Checks the signature against each secret (the current one and, during a rotation, the previous one) in
 * constant time, then the event's fields and age.
 */
export function verifyWebhook(input: {
  readonly body: Uint8Array;
  readonly signature: string | undefined;
  readonly secrets: readonly string[];
  readonly now: Date;
  readonly toleranceSeconds: number;
}): VerifiedWebhook | WebhookRefusal {
  const signature = input.signature?.trim();
  if (!signature) return 'signature_missing';
  if (!HEX_SHA256.test(signature)) return 'signature_invalid';
  const given = Buffer.from(signature.toLowerCase(), 'hex');
  const matches = input.secrets.some((secret) =>
    timingSafeEqual(given, Buffer.from(signWebhook(input.body, secret), 'hex')),
  );
  if (!matches) return 'signature_invalid';

  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(input.body).toString('utf8'));
  } catch {
    return 'malformed_event';
  }
  const event = (parsed as { event?: unknown } | null)?.event as
    | { id?: unknown; type?: unknown; created_at?: unknown }
    | undefined;
  if (!event || typeof event !== 'object') return 'malformed_event';
  const { id, type, created_at: createdAt } = event;
  if (typeof id !== 'string' || !EVENT_ID.test(id)) return 'malformed_event';
  if (typeof type !== 'string' || !EVENT_TYPE.test(type)) return 'malformed_event';
  if (typeof createdAt !== 'string') return 'malformed_event';
  const at = new Date(createdAt);
  if (Number.isNaN(at.getTime())) return 'malformed_event';
  if (Math.abs(input.now.getTime() - at.getTime()) > input.toleranceSeconds * 1000) return 'stale_event';
  return { eventId: id, eventType: type, createdAt: at };
}

/** Path segments the route accepts: a configured partner's name and a tenant id. */
export const WEBHOOK_SEGMENT = /^[a-z0-9][a-z0-9-]{0,62}$/;
