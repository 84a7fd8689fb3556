import type { RedisFailureMode } from '../../../../../lib/ratelimit-contract.js';
import type { TrafficSample } from '../../../adapters/drill/ports.js';
import { parseDuration } from '../../../api/validation.js';
import { prepared, type StepContext, type StepOutcome, TOO_MANY_AUTH_FAILURES } from './context.js';
import { abortReason, describeCounts, percentile, seconds } from './stats.js';

/** How much longer the fault key lives than the step's sending window (see below). */
const FAULT_TTL_MARGIN_MS = 2_000;
/** What a client sees for each failure mode (the gateway's `limiter` field, or its refusal). */
export const EXPECTED_ANSWER: Record<RedisFailureMode, { limiter: string; describe: string }> = {
  failOpen: { limiter: 'fail_open', describe: 'allowed without limiting (limiter fail_open)' },
  failClosed: { limiter: 'fail_closed', describe: 'refused with 503 rate_limiter_unavailable (fail_closed)' },
  localFallback: {
    limiter: 'local_fallback',
    describe: 'limited in process by the local fallback limit (limiter local_fallback, 429 above it)',
  },
};

/** The mode a client can read off one answer. */
export function observedMode(s: TrafficSample): string {
  if (s.status === 200 && s.limiter) return s.limiter;
  if (s.status === 503 && s.code === 'rate_limiter_unavailable') return 'fail_closed';
  // Both are 429; only the tenant limit is 'rate_limited'. The other is the gateway's failed-authentication
  // budget of the client's address, spent before the drill's key was even verified.
  if (s.status === 429) return s.code === TOO_MANY_AUTH_FAILURES ? TOO_MANY_AUTH_FAILURES : 'rate_limited';
  return s.status === 0 ? 'no answer' : `HTTP ${s.status}${s.code ? ` ${s.code}` : ''}`;
}

function matches(s: TrafficSample, mode: RedisFailureMode): boolean {
  const seen = observedMode(s);
  return seen === EXPECTED_ANSWER[mode].limiter || (mode === 'localFallback' && seen === 'rate_limited');
}

const count = (samples: readonly TrafficSample[]) => {
  const m = new Map<string, number>();
  for (const s of samples) m.set(observedMode(s), (m.get(observedMode(s)) ?? 0) + 1);
  return m;
};

/**
 * Redis outage for the synthetic tenant only: the drill fault key (with the step's duration as TTL) makes
 * the gateway treat that tenant as if Redis were down. Passes when the gateway answered normally before,
 * every answer during the outage was the tenant's configured failure mode, and normal answers came back
 * within the recovery bound after the key was removed.
 */
export async function redisOutageStep(c: StepContext): Promise<StepOutcome> {
  const step = prepared(c.spec.steps.redisOutage, 'spec.steps.redisOutage');
  const tenant = prepared(c.tenant, 'the synthetic tenant');
  const mode = prepared(c.expectedMode, "the synthetic tenant's failure mode");
  const apiKey = prepared(c.apiKey, 'a synthetic API key');
  const rps = step.syntheticRps ?? 5;
  const durationMs = parseDuration(step.duration);
  const figures: Record<string, number> = {};
  const send = async (ms: number, sink: TrafficSample[], stop?: AbortController) =>
    c.adapters.traffic.run({
      tenant,
      rps,
      durationMs: ms,
      signal: stop ? AbortSignal.any([c.signal, stop.signal]) : c.signal,
      credential: () => ({ apiKey: apiKey.key, tag: 'api-key' }),
      onSample: (s) => {
        sink.push(s);
        c.own.record(s);
        // Recovery: the first normal answer is what we wait for.
        if (stop && observedMode(s) === 'normal') stop.abort();
      },
    });

  // Before: the tenant must be served normally, or the outage proves nothing.
  const before: TrafficSample[] = [];
  await send(1_000, before);
  if (c.signal.aborted) return { passed: false, message: `stopped: ${abortReason(c.signal)}`, figures };
  const beforeNormal = before.filter((s) => observedMode(s) === 'normal').length;
  if (before.length === 0 || beforeNormal < before.length) {
    return {
      passed: false,
      message:
        `before the outage the gateway did not answer tenant ${tenant} normally (${describeCounts(count(before)) || 'no answers'}): nothing was injected` +
        (before.some((s) => observedMode(s) === TOO_MANY_AUTH_FAILURES)
          ? "; too_many_auth_failures: the operator's address has spent the gateway's failed-authentication budget (GATEWAY_AUTH_FAILURES_PER_ADDRESS in its window)"
          : ''),
      figures,
    };
  }

  const during: TrafficSample[] = [];
  const injectedAt = c.now().getTime();
  // The key's TTL outlasts the sending window by a margin: the drill clears it explicitly when the window
  // ends; the TTL only bounds the outage if the operator dies mid-step. Equal to the window, the key could
  // expire while the last requests are in flight and a correct gateway would be blamed for a normal answer.
  await c.adapters.faults.inject(tenant, durationMs + FAULT_TTL_MARGIN_MS);
  try {
    await send(durationMs, during);
  } finally {
    await c.adapters.faults.clear(tenant);
  }
  const outageMs = c.now().getTime() - injectedAt;

  // After: normal answers must come back within the bound.
  const after: TrafficSample[] = [];
  const recovered = new AbortController();
  const clearedAt = c.now().getTime();
  let recoveryMs: number | undefined;
  await send(c.timing.recoveryTimeoutMs, after, recovered);
  const firstNormal = after.find((s) => observedMode(s) === 'normal');
  if (firstNormal) recoveryMs = Math.max(0, firstNormal.at - clearedAt);

  const good = during.filter((s) => matches(s, mode));
  figures['requests'] = during.length;
  figures['expectedModeResponses'] = good.length;
  figures['otherResponses'] = during.length - good.length;
  figures['outageSeconds'] = seconds(outageMs);
  figures['p99LatencySeconds'] = seconds(
    percentile(
      during.map((s) => s.latencyMs),
      99,
    ),
  );
  if (recoveryMs !== undefined) figures['recoverySeconds'] = seconds(recoveryMs);

  if (c.signal.aborted) return { passed: false, message: `stopped: ${abortReason(c.signal)}`, figures };
  if (during.length === 0)
    return { passed: false, message: 'no synthetic request completed during the outage', figures };
  if (good.length < during.length) {
    return {
      passed: false,
      message: `during the outage clients of ${tenant} saw ${describeCounts(count(during))}; its redisFailureMode is ${mode}, so every request should have been ${EXPECTED_ANSWER[mode].describe}`,
      figures,
    };
  }
  if (recoveryMs === undefined) {
    return {
      passed: false,
      message: `the outage behaved as ${mode}, but normal service did not resume within ${seconds(c.timing.recoveryTimeoutMs)}s after the fault key was removed (${describeCounts(count(after))})`,
      figures,
    };
  }
  return {
    passed: true,
    message: `${during.length} requests during a ${seconds(outageMs)}s outage were all ${EXPECTED_ANSWER[mode].describe}; normal service resumed ${seconds(recoveryMs)}s after`,
    figures,
  };
}
