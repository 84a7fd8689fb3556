import { describe, expect, it } from 'vitest';
import { aDisasterRecoveryDrillSpec } from '../../api/fixtures.js';
import type { DrillRun } from '../../api/v1alpha1/disasterrecoverydrill.js';
import {
  desiredStatus,
  interruptedRun,
  newRun,
  runResult,
  specProblems,
  summarizeRun,
  withRun,
} from './desired.js';

const now = new Date('2025-03-01T12:00:00Z');

const aSpec = aDisasterRecoveryDrillSpec;

function aRun(
  id: string,
  startedAt: string,
  result: DrillRun['result'],
  steps: DrillRun['steps'] = [],
): DrillRun {
  return { id, trigger: 'schedule', startedAt, result, steps };
}

describe('specProblems', () => {
  it('accepts the quarterly drill with a synthetic tenant', () => {
    expect(specProblems(aSpec(), now)).toEqual([]);
  });

  it('needs a synthetic tenant for the traffic steps', () => {
    const problems = specProblems(aSpec({ syntheticTenant: undefined }), now);
    expect(problems.map((p) => p.field)).toContain('spec.syntheticTenant');
  });

  it('does not need one for an alert-delivery-only drill', () => {
    const spec = aSpec({
      syntheticTenant: undefined,
      steps: { alertDelivery: { receiver: 'drill', timeout: '1m' } },
    });
    expect(specProblems(spec, now)).toEqual([]);
  });

  it('refuses a tenant that is not synthetic', () => {
    const spec = aSpec();
    const problems = specProblems(
      {
        ...spec,
        syntheticTenant: { ...spec.syntheticTenant!, tenant: 'acme' },
        steps: { alertDelivery: spec.steps.alertDelivery },
      },
      now,
    );
    expect(problems).toEqual([
      expect.objectContaining({
        field: 'spec.syntheticTenant.tenant',
        message: expect.stringContaining('synthetic'),
      }),
    ]);
  });

  it('refuses an outage for another tenant than the synthetic one', () => {
    const spec = aSpec();
    const problems = specProblems(
      { ...spec, steps: { redisOutage: { duration: '1m', tenant: 'drill-other' } } },
      now,
    );
    expect(problems.map((p) => p.field)).toEqual(['spec.steps.redisOutage.tenant']);
  });

  it('refuses synthetic load above the synthetic tenant limit', () => {
    const spec = aSpec();
    const problems = specProblems(
      { ...spec, syntheticTenant: { ...spec.syntheticTenant!, requestsPerMinute: 600 } },
      now,
    );
    expect(problems.map((p) => p.field)).toEqual(['spec.steps.keyRotation.syntheticRps']);
  });
});

describe('newRun', () => {
  it('records what the run may touch before it starts, and lists its steps as not started', () => {
    const run = newRun({
      id: 'r1',
      trigger: 'runNow',
      spec: aSpec(),
      drillName: 'quarterly',
      owner: 'op-1',
      now,
    });
    expect(run).toMatchObject({
      id: 'r1',
      result: 'Running',
      owner: 'op-1',
      startedAt: '2025-03-01T12:00:00Z',
      touched: {
        tenant: 'drill-synthetic',
        tenantRateLimit: 'quarterly-synthetic',
        signingKeyRotation: 'auth',
      },
    });
    expect(run.steps.map((s) => [s.name, s.result])).toEqual([
      ['keyRotation', 'Skipped'],
      ['redisOutage', 'Skipped'],
      ['alertDelivery', 'Skipped'],
    ]);
  });

  it('does not claim a TenantRateLimit the run uses by reference', () => {
    const spec = aSpec();
    const run = newRun({
      id: 'r1',
      trigger: 'schedule',
      spec: {
        ...spec,
        steps: { redisOutage: { duration: '1m', tenantRateLimitRef: { name: 'drill-limits' } } },
      },
      drillName: 'q',
      owner: 'op',
      now,
    });
    expect(run.touched).toEqual({ tenant: 'drill-synthetic' });
  });
});

describe('withRun (history)', () => {
  const finished = [
    aRun('r3', '2025-03-01T10:00:00Z', 'Succeeded'),
    aRun('r2', '2025-02-01T10:00:00Z', 'Failed'),
    aRun('r1', '2025-01-01T10:00:00Z', 'Succeeded'),
  ];

  it('puts a new run first and trims the oldest finished runs to historyLimit', () => {
    const runs = withRun(finished, aRun('r4', '2025-03-01T11:00:00Z', 'Succeeded'), 3);
    expect(runs.map((r) => r.id)).toEqual(['r4', 'r3', 'r2']);
  });

  it('replaces a run by id instead of adding it twice', () => {
    const runs = withRun(finished, aRun('r3', '2025-03-01T10:00:00Z', 'Failed'), 3);
    expect(runs.map((r) => [r.id, r.result])).toEqual([
      ['r3', 'Failed'],
      ['r2', 'Failed'],
      ['r1', 'Succeeded'],
    ]);
  });

  it('never trims a run in progress', () => {
    const runs = withRun(finished, aRun('r0', '2024-12-01T10:00:00Z', 'Running'), 1);
    expect(runs.map((r) => r.id)).toEqual(['r0']);
  });
});

