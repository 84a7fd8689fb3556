import { describe, expect, it } from 'vitest';
import { fingerprintKeyFrom } from '../../adapters/hmac-key/index.js';
import {
  actionOf,
  canonicalJson,
  changedKeysSince,
  computePlan,
  diffSecret,
  fingerprintOf,
  type PairSnapshot,
  promotedData,
  sameSource,
} from './plan.js';

const key = fingerprintKeyFrom(Buffer.alloc(32, 7));
const otherKey = fingerprintKeyFrom(Buffer.alloc(32, 8));
const now = new Date('2025-06-01T10:00:00Z');

const aPair = (overrides: Partial<PairSnapshot> = {}): PairSnapshot => ({
  target: 'staging',
  sourcePath: 'novapos/auth',
  sourceVersion: 3,
  sourceData: { KAFKA_BOOTSTRAP: 'kafka:9092', REDIS_URL: 'redis://redis:6379/0' },
  targetPath: 'novapos/auth',
  targetVersion: 5,
  targetData: { KAFKA_BOOTSTRAP: 'kafka:9092', OLD: 'x' },
  ...overrides,
});

const promote = (
  pairs: PairSnapshot[],
  extra: { prune?: boolean; keys?: { include?: string[]; exclude?: string[] } } = {},
) => computePlan({ action: 'promote', pairs, keys: extra.keys, prune: extra.prune ?? false, key, now });

describe('diffSecret', () => {
  const cases: {
    name: string;
    current: Record<string, unknown> | undefined;
    desired: Record<string, unknown>;
    removable?: (k: string) => boolean;
    actions: Record<string, string>;
    next: Record<string, unknown>;
  }[] = [
    {
      name: 'a key only in the source is added',
      current: {},
      desired: { A: '1' },
      actions: { A: 'add' },
      next: { A: '1' },
    },
    {
      name: 'a key with another value is changed',
      current: { A: '0' },
      desired: { A: '1' },
      actions: { A: 'change' },
      next: { A: '1' },
    },
    {
      name: 'a key with the same value is unchanged',
      current: { A: '1' },
      desired: { A: '1' },
      actions: { A: 'unchanged' },
      next: { A: '1' },
    },
    {
      name: 'a key only in the target is kept and not listed when it may not be removed',
      current: { A: '1', LOCAL: 'l' },
      desired: { A: '1' },
      actions: { A: 'unchanged' },
      next: { A: '1', LOCAL: 'l' },
    },
    {
      name: 'a key only in the target is removed when it may be',
      current: { A: '1', GONE: 'g' },
      desired: { A: '1' },
      removable: () => true,
      actions: { A: 'unchanged', GONE: 'remove' },
      next: { A: '1' },
    },
    {
      name: 'an absent target gets every key added',
      current: undefined,
      desired: { A: '1', B: '2' },
      actions: { A: 'add', B: 'add' },
      next: { A: '1', B: '2' },
    },
    {
      name: 'JSON values compare by content, not by key order',
      current: { J: { b: 1, a: 2 } },
      desired: { J: { a: 2, b: 1 } },
      actions: { J: 'unchanged' },
      next: { J: { a: 2, b: 1 } },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { changes, next } = diffSecret(c.current, c.desired, c.removable ?? (() => false), key);
      expect(Object.fromEntries(changes.map((x) => [x.key, x.action]))).toEqual(c.actions);
      expect(next).toEqual(c.next);
    });
  }
});

