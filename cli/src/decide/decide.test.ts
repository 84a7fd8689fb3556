import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../errors.js';
import { aDrill, aKey, aPromotion, aRotation, at, NOW } from '../fixtures.test-support.js';
import { counterOf, describeUsage, usageQueries } from '../usage.js';
import { approveDecision, approvePatch } from './approve.js';
import { canonical, leaderCheck, rbacCheck, VERB_NEEDS } from './check.js';
import { drillProgress, runOf } from './drill.js';
import { revokeDecision, revokeProgress } from './revoke.js';
import { rollbackDecision, rollbackProgress } from './rollback.js';
import { keySignsAt, rotateAnnotations, rotateProgress } from './rotate.js';
import { triggerValue } from './trigger.js';

const refusal = (f: () => unknown): CliError => {
  try {
    f();
  } catch (e) {
    if (e instanceof CliError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
};

describe('trigger values', () => {
  it('name the plugin and the time, and differ each time', () => {
    expect(triggerValue(NOW, 'abc123')).toBe('kubectl-novapos-2026-12-03T10:00:00Z-abc123');
    expect(triggerValue(NOW)).not.toBe(triggerValue(NOW));
  });
});

describe('rotate', () => {
  it('scopes emergency to this rotation: emergency carries the rotate-now value', () => {
    expect(rotateAnnotations('v1', true)).toEqual({
      'security.novapos.io/rotate-now': 'v1',
      'security.novapos.io/emergency': 'v1',
    });
  });

  it('removes a stale emergency annotation on a routine rotation', () => {
    expect(rotateAnnotations('v2', false)).toEqual({
      'security.novapos.io/rotate-now': 'v2',
      'security.novapos.io/emergency': null,
    });
  });

  it('a key pulled forward by rotate-now still signs only after its lead time', () => {
    const pulled = aRotation({ nextRotationTime: at('2026-12-03T09:59:00Z') });
    expect(keySignsAt(pulled, '2026-12-03T09:59:00Z')).toBe('2026-12-05T09:59:00Z');
    expect(keySignsAt(aRotation(), '2026-12-02T10:00:00Z')).toBe('2026-12-04T10:00:00Z');
  });

  const routine = { value: 'v', emergency: false, activeKidBefore: 'k2' };
  const emergency = { ...routine, emergency: true };
  it.each([
    ['routine, not yet taken', routine, {}, false, /waiting for the operator to take rotate-now=v/],
    [
      'routine, taken, next key published: the lead time started',
      routine,
      { lastHandled: { rotateNow: 'v' } },
      true,
      /lead time started: key k3 is published and signs in 1d/,
    ],
    [
      'routine, taken, no next key yet',
      routine,
      { lastHandled: { rotateNow: 'v' }, nextKid: undefined },
      false,
      /waiting for the next key/,
    ],
    [
      'routine, taken, a new key already signs',
      routine,
      { lastHandled: { rotateNow: 'v' }, activeKid: 'k3' },
      true,
      /new key k3 signs/,
    ],
    [
      'emergency, the old key still signs',
      emergency,
      { lastHandled: { rotateNow: 'v' } },
      false,
      /waiting for the new key to sign/,
    ],
    [
      'emergency, a new key signs',
      emergency,
      { lastHandled: { rotateNow: 'v' }, activeKid: 'k4' },
      true,
      /new key k4 signs \(emergency/,
    ],
    [
      'emergency, new key but request not recorded yet',
      emergency,
      { activeKid: 'k4' },
      false,
      /waiting for the operator/,
    ],
  ])('%s', (_name, req, status, done, line) => {
    const p = rotateProgress(aRotation(status), req, NOW);
    expect(p.done).toBe(done);
    expect(p.line).toMatch(line);
  });
});

describe('revoke', () => {
  const skr = aRotation();
  it('revokes a retired or next key after confirmation', () => {
    expect(revokeDecision(skr, 'k1', false)).toMatchObject({ action: 'revoke', activeKey: false });
    expect(revokeDecision(skr, 'k3', false)).toMatchObject({
      action: 'revoke',
      prompt: expect.stringMatching(/Revoke k3 \(next\)/),
    });
  });

  it('refuses the active kid without --emergency, saying what to add', () => {
    const e = refusal(() => revokeDecision(skr, 'k2', false));
    expect(e.exitCode).toBe(ExitCode.refused);
    expect(e.message).toMatch(/k2 is the active signing key/);
    expect(e.fix).toMatch(/--emergency/);
  });

  it('revokes the active kid with --emergency', () => {
    expect(revokeDecision(skr, 'k2', true)).toMatchObject({ action: 'revoke', activeKey: true });
  });

  it('refuses a kid that is not in the set, listing the kids', () => {
    const e = refusal(() => revokeDecision(skr, 'nope', false));
    expect(e.fix).toMatch(/k1 \(retired\)/);
  });

  it('does nothing for a kid already revoked', () => {
    const revoked = aRotation({ keys: [aKey('k9', 'revoked', { revokedAt: at('2026-12-01T00:00:00Z') })] });
    expect(revokeDecision(revoked, 'k9', false).action).toBe('already');
  });

  it('is done when the kid is out of the JWKS', () => {
    expect(revokeProgress(skr, 'k1').done).toBe(false);
    expect(revokeProgress(aRotation({ keys: [aKey('k1', 'revoked')] }), 'k1').done).toBe(true);
    expect(revokeProgress(aRotation({ keys: [] }), 'k1').done).toBe(true);
  });

  it('with services, is done only when no replica still serves the kid and every replica was read', () => {
    const gone = aRotation({ keys: [aKey('k1', 'revoked')] });
    const served = [
      { service: 'auth-service', replica: 'pod/a-0', kids: ['k2'] },
      { service: 'integration-gateway', replica: 'pod/g-0', kids: ['k1', 'k2'] },
      { service: 'integration-gateway', replica: 'pod/g-1', error: 'HTTP 503' },
    ];
    const waiting = revokeProgress(gone, 'k1', served);
    expect(waiting.done).toBe(false);
    expect(waiting.line).toBe(
      'k1 revoked by the operator; still in the JWKS of integration-gateway pod/g-0; cannot read integration-gateway pod/g-1: HTTP 503',
    );
    const out = revokeProgress(gone, 'k1', [
      { service: 'auth-service', replica: 'pod/a-0', kids: ['k2'] },
      { service: 'integration-gateway', replica: 'pod/g-0', kids: ['k2'] },
      { service: 'integration-gateway', replica: 'pod/g-1', kids: ['k2'] },
    ]);
    expect(out).toMatchObject({ done: true });
    expect(out.line).toMatch(
      /^k1 is revoked and out of the JWKS of auth-service \(1 replica\), integration-gateway \(2 replicas\)/,
    );
    // Not revoked in status yet: the services are not the question.
    expect(revokeProgress(skr, 'k1', []).done).toBe(false);
  });
});

describe('approve', () => {
  it('approves the hash read from status, at the resourceVersion read', () => {
    const sp = aPromotion();
    expect(approveDecision(sp, undefined)).toEqual({ action: 'approve', hash: 'plan-abc123' });
    expect(approvePatch(sp, 'plan-abc123')).toEqual({
      metadata: { resourceVersion: '42', annotations: { 'security.novapos.io/approve-plan': 'plan-abc123' } },
    });
  });

  it('accepts --hash when it is the current plan', () => {
    expect(approveDecision(aPromotion(), 'plan-abc123')).toMatchObject({ action: 'approve' });
  });

  it('refuses a stale --hash, naming the current plan', () => {
    const e = refusal(() => approveDecision(aPromotion(), 'plan-old'));
    expect(e.exitCode).toBe(ExitCode.refused);
    expect(e.message).toBe(
      'plan plan-old is not the current plan of spromo/auth-to-staging (the current plan is plan-abc123)',
    );
  });

  it('refuses when there is no plan yet', () => {
    expect(refusal(() => approveDecision(aPromotion({ plan: undefined }), undefined)).message).toMatch(
      /no plan yet/,
    );
  });

  it('does nothing when the current plan is already approved', () => {
    const d = approveDecision(
      aPromotion({ approval: { planHash: 'plan-abc123', approvedBy: 'alice' } }),
      undefined,
    );
    expect(d).toEqual({ action: 'already', message: 'plan plan-abc123 is already approved by alice' });
  });
});

describe('rollback', () => {
  it('refuses without a promotion to roll back', () => {
    expect(refusal(() => rollbackDecision(aPromotion())).message).toMatch(/no promotion to roll back/);
  });

  const promoted = aPromotion({
    lastPromotion: {
      planHash: 'p',
      promotedAt: at('2026-12-03T09:00:00Z'),
      writes: [{ target: 'staging', path: 'novapos/auth/config', previousVersion: 2, version: 3 }],
    },
  });

  it('asks before restoring the previous versions', () => {
    expect(rollbackDecision(promoted).prompt).toMatch(/restore staging novapos\/auth\/config to v2/);
  });

  const requested = new Date('2026-12-03T09:59:00Z');
  const rollbackPlan = { ...aPromotion().status!.plan!, hash: 'rollback-123' };

  it.each([
    ['not yet taken', {}, false, /waiting for the operator to take rollback=r1/],
    [
      'a rollback plan waiting for approval',
      { lastHandled: { rollback: 'r1' }, plan: rollbackPlan },
      true,
      /rollback plan rollback-123 is ready: review and approve it with kubectl novapos approve spromo\/auth-to-staging/,
    ],
    [
      'the rollback plan approved, not yet applied',
      { lastHandled: { rollback: 'r1' }, plan: rollbackPlan, approval: { planHash: 'rollback-123' } },
      false,
      /making and applying/,
    ],
    [
      'applied',
      {
        lastHandled: { rollback: 'r1' },
        history: [
          {
            action: 'rollback',
            planHash: 'rollback-123',
            at: at('2026-12-03T09:59:30Z'),
            result: 'Succeeded',
          },
        ],
      },
      true,
      /^rollback Succeeded$/,
    ],
    [
      'an older rollback in history does not count',
      {
        lastHandled: { rollback: 'r1' },
        history: [{ action: 'rollback', planHash: 'x', at: at('2026-12-01T00:00:00Z'), result: 'Succeeded' }],
      },
      false,
      /making and applying/,
    ],
  ])('rollback progress: %s', (_name, status, done, line) => {
    const p = rollbackProgress(aPromotion(status as never), 'r1', requested);
    expect(p.done).toBe(done);
    expect(p.line).toMatch(line);
  });
});

describe('drill run', () => {
  const requested = new Date('2026-12-03T09:39:59Z');
  it('finds the run the request started and follows it to the end', () => {
    const drill = aDrill({ lastHandled: { runNow: 'v' } });
    expect(runOf(drill, requested)?.id).toBe('run-2');
    expect(drillProgress(drill, 'v', requested, NOW)).toMatchObject({ done: true, failed: true });
  });

  it('waits while the operator has not taken the request', () => {
    expect(drillProgress(aDrill(), 'v', requested, NOW).done).toBe(false);
  });

  it('ignores runs that started before the request', () => {
    expect(runOf(aDrill(), new Date('2026-12-03T09:50:00Z'))).toBeUndefined();
  });
});

describe('check', () => {
  it.each([
    ['no lease', undefined, 'fail', /no lease/],
    ['no holder', { spec: {} }, 'fail', /no holder/],
    [
      'renewed long ago',
      { spec: { holderIdentity: 'op-1', renewTime: at('2026-12-03T09:58:00Z'), leaseDurationSeconds: 15 } },
      'fail',
      /down or cut off/,
    ],
    [
      'renewed recently',
      { spec: { holderIdentity: 'op-1', renewTime: at('2026-12-03T09:59:55Z'), leaseDurationSeconds: 15 } },
      'ok',
      /op-1 renewed/,
    ],
  ] as const)('the leader: %s', (_name, lease, state, detail) => {
    const r = leaderCheck(lease, 'novapos-system/novapos-operator', NOW);
    expect(r.state).toBe(state);
    expect(r.detail).toMatch(detail);
  });

  it('fails a denied read and warns on a denied write', () => {
    const read = VERB_NEEDS.find((n) => n.read)!;
    const write = VERB_NEEDS.find((n) => !n.read)!;
    expect(rbacCheck(read, false, 'ns').state).toBe('fail');
    expect(rbacCheck(write, false, 'ns').state).toBe('warn');
    expect(rbacCheck(write, true, 'ns').state).toBe('ok');
  });

  it('compares schemas whatever their key order', () => {
    expect(canonical({ b: 1, a: [{ d: 1, c: 2 }] })).toBe(canonical({ a: [{ c: 2, d: 1 }], b: 1 }));
  });
});

describe('live usage', () => {
  it('asks Prometheus for the tenant per minute over 5 minutes', () => {
    expect(usageQueries('acme')).toEqual({
      requests: 'sum(rate(gateway_rate_limit_hits_total{tenant="acme"}[5m])) * 60',
      rejected: 'sum(rate(gateway_rate_limit_rejections_total{tenant="acme"}[5m])) * 60',
    });
    expect(usageQueries('a"b').requests).toContain('tenant="ab"');
  });

  it.each([
    ['without Prometheus', undefined, /not shown/],
    ['no samples', { requestsPerMinute: undefined, rejectedPerMinute: undefined }, /no traffic recorded/],
    [
      'some traffic',
      { requestsPerMinute: 42.4, rejectedPerMinute: 0 },
      /^42\/min of 600 \(7%\), 0\.0 rejected\/min/,
    ],
    [
      'from the gateway replicas',
      {
        requestsPerMinute: 120,
        rejectedPerMinute: 30,
        window: 'over 3s from 2 gateway replicas via the apiserver',
      },
      /^120\/min of 600 \(20%\), 30 rejected\/min \(over 3s from 2 gateway replicas via the apiserver\)$/,
    ],
    [
      'unreadable',
      { requestsPerMinute: undefined, rejectedPerMinute: undefined, unavailable: 'no ready replica' },
      /^not shown: no ready replica \(pass --gateway/,
    ],
  ])('describes %s', (_name, usage, want) => expect(describeUsage(usage, 600)).toMatch(want));

  it("sums a tenant's counter over the replicas' /metrics", () => {
    const a =
      'x_total{tenant="acme"} 1\ngateway_rate_limit_hits_total{tenant="acme"} 10\ngateway_rate_limit_hits_total{tenant="other"} 99\n';
    const b = 'gateway_rate_limit_hits_total{route="/x",tenant="acme"} 5\n';
    expect(counterOf([a, b], 'gateway_rate_limit_hits_total', 'acme')).toBe(15);
    expect(counterOf([a], 'gateway_rate_limit_hits_total', 'nobody')).toBeUndefined();
  });
});
