import { serializeItem, serializeList } from 'structured-headers';
import { capacityOf } from './gcra.js';
import type { PolicyName } from './limits.js';

/**
 * Response fields of the IETF httpapi RateLimit header fields draft (draft-ietf-httpapi-ratelimit-headers,
 * structured-field syntax): `RateLimit-Policy: "tenant";q=60;w=60;novapos-burst=10` lists the policies
 * that applied, `RateLimit: "tenant";r=12;t=58` reports the one with the least remaining, and a rejection
 * adds `Retry-After` (delay-seconds) pointing at the same moment as `t`.
 */

export interface PolicyState {
  readonly policy: PolicyName;
  readonly requestsPerMinute: number;
  readonly burst: number;
}

export interface LimitOutcome {
  /** The policy that limits most (lowest remaining, or the one that rejected). */
  readonly policy: PolicyName;
  readonly remaining: number;
  readonly resetMs: number;
  readonly retryAfterMs: number;
}

export function rateLimitHeaders(
  policies: readonly PolicyState[],
  outcome: LimitOutcome,
  rejected: boolean,
): Record<string, string> {
  const list = policies.map(
    (p) =>
      [
        p.policy,
        new Map<string, number>([
          ['q', p.requestsPerMinute],
          ['w', 60],
          ...(p.burst > 0 ? ([['novapos-burst', p.burst]] as [string, number][]) : []),
        ]),
      ] as [string, Map<string, number>],
  );
  const limiting = policies.find((p) => p.policy === outcome.policy);
  const capacity = limiting ? capacityOf(limiting) : 0;
  const headers: Record<string, string> = {
    'RateLimit-Policy': serializeList(list),
    RateLimit: serializeItem(
      outcome.policy,
      new Map([
        ['r', Math.max(0, Math.min(outcome.remaining, capacity))],
        ['t', seconds(rejected ? outcome.retryAfterMs : outcome.resetMs)],
      ]),
    ),
  };
  if (rejected) headers['Retry-After'] = String(Math.max(1, seconds(outcome.retryAfterMs)));
  return headers;
}

/** Whole seconds, rounded up: a client that waits this long is never early. */
export const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));
