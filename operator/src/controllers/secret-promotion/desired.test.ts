import { describe, expect, it } from 'vitest';
import { type Condition, ConditionType, Reason } from '../../api/conditions.js';
import { Annotations } from '../../api/meta.js';
import type { PromotionPlan, SecretPromotionStatus } from '../../api/v1alpha1/secretpromotion.js';
import {
  adoptPolledPlan,
  approvalFor,
  driftFromApproved,
  nextStep,
  type Outcome,
  outcomeOf,
  requeueAfter,
  type Step,
} from './desired.js';
import { aPlan, aPromotionGiven, now } from './fixtures.test-support.js';
import { sameSource } from './plan.js';

const noChangePlan = aPlan({ targetData: { A: '1' } });
const plan = aPlan();

const planned = (generation = 1): Condition => ({
  type: ConditionType.Planned,
  status: 'True',
  observedGeneration: generation,
  lastTransitionTime: '2025-06-01T10:00:00Z',
  reason: Reason.PlanReady,
  message: '',
});

const given = aPromotionGiven;
type Given = Parameters<typeof given>[0];

const withPlan = (extra: Partial<SecretPromotionStatus> = {}, thePlan = plan): SecretPromotionStatus => ({
  plan: thePlan,
  conditions: [planned()],
  ...extra,
});
const applied = (thePlan = plan) => ({
  planHash: thePlan.hash,
  promotedAt: '2025-06-01T10:00:00Z',
  writes: [],
});
const approve = (hash: string, by?: string) => ({
  [Annotations.approvePlan]: hash,
  ...(by ? { [Annotations.approvedBy]: by } : {}),
});

