import { isPrivileged } from '../mfa-policy.js';
import type { RequestContext } from '../model.js';
import { deviceFingerprint, type SuspiciousAlert } from '../suspicious.js';
import type { UseCaseDeps } from './deps.js';

/** A security event: its topic, type and the fields beside the request's own (trace, tenant, address). */
export interface SecurityEvent {
  readonly topic: 'mfa' | 'audit';
  readonly type: string;
  readonly fields?: {
    userId?: string | null;
    roles?: readonly string[];
    outcome?: string;
    [k: string]: unknown;
  };
}

/**
 * Publishes a security event. Awaited inside `withEvent` the outbox row joins the change's transaction (a
 * failed write then rolls the change back); elsewhere it is written on its own.
 */
export function publish(d: UseCaseDeps, ctx: RequestContext, event: SecurityEvent): Promise<void> {
  const { userId, roles, ...rest } = event.fields ?? {};
  return d.events.publish(event.topic === 'mfa' ? d.config.topics.mfaActivity : d.config.topics.audit, {
    type: event.type,
    trace_id: ctx.traceId,
    request_id: ctx.requestId,
    tenant_id: ctx.tenantId,
    user_id: userId ?? null,
    actor_role: roles ? (isPrivileged(roles, d.config.mfa) ? 'admin' : (roles[0] ?? 'user')) : null,
    ip: ctx.ip,
    ...rest,
  });
}

/**
 * The transactional outbox, said once: `change` (a use case's writes) and the event(s) `eventFor` derives
 * from its result commit in one transaction, or neither does (a crash or a failed outbox write between
 * them leaves nothing). `eventFor` returns nothing when the change did not happen (e.g. not found).
 * Events the change publishes itself (a lockout it caused) join the same transaction, before these.
 */
export function withEvent<T>(
  d: UseCaseDeps,
  ctx: RequestContext,
  change: () => Promise<T>,
  eventFor: (result: T) => SecurityEvent | readonly SecurityEvent[] | undefined,
): Promise<T> {
  return d.store.unitOfWork(async () => {
    const result = await change();
    const events = eventFor(result);
    for (const event of events === undefined ? [] : Array.isArray(events) ? events : [events])
      await publish(d, ctx, event as SecurityEvent);
    return result;
  });
}

/** `eventFor` of a change that answers whether it happened: `event` when it did, nothing when it did not. */
export const ifDone =
  (event: SecurityEvent) =>
  (done: boolean): SecurityEvent | undefined =>
    done ? event : undefined;

/** The `suspicious_login` event of a rule that fired. */
export function suspiciousEvent(
  rule: SuspiciousAlert['rule'],
  userId: string | null,
  detail: Record<string, number>,
): SecurityEvent {
  return { topic: 'audit', type: 'suspicious_login', fields: { userId, outcome: rule, rule, ...detail } };
}

/** A suspicious-login rule fired: counted and sent to the webhook (not awaited). */
export function alertSuspicious(
  d: UseCaseDeps,
  ctx: RequestContext,
  rule: SuspiciousAlert['rule'],
  userId: string | null,
  detail: Record<string, number>,
): void {
  d.metrics.suspiciousLogins.inc({ rule });
  const alert: SuspiciousAlert = {
    rule,
    tenant: ctx.tenantId,
    userId,
    ip: ctx.ip,
    deviceFingerprint: deviceFingerprint(ctx.userAgent, ctx.acceptLanguage),
    traceId: ctx.traceId,
    detail,
  };
  void d.webhook.notify(alert).then((r) => d.metrics.suspiciousWebhooks.inc({ result: r.result }));
}
