import { describe, expect, it } from 'vitest';
import type { VaultObservation } from '../../adapters/vault/signing-key-store.js';
import { aSigningKeyRotationSpec } from '../../api/fixtures.js';
import { keysetDocumentFor, type ModelKey, type Step, type Target } from './model.js';
import { nextStep } from './next-step.js';
import { aKey } from './rules.test-support.js';

const now = new Date('2025-01-01T00:10:00Z');
const spec = aSigningKeyRotationSpec();
const k1 = aKey('k1', 'active', { secret: 'active' });
const k2 = aKey('k2', 'next', { secret: 'next' });
const docOf = (active: string, next: string, keys: ModelKey[]) =>
  keysetDocumentFor(
    spec,
    keys.map((k) => ({ kid: k.kid, publicJwk: k.publicJwk ?? {} })),
    active,
    next,
    now,
  );
const vaultWith = (keyset = docOf('k1', 'k2', [k1, k2])): VaultObservation => ({
  keyset,
  keysetVersion: 4,
  keysetInvalid: false,
  keys: [],
});
const target = (t: Partial<Target>): Target => ({ retired: [], pending: [], ...t });

describe('nextStep', () => {
  const cases: [string, Target, ModelKey[], VaultObservation, Step['kind'] | undefined, Partial<Step>?][] = [
    [
      'a secret no record keeps is destroyed first, as an orphan',
      target({ newKey: 'active' }),
      [aKey('kx', 'orphan', { secret: 'next', published: false })],
      vaultWith(),
      'destroy',
      { kid: 'kx', why: 'orphan' } as Partial<Step>,
    ],
    [
      'an unpublished key being revoked is destroyed as revoked',
      target({ active: 'k1' }),
      [k1, aKey('k2', 'next', { secret: 'next', published: false })],
      vaultWith(),
      'destroy',
      { kid: 'k2', why: 'revoked' } as Partial<Step>,
    ],
    [
      'a generated key no longer wanted is discarded',
      target({ active: 'k1' }),
      [k1, aKey('k3', 'pending', { secret: 'next', published: false })],
      vaultWith(docOf('k1', '', [k1])),
      'destroy',
      { kid: 'k3', why: 'discarded' } as Partial<Step>,
    ],
    [
      'a new key is written before anything names it',
      target({ active: 'k1', newKey: 'next' }),
      [k1],
      vaultWith(),
      'generate',
      { state: 'next' } as Partial<Step>,
    ],
    [
      'the key about to sign says active in its secret before the key set names it',
      target({ active: 'k2', retired: ['k1'] }),
      [k1, k2],
      vaultWith(),
      'prepare-active',
      { kid: 'k2', expectedVersion: 1 } as Partial<Step>,
    ],
    [
      'a key set that differs from the target is published, check-and-set on its version',
      target({ active: 'k1', next: 'k2' }),
      [k1, k2],
      vaultWith(docOf('k1', '', [k1])),
      'publish',
      { expectedVersion: 4 } as Partial<Step>,
    ],
    [
      "a published key's secret follows the key set's state",
      target({ active: 'k2', retired: ['k1'] }),
      [aKey('k1', 'retired', { secret: 'active' }), aKey('k2', 'active', { secret: 'active' })],
      vaultWith(docOf('k2', '', [aKey('k1', 'retired'), aKey('k2', 'active')])),
      'sync-state',
      { kid: 'k1', state: 'retired' } as Partial<Step>,
    ],
    [
      'nothing to write when Vault holds the target',
      target({ active: 'k1', next: 'k2' }),
      [k1, k2],
      vaultWith(),
      undefined,
    ],
  ];
  for (const [name, t, model, vault, kind, fields] of cases) {
    it(name, () => {
      const inTarget = new Set([t.active, t.next, ...t.retired, ...t.pending].filter(Boolean));
      const step = nextStep(
        spec,
        t,
        model,
        inTarget,
        vault,
        now,
        name.includes('revoked') ? 'k2' : undefined,
      );
      expect(step?.kind).toBe(kind);
      if (fields) expect(step).toMatchObject(fields);
    });
  }
});
