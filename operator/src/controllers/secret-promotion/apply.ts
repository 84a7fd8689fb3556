import { VaultError } from '../../../../lib/vault.js';
import type { FingerprintKey } from '../../adapters/hmac-key/index.js';
import { mapLimit } from '../../adapters/vault-connections/index.js';
import type { PromotionPlan, PromotionTarget, SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import type { ConflictRecord, WriteRecord } from './desired.js';
import { guardPath, targetOf } from './errors.js';
import { Provenance, pairKey, type SecretStoreProvider, type TargetMetadata } from './gather.js';
import { actionOf, changedKeysSince, type PlannedWrite } from './plan.js';

/**
 * The apply step: each planned write is check-and-set on the pinned target version, followed by the
 * provenance custom_metadata; a check-and-set refused because the target moved is a conflict, never an
 * overwrite.
 */

/**
 * The custom_metadata a write leaves on its target: which promotion and plan wrote which version from
 * where, and whether the promotion created the secret (only then may deletionPolicy Delete remove it).
 * Pure: merged into the metadata the target had.
 */
export function provenanceOf(
  p: SecretPromotion,
  plan: PromotionPlan,
  target: PromotionTarget,
  write: PlannedWrite,
  version: number,
  existing: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const source =
    actionOf(plan) === 'rollback'
      ? `${target.connection}:${target.mount}/${write.sourcePath}`
      : `${p.spec.source.connection}:${p.spec.source.mount}/${write.sourcePath}`;
  return {
    [Provenance.promotion]: `${p.metadata.namespace}/${p.metadata.name}`,
    [Provenance.plan]: plan.hash,
    [Provenance.source]: source,
    [Provenance.sourceVersion]: String(write.sourceVersion),
    [Provenance.version]: String(version),
    [Provenance.created]: write.expectedVersion === 0 ? 'true' : (existing?.[Provenance.created] ?? 'false'),
  };
}

/** Writes the planned writes; returns what was written and which targets had moved. */
export async function writeTargets(
  stores: SecretStoreProvider,
  concurrency: number,
  p: SecretPromotion,
  plan: PromotionPlan,
  writes: readonly PlannedWrite[],
  targetMetadata: TargetMetadata,
  key: FingerprintKey,
): Promise<{ written: WriteRecord[]; conflicts: ConflictRecord[] }> {
  const written: WriteRecord[] = [];
  const conflicts: ConflictRecord[] = [];
  for (const w of writes) guardPath('a planned write to', targetOf(p, w.target).mount, w.targetPath);
  await mapLimit(writes, concurrency, async (w) => {
    const t = targetOf(p, w.target);
    const store = stores.store(t.connection);
    try {
      const version = await store.write(t.mount, w.targetPath, w.data, w.expectedVersion);
      const existing = targetMetadata.get(pairKey(w.target, w.targetPath));
      await store.setCustomMetadata(
        t.mount,
        w.targetPath,
        provenanceOf(p, plan, t, w, version, existing),
        existing,
      );
      if (w.deleteAfterWrite) await store.deleteVersions(t.mount, w.targetPath, [version]);
      written.push({ target: w.target, path: w.targetPath, previousVersion: w.expectedVersion, version });
    } catch (err) {
      if (!(err instanceof VaultError && err.code === 'cas_mismatch')) throw err;
      const now = await store.read(t.mount, w.targetPath);
      const entry = plan.entries.find((e) => e.target === w.target && e.targetPath === w.targetPath);
      conflicts.push({
        target: w.target,
        path: w.targetPath,
        plannedVersion: w.expectedVersion,
        currentVersion: now.version,
        changedKeys: entry ? changedKeysSince(entry, now.data, key) : undefined,
      });
    }
  });
  return { written, conflicts };
}
