import { canonicalJson } from '../../../../lib/keyset.js';
import { keyTreePath } from '../../adapters/vault/signing-key-store.js';
import {
  describeProblems,
  formatTime,
  getCondition,
  parseDuration,
  type SigningKeyRotationSpec,
  type SigningKeyRotationStatus,
  setCondition,
  validateSigningKeyRotationSpec,
} from '../../api/index.js';
import { SkrCondition, SkrReason } from './conditions.js';
import { keyStatus } from './key-status.js';
import {
  buildModel,
  type DecideInput,
  type DecideOptions,
  type Decision,
  ms,
  type Notice,
  retireWindowMs,
  type ServicesView,
  scheduledRotation,
  viewServices,
} from './model.js';
import { nextStep } from './next-step.js';
import {
  type ConditionFields,
  degradedCondition,
  deprecatedCondition,
  readyCondition,
  rotatingCondition,
  servicesLoadedCondition,
} from './status-conditions.js';
import { chooseTarget } from './target.js';
import { readTriggers } from './triggers.js';

export {
  buildModel,
  DEFAULT_DECIDE_OPTIONS,
  type DecideInput,
  type DecideOptions,
  type Decision,
  keysetDocumentFor,
  type ModelKey,
  type Notice,
  type RotationReason,
  retireWindowMs,
  type ServiceObservation,
  type Step,
  sameKeyset,
  scheduledRotation,
} from './model.js';

/**
 * The SigningKeyRotation state machine, as pure functions over (spec, status, annotations, clock, what
 * Vault holds, what the services report). No I/O here: the reconciler observes, calls `decide`, carries
 * out the one step it returns, observes again and writes the status `decide` computes for the new state.
 *
 * Records, in order of authority:
 * - the key-set document in Vault is what the services see: which keys are published, which one signs;
 * - `status.keys` is the operator's record of the lifecycle (timestamps, revocations, pending keys);
 * - the per-key secrets are the key material.
 * One Vault write per step, in an order that keeps the invariants whatever step a crash interrupts:
 * a key's secret is written (CAS 0) before any record names it; a key is published before it signs and
 * its secret says `active` before the key set names it active; a key leaves the key set before its
 * secret is destroyed. A secret that no record names is destroyed (it was never announced).
 *
 * `decide` is a chain of named rules, each in its own file with its table test: the model of the keys
 * (model.ts) → triggers (triggers.ts) → target (target.ts) → next step (next-step.ts) → status.keys
 * (key-status.ts) → conditions (status-conditions.ts) → requeue (`requeueAfter` below).
 */

// Validating a cron schedule samples a year of runs: remembered per spec (the answer does not depend on
// the day in any way that matters for a schedule that is valid at all).
const validated = new Map<string, ReturnType<typeof validateSigningKeyRotationSpec>>();
function specProblems(spec: SigningKeyRotationSpec, now: Date) {
  const key = canonicalJson(spec);
  let problems = validated.get(key);
  if (!problems) {
    problems = validateSigningKeyRotationSpec(spec, now);
    if (validated.size > 256) validated.clear();
    validated.set(key, problems);
  }
  return problems;
}

/** Decides the next step and the status for the observed state. */
export function decide(input: DecideInput): Decision {
  const { spec, now, options } = input;
  const prev = input.status ?? {};
  const generation = input.generation;
  let conditions = prev.conditions ?? [];
  const cond = (type: string, c: ConditionFields | undefined) => {
    if (c) conditions = setCondition(conditions, generation, { type, ...c }, now);
  };

  const problems = specProblems(spec, now);
  if (problems.length) {
    cond(SkrCondition.Ready, {
      status: 'False',
      reason: SkrReason.InvalidSpec,
      message: describeProblems(problems),
    });
    return {
      status: { ...prev, observedGeneration: generation, conditions },
      notices: [],
      requeueAfterMs: options.maxRequeueMs,
      invalidSpec: true,
    };
  }

  // Observe: one model of the keys, the services' view of the key set.
  const vault = input.vault;
  const doc = vault.keyset && !vault.keysetInvalid ? vault.keyset : undefined;
  const model = buildModel(prev.keys ?? [], vault, now);
  const byKid = new Map(model.map((k) => [k.kid, k]));
  const services = viewServices(input, doc);

  // Triggers → target → the one Vault write the target needs.
  const triggers = readTriggers(input.annotations, prev.lastHandled, byKid);
  const handled = { ...triggers.handled };
  const chosen = chooseTarget({ spec, prev, now, model, services, triggers });
  if (chosen.rotateNowHandled) handled.rotateNow = chosen.rotateNowHandled;
  const { target } = chosen;
  const inTarget = new Set(
    [target.active, target.next, ...target.retired, ...target.pending].filter(Boolean),
  );
  const step = nextStep(spec, target, model, inTarget, vault, now, triggers.revokeKid);

  // Status for the observed state.
  const keys = keyStatus({
    spec,
    model,
    now,
    retireWindowMs: retireWindowMs(spec, options.clockSkewMs),
    revokeKid: triggers.revokeKid,
    services,
    doc,
  });
  if (keys.revocationDone && triggers.revokeKid) handled.revokeKid = triggers.revokeKid;
  const entries = keys.entries;
  const activeEntry = entries.find((e) => e.state === 'active' && byKid.get(e.kid)?.published);
  const nextEntry = entries.find((e) => e.state === 'next' && byKid.get(e.kid)?.published);
  // After an emergency the schedule restarts from the new key's activation.
  const nextRotation =
    chosen.emergency && activeEntry
      ? scheduledRotation(spec, new Date(ms(activeEntry.activatedAt) ?? now.getTime()))
      : chosen.nextRotation;

  const lostActiveKid = chosen.activeLost ? model.find((k) => k.phase === 'active')?.kid : undefined;
  cond(SkrCondition.Ready, readyCondition(activeEntry, chosen.activeLost, nextRotation));
  cond(SkrCondition.Deprecated, deprecatedCondition(spec, conditions));
  cond(
    SkrCondition.Rotating,
    rotatingCondition(chosen.rotating, !!spec.suspend, nextRotation, parseDuration(spec.leadTime)),
  );
  cond(SkrCondition.ServicesLoaded, servicesLoadedCondition(spec, services));
  cond(SkrCondition.Degraded, degradedCondition(lostActiveKid, services, options));

  const status: SigningKeyRotationStatus = {
    observedGeneration: generation,
    conditions,
    keysetPath: `${input.location.mount}/${keyTreePath(input.location)}/keyset`,
    keys: entries,
    services: services.statuses,
  };
  if (activeEntry) status.activeKid = activeEntry.kid;
  if (nextEntry) status.nextKid = nextEntry.kid;
  if (doc) status.keysetHash = doc.keysetHash;
  if (activeEntry?.activatedAt) status.lastRotationTime = activeEntry.activatedAt;
  if (chosen.reason) status.lastRotationReason = chosen.reason;
  if (nextRotation) status.nextRotationTime = formatTime(nextRotation);
  if (Object.keys(handled).length) status.lastHandled = handled;
  if (!status.services?.length) delete status.services;

  const notices: Notice[] = [...triggers.notices, ...chosen.notices];
  return {
    step,
    status,
    notices,
    requeueAfterMs: requeueAfter(
      [...chosen.wakeAt, ...keys.wakeAt],
      now,
      options,
      spec.services?.length ? services : undefined,
    ),
    invalidSpec: false,
  };
}

