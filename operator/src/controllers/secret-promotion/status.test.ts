import { describe, expect, it } from 'vitest';
import { type Condition, ConditionType, getCondition, Reason } from '../../api/conditions.js';
import { Annotations } from '../../api/meta.js';
import type { SecretPromotionSpec, SecretPromotionStatus } from '../../api/v1alpha1/secretpromotion.js';
import { type ConflictRecord, type Outcome, phaseOf, type WriteRecord } from './desired.js';
import { aPlan, aPromotionGiven, now } from './fixtures.test-support.js';
import type { PolicyDecision } from './policy.js';
import { Draft, describeConflicts, policyCondition, recordApply, recordPlan, settle } from './status.js';

const plan = aPlan();
const rollbackPlan = aPlan([{}], 'rollback');
const noChangePlan = aPlan([{ targetData: { A: '1' } }]);

function draftOf(
  status: SecretPromotionStatus = {},
  spec: Partial<SecretPromotionSpec> = {},
  annotations?: Record<string, string>,
): Draft {
  return new Draft(aPromotionGiven({ status, spec, annotations, generation: 3 }), now);
}

const condition = (d: Draft, type: string): Condition | undefined => getCondition(d.status.conditions, type);
const aConflict = (path: string, planned = 1, current = 2, changedKeys?: string[]): ConflictRecord => ({
  target: 'staging',
  path,
  plannedVersion: planned,
  currentVersion: current,
  changedKeys,
});
const aWrite = (target: string, path: string): WriteRecord => ({
  target,
  path,
  previousVersion: 1,
  version: 2,
});

describe('policyCondition', () => {
  const cases: [string, PolicyDecision, Partial<Condition>, string][] = [
    [
      'a refusal names the rule of the connections file',
      { allowed: false, rule: 'connections.prod.promotion.target', message: 'prod is no target' },
      { status: 'False', reason: Reason.PolicyDenied },
      'connections.prod.promotion.target: prod is no target',
    ],
    [
      'an allowed promotion says so',
      { allowed: true, protectedTargets: [] },
      { status: 'True', reason: Reason.PolicyAllows },
      "the promotion policy allows this namespace's connections",
    ],
    [
      'protected targets are named, with what they mean',
      { allowed: true, protectedTargets: ['prod'] },
      { status: 'True', reason: Reason.PolicyAllows },
      'protected target(s) prod: every plan needs an approval',
    ],
  ];
  for (const [name, policy, expected, message] of cases) {
    it(name, () => {
      const c = policyCondition(policy);
      expect(c).toMatchObject(expected);
      expect(c.message).toContain(message);
    });
  }
});

describe('recordPlan', () => {
  it('a new plan replaces the pending one, clears the conflicts and is announced with its trigger', () => {
    const d = draftOf({ plan: noChangePlan, conflicts: [aConflict('novapos/auth')] });
    const events = recordPlan(d, plan, [], 'poll');
    expect(d.status.plan).toBe(plan);
    expect(d.status.conflicts).toBeUndefined();
    expect(condition(d, ConditionType.Planned)).toMatchObject({ status: 'True', reason: Reason.PlanReady });
    expect(events).toEqual([['Normal', Reason.PlanReady, expect.stringContaining('(source changed)')]]);
  });
  it('a plan without changes is Planned with NoChanges', () => {
    const d = draftOf();
    const events = recordPlan(d, noChangePlan, [], 'new');
    expect(condition(d, ConditionType.Planned)?.reason).toBe(Reason.NoChanges);
    expect(events[0]?.[1]).toBe(Reason.NoChanges);
  });
  it('the same plan again is not announced again', () => {
    const d = draftOf({ plan });
    expect(recordPlan(d, plan, [], 'reconcile-now')).toEqual([]);
  });
  it('skipped signing-key paths are counted in the condition and announced', () => {
    const d = draftOf();
    const events = recordPlan(d, plan, ['novapos/signing-keys/a', 'novapos/signing-keys/b'], 'new');
    expect(condition(d, ConditionType.Planned)?.message).toContain('skipped 2 paths under');
    expect(events.map((e) => e[1])).toEqual([Reason.PlanReady, 'SigningKeysSkipped']);
  });
});

