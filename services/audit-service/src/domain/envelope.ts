import type { IncomingEvent } from '../storage/repo.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const str = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length <= 512 ? v : null);

/**
 * A Kafka record's value → the event to chain (docs/contracts.md, "Events": the envelope of
 * lib/kafka-events.ts), or the reason it cannot be chained. The payload is kept byte for byte.
 */
export function parseEnvelope(topic: string, value: string): IncomingEvent | { rejected: string } {
  let e: Record<string, unknown>;
  try {
    const parsed = JSON.parse(value) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { rejected: 'not_an_object' };
    e = parsed as Record<string, unknown>;
  } catch {
    return { rejected: 'not_json' };
  }
  if (typeof e.id !== 'string' || !UUID.test(e.id)) return { rejected: 'no_event_id' };
  const type = str(e.type);
  if (!type) return { rejected: 'no_type' };
  const version = Number(e.schema_version ?? 1);
  if (!Number.isInteger(version) || version < 1) return { rejected: 'bad_schema_version' };
  const occurred = typeof e.occurred_at === 'string' ? new Date(e.occurred_at) : new Date(Number.NaN);
  const seq = e.producer_seq;
  return {
    event_id: e.id.toLowerCase(),
    topic,
    event_type: type,
    schema_version: version,
    tenant_id: str(e.tenant_id),
    user_id: str(e.user_id),
    actor_role: str(e.actor_role),
    trace_id: str(e.trace_id),
    producer: str(e.producer),
    producer_seq: typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : null,
    occurred_at: Number.isNaN(occurred.getTime()) ? new Date().toISOString() : occurred.toISOString(),
    payload: value,
  };
}
