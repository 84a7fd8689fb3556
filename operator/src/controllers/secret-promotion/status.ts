import {
  ConditionType,
  type ConditionUpdate,
  formatTime,
  Reason,
  setCondition,
} from '../../api/conditions.js';
import { Annotations, SIGNING_KEYS_VAULT_PREFIX } from '../../api/meta.js';
import type {
  PromotionPlan,
  SecretPromotion,
  SecretPromotionStatus,
} from '../../api/v1alpha1/secretpromotion.js';
import {
  approvalFor,
  type ConflictRecord,
  isApplied,
  type Outcome,
  type PlanTrigger,
  readyFor,
  type WriteRecord,
} from './desired.js';
import { actionOf, describePlan, hasChanges } from './plan.js';
import type { PolicyDecision } from './policy.js';

/**
 * The status rules of the SecretPromotion controller: what each step writes into the status being built
 * (conditions, plan, approval, history) and which Events it announces. Pure: no I/O, the clock is the
 * draft's.
 */

/** An Event to record after the status write: type, reason, note. */
export type EventNote = readonly [type: 'Normal' | 'Warning', reason: string, note: string];

type ConditionFields = Omit<ConditionUpdate, 'type'>;
type HistoryEntry = NonNullable<SecretPromotionStatus['history']>[number];

export const HISTORY_DEFAULT = 10;

/** A status being built in one reconcile and written once at the end. */
export class Draft {
  status: SecretPromotionStatus;
  readonly generation: number;

  constructor(
    readonly obj: SecretPromotion,
    readonly now: Date,
  ) {
    this.status = structuredClone(obj.status ?? {});
    this.generation = obj.metadata.generation ?? 0;
  }

  /** The object as it will be once the status is written (pure decisions read it). */
  get view(): SecretPromotion {
    return { ...this.obj, status: this.status };
  }

  condition(type: string, update: ConditionFields): void {
    this.status.conditions = setCondition(
      this.status.conditions,
      this.generation,
      { type, ...update },
      this.now,
    );
  }

  handled(which: 'rollback' | 'reconcileNow' | 'approvePlan', value: string): void {
    this.status.lastHandled = { ...this.status.lastHandled, [which]: value };
  }
}

/** The PolicyAllowed condition: the rule that refuses, or which targets are protected. */
export function policyCondition(policy: PolicyDecision): ConditionFields {
  if (!policy.allowed)
    return { status: 'False', reason: Reason.PolicyDenied, message: `${policy.rule}: ${policy.message}` };
  const prot = policy.protectedTargets;
  return {
    status: 'True',
    reason: Reason.PolicyAllows,
    message: prot.length
      ? `the promotion policy allows this namespace's connections; protected target(s) ${prot.join(', ')}: every plan needs an approval whatever spec.requireApproval says`
      : "the promotion policy allows this namespace's connections",
  };
}

/** What a trigger is called in the PlanReady / NoChanges Event. */
const triggerWords: Record<PlanTrigger, string> = {
  new: 'new',
  'spec-changed': 'spec changed',
  'reconcile-now': 'reconcile-now',
  rollback: 'rollback requested',
  poll: 'source changed',
};

/**
 * A new plan in status: it replaces the pending one and clears the conflicts, Planned says what it
 * changes; a plan with a new hash is announced (and the signing-key paths it skipped).
 */
export function recordPlan(
  draft: Draft,
  plan: PromotionPlan,
  skipped: readonly string[],
  trigger: PlanTrigger,
): EventNote[] {
  const previous = draft.status.plan?.hash;
  draft.status.plan = plan;
  delete draft.status.conflicts;
  const skippedNote = skipped.length
    ? `; skipped ${skipped.length} path${skipped.length === 1 ? '' : 's'} under ${SIGNING_KEYS_VAULT_PREFIX} (never promoted)`
    : '';
  const summary = `${describePlan(plan)}${skippedNote}`;
  const reason = hasChanges(plan) ? Reason.PlanReady : Reason.NoChanges;
  draft.condition(ConditionType.Planned, { status: 'True', reason, message: summary });
  if (previous === plan.hash) return [];
  const events: EventNote[] = [['Normal', reason, `${summary} (${triggerWords[trigger]})`]];
  if (skipped.length)
    events.push([
      'Normal',
      'SigningKeysSkipped',
      `skipped ${skipped.length} path(s) under ${SIGNING_KEYS_VAULT_PREFIX}: signing keys are per environment`,
    ]);
  return events;
}

