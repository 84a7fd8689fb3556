import {
  type Condition,
  ConditionType,
  getCondition,
  isConditionTrue,
  Reason,
} from '../../api/conditions.js';
import { Annotations, APPROVERS_GROUP } from '../../api/meta.js';
import type {
  PlanEntry,
  PromotionPlan,
  SecretPromotion,
  SecretPromotionStatus,
} from '../../api/v1alpha1/secretpromotion.js';
import { describeProblems, parseDuration, validateSecretPromotionSpec } from '../../api/validation.js';
import { actionOf, canonicalJson, hasChanges, type PlanAction } from './plan.js';

/**
 * Pure decisions of the SecretPromotion controller: what to do next, whether an approval covers the plan,
 * whether a polled plan replaces the pending one. Inputs are the object, the clock and what the reconciler
 * remembers in memory; no I/O.
 */

export type PlanTrigger = 'new' | 'spec-changed' | 'reconcile-now' | 'rollback' | 'poll';

export type Step =
  | { readonly kind: 'suspended' }
  | { readonly kind: 'invalid'; readonly message: string }
  | { readonly kind: 'plan'; readonly action: PlanAction; readonly trigger: PlanTrigger }
  /** The rollback annotation changed but nothing was promoted yet. */
  | { readonly kind: 'nothing-to-roll-back' }
  | { readonly kind: 'apply'; readonly approvedBy?: string }
  | { readonly kind: 'wait'; readonly requeueAfterMs?: number };

export type Approval =
  | { readonly state: 'not-required' }
  | { readonly state: 'approved'; readonly by: string | undefined }
  | { readonly state: 'waiting'; readonly reason: string; readonly message: string };

export interface DecisionInput {
  readonly now: Date;
  /** When this replica last checked the source of a continuous promotion (memory; lost on restart). */
  readonly lastPolledAt?: number;
  /** An approval counts only with the approved-by stamp that admission adds. Default true. */
  readonly requireApproverStamp?: boolean;
}

const annotation = (p: SecretPromotion, name: string): string | undefined => {
  const v = p.metadata.annotations?.[name];
  return v === undefined || v === '' ? undefined : v;
};

/** A new value of a trigger annotation: set, and not the value the operator last acted on. */
export function pendingTrigger(
  p: SecretPromotion,
  which: 'rollback' | 'reconcileNow' | 'approvePlan',
): string | undefined {
  const value = annotation(p, Annotations[which]);
  return value !== undefined && value !== p.status?.lastHandled?.[which] ? value : undefined;
}

/** Whether the plan in status was applied (the last promotion is this plan). */
export const isApplied = (p: SecretPromotion): boolean =>
  !!p.status?.plan && p.status.lastPromotion?.planHash === p.status.plan.hash;

/** Whether the plan in status was made for the current spec. */
export const planIsCurrent = (p: SecretPromotion): boolean =>
  !!p.status?.plan && isConditionTrue(p.status.conditions, ConditionType.Planned, p.metadata.generation ?? 0);

const sourcesOf = (plan: PromotionPlan): string => {
  const versions = [...new Set(plan.entries.map((e) => `${e.sourcePath} v${e.sourceVersion}`))];
  return versions.length > 3 ? `${versions.length} source secrets` : versions.join(', ');
};

/** Whether the approval annotations cover `plan` (or none is needed), and what to tell the user if not. */
export function approvalFor(p: SecretPromotion, plan: PromotionPlan, requireApproverStamp = true): Approval {
  if (!p.spec.requireApproval) return { state: 'not-required' };
  const named = annotation(p, Annotations.approvePlan);
  const how = `review status.plan, then as a member of ${APPROVERS_GROUP}: kubectl annotate spromo ${p.metadata.name} ${Annotations.approvePlan}=${plan.hash}`;
  if (named === undefined) {
    return {
      state: 'waiting',
      reason: Reason.AwaitingApproval,
      message: `plan ${plan.hash} awaits approval: ${how}`,
    };
  }
  if (named !== plan.hash) {
    return {
      state: 'waiting',
      reason: Reason.ApprovalStale,
      message: `${Annotations.approvePlan} names ${named}, not the current plan ${plan.hash} (reads ${sourcesOf(plan)}): a new source version, a changed target or a changed spec makes a new plan, which needs its own approval; ${how}`,
    };
  }
  const by = annotation(p, Annotations.approvedBy);
  if (by === undefined && requireApproverStamp) {
    return {
      state: 'waiting',
      reason: Reason.AwaitingApproval,
      message: `${Annotations.approvePlan} names plan ${plan.hash} but carries no ${Annotations.approvedBy} stamp, so the approver is unknown: install the admission policies in operator/admission/ and approve again`,
    };
  }
  return { state: 'approved', by };
}

