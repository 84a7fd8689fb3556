import { describe, expect, it } from 'vitest';
import { aSigningKeyRotationSpec } from '../../api/fixtures.js';
import type { SigningKey } from '../../api/index.js';
import { keyStatus } from './key-status.js';
import type { ModelKey } from './model.js';
import { aKey } from './rules.test-support.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const WINDOW = 100_000;
const now = new Date(T0 + 200_000);
const listed = aSigningKeyRotationSpec({
  services: [{ name: 'auth-service', statusURL: 'http://auth.test/keys/status' }],
});
const unlisted = aSigningKeyRotationSpec({ services: [] });
const doc = { keysetHash: 'h' } as never;

interface Case {
  name: string;
  model: ModelKey[];
  revokeKid?: string;
  services?: boolean;
  allLoaded?: boolean;
  expect: { entries: Partial<SigningKey>[]; wakeAt?: number[]; revocationDone?: boolean };
}
const cases: Case[] = [
  {
    name: 'an orphan secret and a key gone from every record are not in status',
    model: [
      aKey('k1', 'active', { secret: 'active' }),
      aKey('kx', 'orphan', { secret: 'next' }),
      aKey('kg', 'gone'),
    ],
    expect: { entries: [{ kid: 'k1', state: 'active' }], wakeAt: [] },
  },
  {
    name: 'a key being revoked is recorded revoked once unpublished, for one retire window',
    model: [aKey('k2', 'retired', { published: false, secret: 'retired' })],
    revokeKid: 'k2',
    expect: {
      entries: [{ kid: 'k2', state: 'revoked', revokedAt: at(200_000) }],
      wakeAt: [T0 + 300_000],
      revocationDone: false,
    },
  },
  {
    name: 'a revoked key still published stays as it is until it leaves the key set',
    model: [aKey('k2', 'retired', { secret: 'retired' })],
    revokeKid: 'k2',
    expect: { entries: [{ kid: 'k2', state: 'retired' }], revocationDone: false },
  },
  {
    name: 'a revoked record older than the window, destroyed and unpublished, is dropped and the revocation is done',
    model: [aKey('k2', 'revoked', { published: false, entry: { state: 'revoked', revokedAt: at(50_000) } })],
    revokeKid: 'k2',
    expect: { entries: [], wakeAt: [], revocationDone: true },
  },
  {
    name: 'without services a retired key is removable one window after it retired',
    model: [aKey('k0', 'retired', { secret: 'retired', entry: { retiredAt: at(150_000) } })],
    services: false,
    expect: { entries: [{ kid: 'k0', removeAfter: at(250_000) }], wakeAt: [T0 + 250_000] },
  },
  {
    // An operator killed between retiring a key and writing its status comes back later than the window: the
    // removeAfter it now records has passed, and it must wake at once to remove the key (it once slept the
    // longest requeue, an hour, with the retired key still published: test/signing-keys/crash-and-outage).
    name: 'a retired key whose window passed before it got a removeAfter wakes the operator at once',
    model: [aKey('k0', 'retired', { secret: 'retired', entry: { retiredAt: at(50_000) } })],
    services: false,
    expect: { entries: [{ kid: 'k0', removeAfter: at(150_000) }], wakeAt: [T0 + 200_001] },
  },
  {
    name: 'with services the window starts when all have loaded a set where it does not sign',
    model: [aKey('k0', 'retired', { secret: 'retired', entry: { retiredAt: at(150_000) } })],
    services: true,
    allLoaded: true,
    expect: { entries: [{ kid: 'k0', removeAfter: at(300_000) }], wakeAt: [T0 + 300_000] },
  },
  {
    name: 'with services not all loaded a retired key gets no removeAfter yet',
    model: [aKey('k0', 'retired', { secret: 'retired', entry: { retiredAt: at(150_000) } })],
    services: true,
    allLoaded: false,
    expect: { entries: [{ kid: 'k0', removeAfter: undefined }], wakeAt: [] },
  },
  {
    name: 'keys are sorted by kid',
    model: [aKey('k2', 'next', { secret: 'next' }), aKey('k1', 'active', { secret: 'active' })],
    expect: { entries: [{ kid: 'k1' }, { kid: 'k2' }] },
  },
];

describe('keyStatus', () => {
  for (const c of cases) {
    it(c.name, () => {
      const s = keyStatus({
        spec: c.services ? listed : unlisted,
        model: c.model,
        now,
        retireWindowMs: WINDOW,
        revokeKid: c.revokeKid,
        services: { allLoaded: c.allLoaded ?? true },
        doc,
      });
      expect(s.entries).toHaveLength(c.expect.entries.length);
      c.expect.entries.forEach((e, i) => {
        for (const [field, value] of Object.entries(e))
          expect(s.entries[i]?.[field as keyof SigningKey], field).toEqual(value);
      });
      if (c.expect.wakeAt) expect(s.wakeAt).toEqual(c.expect.wakeAt);
      if (c.expect.revocationDone !== undefined) expect(s.revocationDone).toBe(c.expect.revocationDone);
    });
  }
});