/** The metric result of one apply. */
export type ApplyResult = 'applied' | 'rolled_back' | 'conflict';

/**
 * An apply that ended (written, or stopped by a conflict): status.lastPromotion lists what was written,
 * status.conflicts what stopped it, a history entry (newest first, `historyLimit` kept) and one Event.
 */
export function recordApply(
  draft: Draft,
  plan: PromotionPlan,
  approvedBy: string | undefined,
  written: readonly WriteRecord[],
  conflicts: readonly ConflictRecord[],
  historyLimit = HISTORY_DEFAULT,
): { result: ApplyResult; event: EventNote } {
  const action = actionOf(plan);
  const at = formatTime(draft.now);
  const done = [...written].sort((a, b) =>
    a.path === b.path ? (a.target < b.target ? -1 : 1) : a.path < b.path ? -1 : 1,
  );
  if (done.length)
    draft.status.lastPromotion = { planHash: plan.hash, promotedAt: at, approvedBy, writes: done };
  let entry: HistoryEntry;
  let result: ApplyResult;
  let event: EventNote;
  if (conflicts.length) {
    draft.status.conflicts = [...conflicts];
    const detail = describeConflicts(conflicts);
    const partial = done.length
      ? ` ${done.length} write(s) had already gone through and are in status.lastPromotion.`
      : '';
    entry = {
      action,
      planHash: plan.hash,
      at,
      approvedBy,
      result: 'Conflict',
      message: `${detail}.${partial}`,
    };
    result = 'conflict';
    event = [
      'Warning',
      Reason.TargetChanged,
      `${detail}: nothing was overwritten; re-plan with ${Annotations.reconcileNow} and approve the new plan`,
    ];
  } else {
    const sources = [...new Set(plan.entries.map((e) => `${e.sourcePath} v${e.sourceVersion}`))];
    const what = sources.length > 3 ? `${sources.length} secrets` : sources.join(', ');
    const targets = [...new Set(plan.entries.map((e) => e.target))].join(', ');
    const verb = action === 'rollback' ? 'rolled back' : `promoted ${what}`;
    const message = `${verb} to ${targets}: ${plan.summary.add} added, ${plan.summary.change} changed, ${plan.summary.remove} removed`;
    entry = { action, planHash: plan.hash, at, approvedBy, result: 'Succeeded', message };
    result = action === 'rollback' ? 'rolled_back' : 'applied';
    event = [
      'Normal',
      action === 'rollback' ? Reason.RolledBack : Reason.Promoted,
      `${message} (plan ${plan.hash}${approvedBy ? `, approved by ${approvedBy}` : ''})`,
    ];
  }
  draft.status.history = [entry, ...(draft.status.history ?? [])].slice(0, historyLimit);
  return { result, event };
}

/** The Approved condition and status.approval for the plan in status. */
function settleApproval(draft: Draft, plan: PromotionPlan, requireApproverStamp: boolean | undefined): void {
  const p = draft.view;
  if (!hasChanges(plan)) {
    draft.condition(ConditionType.Approved, {
      status: 'True',
      reason: Reason.NoChanges,
      message: `plan ${plan.hash} changes nothing: no approval needed`,
    });
  } else if (isApplied(p)) {
    const by = p.status?.lastPromotion?.approvedBy;
    draft.condition(ConditionType.Approved, {
      status: 'True',
      reason: p.spec.requireApproval ? Reason.PlanApproved : Reason.ApprovalNotRequired,
      message: p.spec.requireApproval
        ? `plan ${plan.hash} was approved by ${by ?? 'an unknown user'}`
        : 'spec.requireApproval is false',
    });
  } else {
    const approval = approvalFor(p, plan, requireApproverStamp);
    if (approval.state === 'waiting') {
      draft.condition(ConditionType.Approved, {
        status: 'False',
        reason: approval.reason,
        message: approval.message,
      });
      delete draft.status.approval;
    } else if (approval.state === 'approved') {
      const same = draft.status.approval?.planHash === plan.hash;
      draft.status.approval = {
        planHash: plan.hash,
        approvedBy: approval.by,
        approvedAt: same ? draft.status.approval?.approvedAt : formatTime(draft.now),
      };
      draft.condition(ConditionType.Approved, {
        status: 'True',
        reason: Reason.PlanApproved,
        message: `plan ${plan.hash} approved by ${approval.by ?? 'an unknown user'}`,
      });
    } else {
      draft.condition(ConditionType.Approved, {
        status: 'True',
        reason: Reason.ApprovalNotRequired,
        message: 'spec.requireApproval is false',
      });
    }
  }
  const last = p.status?.lastPromotion;
  if (isApplied(p) && p.spec.requireApproval && last?.approvedBy) {
    const same = draft.status.approval?.planHash === plan.hash;
    draft.status.approval = {
      planHash: plan.hash,
      approvedBy: last.approvedBy,
      approvedAt: same ? draft.status.approval?.approvedAt : last.promotedAt,
    };
  }
}