describe('recordApply', () => {
  it('a promotion records its writes sorted by path and target, a Succeeded entry and a Promoted Event', () => {
    const d = draftOf({ plan });
    const r = recordApply(
      d,
      plan,
      'alice',
      [aWrite('b', 'novapos/x'), aWrite('a', 'novapos/x'), aWrite('a', 'novapos/a')],
      [],
    );
    expect(r.result).toBe('applied');
    expect(d.status.lastPromotion?.writes.map((w) => `${w.path}@${w.target}`)).toEqual([
      'novapos/a@a',
      'novapos/x@a',
      'novapos/x@b',
    ]);
    expect(d.status.lastPromotion).toMatchObject({
      planHash: plan.hash,
      approvedBy: 'alice',
      promotedAt: '2025-06-01T10:00:00Z',
    });
    expect(d.status.history?.[0]).toMatchObject({
      action: 'promote',
      result: 'Succeeded',
      approvedBy: 'alice',
    });
    expect(d.status.history?.[0]?.message).toBe(
      'promoted novapos/auth v2 to staging: 0 added, 1 changed, 0 removed',
    );
    expect(r.event).toEqual(['Normal', Reason.Promoted, expect.stringContaining(`approved by alice`)]);
  });
  it('a rollback is recorded as rolled back', () => {
    const d = draftOf({ plan: rollbackPlan });
    const r = recordApply(d, rollbackPlan, undefined, [aWrite('staging', 'novapos/auth')], []);
    expect(r.result).toBe('rolled_back');
    expect(r.event[1]).toBe(Reason.RolledBack);
    expect(d.status.history?.[0]).toMatchObject({ action: 'rollback', result: 'Succeeded' });
  });
  it('a conflict keeps the last promotion, lists the conflicts and says nothing was overwritten', () => {
    const last = { planHash: 'promote-old', promotedAt: '2025-05-01T00:00:00Z', writes: [] };
    const d = draftOf({ plan, lastPromotion: last });
    const r = recordApply(d, plan, undefined, [], [aConflict('novapos/auth')]);
    expect(r.result).toBe('conflict');
    expect(d.status.lastPromotion).toEqual(last);
    expect(d.status.conflicts).toEqual([aConflict('novapos/auth')]);
    expect(d.status.history?.[0]).toMatchObject({ result: 'Conflict' });
    expect(r.event).toEqual([
      'Warning',
      Reason.TargetChanged,
      expect.stringContaining('nothing was overwritten'),
    ]);
  });
  it('a conflict after some writes says they went through', () => {
    const d = draftOf({ plan });
    recordApply(d, plan, undefined, [aWrite('staging', 'novapos/a')], [aConflict('novapos/b')]);
    expect(d.status.lastPromotion?.writes).toHaveLength(1);
    expect(d.status.history?.[0]?.message).toContain('1 write(s) had already gone through');
  });
  it('the history keeps the newest entries up to the limit', () => {
    const old = Array.from({ length: 3 }, (_, i) => ({
      action: 'promote' as const,
      planHash: `promote-${i}`,
      at: '2025-05-01T00:00:00Z',
      result: 'Succeeded' as const,
    }));
    const d = draftOf({ plan, history: old });
    recordApply(d, plan, undefined, [aWrite('staging', 'novapos/auth')], [], 3);
    expect(d.status.history?.map((h) => h.planHash)).toEqual([plan.hash, 'promote-0', 'promote-1']);
  });
});