/** Milliseconds between source checks of a continuous promotion. */
export function pollIntervalMs(p: SecretPromotion): number {
  return parseDuration(p.spec.interval ?? '5m');
}

/** What the controller should do now. */
export function nextStep(p: SecretPromotion, input: DecisionInput): Step {
  if (p.spec.suspend) return { kind: 'suspended' };
  const problems = validateSecretPromotionSpec(p.spec);
  if (problems.length) return { kind: 'invalid', message: describeProblems(problems) };

  if (pendingTrigger(p, 'rollback') !== undefined) {
    return p.status?.lastPromotion
      ? { kind: 'plan', action: 'rollback', trigger: 'rollback' }
      : { kind: 'nothing-to-roll-back' };
  }
  const plan = p.status?.plan;
  if (!plan) return { kind: 'plan', action: 'promote', trigger: 'new' };
  const applied = isApplied(p);
  const action = actionOf(plan);
  if (!planIsCurrent(p)) {
    // A spec change re-plans what was under way: a rollback not yet applied stays a rollback.
    const keep = action === 'rollback' && !applied && !!p.status?.lastPromotion;
    return { kind: 'plan', action: keep ? 'rollback' : 'promote', trigger: 'spec-changed' };
  }
  if (pendingTrigger(p, 'reconcileNow') !== undefined) {
    const keep = action === 'rollback' && !applied && !!p.status?.lastPromotion;
    return { kind: 'plan', action: keep ? 'rollback' : 'promote', trigger: 'reconcile-now' };
  }
  // A conflict waits for a person: re-planning on our own would approve the target's new state silently.
  if (p.status?.phase === 'Conflict') return { kind: 'wait' };

  if (!applied && hasChanges(plan)) {
    const approval = approvalFor(p, plan, input.requireApproverStamp ?? true);
    if (approval.state === 'not-required') return { kind: 'apply' };
    if (approval.state === 'approved' && pendingTrigger(p, 'approvePlan') !== undefined) {
      return { kind: 'apply', approvedBy: approval.by };
    }
  }

  // Continuous promotions watch the source; a rollback pauses that until someone re-plans.
  if (p.spec.mode === 'continuous' && action === 'promote') {
    const last = input.lastPolledAt ?? Date.parse(plan.createdAt);
    const due = last + pollIntervalMs(p);
    const now = input.now.getTime();
    if (now >= due) return { kind: 'plan', action: 'promote', trigger: 'poll' };
    return { kind: 'wait', requeueAfterMs: due - now };
  }
  return { kind: 'wait' };
}

/**
 * Whether a plan computed by a continuous poll replaces the plan in status. A plan that was applied, or had
 * nothing to do, is replaced by any different plan. A plan still waiting for approval is replaced only when
 * the source side moved: a target edited meanwhile must surface as a Conflict at apply, not be absorbed.
 */
export function adoptPolledPlan(
  current: PromotionPlan,
  fresh: PromotionPlan,
  currentApplied: boolean,
  sameSource: (a: PromotionPlan, b: PromotionPlan) => boolean,
): boolean {
  if (fresh.hash === current.hash) return false;
  if (currentApplied || !hasChanges(current)) return true;
  return !sameSource(current, fresh);
}

/** The phase for the status, from the step's outcome. */
export type Outcome =
  | 'suspended'
  | 'invalid'
  /** The operator's promotion policy refuses it: nothing was read or written. */
  | 'denied'
  | 'failed'
  | 'awaiting-approval'
  | 'promoted'
  | 'conflict'
  | 'up-to-date';

export function phaseOf(outcome: Outcome): NonNullable<SecretPromotion['status']>['phase'] {
  switch (outcome) {
    case 'suspended':
      return 'Suspended';
    case 'invalid':
    case 'denied':
    case 'failed':
      return 'Failed';
    case 'awaiting-approval':
      return 'AwaitingApproval';
    case 'conflict':
      return 'Conflict';
    case 'promoted':
    case 'up-to-date':
      return 'Promoted';
  }
}

