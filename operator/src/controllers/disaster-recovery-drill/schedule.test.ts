import { describe, expect, it } from 'vitest';
import { Annotations } from '../../api/meta.js';
import type {
  DisasterRecoveryDrillSpec,
  DisasterRecoveryDrillStatus,
} from '../../api/v1alpha1/disasterrecoverydrill.js';
import { decideSchedule, latestDue, type ScheduleInput } from './schedule.js';

const T = (s: string) => new Date(s);

function aSpec(overrides: Partial<DisasterRecoveryDrillSpec> = {}): DisasterRecoveryDrillSpec {
  return {
    schedule: '0 * * * *',
    suspend: false,
    concurrencyPolicy: 'Forbid',
    historyLimit: 5,
    steps: { alertDelivery: { receiver: 'drill', timeout: '2m' } },
    ...overrides,
  };
}

function anInput(overrides: Partial<ScheduleInput> = {}): ScheduleInput {
  return {
    spec: aSpec(),
    status: undefined,
    annotations: {},
    createdAt: T('2025-01-01T09:30:00Z'),
    ownRuns: new Set(),
    now: T('2025-01-01T09:45:00Z'),
    ...overrides,
  };
}

const status = (s: Partial<DisasterRecoveryDrillStatus>): DisasterRecoveryDrillStatus => s;

describe('latestDue', () => {
  it.each([
    [
      'nothing due before the first scheduled time',
      '2025-01-01T09:30:00Z',
      '2025-01-01T09:59:59Z',
      undefined,
    ],
    [
      'the scheduled time itself is due',
      '2025-01-01T09:30:00Z',
      '2025-01-01T10:00:00Z',
      '2025-01-01T10:00:00.000Z',
    ],
    [
      'the latest of several missed times',
      '2025-01-01T09:30:00Z',
      '2025-01-01T12:10:00Z',
      '2025-01-01T12:00:00.000Z',
    ],
    ['a time already handled is not due again', '2025-01-01T10:00:00Z', '2025-01-01T10:30:00Z', undefined],
  ])('%s', (_case, after, now, expected) => {
    expect(latestDue('0 * * * *', undefined, T(after), T(now))?.toISOString()).toBe(expected);
  });
});

