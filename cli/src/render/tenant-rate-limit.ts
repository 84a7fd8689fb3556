import type { TenantRateLimit } from '../../../operator/src/api/v1alpha1/tenantratelimit.js';
import { relative, table } from '../format.js';
import type { Style } from '../style.js';
import { describeUsage, type TenantUsage } from '../usage.js';
import { type EventView, heading, renderConditions, renderEvents, renderReady } from './common.js';

/** Whether the gateway runs the spec the user sees: the generation written to Redis and acknowledged. */
export function applyState(trl: TenantRateLimit): string {
  const gen = trl.metadata.generation ?? 0;
  const st = trl.status ?? {};
  if (st.appliedGeneration === undefined) return 'not yet written to Redis';
  if (st.appliedGeneration < gen)
    return `generation ${gen} not yet applied (gateway runs ${st.appliedGeneration})`;
  if (!st.acknowledgedAt) return `generation ${st.appliedGeneration} published, waiting for gateway replicas`;
  return `generation ${st.appliedGeneration} acknowledged by ${st.acknowledgedReplicas ?? 0} replica(s)`;
}

export function renderTenantRateLimit(
  trl: TenantRateLimit,
  events: readonly EventView[],
  now: Date,
  s: Style,
  usage?: TenantUsage,
): string {
  const sp = trl.spec;
  const st = trl.status ?? {};
  const out: string[] = [];
  out.push(
    `${heading('TenantRateLimit', trl.metadata.namespace, trl.metadata.name, s)}  tenant ${s.bold(sp.tenant)}`,
  );
  out.push(renderReady(st.conditions, s));
  out.push(
    `${s.bold('Limit:')} ${sp.requestsPerMinute}/min + burst ${sp.burst}   ${s.bold('Enforcement:')} ${sp.enforcement === 'shadow' ? s.yellow('shadow (counts, rejects nothing)') : 'enforce'}   ${s.bold('Redis down:')} ${sp.redisFailureMode}${sp.localFallback ? ` (${sp.localFallback.requestsPerMinute}/min + ${sp.localFallback.burst} per replica)` : ''}`,
  );
  const overrides = [
    ...(sp.routes ?? []).map((r) => ['route', r.pathPrefix, String(r.requestsPerMinute), String(r.burst)]),
    ...(sp.apiKeys ?? []).map((k) => [
      'api key',
      `${k.prefix}*`,
      String(k.requestsPerMinute),
      String(k.burst),
    ]),
  ];
  if (overrides.length)
    out.push(`${s.bold('Overrides:')}\n${table(['KIND', 'MATCH', 'RPM', 'BURST'], overrides, '  ')}`);
  out.push(
    `${s.bold('Gateway:')} ${applyState(trl)}${st.acknowledgedAt ? ` (${relative(st.acknowledgedAt, now)})` : ''}`,
  );
  out.push(`${s.bold('Live usage:')} ${describeUsage(usage, sp.requestsPerMinute)}`);
  out.push('', renderConditions(st.conditions, s, now), '', renderEvents(events, s, now));
  return `${out.join('\n')}\n`;
}
