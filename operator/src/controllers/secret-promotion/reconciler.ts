import type { Logger } from '../../../../lib/log.js';
import type { FingerprintKey, FingerprintKeySource } from '../../adapters/hmac-key/index.js';
import { ConditionType, getCondition, Reason } from '../../api/conditions.js';
import { Annotations } from '../../api/meta.js';
import type { PromotionPlan, SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import {
  isBeingDeleted,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
} from '../../runtime/index.js';
import { writeTargets } from './apply.js';
import {
  adoptPolledPlan,
  type ConflictRecord,
  driftFromApproved,
  isApplied,
  nextStep,
  type Outcome,
  outcomeOf,
  type PlanTrigger,
  pendingTrigger,
  phaseOf,
  requeueAfter,
  type Step,
  type WriteRecord,
} from './desired.js';
import { assertPlanFits, type Failure, failureOf, PlanError } from './errors.js';
import { finalize, syncFinalizer } from './finalizer.js';
import { PromotionReader, type SecretStoreProvider, type TargetMetadata } from './gather.js';
import type { PromotionMetrics } from './metrics.js';
import {
  actionOf,
  computePlan,
  type PlanAction,
  type PlanComputation,
  type PlannedWrite,
  sameSource,
} from './plan.js';
import {
  checkPromotionPolicy,
  type PolicyDecision,
  type PromotionPolicies,
  withPolicyApproval,
} from './policy.js';
import {
  type ApplyResult,
  Draft,
  type EventNote,
  policyCondition,
  recordApply,
  recordPlan,
  settle,
} from './status.js';

export interface SecretPromotionReconcilerOptions {
  readonly connections: SecretStoreProvider;
  /** The promotion policy of each configured connection (the connections file); a name absent is refused. */
  readonly policies: PromotionPolicies;
  readonly fingerprintKey: FingerprintKeySource;
  readonly metrics: PromotionMetrics;
  readonly now?: () => Date;
  /** An approval counts only with admission's approved-by stamp. Default true. */
  readonly requireApproverStamp?: boolean;
  /** Entries kept in status.history. Default 10. */
  readonly historyLimit?: number;
  /** Parallel Vault requests per promotion. Default 8. */
  readonly concurrency?: number;
  /** Retry delay after a missing source (nothing else triggers a reconcile when it appears). Default 30 s. */
  readonly sourceRetryMs?: number;
}

/** The plan with its values, from the reads of this reconcile (memory only). */
interface PlanWork {
  readonly computation: PlanComputation;
  readonly targetMetadata: TargetMetadata;
}

/** What an apply starts from: the writes, or the conflicts that stop it before anything is written. */
interface ApplyInput {
  readonly writes: readonly PlannedWrite[];
  readonly conflicts: readonly ConflictRecord[];
  readonly alreadyWritten: readonly WriteRecord[];
  readonly targetMetadata: TargetMetadata;
}

/** How a step went, for the status: the outcome when the step decides it, the Ready detail, a failure. */
interface StepReport {
  readonly outcome?: Outcome;
  readonly ready: { readonly message: string; readonly reason?: string };
  readonly failure?: Failure;
}

/**
 * fetch → deletion/finalizer → promotion policy → next step (pure) → plan and/or apply through the Vault
 * reader and writer → settle the status (pure) → one status write → Events → requeue. Values are read from
 * Vault into memory, fingerprinted and written to targets; they never reach status, Events, logs, errors
 * or metrics.
 */
export class SecretPromotionReconciler implements Reconciler<SecretPromotion> {
  private readonly lastPolled = new Map<string, number>();
  private readonly now: () => Date;
  private readonly reader: PromotionReader;
  private readonly concurrency: number;

  constructor(private readonly opts: SecretPromotionReconcilerOptions) {
    this.now = opts.now ?? (() => new Date());
    this.concurrency = opts.concurrency ?? 8;
    this.reader = new PromotionReader(opts.connections, this.concurrency);
  }

  async reconcile(_key: string, ctx: ReconcileContext<SecretPromotion>): Promise<ReconcileResult> {
    let obj = ctx.get();
    if (!obj) return {};
    const uid = obj.metadata.uid ?? ctx.key;
    if (isBeingDeleted(obj)) {
      this.lastPolled.delete(uid);
      return finalize(obj, ctx, this.opts.connections, this.opts.policies);
    }
    obj = await syncFinalizer(obj, ctx);

    // The promotion policy first: a refused promotion reads and writes nothing. A protected target makes
    // the controller act as if spec.requireApproval were true.
    const policy = checkPromotionPolicy(obj, this.opts.policies);
    const draft = new Draft(withPolicyApproval(obj, policy), this.now());
    draft.condition(ConditionType.PolicyAllowed, policyCondition(policy));
    const events: EventNote[] = [];
    const step = this.firstStep(draft, uid, events);
    const report = await this.act(step, policy, obj, draft, uid, ctx.log, events);

    const outcome = report.outcome ?? outcomeOf(draft.view);
    settle(draft, outcome, report.ready, this.opts.requireApproverStamp, phaseOf(outcome));
    await ctx.status.write(obj, draft.status);
    for (const [type, reason, note] of events) await ctx.events.record(obj, type, reason, 'Reconcile', note);
    if (report.failure?.retry) throw new Error(report.failure.message);

    const after = this.decide(draft.view, this.now(), this.lastPolled.get(uid));
    const failureRetryMs = report.failure ? (this.opts.sourceRetryMs ?? 30_000) : undefined;
    const requeueAfterMs = requeueAfter(after, outcome, failureRetryMs);
    return requeueAfterMs !== undefined ? { requeueAfterMs } : {};
  }

  private decide(view: SecretPromotion, now: Date, lastPolledAt: number | undefined): Step {
    return nextStep(view, { now, lastPolledAt, requireApproverStamp: this.opts.requireApproverStamp });
  }

  /** The next step; a rollback requested before anything was promoted is answered and set aside first. */
  private firstStep(draft: Draft, uid: string, events: EventNote[]): Step {
    const step = this.decide(draft.view, draft.now, this.lastPolled.get(uid));
    if (step.kind !== 'nothing-to-roll-back') return step;
    const value = pendingTrigger(draft.view, 'rollback') as string;
    draft.handled('rollback', value);
    events.push([
      'Warning',
      'NothingToRollBack',
      `${Annotations.rollback}=${value}: nothing was promoted yet, so there is nothing to restore`,
    ]);
    return this.decide(draft.view, draft.now, this.lastPolled.get(uid));
  }

  /** Runs the step: a refusal, or a plan (applied at once when nothing else is needed), or an apply. */
  private async act(
    step: Step,
    policy: PolicyDecision,
    obj: SecretPromotion,
    draft: Draft,
    uid: string,
    log: Logger,
    events: EventNote[],
  ): Promise<StepReport> {
    if (!policy.allowed && step.kind !== 'suspended') {
      const message = `${policy.rule}: ${policy.message}`;
      if (getCondition(obj.status?.conditions, ConditionType.PolicyAllowed)?.status !== 'False')
        events.push(['Warning', Reason.PolicyDenied, message]);
      log.warn({ rule: policy.rule }, 'promotion refused by the promotion policy');
      return { outcome: 'denied', ready: { message } };
    }
    if (step.kind === 'suspended')
      return {
        outcome: 'suspended',
        ready: { message: 'spec.suspend is true: no planning or applying until it is false' },
      };
    if (step.kind === 'invalid') {
      draft.condition(ConditionType.Planned, {
        status: 'False',
        reason: Reason.InvalidSpec,
        message: step.message,
      });
      events.push(['Warning', Reason.InvalidSpec, step.message]);
      return { outcome: 'invalid', ready: { message: step.message } };
    }
    try {
      if (step.kind === 'plan') {
        const work = await this.plan(draft, step.action, step.trigger, log, events);
        this.lastPolled.set(uid, draft.now.getTime());
        const then = this.decide(draft.view, draft.now, draft.now.getTime());
        if (then.kind === 'apply') await this.apply(draft, then.approvedBy, work, log, events);
      } else if (step.kind === 'apply') {
        await this.apply(draft, step.approvedBy, undefined, log, events);
      }
      return { ready: { message: '' } };
    } catch (err) {
      const failure = failureOf(err);
      // A failed poll leaves the plan in force; any other failed plan must be made again.
      if (step.kind === 'plan' && step.trigger !== 'poll') {
        draft.condition(ConditionType.Planned, {
          status: 'False',
          reason: failure.reason,
          message: failure.message,
        });
      }
      events.push(['Warning', failure.reason, failure.message]);
      log.warn({ reason: failure.reason, err: failure.message }, 'secret promotion step failed');
      return { outcome: 'failed', ready: { reason: failure.reason, message: failure.message }, failure };
    }
  }

  /** Reads the source (or the last promotion, for a rollback), computes the plan and puts it in status. */
  private async plan(
    draft: Draft,
    action: PlanAction,
    trigger: PlanTrigger,
    log: Logger,
    events: EventNote[],
  ): Promise<PlanWork | undefined> {
    const p = draft.view;
    if (trigger === 'rollback') draft.handled('rollback', pendingTrigger(p, 'rollback') as string);
    if (trigger === 'reconcile-now')
      draft.handled('reconcileNow', pendingTrigger(p, 'reconcileNow') as string);
    const key = await this.opts.fingerprintKey.get();
    const reads =
      action === 'rollback' ? await this.reader.forRollback(p) : await this.reader.forPromotion(p);
    const computation = computePlan({
      action,
      pairs: reads.pairs,
      keys: p.spec.keys,
      prune: p.spec.prune,
      key,
      now: draft.now,
    });
    assertPlanFits(computation.plan);
    const current = draft.status.plan;
    if (
      trigger === 'poll' &&
      current &&
      !adoptPolledPlan(current, computation.plan, isApplied(p), sameSource)
    ) {
      log.debug({ plan: current.hash }, 'source unchanged: keeping the plan');
      return undefined;
    }
    events.push(...recordPlan(draft, computation.plan, reads.skipped, trigger));
    log.info(
      {
        plan: computation.plan.hash,
        trigger,
        summary: computation.plan.summary,
        skipped: reads.skipped.length,
      },
      'planned',
    );
    return { computation, targetMetadata: reads.targetMetadata };
  }

  /**
   * Applies the plan in status. With `work` (planned in this reconcile) the reads are fresh; otherwise the
   * plan's pinned versions are read again first, and any target that moved is a Conflict before anything
   * is written. Every write is check-and-set on the pinned target version.
   */
  private async apply(
    draft: Draft,
    approvedBy: string | undefined,
    work: PlanWork | undefined,
    log: Logger,
    events: EventNote[],
  ): Promise<void> {
    const p = draft.view;
    const plan = p.status?.plan as PromotionPlan;
    const key = await this.opts.fingerprintKey.get();
    const approval = pendingTrigger(p, 'approvePlan');
    // The approval acts once: recorded when the apply ends (written, conflicting or refused), not when a
    // Vault error interrupts it (the retry applies the same approved plan).
    const handled = () => {
      if (p.spec.requireApproval && approval !== undefined) draft.handled('approvePlan', approval);
    };

    let input: ApplyInput;
    try {
      input =
        work && work.computation.plan.hash === plan.hash
          ? { ...work, writes: work.computation.writes, conflicts: [], alreadyWritten: [] }
          : await this.recheck(p, plan, key);
    } catch (err) {
      if (err instanceof PlanError) handled();
      throw err;
    }
    const { written, conflicts } = input.conflicts.length
      ? { written: [], conflicts: input.conflicts }
      : await writeTargets(
          this.opts.connections,
          this.concurrency,
          p,
          plan,
          input.writes,
          input.targetMetadata,
          key,
        );
    handled();
    const done = [...input.alreadyWritten, ...written];
    const { result, event } = recordApply(draft, plan, approvedBy, done, conflicts, this.opts.historyLimit);
    events.push(event);
    this.count(draft, plan, result);
    log.info(
      {
        plan: plan.hash,
        action: actionOf(plan),
        written: done.length,
        conflicts: conflicts.length,
        approvedBy,
      },
      conflicts.length ? 'apply stopped by a conflict' : 'applied',
    );
  }

  /**
   * An approved plan's pinned versions read again and the plan computed again from them: targets that
   * moved, or whose override values changed, are conflicts; any other difference makes the approval stale.
   */
  private async recheck(p: SecretPromotion, plan: PromotionPlan, key: FingerprintKey): Promise<ApplyInput> {
    const pinned = await this.reader.pinned(p, plan, key);
    if (pinned.conflicts.length) return { ...pinned, writes: [] };
    const again = computePlan({
      action: actionOf(plan),
      pairs: pinned.pairs,
      keys: p.spec.keys,
      prune: p.spec.prune,
      key,
      now: new Date(plan.createdAt),
    });
    const drift = driftFromApproved(plan, again.plan);
    if ('stale' in drift)
      throw new PlanError(
        Reason.ApprovalStale,
        `plan ${plan.hash} no longer matches what Vault holds for ${drift.stale.target}:${drift.stale.targetPath}: re-plan with ${Annotations.reconcileNow}`,
      );
    return {
      ...pinned,
      conflicts: drift.conflicts,
      writes: drift.conflicts.length ? [] : again.writes,
    };
  }

  private count(draft: Draft, plan: PromotionPlan, result: ApplyResult): void {
    const { metrics } = this.opts;
    const labels = { namespace: draft.obj.metadata.namespace ?? '', name: draft.obj.metadata.name ?? '' };
    metrics.total.inc({ ...labels, result });
    if (result === 'conflict') {
      metrics.conflicts.inc(labels);
      return;
    }
    metrics.lastSuccess.set(labels, draft.now.getTime() / 1000);
    for (const a of ['add', 'change', 'remove'] as const) {
      if (plan.summary[a]) metrics.keysChanged.inc({ ...labels, action: a }, plan.summary[a]);
    }
  }
}