describe('settle', () => {
  const approvedBy = (hash: string, by: string) => ({
    [Annotations.approvePlan]: hash,
    [Annotations.approvedBy]: by,
  });
  const cases: {
    name: string;
    draft: () => Draft;
    outcome: Outcome;
    step?: { message: string; reason?: string };
    approved?: Partial<Condition>;
    ready: Partial<Condition>;
    approval?: unknown;
  }[] = [
    {
      name: 'a plan awaiting approval says how to approve it and records no approval',
      draft: () => draftOf({ plan, approval: { planHash: 'promote-old', approvedBy: 'bob' } }),
      outcome: 'awaiting-approval',
      approved: { status: 'False', reason: Reason.AwaitingApproval },
      ready: { status: 'False', reason: Reason.AwaitingApproval },
      approval: undefined,
    },
    {
      name: 'an approval naming the plan is recorded with who and when',
      draft: () => draftOf({ plan }, {}, approvedBy(plan.hash, 'alice')),
      outcome: 'awaiting-approval',
      approved: { status: 'True', reason: Reason.PlanApproved },
      ready: {
        status: 'False',
        reason: Reason.AwaitingApproval,
        message: `plan ${plan.hash} is approved; applying`,
      },
      approval: { planHash: plan.hash, approvedBy: 'alice', approvedAt: '2025-06-01T10:00:00Z' },
    },
    {
      name: 'an approval seen before keeps the time it was first seen',
      draft: () =>
        draftOf(
          {
            plan,
            approval: { planHash: plan.hash, approvedBy: 'alice', approvedAt: '2025-05-31T00:00:00Z' },
          },
          {},
          approvedBy(plan.hash, 'alice'),
        ),
      outcome: 'awaiting-approval',
      approved: { status: 'True', reason: Reason.PlanApproved },
      ready: { status: 'False' },
      approval: { planHash: plan.hash, approvedBy: 'alice', approvedAt: '2025-05-31T00:00:00Z' },
    },
    {
      name: 'an applied plan keeps its approver from the last promotion',
      draft: () =>
        draftOf({
          plan,
          lastPromotion: {
            planHash: plan.hash,
            promotedAt: '2025-06-01T09:00:00Z',
            approvedBy: 'alice',
            writes: [],
          },
        }),
      outcome: 'promoted',
      approved: {
        status: 'True',
        reason: Reason.PlanApproved,
        message: `plan ${plan.hash} was approved by alice`,
      },
      ready: { status: 'True', reason: Reason.Promoted },
      approval: { planHash: plan.hash, approvedBy: 'alice', approvedAt: '2025-06-01T09:00:00Z' },
    },
    {
      name: 'a plan that needs no approval says so',
      draft: () => draftOf({ plan }, { requireApproval: false }),
      outcome: 'awaiting-approval',
      approved: { status: 'True', reason: Reason.ApprovalNotRequired },
      ready: { status: 'False', reason: Reason.AwaitingApproval },
    },
    {
      name: 'a plan that changes nothing needs no approval and is up to date',
      draft: () => draftOf({ plan: noChangePlan }),
      outcome: 'up-to-date',
      approved: { status: 'True', reason: Reason.NoChanges },
      ready: { status: 'True', reason: Reason.NoChanges, message: 'targets already match the source' },
    },
    {
      name: 'an applied rollback says continuous promotion is paused',
      draft: () =>
        draftOf(
          {
            plan: rollbackPlan,
            lastPromotion: { planHash: rollbackPlan.hash, promotedAt: '2025-06-01T09:00:00Z', writes: [] },
          },
          { mode: 'continuous', requireApproval: false },
        ),
      outcome: 'promoted',
      ready: { status: 'True', reason: Reason.RolledBack },
    },
    {
      name: 'conflicts make Conflict true and Ready false, naming the target',
      draft: () => draftOf({ plan, conflicts: [aConflict('novapos/auth', 1, 4, ['A'])] }),
      outcome: 'conflict',
      ready: {
        status: 'False',
        reason: Reason.TargetChanged,
        message:
          '1 target secret(s) changed after the plan was made: staging:novapos/auth (planned v1, now v4, keys changed: A): nothing was overwritten',
      },
    },
    {
      name: 'a failed step gives Ready its own reason and message',
      draft: () => draftOf({ plan }),
      outcome: 'failed',
      step: { reason: Reason.VaultUnavailable, message: 'Vault: down (unavailable)' },
      ready: { status: 'False', reason: Reason.VaultUnavailable, message: 'Vault: down (unavailable)' },
    },
    {
      name: 'a refused promotion without a plan has no Approved condition',
      draft: () => draftOf(),
      outcome: 'denied',
      step: { message: 'connections.prod: not configured' },
      ready: { status: 'False', reason: Reason.PolicyDenied, message: 'connections.prod: not configured' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = c.draft();
      settle(d, c.outcome, c.step ?? { message: '' }, true, phaseOf(c.outcome));
      if (c.approved) expect(condition(d, ConditionType.Approved)).toMatchObject(c.approved);
      else if (!d.status.plan) expect(condition(d, ConditionType.Approved)).toBeUndefined();
      expect(condition(d, ConditionType.Ready)).toMatchObject({ ...c.ready, observedGeneration: 3 });
      expect(condition(d, ConditionType.Conflict)?.status).toBe(c.outcome === 'conflict' ? 'True' : 'False');
      if ('approval' in c) expect(d.status.approval).toEqual(c.approval);
      expect(d.status.phase).toBe(phaseOf(c.outcome));
      expect(d.status.observedGeneration).toBe(3);
    });
  }
});

describe('describeConflicts', () => {
  const cases: [string, ConflictRecord[], string][] = [
    [
      'a moved target shows both versions',
      [aConflict('p', 1, 3)],
      '1 target secret(s) changed after the plan was made: staging:p (planned v1, now v3)',
    ],
    [
      'an unchanged version means an override value changed',
      [aConflict('p', 2, 2, ['DB_PASSWORD'])],
      '1 target secret(s) changed after the plan was made: staging:p (an override value changed, keys changed: DB_PASSWORD)',
    ],
    [
      'more than five are counted, not listed',
      Array.from({ length: 7 }, (_, i) => aConflict(`p${i}`)),
      'staging:p4 (planned v1, now v2) and 2 more',
    ],
  ];
  for (const [name, conflicts, expected] of cases) {
    it(name, () => expect(describeConflicts(conflicts)).toContain(expected));
  }
});
