import { describe, expect, it } from 'vitest';
import { type Condition, formatTime, getCondition, isConditionTrue, setCondition } from './conditions.js';

const t0 = new Date('2026-03-01T10:00:00.123Z');
const t1 = new Date('2026-03-01T10:05:00Z');

const ready = (status: Condition['status'], reason = 'Reconciled', message = '') => ({
  type: 'Ready',
  status,
  reason,
  message,
});

describe('setCondition', () => {
  it('adds a new condition stamped with the generation and the time, at second precision', () => {
    expect(setCondition(undefined, 3, ready('True'), t0)).toEqual([
      {
        type: 'Ready',
        status: 'True',
        observedGeneration: 3,
        lastTransitionTime: '2026-03-01T10:00:00Z',
        reason: 'Reconciled',
        message: '',
      },
    ]);
  });

  it('keeps lastTransitionTime when only the reason, message or generation change', () => {
    const first = setCondition([], 1, ready('False', 'VaultUnavailable', 'connection refused'), t0);
    const second = setCondition(
      first,
      2,
      ready('False', 'WaitingForLeadTime', 'next key signs at 12:00'),
      t1,
    );
    expect(second[0]).toMatchObject({
      status: 'False',
      observedGeneration: 2,
      lastTransitionTime: '2026-03-01T10:00:00Z',
      reason: 'WaitingForLeadTime',
      message: 'next key signs at 12:00',
    });
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], 1, ready('False'), t0);
    expect(setCondition(first, 1, ready('True'), t1)[0]!.lastTransitionTime).toBe('2026-03-01T10:05:00Z');
  });

  it('replaces a condition in place and keeps the others and their order', () => {
    let list = setCondition([], 1, ready('False'), t0);
    list = setCondition(
      list,
      1,
      { type: 'ServicesLoaded', status: 'Unknown', reason: 'ServicesNotLoaded', message: '' },
      t0,
    );
    list = setCondition(list, 1, ready('True'), t1);
    expect(list.map((c) => [c.type, c.status])).toEqual([
      ['Ready', 'True'],
      ['ServicesLoaded', 'Unknown'],
    ]);
  });

  it('does not change the list it is given', () => {
    const before = setCondition([], 1, ready('False'), t0);
    const snapshot = structuredClone(before);
    setCondition(before, 2, ready('True'), t1);
    expect(before).toEqual(snapshot);
  });
});

describe('condition queries', () => {
  const list = setCondition([], 4, ready('True'), t0);

  it('finds a condition by type', () => {
    expect(getCondition(list, 'Ready')?.status).toBe('True');
    expect(getCondition(list, 'Applied')).toBeUndefined();
  });

  it('counts a True condition only for the generation it was computed for', () => {
    expect(isConditionTrue(list, 'Ready', 4)).toBe(true);
    expect(isConditionTrue(list, 'Ready', 5)).toBe(false);
    expect(isConditionTrue(setCondition(list, 4, ready('False'), t1), 'Ready', 4)).toBe(false);
  });

  it('formats times as metav1.Time does', () => {
    expect(formatTime(t0)).toBe('2026-03-01T10:00:00Z');
  });
});
