import { fingerprintKeyFrom } from '../../adapters/hmac-key/index.js';
import { aSecretPromotion } from '../../api/fixtures.js';
import type {
  PromotionPlan,
  SecretPromotion,
  SecretPromotionSpec,
  SecretPromotionStatus,
} from '../../api/v1alpha1/secretpromotion.js';
import { computePlan, type PairSnapshot } from './plan.js';

/** The fingerprint key and the clock of the secret-promotion unit tests. */
export const key = fingerprintKeyFrom(Buffer.alloc(32, 1));
export const now = new Date('2025-06-01T10:00:00Z');

/**
 * A plan for one or more source/target pairs: by default novapos/auth v2 `{A: '1'}` promoted over the
 * staging target's v1 `{A: '0'}`; each pair's fields override that.
 */
export function aPlan(
  pairs: Partial<PairSnapshot> | Partial<PairSnapshot>[] = {},
  action: 'promote' | 'rollback' = 'promote',
): PromotionPlan {
  return computePlan({
    action,
    pairs: [pairs].flat().map((pair) => ({
      target: 'staging',
      sourcePath: 'novapos/auth',
      sourceVersion: 2,
      sourceData: { A: '1' },
      targetPath: 'novapos/auth',
      targetVersion: 1,
      targetData: { A: '0' },
      ...pair,
    })),
    prune: false,
    key,
    now,
  }).plan;
}

/** A SecretPromotion as the controller reads it: its spec, status, annotations and generation. */
export function aPromotionGiven(g: {
  spec?: Partial<SecretPromotionSpec>;
  status?: SecretPromotionStatus;
  annotations?: Record<string, string>;
  generation?: number;
}): SecretPromotion {
  const p = aSecretPromotion(g.spec);
  p.metadata.generation = g.generation ?? 1;
  p.metadata.annotations = g.annotations;
  p.status = g.status;
  return p;
}
