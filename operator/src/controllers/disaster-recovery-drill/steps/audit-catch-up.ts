import { describeError } from '../../../../../lib/errors.js';
import {
  type AuditAdmin,
  type AuditConsumerState,
  type ChainedEvent,
  ServiceAnswerError,
  type SyntheticSession,
} from '../../../adapters/drill/ports.js';
import { AUDIT_ADMIN_TOKEN_KEY } from '../../../api/v1alpha1/disasterrecoverydrill.js';
import { formatDuration, parseDuration } from '../../../api/validation.js';
import { apiKeyNamePrefix } from '../desired.js';
import { prepared, type StepContext, type StepOutcome } from './context.js';
import { abortReason, pause, seconds } from './stats.js';

/** The two events each synthetic API key leaves on audit.events.v1. */
export const SYNTHETIC_EVENT_TYPES = ['api_key_created', 'api_key_revoked'] as const;
/** Producing the events must end this long before the pause does, so they are all produced while paused. */
const PAUSE_MARGIN_MS = 2_000;
/** While paused, the drill waits at most this long for the lag to show the events (the outbox relay's delay). */
const LAG_SHOWN_MS = 15_000;
/** Bound on the resume call when the step itself was stopped. */
const RESUME_TIMEOUT_MS = 10_000;

const eventKey = (type: string, apiKeyId: string) => `${type}/${apiKeyId}`;

