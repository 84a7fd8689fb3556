import { serializeList } from 'structured-headers';
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

/** The `RateLimit-Policy` field listing `policies`. */
export function policyField(policies: readonly PolicyState[]): string {
  return policies.map(policyItem).join(', ');
}

/** `field`: the `RateLimit-Policy` field of `policies` when the caller keeps it (the limiter's route plan). */
export function rateLimitHeaders(
  policies: readonly PolicyState[],
  outcome: LimitOutcome,
  rejected: boolean,
  field: string = policyField(policies),
): Record<string, string> {
  let limiting: PolicyState | undefined;
  for (const p of policies) {
    if (p.policy === outcome.policy) {
      limiting = p;
      break;
    }
  }
  const capacity = limiting ? capacityOf(limiting) : 0;
  const r = Math.max(0, Math.min(outcome.remaining, capacity));
  const t = seconds(rejected ? outcome.retryAfterMs : outcome.resetMs);
  // The policy names are the fixed tokens of PolicyName and the parameters integers: the item is written
  // directly (the unit test parses it back with structured-headers).
  const headers: Record<string, string> = {
    'RateLimit-Policy': field,
    RateLimit: `"${outcome.policy}";r=${r};t=${t}`,
  };
  if (rejected) headers['Retry-After'] = String(Math.max(1, seconds(outcome.retryAfterMs)));
  return headers;
}

// One `RateLimit-Policy` item per distinct policy, serialised once (a few per tenant configuration).
const policyItems = new Map<string, string>();
function policyItem(p: PolicyState): string {
  const key = `${p.policy} ${p.requestsPerMinute} ${p.burst}`;
  let item = policyItems.get(key);
  if (item === undefined) {
    item = serializeList([
      [
        p.policy,
        new Map<string, number>([
          ['q', p.requestsPerMinute],
          ['w', 60],
          ...(p.burst > 0 ? ([['novapos-burst', p.burst]] as [string, number][]) : []),
        ]),
      ],
    ]);
    if (policyItems.size >= 10_000) policyItems.clear();
    policyItems.set(key, item);
  }
  return item;
}

/** Whole seconds, rounded up: a client that waits this long is never early. */
export const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));
