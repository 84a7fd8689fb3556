import { describe, expect, it } from 'vitest';
import { Annotations } from '../../api/index.js';
import type { ModelKey } from './model.js';
import { aKey } from './rules.test-support.js';
import { readTriggers } from './triggers.js';

const keys = new Map<string, ModelKey>(
  [
    aKey('k-active', 'active', { secret: 'active' }),
    aKey('k-orphan', 'orphan', { secret: 'next' }),
    aKey('k-done', 'revoked', { published: false }),
  ].map((k) => [k.kid, k]),
);

describe('readTriggers', () => {
  const cases: {
    name: string;
    annotations: Record<string, string>;
    handled?: Record<string, string>;
    expect: {
      revokeKid?: string;
      rotateNow?: string;
      emergency?: boolean;
      handled?: object;
      notices?: string[];
    };
  }[] = [
    {
      name: 'no annotation asks for nothing',
      annotations: {},
      expect: { emergency: false, handled: {}, notices: [] },
    },
    {
      name: 'revoke-kid naming a key of this set revokes it',
      annotations: { [Annotations.revokeKid]: 'k-active' },
      expect: { revokeKid: 'k-active', handled: {} },
    },
    {
      name: 'revoke-kid naming an unknown kid is answered with a warning and handled',
      annotations: { [Annotations.revokeKid]: 'nope' },
      expect: { revokeKid: undefined, handled: { revokeKid: 'nope' }, notices: ['UnknownKid'] },
    },
    {
      name: 'revoke-kid naming a secret no record announced is not a key of this set',
      annotations: { [Annotations.revokeKid]: 'k-orphan' },
      expect: { revokeKid: undefined, handled: { revokeKid: 'k-orphan' }, notices: ['UnknownKid'] },
    },
    {
      name: 'revoke-kid naming a key already revoked and destroyed is handled without a warning',
      annotations: { [Annotations.revokeKid]: 'k-done' },
      expect: { revokeKid: undefined, handled: { revokeKid: 'k-done' }, notices: [] },
    },
    {
      name: 'a revoke-kid value already handled is not acted on again',
      annotations: { [Annotations.revokeKid]: 'k-active' },
      handled: { revokeKid: 'k-active' },
      expect: { revokeKid: undefined },
    },
    {
      name: 'a new rotate-now value is a rotation with the lead time',
      annotations: { [Annotations.rotateNow]: '1' },
      expect: { rotateNow: '1', emergency: false, notices: [] },
    },
    {
      name: 'a rotate-now value already handled is not acted on again',
      annotations: { [Annotations.rotateNow]: '1' },
      handled: { rotateNow: '1' },
      expect: { rotateNow: undefined, emergency: false },
    },
    {
      name: 'emergency naming this rotate-now value skips the lead time',
      annotations: { [Annotations.rotateNow]: '2', [Annotations.emergency]: '2' },
      expect: { rotateNow: '2', emergency: true, notices: [] },
    },
    {
      name: 'emergency left from an earlier rotation is ignored, with a warning that says how to use it',
      annotations: { [Annotations.rotateNow]: '3', [Annotations.emergency]: '2' },
      expect: { rotateNow: '3', emergency: false, notices: ['EmergencyNotForThisRotation'] },
    },
    {
      name: 'emergency without a new rotate-now does nothing',
      annotations: { [Annotations.rotateNow]: '2', [Annotations.emergency]: '2' },
      handled: { rotateNow: '2' },
      expect: { rotateNow: undefined, emergency: false, notices: [] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const t = readTriggers(c.annotations, c.handled, keys);
      const { notices, ...rest } = c.expect;
      expect(t).toMatchObject(rest);
      if ('revokeKid' in c.expect) expect(t.revokeKid).toBe(c.expect.revokeKid);
      if ('rotateNow' in c.expect) expect(t.rotateNow).toBe(c.expect.rotateNow);
      if (notices) expect(t.notices.map((n) => n.reason)).toEqual(notices);
    });
  }
});