/**
 * When to look again with no step to take: the soonest of what becomes due (lead time over, a retired key
 * removable, a revoked record expiring, the next publication) and the services' poll (fast while waiting for
 * them to load a set), at most `maxRequeueMs`; 5 ms late so a deadline has passed when the reconcile runs.
 */
export function requeueAfter(
  wakeAt: readonly number[],
  now: Date,
  options: Pick<DecideOptions, 'servicePollMs' | 'serviceWaitPollMs' | 'maxRequeueMs'>,
  services: Pick<ServicesView, 'allLoaded'> | undefined,
): number {
  const nowMs = now.getTime();
  const due = [...wakeAt];
  if (services) due.push(nowMs + (services.allLoaded ? options.servicePollMs : options.serviceWaitPollMs));
  const soonest = Math.min(...due.filter((t) => t > nowMs), nowMs + options.maxRequeueMs);
  return Math.max(1, soonest - nowMs + 5);
}

export interface Transition extends Notice {
  readonly kid?: string;
}

/** Events for what changed between two statuses: keys generated, published, activated, removed, revoked. */
export function transitions(
  prev: SigningKeyRotationStatus | undefined,
  next: SigningKeyRotationStatus,
): Transition[] {
  const out: Transition[] = [];
  const before = new Map((prev?.keys ?? []).map((k) => [k.kid, k]));
  const after = new Map((next.keys ?? []).map((k) => [k.kid, k]));
  for (const [kid, k] of after) {
    const b = before.get(kid);
    if (!b)
      out.push({
        kid,
        type: 'Normal',
        reason: SkrReason.KeyGenerated,
        note: `generated key ${kid} (${k.algorithm}) in Vault`,
      });
    if (k.state === 'next' && k.publishedAt && !b?.publishedAt) {
      out.push({
        kid,
        type: 'Normal',
        reason: SkrReason.KeyPublished,
        note: `published next key ${kid} in the key set`,
      });
    }
    if (k.state === 'revoked' && b?.state !== 'revoked') {
      out.push({
        kid,
        type: 'Warning',
        reason: SkrReason.KeyRevoked,
        note: `revoked key ${kid}: removed from the key set, its Vault versions are destroyed`,
      });
    }
  }
  for (const [kid, b] of before) {
    if (!after.has(kid) && b.state !== 'revoked') {
      out.push({
        kid,
        type: 'Normal',
        reason: SkrReason.KeyRemoved,
        note: `removed ${b.state} key ${kid} from the key set and destroyed it in Vault`,
      });
    }
  }
  if (next.activeKid && next.activeKid !== prev?.activeKid) {
    const emergency = next.lastRotationReason === 'emergency';
    out.push({
      kid: next.activeKid,
      type: emergency ? 'Warning' : 'Normal',
      reason: emergency ? SkrReason.EmergencyRotated : SkrReason.Rotated,
      note: `key ${next.activeKid} signs now (${next.lastRotationReason ?? 'scheduled'})${prev?.activeKid ? `; ${prev.activeKid} is retired and stays published until no token it signed can be valid` : ''}`,
    });
  }
  const wasDegraded = getCondition(prev?.conditions, SkrCondition.Degraded);
  const isDegraded = getCondition(next.conditions, SkrCondition.Degraded);
  if (
    isDegraded?.status === 'True' &&
    (wasDegraded?.status !== 'True' || wasDegraded.reason !== isDegraded.reason)
  ) {
    out.push({ type: 'Warning', reason: isDegraded.reason, note: isDegraded.message });
  } else if (wasDegraded?.status === 'True' && isDegraded?.status !== 'True') {
    out.push({ type: 'Normal', reason: SkrReason.Recovered, note: `recovered from ${wasDegraded.reason}` });
  }
  return out;
}
