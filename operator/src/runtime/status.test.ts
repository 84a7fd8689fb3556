import { describe, expect, it } from 'vitest';
import { specOrMetadataChanged } from './controller.js';
import { microTime } from './events.js';
import { createMergePatch } from './status.js';

describe('createMergePatch', () => {
  it('is undefined when nothing changed, whatever the key order or undefined members', () => {
    expect(
      createMergePatch({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1, d: undefined }),
    ).toBeUndefined();
  });

  it('sets changed members, nulls removed ones and replaces arrays whole', () => {
    expect(
      createMergePatch(
        { a: 1, gone: 'x', nested: { keep: 1, drop: 2 }, list: [1, 2] },
        { a: 2, nested: { keep: 1 }, list: [2] },
      ),
    ).toEqual({
      a: 2,
      gone: null,
      nested: { drop: null },
      list: [2],
    });
  });
});

describe('microTime', () => {
  it('has six fractional digits, as events.k8s.io MicroTime requires', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
  });
});

describe('specOrMetadataChanged', () => {
  const obj = (meta: Record<string, unknown>, status?: unknown) => ({
    metadata: { generation: 1, ...meta },
    status,
  });
  it('ignores a status-only change (the controller’s own write)', () => {
    expect(
      specOrMetadataChanged(obj({ resourceVersion: '1' }), obj({ resourceVersion: '2' }, { ready: true })),
    ).toBe(false);
  });
  it('sees spec (generation), annotation, finalizer and deletion changes', () => {
    expect(specOrMetadataChanged(obj({}), obj({ generation: 2 }))).toBe(true);
    expect(
      specOrMetadataChanged(obj({}), obj({ annotations: { 'security.novapos.io/rotate-now': '1' } })),
    ).toBe(true);
    expect(specOrMetadataChanged(obj({}), obj({ finalizers: ['x'] }))).toBe(true);
    expect(specOrMetadataChanged(obj({}), obj({ deletionTimestamp: new Date(0) }))).toBe(true);
  });
});
