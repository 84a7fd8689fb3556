import type { Logger } from '../../../../lib/log.js';
import { VaultError } from '../../../../lib/vault.js';
import type { FingerprintKey, FingerprintKeySource } from '../../adapters/hmac-key/index.js';
import {
  mapLimit,
  type SecretData,
  type SecretStore,
  type StoredSecret,
  UnknownConnectionError,
} from '../../adapters/vault-connections/index.js';
import {
  ConditionType,
  type ConditionUpdate,
  formatTime,
  getCondition,
  Reason,
  setCondition,
} from '../../api/conditions.js';
import { Annotations, SIGNING_KEYS_VAULT_PREFIX } from '../../api/meta.js';
import type {
  PromotionPlan,
  PromotionTarget,
  SecretPromotion,
  SecretPromotionStatus,
} from '../../api/v1alpha1/secretpromotion.js';
import { isSigningKeyPath, normalizeVaultPath } from '../../api/validation.js';
import {
  addFinalizer,
  hasFinalizer,
  isBeingDeleted,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
  removeFinalizer,
} from '../../runtime/index.js';
import {
  adoptPolledPlan,
  approvalFor,
  isApplied,
  nextStep,
  type Outcome,
  outcomeOf,
  type PlanTrigger,
  pendingTrigger,
  phaseOf,
  readyFor,
} from './desired.js';
import type { PromotionMetrics } from './metrics.js';
import {
  actionOf,
  canonicalJson,
  changedKeysSince,
  computePlan,
  describePlan,
  hasChanges,
  MAX_PLAN_BYTES,
  type PairSnapshot,
  type PlanAction,
  type PlanComputation,
  type PlannedWrite,
  planBytes,
  sameSource,
} from './plan.js';
import {
  checkPromotionPolicy,
  type PolicyDecision,
  type PromotionPolicies,
  withPolicyApproval,
} from './policy.js';

export const FINALIZER = 'security.novapos.io/secret-promotion';

/** custom_metadata keys written on every target secret a promotion writes (provenance; never values). */
export const Provenance = {
  promotion: 'novapos-promotion',
  plan: 'novapos-promotion-plan',
  source: 'novapos-promotion-source',
  sourceVersion: 'novapos-promotion-source-version',
  version: 'novapos-promotion-version',
  created: 'novapos-promotion-created',
} as const;

/** Gives the `SecretStore` of a named Vault connection. */
export interface SecretStoreProvider {
  store(connection: string): SecretStore;
}

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

/** A problem the user must fix (missing source, bad override, unknown target): not retried with backoff. */
class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The plan with its values, from the reads of this reconcile (memory only). */
interface PlanWork {
  readonly computation: PlanComputation;
  /** custom_metadata of each target secret as read, by `target|path`, to merge provenance into. */
  readonly targetMetadata: Map<string, Readonly<Record<string, string>> | undefined>;
  readonly skipped: readonly string[];
}

interface WriteRecord {
  target: string;
  path: string;
  previousVersion: number;
  version: number;
}

interface ConflictRecord {
  target: string;
  path: string;
  plannedVersion: number;
  currentVersion: number;
  changedKeys?: string[];
}

const HISTORY_DEFAULT = 10;
const pairKey = (target: string, path: string) => `${target}|${path}`;

/** A status being built in one reconcile and written once at the end. */
class Draft {
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