/** How many of the expected events are chained, and how many of them more than once. */
export function matchChained(
  expected: ReadonlySet<string>,
  chained: readonly ChainedEvent[],
): { chained: number; twice: number } {
  const seen = new Map<string, number>();
  for (const e of chained) {
    if (!e.apiKeyId) continue;
    const k = eventKey(e.type, e.apiKeyId);
    if (expected.has(k)) seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  let twice = 0;
  for (const n of seen.values()) if (n > 1) twice++;
  return { chained: seen.size, twice };
}

/**
 * Audit catch-up (seed 001, "confirm audit-service catch-up"): the audit-service's consumer is paused through
 * its authenticated, time-bounded admin route (never by stopping Kafka), the synthetic admin creates and
 * revokes API keys through auth-service (two security events each, published through its outbox to
 * audit.events.v1), the consumer is resumed, and the step passes when every one of those events is chained
 * (once), the consumer lag is back to what it was before, and `audit verify` passes, within the timeout.
 * The consumer is resumed whatever happens; if the operator dies, the audit-service resumes by itself when
 * the pause it was asked for ends.
 */
export async function auditCatchUpStep(c: StepContext): Promise<StepOutcome> {
  const step = prepared(c.spec.steps.auditCatchUp, 'spec.steps.auditCatchUp');
  const tenant = prepared(c.tenant, 'the synthetic tenant');
  let session = prepared(c.session, 'a synthetic session');
  const figures: Record<string, number> = {};
  const done = (passed: boolean, message: string): StepOutcome => ({ passed, message, figures });
  const audit: AuditAdmin | undefined = c.adapters.audit;
  if (!audit)
    return done(
      false,
      "the operator has no DRILL_AUDIT_SERVICE_URL: set it to the audit-service's admin port (the chart's drills.auditServiceUrl, default http://audit-service.novapos.svc:9087)",
    );
  const secrets = prepared(c.adapters.secrets, 'a Secret reader');
  const ref = step.adminTokenSecretRef;
  const key = ref.key ?? AUDIT_ADMIN_TOKEN_KEY;
  let token: string;
  try {
    token = await secrets.read(c.namespace, ref.name, key);
  } catch (err) {
    return done(
      false,
      `the audit-service admin token: ${describeError(err)}: put the audit-service's AUDIT_ADMIN_TOKEN in Secret ${c.namespace}/${ref.name} under key ${key} (docs/drills.md, "Setup")`,
    );
  }
  const pauseMs = parseDuration(step.maxPause);
  const timeoutMs = parseDuration(step.timeout);
  const pairs = step.events / 2;
  const now = () => c.now().getTime();

  let before: AuditConsumerState;
  try {
    before = await audit.state(c.signal);
  } catch (err) {
    return done(
      false,
      `could not read the audit-service's /metrics (${describeError(err)}): is DRILL_AUDIT_SERVICE_URL its admin port (9087), and does the operator's egress reach it?`,
    );
  }
  let maxLag = before.lag;
  figures['events'] = 0;
  figures['maxLag'] = maxLag;

  try {
    await audit.pause(token, Math.ceil(pauseMs / 1000), c.signal);
  } catch (err) {
    if (err instanceof ServiceAnswerError && err.status === 401)
      return done(
        false,
        `the audit-service refused the admin token from Secret ${c.namespace}/${ref.name} key ${key} (HTTP 401 unauthorized): the Secret must hold the audit-service's AUDIT_ADMIN_TOKEN (without one set, the audit-service refuses every pause)`,
      );
    if (err instanceof ServiceAnswerError && err.status === 400)
      return done(
        false,
        `the audit-service refused a ${step.maxPause} pause (HTTP 400 ${err.code}): set steps.auditCatchUp.maxPause within its AUDIT_MAX_PAUSE_SECONDS, or raise that`,
      );
    return done(false, `could not pause the audit-service's consumer: ${describeError(err)}`);
  }
  const pausedAt = now();
  c.log.info({ tenant, events: step.events, maxPause: step.maxPause }, 'audit consumer paused by the drill');

  const ids: string[] = [];
  let problem: string | undefined;
  let resumeError: string | undefined;
  let resumedAt: number | undefined;
  const resume = async () => {
    if (resumedAt !== undefined) return;
    resumedAt = now();
    try {
      // Not the step's signal: the consumer is resumed even when the step was stopped.
      await audit.resume(token, AbortSignal.timeout(RESUME_TIMEOUT_MS));
    } catch (err) {
      resumeError = describeError(err);
    }
    figures['pausedSeconds'] = seconds(resumedAt - pausedAt);
  };
  /** A create or revoke; an expired step-up (a long keyRotation before) signs the admin in again once. */
  const asAdmin = async <T>(call: (s: SyntheticSession) => Promise<T>): Promise<T> => {
    try {
      return await call(session);
    } catch (err) {
      if (!(err instanceof ServiceAnswerError && err.code === 'reauthentication_required')) throw err;
      const credentials = await c.adapters.credentials.read(
        c.namespace,
        prepared(c.spec.syntheticTenant, 'spec.syntheticTenant').credentialsSecretRef.name,
      );
      session = await c.adapters.tenants.signIn(tenant, credentials, c.signal);
      return call(session);
    }
  };

  const expected = new Set<string>();
  try {
    // The events, all while paused: each API key is created and revoked at once.
    for (let i = 0; i < pairs && !c.signal.aborted; i++) {
      if (now() - pausedAt > pauseMs - PAUSE_MARGIN_MS) {
        problem = `only ${figures['events']} of ${step.events} synthetic events were produced within maxPause ${step.maxPause}: auth-service answered too slowly; raise steps.auditCatchUp.maxPause or lower events`;
        break;
      }
      const created = await asAdmin((s) =>
        s.createApiKey(`${apiKeyNamePrefix(c.drillName)}${c.runId}-audit-${i}`),
      );
      ids.push(created.id);
      expected.add(eventKey('api_key_created', created.id));
      figures['events']++;
      await asAdmin((s) => s.revokeApiKey(created.id));
      expected.add(eventKey('api_key_revoked', created.id));
      figures['events']++;
    }
    // Still paused: the lag shows the events (as soon as the relay published them), none of them is chained.
    const lagBy = Math.min(pausedAt + pauseMs - PAUSE_MARGIN_MS, now() + LAG_SHOWN_MS);
    while (!problem && !c.signal.aborted && now() < lagBy) {
      const st = await audit.state(c.signal).catch(() => undefined);
      if (st) maxLag = Math.max(maxLag, st.lag);
      if (maxLag - before.lag >= figures['events']) break;
      await pause(c.timing.pollMs, c.signal);
    }
    figures['maxLag'] = maxLag;
    if (!problem && !c.signal.aborted) {
      const early = matchChained(expected, await audit.chained(token, tenant, before.head, c.signal));
      if (early.chained > 0)
        problem = `the audit-service chained ${early.chained} of the ${figures['events']} synthetic events while its consumer was paused: the pause did not hold (is more than one consumer process chaining, e.g. a replica the pause did not reach?)`;
    }
  } catch (err) {
    problem ??= c.signal.aborted
      ? `stopped: ${abortReason(c.signal)}`
      : `producing the synthetic events: ${describeError(err)}`;
  } finally {
    await resume();
  }
  if (resumeError)
    problem ??= `could not resume the audit-service's consumer (${resumeError}); it resumes by itself when the ${step.maxPause} pause ends`;
  if (c.signal.aborted) return done(false, `stopped: ${abortReason(c.signal)}`);
  if (problem) return done(false, problem);
  const resumed = resumedAt ?? now();

  // Catch-up: every synthetic event chained, the lag back to where it was before the pause.
  const deadline = resumed + timeoutMs;
  let caughtUpAt: number | undefined;
  let chainedCount = 0;
  let twice = 0;
  let lag = maxLag;
  for (;;) {
    const [st, chained] = await Promise.all([
      audit.state(c.signal).catch(() => undefined),
      audit.chained(token, tenant, before.head, c.signal).catch(() => undefined),
    ]);
    if (st) {
      lag = st.lag;
      maxLag = Math.max(maxLag, lag);
    }
    if (chained) ({ chained: chainedCount, twice } = matchChained(expected, chained));
    if (chainedCount === expected.size && caughtUpAt === undefined) caughtUpAt = now();
    if (caughtUpAt !== undefined && lag <= before.lag) break;
    if (c.signal.aborted || now() >= deadline) break;
    await pause(c.timing.pollMs, c.signal);
  }
  figures['maxLag'] = maxLag;
  figures['chainedEvents'] = chainedCount;
  figures['lag'] = lag;
  if (caughtUpAt !== undefined) figures['catchUpSeconds'] = seconds(caughtUpAt - resumed);
  if (c.signal.aborted) return done(false, `stopped: ${abortReason(c.signal)}`);

  if (caughtUpAt === undefined) {
    const hint =
      chainedCount === 0 && maxLag - before.lag < figures['events']
        ? ': none reached the chain and the lag never rose by them: does auth-service publish to Kafka (KAFKA_BOOTSTRAP, its outbox relay) and does the audit-service consume audit.events.v1?'
        : ": the consumer is not catching up: check the audit-service's log (audit_append_failed) and its PostgreSQL";
    return done(
      false,
      `${chainedCount} of ${figures['events']} synthetic events were chained within ${formatDuration(timeoutMs)} of the resume (consumer lag ${lag}, at most ${maxLag})${hint}`,
    );
  }
  if (twice > 0)
    return done(
      false,
      `${twice} synthetic events were chained more than once: the audit-service's duplicate check (the event id) failed`,
    );
  if (lag > before.lag)
    return done(
      false,
      `every synthetic event was chained ${figures['catchUpSeconds']}s after the resume, but the consumer lag stayed at ${lag} (${before.lag} before the pause) for ${formatDuration(timeoutMs)}: the consumer is falling behind its topics`,
    );

  let verified: Awaited<ReturnType<AuditAdmin['verify']>>;
  try {
    verified = await audit.verify(c.signal);
  } catch (err) {
    return done(false, `the events were chained, but audit verify could not run: ${describeError(err)}`);
  }
  figures['verifiedEntries'] = verified.checked;
  if (!verified.ok) {
    const b = verified.firstBroken;
    return done(
      false,
      `the synthetic events were chained, but the chain does not verify${b ? `: first broken link at seq ${b.seq} (${b.reason})` : ''}: see the AuditChainVerifyFailed runbook`,
    );
  }
  return done(
    true,
    `${figures['events']} synthetic events produced while the consumer was paused ${figures['pausedSeconds']}s (lag up to ${maxLag}) were all chained ${figures['catchUpSeconds']}s after the resume; the chain verifies (${verified.checked} entries)`,
  );
}