describe('nextStep', () => {
  const cases: { name: string; given: Given; lastPolledAt?: number; expect: Step | Step['kind'] }[] = [
    { name: 'a suspended promotion does nothing', given: { spec: { suspend: true } }, expect: 'suspended' },
    {
      name: 'a source in the signing-key tree is refused',
      given: {
        spec: { source: { connection: 'local', mount: 'secret', path: 'novapos/signing-keys/ns/auth/k1' } },
      },
      expect: 'invalid',
    },
    {
      name: 'a new promotion is planned',
      given: {},
      expect: { kind: 'plan', action: 'promote', trigger: 'new' },
    },
    {
      name: 'a spec change re-plans',
      given: { generation: 2, status: withPlan() },
      expect: { kind: 'plan', action: 'promote', trigger: 'spec-changed' },
    },
    {
      name: 'a plan that needs approval waits without one',
      given: { status: withPlan() },
      expect: { kind: 'wait' },
    },
    {
      name: 'an approval naming the plan, stamped by admission, applies it',
      given: { status: withPlan(), annotations: approve(plan.hash, 'alice') },
      expect: { kind: 'apply', approvedBy: 'alice' },
    },
    {
      name: 'an approval without the admission stamp does not apply',
      given: { status: withPlan(), annotations: approve(plan.hash) },
      expect: { kind: 'wait' },
    },
    {
      name: 'an approval naming an older plan does not apply the new one',
      given: { status: withPlan(), annotations: approve('promote-0000', 'alice') },
      expect: { kind: 'wait' },
    },
    {
      name: 'an approval already acted on is not acted on again',
      given: {
        status: withPlan({ lastHandled: { approvePlan: plan.hash } }),
        annotations: approve(plan.hash, 'alice'),
      },
      expect: { kind: 'wait' },
    },
    {
      name: 'a plan that needs no approval is applied at once',
      given: { spec: { requireApproval: false }, status: withPlan() },
      expect: { kind: 'apply' },
    },
    {
      name: 'a conflict waits for a person even when no approval is needed',
      given: { spec: { requireApproval: false }, status: withPlan({ phase: 'Conflict' }) },
      expect: { kind: 'wait' },
    },
    {
      name: 'reconcile-now re-plans out of a conflict',
      given: { status: withPlan({ phase: 'Conflict' }), annotations: { [Annotations.reconcileNow]: '1' } },
      expect: { kind: 'plan', action: 'promote', trigger: 'reconcile-now' },
    },
    {
      name: 'a reconcile-now value already handled does nothing',
      given: {
        status: withPlan({ phase: 'Conflict', lastHandled: { reconcileNow: '1' } }),
        annotations: { [Annotations.reconcileNow]: '1' },
      },
      expect: { kind: 'wait' },
    },
    {
      name: 'a rollback after a promotion plans a rollback',
      given: {
        status: withPlan({ lastPromotion: applied() }),
        annotations: { [Annotations.rollback]: 'r1' },
      },
      expect: { kind: 'plan', action: 'rollback', trigger: 'rollback' },
    },
    {
      name: 'a rollback before any promotion has nothing to restore',
      given: { status: withPlan(), annotations: { [Annotations.rollback]: 'r1' } },
      expect: 'nothing-to-roll-back',
    },
    {
      name: 'a one-shot promotion that was applied stops',
      given: { status: withPlan({ lastPromotion: applied() }) },
      expect: { kind: 'wait' },
    },
    {
      name: 'a continuous promotion checks the source again after the interval',
      given: { spec: { mode: 'continuous', interval: '1m' }, status: withPlan({ lastPromotion: applied() }) },
      lastPolledAt: now.getTime() - 60_000,
      expect: { kind: 'plan', action: 'promote', trigger: 'poll' },
    },
    {
      name: 'a continuous promotion waits for the rest of the interval',
      given: { spec: { mode: 'continuous', interval: '1m' }, status: withPlan({ lastPromotion: applied() }) },
      lastPolledAt: now.getTime() - 15_000,
      expect: { kind: 'wait', requeueAfterMs: 45_000 },
    },
    {
      name: 'a continuous promotion does not undo a rollback by itself',
      given: {
        spec: { mode: 'continuous', interval: '1m' },
        status: withPlan({ lastPromotion: applied(aPlan({}, 'rollback')) }, aPlan({}, 'rollback')),
      },
      lastPolledAt: now.getTime() - 120_000,
      expect: { kind: 'wait' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const step = nextStep(given(c.given), { now, lastPolledAt: c.lastPolledAt });
      if (typeof c.expect === 'string') expect(step.kind).toBe(c.expect);
      else expect(step).toEqual(c.expect);
    });
  }
});

describe('approvalFor', () => {
  it('says which plan to approve and how', () => {
    const a = approvalFor(given({ status: withPlan() }), plan);
    expect(a).toMatchObject({ state: 'waiting', reason: Reason.AwaitingApproval });
    expect(a.state === 'waiting' && a.message).toContain(`${Annotations.approvePlan}=${plan.hash}`);
  });
  it('says an approval is stale when the source moved to a new plan', () => {
    const a = approvalFor(given({ annotations: approve('promote-old', 'alice') }), plan);
    expect(a).toMatchObject({ state: 'waiting', reason: Reason.ApprovalStale });
    expect(a.state === 'waiting' && a.message).toContain('novapos/auth v2');
  });
  it('takes an approval without a stamp when the stamp is not required (no admission policies)', () => {
    expect(approvalFor(given({ annotations: approve(plan.hash) }), plan, false)).toEqual({
      state: 'approved',
      by: undefined,
    });
  });
});