  condition(type: string, update: Omit<ConditionUpdate, 'type'>): void {
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

/**
 * fetch → finalizer → next step (pure) → plan and/or apply through the Vault adapters → one status write →
 * requeue. Values are read from Vault into memory, fingerprinted and written to targets; they never reach
 * status, Events, logs, errors or metrics.
 */
export class SecretPromotionReconciler implements Reconciler<SecretPromotion> {
  private readonly lastPolled = new Map<string, number>();
  private readonly now: () => Date;

  constructor(private readonly opts: SecretPromotionReconcilerOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  async reconcile(_key: string, ctx: ReconcileContext<SecretPromotion>): Promise<ReconcileResult> {
    let obj = ctx.get();
    if (!obj) return {};
    const uid = obj.metadata.uid ?? ctx.key;
    if (isBeingDeleted(obj)) {
      this.lastPolled.delete(uid);
      return this.finalize(obj, ctx);
    }
    obj = await this.syncFinalizer(obj, ctx);

    // The promotion policy first: a refused promotion reads and writes nothing. A protected target makes
    // the controller act as if spec.requireApproval were true.
    const policy = checkPromotionPolicy(obj, this.opts.policies);
    const draft = new Draft(withPolicyApproval(obj, policy), this.now());
    this.policyCondition(draft, policy);
    const events: [type: 'Normal' | 'Warning', reason: string, note: string][] = [];
    let outcome: Outcome | undefined;
    let readyMessage = '';
    let readyReason: string | undefined;
    let requeueAfterMs: number | undefined;
    let retryError: Error | undefined;

    const decide = (view: SecretPromotion, now: Date, lastPolledAt: number | undefined) =>
      nextStep(view, { now, lastPolledAt, requireApproverStamp: this.opts.requireApproverStamp });
    let step = decide(draft.view, draft.now, this.lastPolled.get(uid));
    if (step.kind === 'nothing-to-roll-back') {
      const value = pendingTrigger(draft.view, 'rollback') as string;
      draft.handled('rollback', value);
      events.push([
        'Warning',
        'NothingToRollBack',
        `${Annotations.rollback}=${value}: nothing was promoted yet, so there is nothing to restore`,
      ]);
      step = decide(draft.view, draft.now, this.lastPolled.get(uid));
    }

    try {
      if (!policy.allowed && step.kind !== 'suspended') {
        outcome = 'denied';
        readyMessage = `${policy.rule}: ${policy.message}`;
        if (getCondition(obj.status?.conditions, ConditionType.PolicyAllowed)?.status !== 'False')
          events.push(['Warning', Reason.PolicyDenied, readyMessage]);
        ctx.log.warn({ rule: policy.rule }, 'promotion refused by the promotion policy');
      } else if (step.kind === 'suspended') {
        outcome = 'suspended';
        readyMessage = 'spec.suspend is true: no planning or applying until it is false';
      } else if (step.kind === 'invalid') {
        outcome = 'invalid';
        readyMessage = step.message;
        draft.condition(ConditionType.Planned, {
          status: 'False',
          reason: Reason.InvalidSpec,
          message: step.message,
        });
        events.push(['Warning', Reason.InvalidSpec, step.message]);
      } else if (step.kind === 'plan') {
        const work = await this.plan(draft, step.action, step.trigger, ctx.log, events);
        this.lastPolled.set(uid, draft.now.getTime());
        const then = decide(draft.view, draft.now, draft.now.getTime());
        if (then.kind === 'apply') await this.apply(draft, then.approvedBy, work, ctx.log, events);
      } else if (step.kind === 'apply') {
        await this.apply(draft, step.approvedBy, undefined, ctx.log, events);
      }
    } catch (err) {
      const failure = this.describeFailure(err);
      outcome = 'failed';
      readyReason = failure.reason;
      readyMessage = failure.message;
      // A failed poll leaves the plan in force; any other failed plan must be made again.
      if (step.kind === 'plan' && step.trigger !== 'poll') {
        draft.condition(ConditionType.Planned, {
          status: 'False',
          reason: failure.reason,
          message: failure.message,
        });
      }
      events.push(['Warning', failure.reason, failure.message]);
      ctx.log.warn({ reason: failure.reason, err: failure.message }, 'secret promotion step failed');
      if (failure.retry) retryError = new Error(failure.message);
      else requeueAfterMs = this.opts.sourceRetryMs ?? 30_000;
    }

    outcome ??= outcomeOf(draft.view);
    this.finishConditions(draft, outcome, readyMessage, readyReason);
    draft.status.observedGeneration = draft.generation;
    draft.status.phase = phaseOf(outcome);

    await ctx.status.write(obj, draft.status);
    for (const [type, reason, note] of events) await ctx.events.record(obj, type, reason, 'Reconcile', note);
    if (retryError) throw retryError;

    // What comes next: a poll that is already due (after an apply) runs at once; a failure waits for its
    // own retry above, so a failing step never spins.
    const after = decide(draft.view, this.now(), this.lastPolled.get(uid));
    if (after.kind === 'wait' && after.requeueAfterMs !== undefined) {
      requeueAfterMs = Math.min(
        requeueAfterMs ?? Number.POSITIVE_INFINITY,
        Math.max(after.requeueAfterMs, 1),
      );
    } else if ((after.kind === 'plan' || after.kind === 'apply') && outcome !== 'failed') {
      requeueAfterMs = 1;
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : {};
  }

  // ---------------------------------------------------------------------------------------------------------
  // Plan

  private async plan(
    draft: Draft,
    action: PlanAction,
    trigger: PlanTrigger,
    log: Logger,
    events: [type: 'Normal' | 'Warning', reason: string, note: string][],
  ): Promise<PlanWork | undefined> {
    const p = draft.view;
    if (trigger === 'rollback') draft.handled('rollback', pendingTrigger(p, 'rollback') as string);
    if (trigger === 'reconcile-now')
      draft.handled('reconcileNow', pendingTrigger(p, 'reconcileNow') as string);
    const key = await this.opts.fingerprintKey.get();
    const { pairs, skipped, targetMetadata } =
      action === 'rollback' ? await this.rollbackPairs(p) : await this.promotionPairs(p);
    const computation = computePlan({
      action,
      pairs,
      keys: p.spec.keys,
      prune: p.spec.prune,
      key,
      now: draft.now,
    });
    const size = planBytes(computation.plan);
    if (size > MAX_PLAN_BYTES) {
      throw new PlanError(
        Reason.InvalidSpec,
        `the plan is too large for status (${computation.plan.entries.length} entries, ${size} bytes): split the promotion into smaller prefixes`,
      );
    }
    const current = draft.status.plan;
    const adopt =
      trigger !== 'poll' || !current || adoptPolledPlan(current, computation.plan, isApplied(p), sameSource);
    if (!adopt) {
      log.debug({ plan: current?.hash }, 'source unchanged: keeping the plan');
      return undefined;
    }
    const work = { computation, targetMetadata, skipped };
    const previous = current?.hash;
    draft.status.plan = computation.plan;
    delete draft.status.conflicts;
    const skippedNote = skipped.length
      ? `; skipped ${skipped.length} path${skipped.length === 1 ? '' : 's'} under ${SIGNING_KEYS_VAULT_PREFIX} (never promoted)`
      : '';
    const summary = `${describePlan(computation.plan)}${skippedNote}`;
    draft.condition(ConditionType.Planned, {
      status: 'True',
      reason: hasChanges(computation.plan) ? Reason.PlanReady : Reason.NoChanges,
      message: summary,
    });
    if (previous !== computation.plan.hash) {
      const why = {
        new: 'new',
        'spec-changed': 'spec changed',
        'reconcile-now': 'reconcile-now',
        rollback: 'rollback requested',
        poll: 'source changed',
      }[trigger];
      events.push([
        'Normal',
        hasChanges(computation.plan) ? Reason.PlanReady : Reason.NoChanges,
        `${summary} (${why})`,
      ]);
      if (skipped.length)
        events.push([
          'Normal',
          'SigningKeysSkipped',
          `skipped ${skipped.length} path(s) under ${SIGNING_KEYS_VAULT_PREFIX}: signing keys are per environment`,
        ]);
    }
    log.info(
      { plan: computation.plan.hash, trigger, summary: computation.plan.summary, skipped: skipped.length },
      'planned',
    );
    return work;
  }

  private store(connection: string): SecretStore {
    return this.opts.connections.store(connection);
  }

  private policyCondition(draft: Draft, policy: PolicyDecision): void {
    if (!policy.allowed) {
      draft.condition(ConditionType.PolicyAllowed, {
        status: 'False',
        reason: Reason.PolicyDenied,
        message: `${policy.rule}: ${policy.message}`,
      });
      return;
    }
    const prot = policy.protectedTargets;
    draft.condition(ConditionType.PolicyAllowed, {
      status: 'True',
      reason: Reason.PolicyAllows,
      message: prot.length
        ? `the promotion policy allows this namespace's connections; protected target(s) ${prot.join(', ')}: every plan needs an approval whatever spec.requireApproval says`
        : "the promotion policy allows this namespace's connections",
    });
  }

  /**
   * Every path the reconciler reads or writes, whether from spec or from status (a plan, the last
   * promotion), goes through this check: nothing under novapos/signing-keys/ is ever touched.
   */
  private guardPath(where: string, mount: string, path: string): void {
    if (isSigningKeyPath(mount, path))
      throw new PlanError(
        Reason.ForbiddenPath,
        `${where} ${mount}/${path} is under ${SIGNING_KEYS_VAULT_PREFIX}: signing keys are never promoted`,
      );
  }

  private targetSpec(p: SecretPromotion, name: string): PromotionTarget {
    const t = p.spec.targets.find((x) => x.name === name);
    if (!t)
      throw new PlanError(
        Reason.InvalidSpec,
        `target "${name}" of the last promotion is no longer in spec.targets: add it back to roll it back`,
      );
    return t;
  }

  /** Source secrets × targets, read now (the source at the pinned version when spec.source.version is set). */
  private async promotionPairs(p: SecretPromotion) {
    const { source, targets } = p.spec;
    const conc = this.opts.concurrency ?? 8;
    const sourceStore = this.store(source.connection);
    let secrets: { path: string; relative: string }[];
    let skipped: string[] = [];
    if (source.path !== undefined) {
      const path = normalizeVaultPath(source.path);
      secrets = [{ path, relative: '' }];
    } else {
      const prefix = normalizeVaultPath(source.prefix as string);
      const listed = await sourceStore.list(source.mount, prefix, (path) =>
        isSigningKeyPath(source.mount, path),
      );
      skipped = listed.skipped;
      secrets = listed.paths.map((path) => ({ path, relative: path.slice(prefix.length + 1) }));
      if (!secrets.length) {
        throw new PlanError(
          Reason.SourceNotFound,
          `no secrets under ${source.connection}:${source.mount}/${prefix}/`,
        );
      }
    }
    const read = await mapLimit(secrets, conc, async (s) => ({
      ...s,
      secret: await sourceStore.read(source.mount, s.path, source.version),
    }));
    const present = read.filter((r) => r.secret.data !== undefined);
    if (source.path !== undefined && !present.length) {
      const at = source.version ? ` version ${source.version}` : '';
      throw new PlanError(
        Reason.SourceNotFound,
        `source ${source.connection}:${source.mount}/${secrets[0]?.path}${at} does not exist or is deleted`,
      );
    }
    const overrides = await this.overrideValues(p);
    const pairs: PairSnapshot[] = [];
    const targetMetadata = new Map<string, Readonly<Record<string, string>> | undefined>();
    const jobs = present.flatMap((s) => targets.map((t) => ({ s, t })));
    await mapLimit(jobs, conc, async ({ s, t }) => {
      const targetPath = s.relative
        ? `${normalizeVaultPath(t.path)}/${s.relative}`
        : normalizeVaultPath(t.path);
      if (isSigningKeyPath(t.mount, targetPath)) return; // never written, whatever the source layout
      const current = await this.store(t.connection).read(t.mount, targetPath);
      targetMetadata.set(pairKey(t.name, targetPath), current.customMetadata);
      pairs.push({
        target: t.name,
        sourcePath: s.path,
        sourceVersion: s.secret.version,
        sourceData: s.secret.data,
        targetPath,
        targetVersion: current.version,
        targetData: current.data,
        overrides: overrides.get(t.name),
      });
    });
    return { pairs, skipped, targetMetadata };
  }

  /** Override values per target (latest versions), each source secret read once. */
  private async overrideValues(p: SecretPromotion): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    const cache = new Map<string, Promise<StoredSecret>>();
    for (const t of p.spec.targets) {
      const values: Record<string, unknown> = {};
      for (const o of t.overrides ?? []) {
        const from = o.valueFrom;
        const connection = from.connection ?? t.connection;
        const path = normalizeVaultPath(from.path);
        const where = `${connection}:${from.mount}/${path}`;
        if (isSigningKeyPath(from.mount, path))
          throw new PlanError(
            Reason.ForbiddenPath,
            `override ${o.key} reads ${where}, under ${SIGNING_KEYS_VAULT_PREFIX}`,
          );
        let read = cache.get(where);
        if (!read) {
          read = this.store(connection).read(from.mount, path);
          cache.set(where, read);
        }
        const secret = await read;
        if (!secret.data || !(from.key in secret.data)) {
          throw new PlanError(
            Reason.SourceNotFound,
            `override ${o.key} for target ${t.name}: ${where} has no key ${from.key}`,
          );
        }
        values[o.key] = secret.data[from.key];
      }
      out.set(t.name, values);
    }
    return out;
  }

  /** Each target secret the last promotion wrote, against the version it replaced. */
  private async rollbackPairs(p: SecretPromotion) {
    const writes = p.status?.lastPromotion?.writes ?? [];
    const conc = this.opts.concurrency ?? 8;
    const targetMetadata = new Map<string, Readonly<Record<string, string>> | undefined>();
    for (const w of writes)
      this.guardPath('status.lastPromotion names', this.targetSpec(p, w.target).mount, w.path);
    const pairs = await mapLimit(writes, conc, async (w): Promise<PairSnapshot> => {
      const t = this.targetSpec(p, w.target);
      const store = this.store(t.connection);
      const current = await store.read(t.mount, w.path);
      targetMetadata.set(pairKey(w.target, w.path), current.customMetadata);
      let restore: StoredSecret | undefined;
      if (w.previousVersion > 0) {
        restore = await store.read(t.mount, w.path, w.previousVersion);
        if (!restore.data) {
          throw new PlanError(
            Reason.SourceNotFound,
            `cannot roll back ${t.name}:${t.mount}/${w.path}: version ${w.previousVersion} is deleted or destroyed`,
          );
        }
      }
      return {
        target: w.target,
        sourcePath: w.path,
        sourceVersion: w.previousVersion,
        sourceData: restore?.data,
        targetPath: w.path,
        targetVersion: current.version,
        targetData: current.data,
      };
    });
    return { pairs, skipped: [] as string[], targetMetadata };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Apply

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
    events: [type: 'Normal' | 'Warning', reason: string, note: string][],
  ): Promise<void> {
    const p = draft.view;
    const plan = p.status?.plan as PromotionPlan;
    const action = actionOf(plan);
    const key = await this.opts.fingerprintKey.get();
    const approval = pendingTrigger(p, 'approvePlan');
    // The approval acts once: recorded when the apply ends (written, conflicting or refused), not when a
    // Vault error interrupts it (the retry applies the same approved plan).
    const handled = () => {
      if (p.spec.requireApproval && approval !== undefined) draft.handled('approvePlan', approval);
    };

    const done: WriteRecord[] = [];
    const conflicts: ConflictRecord[] = [];
    let writes: PlannedWrite[];
    let targetMetadata: Map<string, Readonly<Record<string, string>> | undefined>;
    if (work && work.computation.plan.hash === plan.hash) {
      writes = work.computation.writes;
      targetMetadata = work.targetMetadata;
    } else {
      let recheck: Awaited<ReturnType<SecretPromotionReconciler['recheck']>>;
      try {
        recheck = await this.recheck(p, plan, key);
      } catch (err) {
        if (err instanceof PlanError) handled();
        throw err;
      }
      conflicts.push(...recheck.conflicts);
      done.push(...recheck.alreadyWritten);
      writes = recheck.writes;
      targetMetadata = recheck.targetMetadata;
    }

    if (!conflicts.length) {
      const conc = this.opts.concurrency ?? 8;
      for (const w of writes)
        this.guardPath('a planned write to', this.targetSpec(p, w.target).mount, w.targetPath);
      await mapLimit(writes, conc, async (w) => {
        const t = this.targetSpec(p, w.target);
        const store = this.store(t.connection);
        try {
          const version = await store.write(t.mount, w.targetPath, w.data, w.expectedVersion);
          const existing = targetMetadata.get(pairKey(w.target, w.targetPath));
          const sourceWhere =
            action === 'rollback'
              ? `${t.connection}:${t.mount}/${w.sourcePath}`
              : `${p.spec.source.connection}:${p.spec.source.mount}/${w.sourcePath}`;
          await store.setCustomMetadata(
            t.mount,
            w.targetPath,
            {
              [Provenance.promotion]: `${p.metadata.namespace}/${p.metadata.name}`,
              [Provenance.plan]: plan.hash,
              [Provenance.source]: sourceWhere,
              [Provenance.sourceVersion]: String(w.sourceVersion),
              [Provenance.version]: String(version),
              [Provenance.created]:
                w.expectedVersion === 0 ? 'true' : (existing?.[Provenance.created] ?? 'false'),
            },
            existing,
          );
          if (w.deleteAfterWrite) await store.deleteVersions(t.mount, w.targetPath, [version]);
          done.push({ target: w.target, path: w.targetPath, previousVersion: w.expectedVersion, version });
        } catch (err) {
          if (!(err instanceof VaultError && err.code === 'cas_mismatch')) throw err;
          const now = await store.read(t.mount, w.targetPath);
          const entry = plan.entries.find((e) => e.target === w.target && e.targetPath === w.targetPath);
          conflicts.push({
            target: w.target,
            path: w.targetPath,
            plannedVersion: w.expectedVersion,
            currentVersion: now.version,
            changedKeys: entry ? changedKeysSince(entry, now.data, key) : undefined,
          });
        }
      });
    }
    handled();
    this.recordApply(draft, plan, approvedBy, done, conflicts, events);
    log.info(
      { plan: plan.hash, action, written: done.length, conflicts: conflicts.length, approvedBy },
      conflicts.length ? 'apply stopped by a conflict' : 'applied',
    );
  }

  /** Reads the pinned versions again; targets that moved are conflicts (unless this plan itself moved them). */
  private async recheck(p: SecretPromotion, plan: PromotionPlan, key: FingerprintKey) {
    const action = actionOf(plan);
    const conc = this.opts.concurrency ?? 8;
    const overrides =
      action === 'promote' ? await this.overrideValues(p) : new Map<string, Record<string, unknown>>();
    const targetMetadata = new Map<string, Readonly<Record<string, string>> | undefined>();
    const conflicts: ConflictRecord[] = [];
    const alreadyWritten: WriteRecord[] = [];
    const pairs: PairSnapshot[] = [];
    // The plan comes from status, which anyone who may patch status could have written: check every path.
    for (const e of plan.entries) {
      const t = this.targetSpec(p, e.target);
      this.guardPath('status.plan target', t.mount, e.targetPath);
      this.guardPath(
        'status.plan source',
        action === 'rollback' ? t.mount : p.spec.source.mount,
        action === 'rollback' ? e.targetPath : e.sourcePath,
      );
      if (action === 'rollback' && e.sourcePath !== e.targetPath)
        throw new PlanError(
          Reason.InvalidSpec,
          `status.plan: a rollback entry restores ${e.targetPath} from another path (${e.sourcePath}): re-plan with ${Annotations.reconcileNow}`,
        );
    }
    await mapLimit(plan.entries, conc, async (e) => {
      const t = this.targetSpec(p, e.target);
      const targetStore = this.store(t.connection);
      const current = await targetStore.read(t.mount, e.targetPath);
      targetMetadata.set(pairKey(e.target, e.targetPath), current.customMetadata);
      if (current.version !== e.targetVersion) {
        const meta = current.customMetadata ?? {};
        if (meta[Provenance.plan] === plan.hash && meta[Provenance.version] === String(current.version)) {
          // Written by this very plan in an earlier, interrupted reconcile.
          alreadyWritten.push({
            target: e.target,
            path: e.targetPath,
            previousVersion: e.targetVersion,
            version: current.version,
          });
          return;
        }
        conflicts.push({
          target: e.target,
          path: e.targetPath,
          plannedVersion: e.targetVersion,
          currentVersion: current.version,
          changedKeys: changedKeysSince(e, current.data, key),
        });
        return;
      }
      let sourceData: SecretData | undefined;
      if (action === 'rollback') {
        if (e.sourceVersion > 0)
          sourceData = (await targetStore.read(t.mount, e.targetPath, e.sourceVersion)).data;
      } else {
        const s = p.spec.source;
        sourceData = (await this.store(s.connection).read(s.mount, e.sourcePath, e.sourceVersion)).data;
      }
      pairs.push({
        target: e.target,
        sourcePath: e.sourcePath,
        sourceVersion: e.sourceVersion,
        sourceData,
        targetPath: e.targetPath,
        targetVersion: current.version,
        targetData: current.data,
        overrides: overrides.get(e.target),
      });
    });
    if (conflicts.length) return { conflicts, alreadyWritten, writes: [] as PlannedWrite[], targetMetadata };
    // The entries still to write, computed again from the pinned versions: each must equal the approved
    // entry. Same versions but other values means an override changed (or a pinned version was destroyed).
    const again = computePlan({
      action,
      pairs,
      keys: p.spec.keys,
      prune: p.spec.prune,
      key,
      now: new Date(plan.createdAt),
    });
    for (const fresh of again.plan.entries) {
      const approved = plan.entries.find(
        (e) => e.target === fresh.target && e.targetPath === fresh.targetPath,
      );
      if (approved && canonicalJson(approved) === canonicalJson(fresh)) continue;
      const moved = (approved?.changes ?? [])
        .filter((c) => fresh.changes.find((x) => x.key === c.key)?.sourceFingerprint !== c.sourceFingerprint)
        .map((c) => c.key);
      if (!moved.length) {
        throw new PlanError(
          Reason.ApprovalStale,
          `plan ${plan.hash} no longer matches what Vault holds for ${fresh.target}:${fresh.targetPath}: re-plan with ${Annotations.reconcileNow}`,
        );
      }
      conflicts.push({
        target: fresh.target,
        path: fresh.targetPath,
        plannedVersion: fresh.targetVersion,
        currentVersion: fresh.targetVersion,
        changedKeys: moved,
      });
    }
    return { conflicts, alreadyWritten, writes: conflicts.length ? [] : again.writes, targetMetadata };
  }

  private recordApply(
    draft: Draft,
    plan: PromotionPlan,
    approvedBy: string | undefined,
    done: WriteRecord[],
    conflicts: ConflictRecord[],
    events: [type: 'Normal' | 'Warning', reason: string, note: string][],
  ): void {
    const p = draft.obj;
    const labels = { namespace: p.metadata.namespace ?? '', name: p.metadata.name ?? '' };
    const action = actionOf(plan);
    const at = formatTime(draft.now);
    const sources = [...new Set(plan.entries.map((e) => `${e.sourcePath} v${e.sourceVersion}`))];
    const what = sources.length > 3 ? `${sources.length} secrets` : sources.join(', ');
    const targets = [...new Set(plan.entries.map((e) => e.target))].join(', ');
    done.sort((a, b) => (a.path === b.path ? (a.target < b.target ? -1 : 1) : a.path < b.path ? -1 : 1));
    if (done.length) {
      draft.status.lastPromotion = { planHash: plan.hash, promotedAt: at, approvedBy, writes: done };
    }
    const history = draft.status.history ?? [];
    if (conflicts.length) {
      draft.status.conflicts = conflicts;
      const detail = describeConflicts(conflicts);
      const partial = done.length
        ? ` ${done.length} write(s) had already gone through and are in status.lastPromotion.`
        : '';
      history.unshift({
        action,
        planHash: plan.hash,
        at,
        approvedBy,
        result: 'Conflict',
        message: `${detail}.${partial}`,
      });
      this.opts.metrics.conflicts.inc(labels);
      this.opts.metrics.total.inc({ ...labels, result: 'conflict' });
      events.push([
        'Warning',
        Reason.TargetChanged,
        `${detail}: nothing was overwritten; re-plan with ${Annotations.reconcileNow} and approve the new plan`,
      ]);
    } else {
      const verb = action === 'rollback' ? 'rolled back' : `promoted ${what}`;
      const message = `${verb} to ${targets}: ${plan.summary.add} added, ${plan.summary.change} changed, ${plan.summary.remove} removed`;
      history.unshift({ action, planHash: plan.hash, at, approvedBy, result: 'Succeeded', message });
      this.opts.metrics.total.inc({ ...labels, result: action === 'rollback' ? 'rolled_back' : 'applied' });
      this.opts.metrics.lastSuccess.set(labels, draft.now.getTime() / 1000);
      for (const a of ['add', 'change', 'remove'] as const) {
        if (plan.summary[a]) this.opts.metrics.keysChanged.inc({ ...labels, action: a }, plan.summary[a]);
      }
      events.push([
        'Normal',
        action === 'rollback' ? Reason.RolledBack : Reason.Promoted,
        `${message} (plan ${plan.hash}${approvedBy ? `, approved by ${approvedBy}` : ''})`,
      ]);
    }
    draft.status.history = history.slice(0, this.opts.historyLimit ?? HISTORY_DEFAULT);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Status

  private finishConditions(draft: Draft, outcome: Outcome, message: string, reason?: string): void {
    const p = draft.view;
    const plan = p.status?.plan;
    if (plan) {
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
        const approval = approvalFor(p, plan, this.opts.requireApproverStamp);
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
      if (isApplied(p) && p.spec.requireApproval && p.status?.lastPromotion?.approvedBy) {
        const by = p.status.lastPromotion.approvedBy;
        const same = draft.status.approval?.planHash === plan.hash;
        draft.status.approval = {
          planHash: plan.hash,
          approvedBy: by,
          approvedAt: same ? draft.status.approval?.approvedAt : p.status.lastPromotion.promotedAt,
        };
      }
    }
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

    let detail = { message, reason };
    if (outcome === 'promoted' || outcome === 'up-to-date') {
      const last = p.status?.lastPromotion;
      const rolledBack = outcome === 'promoted' && actionOf(plan) === 'rollback';
      detail = {
        reason: rolledBack ? Reason.RolledBack : outcome === 'promoted' ? Reason.Promoted : Reason.NoChanges,
        message: rolledBack
          ? `targets restored by plan ${plan?.hash}${p.spec.mode === 'continuous' ? `; continuous promotion paused until ${Annotations.reconcileNow} or a spec change` : ''}`
          : last
            ? `targets match the source (last applied plan ${last.planHash} at ${last.promotedAt})`
            : 'targets already match the source',
      };
    } else if (outcome === 'awaiting-approval' && plan) {
      const approval = approvalFor(p, plan, this.opts.requireApproverStamp);
      detail =
        approval.state === 'waiting'
          ? { reason: approval.reason, message: approval.message }
          : { reason: Reason.AwaitingApproval, message: `plan ${plan.hash} is approved; applying` };
    } else if (outcome === 'conflict') {
      detail = {
        reason: Reason.TargetChanged,
        message: `${describeConflicts(conflicts)}: nothing was overwritten`,
      };
    }
    draft.condition(ConditionType.Ready, readyFor(outcome, detail));
  }

  private describeFailure(err: unknown): { reason: string; message: string; retry: boolean } {
    if (err instanceof PlanError) return { reason: err.reason, message: err.message, retry: false };
    if (err instanceof UnknownConnectionError)
      return { reason: Reason.InvalidSpec, message: err.message, retry: false };
    if (err instanceof VaultError)
      return { reason: Reason.VaultUnavailable, message: `Vault: ${err.message} (${err.code})`, retry: true };
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? 'error') : 'error';
    return { reason: Reason.ReconcileError, message, retry: true };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Finalizer

  private async syncFinalizer(
    obj: SecretPromotion,
    ctx: ReconcileContext<SecretPromotion>,
  ): Promise<SecretPromotion> {
    const wants = obj.spec.deletionPolicy === 'Delete';
    if (wants && !hasFinalizer(obj, FINALIZER)) return addFinalizer(ctx.client, obj, FINALIZER);
    if (!wants && hasFinalizer(obj, FINALIZER)) return removeFinalizer(ctx.client, obj, FINALIZER);
    return obj;
  }

  /**
   * deletionPolicy Delete: soft-delete the target secrets this promotion created, when the current version
   * is still the one it wrote. A target that existed before, or was edited since, is left as it is.
   */
  private async finalize(
    obj: SecretPromotion,
    ctx: ReconcileContext<SecretPromotion>,
  ): Promise<ReconcileResult> {
    if (!hasFinalizer(obj, FINALIZER)) return {};
    const policy = checkPromotionPolicy(obj, this.opts.policies);
    if (obj.spec.deletionPolicy === 'Delete') {
      const me = `${obj.metadata.namespace}/${obj.metadata.name}`;
      const seen = new Set<string>();
      const paths: { target: string; path: string }[] = [];
      for (const w of obj.status?.lastPromotion?.writes ?? []) paths.push({ target: w.target, path: w.path });
      for (const e of obj.status?.plan?.entries ?? []) paths.push({ target: e.target, path: e.targetPath });
      let removed = 0;
      const kept: string[] = [];
      for (const { target, path } of paths) {
        const t = obj.spec.targets.find((x) => x.name === target);
        if (!t || seen.has(pairKey(target, path))) continue;
        // Paths from status: never under the signing keys, never on a connection the policy refuses.
        if (isSigningKeyPath(t.mount, path) || !policy.allowed) {
          kept.push(`${target}:${path}`);
          continue;
        }
        seen.add(pairKey(target, path));
        const store = this.store(t.connection);
        const meta = await store.metadata(t.mount, path);
        if (!meta || meta.customMetadata[Provenance.promotion] !== me) continue;
        const ours =
          meta.customMetadata[Provenance.created] === 'true' &&
          meta.customMetadata[Provenance.version] === String(meta.currentVersion);
        if (!ours) {
          kept.push(`${target}:${path}`);
          continue;
        }
        await store.deleteVersions(t.mount, path, meta.liveVersions);
        removed += 1;
      }
      const note = `deletionPolicy Delete: soft-deleted ${removed} target secret(s) this promotion created${kept.length ? `; left ${kept.length} that existed before or changed since (${kept.slice(0, 5).join(', ')})` : ''}`;
      ctx.log.info({ removed, kept: kept.length }, 'finalized');
      await ctx.events.record(obj, kept.length ? 'Warning' : 'Normal', 'TargetsDeleted', 'Finalize', note);
    }
    await removeFinalizer(ctx.client, obj, FINALIZER);
    return {};
  }
}

function describeConflicts(conflicts: readonly ConflictRecord[]): string {
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
