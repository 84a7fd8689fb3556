import { randomUUID } from 'node:crypto';
import type { IncomingEvent } from '../../services/audit-service/src/storage/repo.js';

/** The i-th event of auth-service (producer_seq i) as the consumer hands it to the repository. */
export const anEvent = (i: number): IncomingEvent => ({
  event_id: randomUUID(),
  topic: 'audit.events.v1',
  event_type: 'login_failed',
  schema_version: 1,
  tenant_id: 'acme',
  user_id: `u${i}`,
  actor_role: null,
  trace_id: `t${i}`,
  producer: 'auth-service',
  producer_seq: i,
  occurred_at: new Date().toISOString(),
  payload: JSON.stringify({ n: i }),
});