describe('fingerprints', () => {
  it('are equal for equal values of the same key and differ for different values', () => {
    expect(fingerprintOf(key, 'A', 'v')).toBe(fingerprintOf(key, 'A', 'v'));
    expect(fingerprintOf(key, 'A', 'v')).not.toBe(fingerprintOf(key, 'A', 'w'));
  });
  it('differ between keys holding the same value, so equal secrets under two names do not show', () => {
    expect(fingerprintOf(key, 'A', 'v')).not.toBe(fingerprintOf(key, 'B', 'v'));
  });
  it('depend on the HMAC key, so nobody without it can test a guessed value', () => {
    expect(fingerprintOf(key, 'A', 'v')).not.toBe(fingerprintOf(otherKey, 'A', 'v'));
  });
  it('are 16 hex characters and never contain the value', () => {
    const fp = fingerprintOf(key, 'REDIS_URL', 'redis://redis:6379/0');
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('promotedData', () => {
  it('keeps only the selected keys and then applies overrides', () => {
    expect(
      promotedData({ A: '1', B: '2', C: '3' }, { include: ['A', 'B'], exclude: ['B'] }, { C: 'o' }),
    ).toEqual({
      A: '1',
      C: 'o',
    });
  });
  it('takes every key when spec.keys is absent', () => {
    expect(promotedData({ A: '1', B: '2' }, undefined)).toEqual({ A: '1', B: '2' });
  });
});

describe('computePlan', () => {
  it('lists every key of the diff with fingerprints, never a value', () => {
    const { plan } = promote([aPair()]);
    const text = JSON.stringify(plan);
    expect(text).not.toContain('kafka:9092');
    expect(text).not.toContain('redis://');
    expect(plan.entries[0]?.changes.map((c) => [c.key, c.action])).toEqual([
      ['KAFKA_BOOTSTRAP', 'unchanged'],
      ['REDIS_URL', 'add'],
    ]);
    expect(plan.summary).toEqual({ add: 1, change: 0, remove: 0, unchanged: 1 });
  });

  it('writes the merged target data check-and-set on the version it read', () => {
    const { writes } = promote([aPair()]);
    expect(writes).toEqual([
      expect.objectContaining({
        expectedVersion: 5,
        data: { KAFKA_BOOTSTRAP: 'kafka:9092', REDIS_URL: 'redis://redis:6379/0', OLD: 'x' },
        deleteAfterWrite: false,
      }),
    ]);
  });

  it('removes target keys missing from the source only with prune, and only selected ones', () => {
    const { plan } = promote([aPair()], { prune: true, keys: { exclude: ['OLD'] } });
    expect(plan.summary.remove).toBe(0);
    expect(promote([aPair()], { prune: true }).plan.summary.remove).toBe(1);
  });

  it('writes nothing for a secret that is already equal', () => {
    const { writes, plan } = promote([
      aPair({ targetData: { KAFKA_BOOTSTRAP: 'kafka:9092', REDIS_URL: 'redis://redis:6379/0' } }),
    ]);
    expect(writes).toEqual([]);
    expect(plan.summary).toEqual({ add: 0, change: 0, remove: 0, unchanged: 2 });
  });

  const hashOf = (pair: Partial<PairSnapshot>) => promote([aPair(pair)]).plan.hash;
  const base = hashOf({});
  const hashCases: [string, Partial<PairSnapshot>][] = [
    ['a new source version changes the hash', { sourceVersion: 4 }],
    ['a new target version changes the hash', { targetVersion: 6 }],
    [
      'another source value changes the hash',
      { sourceData: { KAFKA_BOOTSTRAP: 'kafka:9093', REDIS_URL: 'redis://redis:6379/0' } },
    ],
    ['an override changes the hash', { overrides: { REDIS_URL: 'redis://staging:6379/0' } }],
  ];
  for (const [name, change] of hashCases) {
    it(name, () => expect(hashOf(change)).not.toBe(base));
  }
  it('the same inputs give the same hash at another time and in another order', () => {
    const a = computePlan({
      action: 'promote',
      pairs: [aPair(), aPair({ target: 'prod' })],
      prune: false,
      key,
      now,
    });
    const b = computePlan({
      action: 'promote',
      pairs: [aPair({ target: 'prod' }), aPair()],
      prune: false,
      key,
      now: new Date('2030-01-01T00:00:00Z'),
    });
    expect(a.plan.hash).toBe(b.plan.hash);
  });
  it('names its action in the hash so approvers see a rollback for what it is', () => {
    const rb = computePlan({ action: 'rollback', pairs: [aPair()], prune: false, key, now }).plan;
    expect(rb.hash).toMatch(/^rollback-[0-9a-f]{32}$/);
    expect(actionOf(rb)).toBe('rollback');
    expect(actionOf(promote([aPair()]).plan)).toBe('promote');
  });

  it('a rollback restores the earlier version exactly: keys it lacked are removed', () => {
    const { writes, plan } = computePlan({
      action: 'rollback',
      pairs: [aPair({ sourceData: { A: 'old' }, targetData: { A: 'new', B: 'added' } })],
      prune: false,
      key,
      now,
    });
    expect(writes[0]?.data).toEqual({ A: 'old' });
    expect(plan.summary).toEqual({ add: 0, change: 1, remove: 1, unchanged: 0 });
  });

  it('a rollback to "absent" writes an empty version and deletes it', () => {
    const { writes } = computePlan({
      action: 'rollback',
      pairs: [aPair({ sourceVersion: 0, sourceData: undefined, targetData: { A: 'new' } })],
      prune: false,
      key,
      now,
    });
    expect(writes[0]).toMatchObject({ data: {}, deleteAfterWrite: true });
  });
});

describe('sameSource', () => {
  it('is true when only a target moved', () => {
    expect(
      sameSource(
        promote([aPair()]).plan,
        promote([aPair({ targetVersion: 9, targetData: { X: '1' } })]).plan,
      ),
    ).toBe(true);
  });
  it('is false when the source version moved', () => {
    expect(sameSource(promote([aPair()]).plan, promote([aPair({ sourceVersion: 4 })]).plan)).toBe(false);
  });
});

describe('changedKeysSince', () => {
  it('names the planned keys whose target value differs now, not their values', () => {
    const entry = promote([aPair()]).plan.entries[0]!;
    expect(changedKeysSince(entry, { KAFKA_BOOTSTRAP: 'edited', REDIS_URL: 'sneaky' }, key)).toEqual([
      'KAFKA_BOOTSTRAP',
      'REDIS_URL',
    ]);
    expect(changedKeysSince(entry, { KAFKA_BOOTSTRAP: 'kafka:9092', OLD: 'x' }, key)).toEqual([]);
  });
});

describe('canonicalJson', () => {
  it('sorts object keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: 1, c: [2, { f: 1, e: 2 }] } })).toBe(
      '{"a":{"c":[2,{"e":2,"f":1}],"d":1},"b":1}',
    );
  });
});
