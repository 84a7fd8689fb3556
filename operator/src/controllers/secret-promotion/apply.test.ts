import { describe, expect, it } from 'vitest';
import { aSecretPromotion } from '../../api/fixtures.js';
import { provenanceOf } from './apply.js';
import { aPlan } from './fixtures.test-support.js';
import { Provenance } from './gather.js';
import type { PlannedWrite } from './plan.js';

const p = aSecretPromotion();
p.metadata.namespace = 'promotions';
const target = p.spec.targets[0] as (typeof p.spec.targets)[number];
const planOf = (action: 'promote' | 'rollback') => aPlan({}, action);
const aWrite = (expectedVersion: number): PlannedWrite => ({
  target: 'staging',
  targetPath: 'novapos/auth',
  expectedVersion,
  data: { A: '1' },
  sourcePath: 'novapos/auth',
  sourceVersion: 2,
  deleteAfterWrite: false,
});

describe('provenanceOf', () => {
  const cases: {
    name: string;
    action: 'promote' | 'rollback';
    expectedVersion: number;
    existing?: Record<string, string>;
    source: string;
    created: string;
  }[] = [
    {
      name: 'a secret the promotion creates is marked created, so deletionPolicy Delete may remove it',
      action: 'promote',
      expectedVersion: 0,
      source: 'local:secret/novapos/auth',
      created: 'true',
    },
    {
      name: 'a secret that existed before is not marked created',
      action: 'promote',
      expectedVersion: 1,
      source: 'local:secret/novapos/auth',
      created: 'false',
    },
    {
      name: 'a later write keeps the created mark of the first',
      action: 'promote',
      expectedVersion: 1,
      existing: { [Provenance.created]: 'true', other: 'kept by Vault' },
      source: 'local:secret/novapos/auth',
      created: 'true',
    },
    {
      name: "a rollback names the target's own earlier version as its source",
      action: 'rollback',
      expectedVersion: 3,
      source: 'staging:secret/novapos/auth',
      created: 'false',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planOf(c.action);
      const meta = provenanceOf(p, plan, target, aWrite(c.expectedVersion), 4, c.existing);
      expect(meta).toEqual({
        [Provenance.promotion]: 'promotions/auth-to-staging',
        [Provenance.plan]: plan.hash,
        [Provenance.source]: c.source,
        [Provenance.sourceVersion]: '2',
        [Provenance.version]: '4',
        [Provenance.created]: c.created,
      });
    });
  }
});