describe('decideSchedule', () => {
  it('does not run a new drill before its first scheduled time, and wakes up then', () => {
    const d = decideSchedule(anInput());
    expect(d.start).toBeUndefined();
    expect(d.nextScheduleTime.toISOString()).toBe('2025-01-01T10:00:00.000Z');
    expect(d.requeueAfterMs).toBe(15 * 60_000);
  });

  it('starts a scheduled run when its time has come and records it as handled', () => {
    const d = decideSchedule(anInput({ now: T('2025-01-01T10:00:02Z') }));
    expect(d.start).toEqual({ trigger: 'schedule' });
    expect(d.lastScheduleTime?.toISOString()).toBe('2025-01-01T10:00:00.000Z');
    expect(d.nextScheduleTime.toISOString()).toBe('2025-01-01T11:00:00.000Z');
  });

  it('polls often while its own run is in progress', () => {
    const d = decideSchedule(
      anInput({
        status: status({ activeRuns: ['r1'], lastScheduleTime: '2025-01-01T09:00:00Z' }),
        ownRuns: new Set(['r1']),
      }),
    );
    expect(d.orphaned).toEqual([]);
    expect(d.requeueAfterMs).toBe(2_000);
  });

  it('skips a due run under Forbid while another is in progress', () => {
    const d = decideSchedule(
      anInput({
        status: status({ activeRuns: ['r1'], lastScheduleTime: '2025-01-01T09:00:00Z' }),
        ownRuns: new Set(['r1']),
        now: T('2025-01-01T10:00:01Z'),
      }),
    );
    expect(d.start).toBeUndefined();
    expect(d.skipped?.reason).toBe('ConcurrencyForbid');
    expect(d.lastScheduleTime?.toISOString()).toBe('2025-01-01T10:00:00.000Z');
  });

  it('starts a due run under Allow even while another is in progress', () => {
    const d = decideSchedule(
      anInput({
        spec: aSpec({ concurrencyPolicy: 'Allow' }),
        status: status({ activeRuns: ['r1'], lastScheduleTime: '2025-01-01T09:00:00Z' }),
        ownRuns: new Set(['r1']),
        now: T('2025-01-01T10:00:01Z'),
      }),
    );
    expect(d.start).toEqual({ trigger: 'schedule' });
  });

  it('skips scheduled runs while suspended, without running them late after resuming', () => {
    const suspended = decideSchedule(
      anInput({ spec: aSpec({ suspend: true }), now: T('2025-01-01T10:00:05Z') }),
    );
    expect(suspended.start).toBeUndefined();
    expect(suspended.skipped?.reason).toBe('Suspended');
    const resumed = decideSchedule(
      anInput({
        status: status({ lastScheduleTime: suspended.lastScheduleTime!.toISOString() }),
        now: T('2025-01-01T10:20:00Z'),
      }),
    );
    expect(resumed.start).toBeUndefined();
  });

  it('skips a run missed by more than the starting deadline (operator was down)', () => {
    const d = decideSchedule(
      anInput({
        spec: aSpec({ schedule: '0 6 * * *' }),
        status: status({ lastScheduleTime: '2025-01-01T06:00:00Z' }),
        now: T('2025-01-02T08:30:00Z'),
      }),
      { startingDeadlineMs: 60 * 60_000, runPollMs: 2_000, maxRequeueMs: 3_600_000 },
    );
    expect(d.start).toBeUndefined();
    expect(d.skipped?.reason).toBe('MissedSchedule');
    expect(d.lastScheduleTime?.toISOString()).toBe('2025-01-02T06:00:00.000Z');
  });

  it('runs a missed run that is still within the starting deadline', () => {
    const d = decideSchedule(
      anInput({
        status: status({ lastScheduleTime: '2025-01-01T09:00:00Z' }),
        now: T('2025-01-01T10:40:00Z'),
      }),
    );
    expect(d.start).toEqual({ trigger: 'schedule' });
  });

  it('starts one run for a new run-now value, even when suspended', () => {
    const d = decideSchedule(
      anInput({ spec: aSpec({ suspend: true }), annotations: { [Annotations.runNow]: 'first' } }),
    );
    expect(d.start).toEqual({ trigger: 'runNow', runNowValue: 'first' });
  });

  it('does not start again for a run-now value already handled', () => {
    const d = decideSchedule(
      anInput({
        annotations: { [Annotations.runNow]: 'first' },
        status: status({ lastHandled: { runNow: 'first' } }),
      }),
    );
    expect(d.start).toBeUndefined();
  });

  it('keeps a new run-now value waiting under Forbid until the run in progress ends', () => {
    const d = decideSchedule(
      anInput({
        annotations: { [Annotations.runNow]: 'second' },
        status: status({ activeRuns: ['r1'], lastHandled: { runNow: 'first' } }),
        ownRuns: new Set(['r1']),
      }),
    );
    expect(d.start).toBeUndefined();
    expect(d.runNowWaiting).toBe('second');
  });

  it('lets a run-now run stand in for a scheduled run due at the same moment', () => {
    const d = decideSchedule(
      anInput({ annotations: { [Annotations.runNow]: 'x' }, now: T('2025-01-01T10:00:01Z') }),
    );
    expect(d.start?.trigger).toBe('runNow');
    expect(d.skipped?.reason).toBe('ConcurrencyForbid');
    expect(d.lastScheduleTime?.toISOString()).toBe('2025-01-01T10:00:00.000Z');
  });

  it('reports a run in progress that this process does not own as interrupted, and starts nothing', () => {
    const d = decideSchedule(
      anInput({
        annotations: { [Annotations.runNow]: 'x' },
        status: status({ activeRuns: ['r-before-restart'] }),
        now: T('2025-01-01T10:00:01Z'),
      }),
    );
    expect(d.orphaned).toEqual(['r-before-restart']);
    expect(d.start).toBeUndefined();
  });

  it('follows the schedule in its time zone', () => {
    const d = decideSchedule(
      anInput({
        spec: aSpec({ schedule: '0 6 * * *', timeZone: 'Europe/Berlin' }),
        now: T('2025-01-01T09:45:00Z'),
      }),
    );
    expect(d.nextScheduleTime.toISOString()).toBe('2025-01-02T05:00:00.000Z');
  });
});