/** The Ready condition's status, reason and message for an outcome. */
export function readyFor(
  outcome: Outcome,
  detail: { message: string; reason?: string },
): Pick<Condition, 'status' | 'reason' | 'message'> {
  switch (outcome) {
    case 'promoted':
      return { status: 'True', reason: detail.reason ?? Reason.Promoted, message: detail.message };
    case 'up-to-date':
      return { status: 'True', reason: detail.reason ?? Reason.NoChanges, message: detail.message };
    case 'suspended':
      return { status: 'False', reason: Reason.Suspended, message: detail.message };
    case 'invalid':
      return { status: 'False', reason: Reason.InvalidSpec, message: detail.message };
    case 'denied':
      return { status: 'False', reason: Reason.PolicyDenied, message: detail.message };
    case 'awaiting-approval':
      return { status: 'False', reason: detail.reason ?? Reason.AwaitingApproval, message: detail.message };
    case 'conflict':
      return { status: 'False', reason: Reason.TargetChanged, message: detail.message };
    case 'failed':
      return { status: 'False', reason: detail.reason ?? Reason.ReconcileError, message: detail.message };
  }
}

/** The Planned condition observedGeneration tells whether the plan is for the current spec. */
export const plannedGeneration = (p: SecretPromotion): number | undefined =>
  getCondition(p.status?.conditions, ConditionType.Planned)?.observedGeneration;

/**
 * Where a promotion stands, from its status alone (after this reconcile's plan or apply): a conflict waits
 * for a person, an applied plan is promoted, a plan without changes is up to date, anything else waits for
 * approval. Suspended, invalid and failed are decided by the step, not here.
 */
export function outcomeOf(p: SecretPromotion): 'conflict' | 'promoted' | 'up-to-date' | 'awaiting-approval' {
  const plan = p.status?.plan;
  if (p.status?.conflicts?.length) return 'conflict';
  if (plan && isApplied(p)) return 'promoted';
  if (!hasChanges(plan)) return 'up-to-date';
  return 'awaiting-approval';
}

/** One check-and-set write of an apply, as status.lastPromotion records it. */
export type WriteRecord = NonNullable<SecretPromotionStatus['lastPromotion']>['writes'][number];

/** A target that moved after the plan was made, as status.conflicts records it. */
export type ConflictRecord = NonNullable<SecretPromotionStatus['conflicts']>[number];

/**
 * An approved plan against the same plan computed again from its pinned versions just before applying.
 * Each entry must be equal. An entry whose source fingerprints moved is a conflict (an override changed);
 * an entry that differs otherwise (a pinned version destroyed, a changed key filter) makes the approval stale.
 */
export function driftFromApproved(
  approved: PromotionPlan,
  fresh: PromotionPlan,
): { readonly stale: PlanEntry } | { readonly conflicts: ConflictRecord[] } {
  const conflicts: ConflictRecord[] = [];
  for (const entry of fresh.entries) {
    const was = approved.entries.find((e) => e.target === entry.target && e.targetPath === entry.targetPath);
    if (was && canonicalJson(was) === canonicalJson(entry)) continue;
    const moved = (was?.changes ?? [])
      .filter((c) => entry.changes.find((x) => x.key === c.key)?.sourceFingerprint !== c.sourceFingerprint)
      .map((c) => c.key);
    if (!moved.length) return { stale: entry };
    conflicts.push({
      target: entry.target,
      path: entry.targetPath,
      plannedVersion: entry.targetVersion,
      currentVersion: entry.targetVersion,
      changedKeys: moved,
    });
  }
  return { conflicts };
}

/**
 * When to reconcile again, after this reconcile's status is written: `after` is the next step decided on
 * that status. A wait with a deadline (a continuous poll) requeues at it, or sooner for a failure's own
 * retry; a plan or apply that is already due runs at once, unless this reconcile failed (its own retry
 * governs, so a failing step never spins).
 */
export function requeueAfter(after: Step, outcome: Outcome, failureRetryMs?: number): number | undefined {
  if (after.kind === 'wait' && after.requeueAfterMs !== undefined)
    return Math.min(failureRetryMs ?? Number.POSITIVE_INFINITY, Math.max(after.requeueAfterMs, 1));
  if ((after.kind === 'plan' || after.kind === 'apply') && outcome !== 'failed') return 1;
  return failureRetryMs;
}