/** The Ready condition's reason and message: the step's own, or what the status says once it is settled. */
function readyDetail(
  draft: Draft,
  outcome: Outcome,
  step: { message: string; reason?: string },
  requireApproverStamp: boolean | undefined,
): { message: string; reason?: string } {
  const p = draft.view;
  const plan = p.status?.plan;
  if (outcome === 'promoted' || outcome === 'up-to-date') {
    const last = p.status?.lastPromotion;
    const rolledBack = outcome === 'promoted' && actionOf(plan) === 'rollback';
    return {
      reason: rolledBack ? Reason.RolledBack : outcome === 'promoted' ? Reason.Promoted : Reason.NoChanges,
      message: rolledBack
        ? `targets restored by plan ${plan?.hash}${p.spec.mode === 'continuous' ? `; continuous promotion paused until ${Annotations.reconcileNow} or a spec change` : ''}`
        : last
          ? `targets match the source (last applied plan ${last.planHash} at ${last.promotedAt})`
          : 'targets already match the source',
    };
  }
  if (outcome === 'awaiting-approval' && plan) {
    const approval = approvalFor(p, plan, requireApproverStamp);
    return approval.state === 'waiting'
      ? { reason: approval.reason, message: approval.message }
      : { reason: Reason.AwaitingApproval, message: `plan ${plan.hash} is approved; applying` };
  }
  if (outcome === 'conflict')
    return {
      reason: Reason.TargetChanged,
      message: `${describeConflicts(draft.status.conflicts ?? [])}: nothing was overwritten`,
    };
  return step;
}

/**
 * The end of every reconcile: Approved (and status.approval), Conflict and Ready from the outcome, the
 * phase and observedGeneration. `step` is the Ready detail the step itself gave (a failure, a refusal).
 */
export function settle(
  draft: Draft,
  outcome: Outcome,
  step: { message: string; reason?: string },
  requireApproverStamp: boolean | undefined,
  phase: SecretPromotionStatus['phase'],
): void {
  const plan = draft.status.plan;
  if (plan) settleApproval(draft, plan, requireApproverStamp);
  const conflicts = draft.status.conflicts ?? [];
  draft.condition(
    ConditionType.Conflict,
    conflicts.length
      ? {
          status: 'True',
          reason: Reason.TargetChanged,
          message: `${describeConflicts(conflicts)}: nothing was overwritten; re-plan with ${Annotations.reconcileNow} (or change the spec) and approve the new plan`,
        }
      : { status: 'False', reason: Reason.Reconciled, message: 'no target changed since the plan' },
  );
  draft.condition(
    ConditionType.Ready,
    readyFor(outcome, readyDetail(draft, outcome, step, requireApproverStamp)),
  );
  draft.status.observedGeneration = draft.generation;
  draft.status.phase = phase;
}

export function describeConflicts(conflicts: readonly ConflictRecord[]): string {
  const shown = conflicts.slice(0, 5).map((c) => {
    const keys = c.changedKeys?.length ? `, keys changed: ${c.changedKeys.join(', ')}` : '';
    const moved =
      c.plannedVersion === c.currentVersion
        ? 'an override value changed'
        : `planned v${c.plannedVersion}, now v${c.currentVersion}`;
    return `${c.target}:${c.path} (${moved}${keys})`;
  });
  const more = conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : '';
  return `${conflicts.length} target secret(s) changed after the plan was made: ${shown.join('; ')}${more}`;
}