describe('runResult', () => {
  const step = (result: DrillRun['steps'][number]['result']) => ({ name: 'redisOutage' as const, result });
  it.each([
    ['every step passed', [step('Passed'), step('Passed')], undefined, 'Succeeded'],
    ['one step failed', [step('Passed'), step('Failed')], undefined, 'Failed'],
    ['a step did not run', [step('Passed'), step('Skipped')], undefined, 'Failed'],
    ['the run failed as a whole', [step('Passed')], 'cleanup incomplete', 'Failed'],
    ['a step is still running', [step('Running')], undefined, 'Running'],
  ] as const)('%s', (_case, steps, failure, expected) => {
    expect(runResult(steps, failure)).toBe(expected);
  });
});

describe('interruptedRun', () => {
  it('fails the run with OperatorRestarted, the running step failed and the rest not run', () => {
    const run = interruptedRun(
      aRun('r1', '2025-03-01T11:59:00Z', 'Running', [
        { name: 'keyRotation', result: 'Passed', startedAt: '2025-03-01T11:59:00Z' },
        { name: 'redisOutage', result: 'Running', startedAt: '2025-03-01T11:59:30Z' },
        { name: 'alertDelivery', result: 'Skipped', message: 'not started yet' },
      ]),
      now,
    );
    expect(run).toMatchObject({
      result: 'Failed',
      reason: 'OperatorRestarted',
      finishedAt: '2025-03-01T12:00:00Z',
    });
    expect(run.steps.map((s) => [s.name, s.result, s.message])).toEqual([
      ['keyRotation', 'Passed', undefined],
      ['redisOutage', 'Failed', 'interrupted by an operator restart'],
      ['alertDelivery', 'Skipped', 'not run: the run was interrupted by an operator restart'],
    ]);
  });
});

describe('desiredStatus', () => {
  it('marks a run in progress in activeRuns, lastResult and Progressing', () => {
    const s = desiredStatus({
      generation: 2,
      prev: undefined,
      now,
      nextScheduleTime: new Date('2025-04-01T06:00:00Z'),
      runs: [aRun('r1', '2025-03-01T12:00:00Z', 'Running')],
      historyLimit: 5,
      runNowHandled: 'go',
    });
    expect(s).toMatchObject({
      observedGeneration: 2,
      activeRuns: ['r1'],
      lastResult: 'Running',
      nextScheduleTime: '2025-04-01T06:00:00Z',
      lastHandled: { runNow: 'go' },
    });
    expect(s.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'DrillRunning',
    });
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'True',
      observedGeneration: 2,
    });
  });

  it('records a finished run: last run time, result, success time, LastRunSucceeded', () => {
    const run = {
      ...aRun('r1', '2025-03-01T11:50:00Z', 'Succeeded', [
        { name: 'alertDelivery' as const, result: 'Passed' as const },
      ]),
      finishedAt: '2025-03-01T11:58:00Z',
    };
    const s = desiredStatus({
      generation: 1,
      prev: { activeRuns: ['r1'] },
      now,
      runs: [run],
      historyLimit: 5,
    });
    expect(s.activeRuns).toBeUndefined();
    expect(s).toMatchObject({
      lastRunTime: '2025-03-01T11:50:00Z',
      lastResult: 'Succeeded',
      lastSuccessfulTime: '2025-03-01T11:58:00Z',
    });
    expect(s.conditions?.find((c) => c.type === 'LastRunSucceeded')).toMatchObject({ status: 'True' });
  });

  it('keeps the last success time when a later run fails', () => {
    const failed = { ...aRun('r2', '2025-03-01T11:50:00Z', 'Failed'), finishedAt: '2025-03-01T11:55:00Z' };
    const s = desiredStatus({
      generation: 1,
      prev: { lastSuccessfulTime: '2025-01-01T06:10:00Z' },
      now,
      runs: [failed],
      historyLimit: 5,
    });
    expect(s.lastSuccessfulTime).toBe('2025-01-01T06:10:00Z');
    expect(s.lastResult).toBe('Failed');
    expect(s.conditions?.find((c) => c.type === 'LastRunSucceeded')).toMatchObject({
      status: 'False',
      reason: 'DrillFailed',
    });
  });

  it('says why the spec is invalid in Ready and drops the next scheduled time', () => {
    const s = desiredStatus({
      generation: 3,
      prev: undefined,
      now,
      invalid: 'spec.x: bad',
      runs: [],
      historyLimit: 5,
    });
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: 'spec.x: bad',
    });
    expect(s.nextScheduleTime).toBeUndefined();
  });
});

describe('summarizeRun', () => {
  it('names each step outcome and why a failed step failed', () => {
    const text = summarizeRun(
      aRun('r1', '2025-03-01T11:50:00Z', 'Failed', [
        { name: 'keyRotation', result: 'Passed' },
        { name: 'alertDelivery', result: 'Failed', message: 'did not reach receiver drill' },
      ]),
    );
    expect(text).toBe(
      'run r1 failed (keyRotation passed, alertDelivery failed): alertDelivery: did not reach receiver drill',
    );
  });
});