describe('adoptPolledPlan', () => {
  const moved = aPlan({ sourceVersion: 3, sourceData: { A: '2' } });
  const targetEdited = aPlan({ targetVersion: 2, targetData: { A: 'edited' } });
  const cases: [string, PromotionPlan, PromotionPlan, boolean, boolean][] = [
    ['the same plan is kept', plan, plan, false, false],
    ['a pending plan gives way to a new source version', plan, moved, false, true],
    [
      'a pending plan is kept when only a target moved, so apply reports the conflict',
      plan,
      targetEdited,
      false,
      false,
    ],
    ['an applied plan gives way to any new plan', plan, targetEdited, true, true],
    ['a plan with nothing to do gives way to any new plan', noChangePlan, targetEdited, false, true],
  ];
  for (const [name, current, fresh, wasApplied, expected] of cases) {
    it(name, () => expect(adoptPolledPlan(current, fresh, wasApplied, sameSource)).toBe(expected));
  }
});

describe('outcomeOf', () => {
  const cases: [string, SecretPromotionStatus, ReturnType<typeof outcomeOf>][] = [
    [
      'conflicts in status mean conflict',
      withPlan({ conflicts: [{ target: 's', path: 'p', plannedVersion: 1, currentVersion: 2 }] }),
      'conflict',
    ],
    ['an applied plan means promoted', withPlan({ lastPromotion: applied() }), 'promoted'],
    ['a plan without changes means up to date', withPlan({}, noChangePlan), 'up-to-date'],
    ['a plan with changes not yet applied awaits approval', withPlan(), 'awaiting-approval'],
  ];
  for (const [name, status, expected] of cases) {
    it(name, () => expect(outcomeOf(given({ status }))).toBe(expected));
  }
});

describe('driftFromApproved', () => {
  const withOverride = (value: string) =>
    aPlan({ sourceData: { A: '1' }, overrides: { B: value }, targetData: { A: '0', B: 'old' } });
  it('the same plan computed again has no drift', () => {
    expect(driftFromApproved(plan, aPlan())).toEqual({ conflicts: [] });
  });
  it('an override value that changed since approval is a conflict naming the key', () => {
    expect(driftFromApproved(withOverride('x'), withOverride('y'))).toEqual({
      conflicts: [
        {
          target: 'staging',
          path: 'novapos/auth',
          plannedVersion: 1,
          currentVersion: 1,
          changedKeys: ['B'],
        },
      ],
    });
  });
  it('an entry the approved plan did not have makes the approval stale', () => {
    const fresh = aPlan({ targetPath: 'novapos/other' });
    const drift = driftFromApproved(plan, fresh);
    expect('stale' in drift && drift.stale.targetPath).toBe('novapos/other');
  });
  it('an entry that differs with the same source fingerprints makes the approval stale', () => {
    const drift = driftFromApproved(plan, aPlan({ targetVersion: 2 }));
    expect('stale' in drift && drift.stale.targetVersion).toBe(2);
  });
});

describe('requeueAfter', () => {
  const cases: [string, Step, Outcome, number | undefined, number | undefined][] = [
    [
      'a continuous promotion comes back when its poll is due',
      { kind: 'wait', requeueAfterMs: 45_000 },
      'promoted',
      undefined,
      45_000,
    ],
    [
      'a failure retried sooner than the poll wins',
      { kind: 'wait', requeueAfterMs: 45_000 },
      'failed',
      30_000,
      30_000,
    ],
    [
      'a poll already due comes back in a millisecond, not zero',
      { kind: 'wait', requeueAfterMs: 0 },
      'promoted',
      undefined,
      1,
    ],
    ['an apply that is due runs at once', { kind: 'apply' }, 'awaiting-approval', undefined, 1],
    [
      'a due step after a failure waits for the failure retry, so it never spins',
      { kind: 'plan', action: 'promote', trigger: 'poll' },
      'failed',
      30_000,
      30_000,
    ],
    ['a one-shot promotion that is done is not requeued', { kind: 'wait' }, 'promoted', undefined, undefined],
    ['a missing source is tried again after the retry delay', { kind: 'wait' }, 'failed', 30_000, 30_000],
  ];
  for (const [name, after, outcome, failureMs, expected] of cases) {
    it(name, () => expect(requeueAfter(after, outcome, failureMs)).toBe(expected));
  }
});
