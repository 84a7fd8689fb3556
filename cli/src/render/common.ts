import type { Condition } from '../../../operator/src/api/conditions.js';
import { relative, table } from '../format.js';
import type { Style } from '../style.js';

/** A core/v1 Event, the fields a status screen shows. */
export interface EventView {
  readonly type?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly count?: number;
  readonly lastTimestamp?: string;
  readonly eventTime?: string;
  readonly firstTimestamp?: string;
  readonly metadata?: { creationTimestamp?: string };
}

/** Conditions whose True means trouble; for every other type, True is the fine state. */
const TROUBLE_WHEN_TRUE = new Set(['Conflict', 'Degraded', 'Stalled']);
/** Conditions that only say work is under way: neither fine nor trouble. */
const INFORMATIONAL = new Set(['Progressing', 'Rotating']);

/** The conditions a person must look at: a fine-when-True one that is not True, or a trouble one that is. */
export function conditionsNotFine(conditions: readonly Condition[] | undefined): Condition[] {
  return (conditions ?? []).filter((c) =>
    INFORMATIONAL.has(c.type)
      ? false
      : TROUBLE_WHEN_TRUE.has(c.type)
        ? c.status === 'True'
        : c.status !== 'True',
  );
}

export function readyOf(conditions: readonly Condition[] | undefined): string {
  const ready = (conditions ?? []).find((c) => c.type === 'Ready');
  return ready ? `${ready.status}${ready.reason ? ` (${ready.reason})` : ''}` : 'Unknown';
}

export function renderReady(conditions: readonly Condition[] | undefined, s: Style): string {
  const ready = (conditions ?? []).find((c) => c.type === 'Ready');
  const text = readyOf(conditions);
  const coloured = ready?.status === 'True' ? s.green(text) : s.red(text);
  return `${s.bold('Ready:')} ${coloured}${ready?.message ? `  ${ready.message}` : ''}`;
}

export function renderConditions(conditions: readonly Condition[] | undefined, s: Style, now: Date): string {
  const bad = conditionsNotFine(conditions);
  if (!bad.length) return `${s.bold('Conditions:')} all fine`;
  return `${s.bold('Conditions that are not fine:')}\n${table(
    ['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
    bad.map((c) => [
      s.red(c.type),
      c.status,
      c.reason ?? '-',
      relative(c.lastTransitionTime, now),
      c.message ?? '',
    ]),
    '  ',
  )}`;
}

const eventTime = (e: EventView) =>
  e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;

/** The newest `limit` events, newest first. */
export function renderEvents(events: readonly EventView[], s: Style, now: Date, limit = 8): string {
  if (!events.length) return `${s.bold('Events:')} none`;
  const newest = [...events]
    .sort((a, b) => Date.parse(eventTime(b) ?? '') - Date.parse(eventTime(a) ?? ''))
    .slice(0, limit);
  return `${s.bold('Recent events:')}\n${table(
    ['WHEN', 'TYPE', 'REASON', 'MESSAGE'],
    newest.map((e) => [
      relative(eventTime(e), now),
      e.type === 'Warning' ? s.yellow(e.type) : (e.type ?? '-'),
      e.reason ?? '-',
      `${e.message ?? ''}${e.count && e.count > 1 ? ` (x${e.count})` : ''}`,
    ]),
    '  ',
  )}`;
}

export function heading(
  kind: string,
  namespace: string | undefined,
  name: string | undefined,
  s: Style,
): string {
  return s.bold(`${kind} ${namespace ? `${namespace}/` : ''}${name ?? ''}`);
}
