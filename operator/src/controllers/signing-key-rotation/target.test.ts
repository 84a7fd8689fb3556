import { describe, expect, it } from 'vitest';
import { aSigningKeyRotationSpec } from '../../api/fixtures.js';
import type { SigningKeyRotationStatus } from '../../api/index.js';
import type { ModelKey } from './model.js';
import { aKey } from './rules.test-support.js';
import { chooseTarget, type TargetDecision, type TargetInput } from './target.js';

const MIN = 60_000;
const T0 = Date.parse('2025-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
// Interval 10m, lead 2m, caches 30s: the next key is published at 8m and signs at 10m.
const spec = aSigningKeyRotationSpec({
  rotationInterval: '10m',
  leadTime: '2m',
  maxTokenTTL: '1m',
  jwksCacheTTL: '30s',
});
const active = aKey('k1', 'active', { secret: 'active', entry: { activatedAt: at(0), publishedAt: at(0) } });
const next = (publishedAt: number) =>
  aKey('k2', 'next', { secret: 'next', entry: { publishedAt: at(publishedAt) } });
const loaded = { allLoaded: true, notLoaded: [], lastLoadedAt: undefined };

interface Case {
  name: string;
  now: number;
  model: ModelKey[];
  prev?: SigningKeyRotationStatus;
  triggers?: Partial<TargetInput['triggers']>;
  services?: TargetInput['services'];
  suspend?: boolean;
  expect: Partial<Omit<TargetDecision, 'rotating'>> & { rotating?: string };
}

const cases: Case[] = [
  {
    name: 'a new resource generates its first key to sign at once',
    now: 0,
    model: [],
    expect: {
      emergency: true,
      reason: 'initial',
      target: { retired: [], pending: [], newKey: 'active' },
      rotating: 'Initializing',
    },
  },
  {
    name: 'an active key whose secret is gone is replaced at once and kept published as retired',
    now: MIN,
    model: [aKey('k1', 'active', { secret: null })],
    prev: { activeKid: 'k1' },
    expect: {
      emergency: true,
      activeLost: true,
      reason: 'emergency',
      target: { retired: ['k1'], pending: [], newKey: 'active' },
    },
  },
  {
    name: 'revoking the active key replaces it at once and does not keep it',
    now: MIN,
    model: [active],
    prev: { activeKid: 'k1' },
    triggers: { revokeKid: 'k1' },
    expect: {
      emergency: true,
      target: { retired: [], pending: [], newKey: 'active' },
      rotating: 'EmergencyRotated',
    },
  },
  {
    name: 'an emergency rotate-now replaces the active key without lead time',
    now: MIN,
    model: [active],
    prev: { activeKid: 'k1' },
    triggers: { rotateNow: '1', emergency: true },
    expect: {
      emergency: true,
      rotateNowHandled: undefined,
      target: { retired: ['k1'], pending: [], newKey: 'active' },
    },
  },
  {
    name: 'an emergency key already written (its secret says active) is published to sign, and the rotate-now is handled',
    now: MIN,
    model: [active, aKey('k2', 'pending', { secret: 'active', published: false })],
    prev: { activeKid: 'k1' },
    triggers: { rotateNow: '1', emergency: true },
    expect: {
      emergency: true,
      rotateNowHandled: '1',
      target: { active: 'k2', retired: ['k1'], pending: ['k2'] },
    },
  },
  {
    name: 'before leadTime ahead of the rotation nothing is generated; it wakes at the publication time',
    now: 5 * MIN,
    model: [active],
    expect: {
      emergency: false,
      reason: undefined,
      target: { active: 'k1', retired: [], pending: [] },
      wakeAt: [T0 + 8 * MIN],
    },
  },
  {
    name: 'leadTime ahead of the rotation the next key is generated',
    now: 8 * MIN,
    model: [active],
    expect: { target: { active: 'k1', retired: [], pending: [], newKey: 'next' }, rotating: 'KeyPublished' },
  },
  {
    name: 'suspended: no next key is generated and nothing is scheduled',
    now: 9 * MIN,
    model: [active],
    suspend: true,
    expect: { target: { active: 'k1', retired: [], pending: [] }, wakeAt: [], rotating: undefined },
  },
  {
    name: 'a generated next key is published',
    now: 8 * MIN,
    model: [active, aKey('k2', 'pending', { secret: 'next', published: false })],
    expect: {
      reason: 'scheduled',
      target: { active: 'k1', next: 'k2', retired: [], pending: ['k2'] },
      rotating: 'KeyPublished',
    },
  },
  {
    name: 'a published next key waits for its lead time, and the rotation wakes then',
    now: 9 * MIN,
    model: [active, next(8 * MIN)],
    expect: {
      target: { active: 'k1', next: 'k2', retired: [], pending: [] },
      wakeAt: [T0 + 10 * MIN],
      rotating: 'WaitingForLeadTime',
    },
  },
  {
    name: 'a next key published late signs leadTime after its publication, not at the rotation time',
    now: 10 * MIN,
    model: [active, next(9 * MIN)],
    expect: { wakeAt: [T0 + 11 * MIN], rotating: 'WaitingForLeadTime' },
  },
  {
    name: 'a next key that may sign waits for every service to load the set',
    now: 10 * MIN,
    model: [active, next(8 * MIN)],
    services: { allLoaded: false, notLoaded: ['auth-service'], lastLoadedAt: undefined },
    expect: {
      target: { active: 'k1', next: 'k2', retired: [], pending: [] },
      rotating: 'WaitingForServices',
    },
  },
  {
    name: "a set loaded moments ago waits for verifiers' JWKS caches, and wakes when they hold it",
    now: 10 * MIN,
    model: [active, next(8 * MIN)],
    services: { allLoaded: true, notLoaded: [], lastLoadedAt: T0 + 10 * MIN - 10_000 },
    expect: { wakeAt: [T0 + 10 * MIN + 20_000], rotating: 'WaitingForServices' },
  },
  {
    name: 'at the rotation time, loaded and served long enough, the next key signs and the old one retires',
    now: 10 * MIN,
    model: [active, next(8 * MIN)],
    expect: {
      target: { active: 'k2', retired: ['k1'], pending: [] },
      reason: 'scheduled',
      rotating: 'Rotated',
    },
  },
  {
    name: 'rotate-now pulls the rotation to now: the next key is generated at once (with its lead time to come)',
    now: MIN,
    model: [active],
    triggers: { rotateNow: '7' },
    expect: {
      reason: 'manual',
      rotateNowHandled: '7',
      nextRotation: new Date(T0 + MIN),
      target: { active: 'k1', retired: [], pending: [], newKey: 'next' },
    },
  },
  {
    name: 'a rotate-now carried over from an earlier reconcile keeps its pulled time',
    now: 2 * MIN,
    model: [active, next(MIN)],
    prev: {
      activeKid: 'k1',
      lastRotationReason: 'manual',
      nextRotationTime: at(MIN),
      conditions: [
        {
          type: 'Rotating',
          status: 'True',
          reason: 'KeyPublished',
          message: '',
          lastTransitionTime: at(0),
          observedGeneration: 1,
        },
      ],
    },
    expect: { reason: 'manual', nextRotation: new Date(T0 + MIN), wakeAt: [T0 + 3 * MIN] },
  },
  {
    name: 'a retired key stays until its removeAfter, which is a wake-up; one past it is dropped',
    now: MIN,
    model: [
      active,
      aKey('k0', 'retired', { secret: 'retired', entry: { removeAfter: at(2 * MIN) } }),
      aKey('kx', 'retired', { secret: 'retired', entry: { removeAfter: at(30_000) } }),
    ],
    expect: { target: { active: 'k1', retired: ['k0'], pending: [] }, wakeAt: [T0 + 8 * MIN, T0 + 2 * MIN] },
  },
];

describe('chooseTarget', () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = chooseTarget({
        spec: { ...spec, suspend: c.suspend ?? false },
        prev: c.prev ?? { activeKid: c.model.length ? 'k1' : undefined },
        now: new Date(T0 + c.now),
        model: c.model,
        services: c.services ?? loaded,
        triggers: { emergency: false, ...c.triggers },
      });
      const { rotating, ...rest } = c.expect;
      expect(d).toMatchObject(rest);
      if ('rotating' in c.expect) expect(d.rotating?.reason).toBe(rotating);
      if (c.expect.target) expect(d.target).toEqual(c.expect.target);
      if (c.expect.wakeAt) expect(d.wakeAt).toEqual(c.expect.wakeAt);
    });
  }
});
