import type { SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import { isSigningKeyPath } from '../../api/validation.js';
import {
  addFinalizer,
  hasFinalizer,
  type ReconcileContext,
  type ReconcileResult,
  removeFinalizer,
} from '../../runtime/index.js';
import { Provenance, pairKey, type SecretStoreProvider } from './gather.js';
import { checkPromotionPolicy, type PromotionPolicies } from './policy.js';

export const FINALIZER = 'security.novapos.io/secret-promotion';

/** The finalizer is there only while deletionPolicy is Delete (Retain needs no clean-up). */
export async function syncFinalizer(
  obj: SecretPromotion,
  ctx: ReconcileContext<SecretPromotion>,
): Promise<SecretPromotion> {
  const wants = obj.spec.deletionPolicy === 'Delete';
  if (wants && !hasFinalizer(obj, FINALIZER)) return addFinalizer(ctx.client, obj, FINALIZER);
  if (!wants && hasFinalizer(obj, FINALIZER)) return removeFinalizer(ctx.client, obj, FINALIZER);
  return obj;
}

/**
 * deletionPolicy Delete: soft-delete the target secrets this promotion created, when the current version
 * is still the one it wrote. A target that existed before, or was edited since, is left as it is.
 */
export async function finalize(
  obj: SecretPromotion,
  ctx: ReconcileContext<SecretPromotion>,
  stores: SecretStoreProvider,
  policies: PromotionPolicies,
): Promise<ReconcileResult> {
  if (!hasFinalizer(obj, FINALIZER)) return {};
  const policy = checkPromotionPolicy(obj, policies);
  if (obj.spec.deletionPolicy === 'Delete') {
    const me = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const seen = new Set<string>();
    const paths: { target: string; path: string }[] = [];
    for (const w of obj.status?.lastPromotion?.writes ?? []) paths.push({ target: w.target, path: w.path });
    for (const e of obj.status?.plan?.entries ?? []) paths.push({ target: e.target, path: e.targetPath });
    let removed = 0;
    const kept: string[] = [];
    for (const { target, path } of paths) {
      const t = obj.spec.targets.find((x) => x.name === target);
      if (!t || seen.has(pairKey(target, path))) continue;
      // Paths from status: never under the signing keys, never on a connection the policy refuses.
      if (isSigningKeyPath(t.mount, path) || !policy.allowed) {
        kept.push(`${target}:${path}`);
        continue;
      }
      seen.add(pairKey(target, path));
      const store = stores.store(t.connection);
      const meta = await store.metadata(t.mount, path);
      if (!meta || meta.customMetadata[Provenance.promotion] !== me) continue;
      const ours =
        meta.customMetadata[Provenance.created] === 'true' &&
        meta.customMetadata[Provenance.version] === String(meta.currentVersion);
      if (!ours) {
        kept.push(`${target}:${path}`);
        continue;
      }
      await store.deleteVersions(t.mount, path, meta.liveVersions);
      removed += 1;
    }
    const note = `deletionPolicy Delete: soft-deleted ${removed} target secret(s) this promotion created${kept.length ? `; left ${kept.length} that existed before or changed since (${kept.slice(0, 5).join(', ')})` : ''}`;
    ctx.log.info({ removed, kept: kept.length }, 'finalized');
    await ctx.events.record(obj, kept.length ? 'Warning' : 'Normal', 'TargetsDeleted', 'Finalize', note);
  }
  await removeFinalizer(ctx.client, obj, FINALIZER);
  return {};
}
