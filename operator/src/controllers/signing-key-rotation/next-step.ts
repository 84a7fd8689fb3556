import type { JWK } from 'jose';
import type { KeySecretState, VaultObservation } from '../../adapters/vault/signing-key-store.js';
import type { SigningKeyRotationSpec } from '../../api/index.js';
import { keysetDocumentFor, type ModelKey, type Step, sameKeyset, type Target } from './model.js';

/**
 * The one Vault write the target needs next, in the order that keeps the invariants whatever step a crash
 * interrupts: unannounced secrets are destroyed, a new key is written before anything names it, the key
 * about to sign says `active` in its secret before the key set names it, then the key set, then the
 * secrets' state field follows the key set. Undefined: Vault already holds the target.
 */
export function nextStep(
  spec: SigningKeyRotationSpec,
  target: Target,
  model: readonly ModelKey[],
  inTarget: ReadonlySet<string | undefined>,
  vault: VaultObservation,
  now: Date,
  revokeKid: string | undefined,
): Step | undefined {
  // 1. Secrets no record keeps and no key set publishes: never announced, or already unpublished.
  for (const k of model) {
    if (k.stored && !k.published && !inTarget.has(k.kid)) {
      const why =
        k.kid === revokeKid || k.phase === 'revoked'
          ? 'revoked'
          : k.phase === 'orphan'
            ? 'orphan'
            : k.phase === 'pending'
              ? 'discarded'
              : 'removed';
      return { kind: 'destroy', kid: k.kid, why };
    }
  }
  // 2. A new key is written to Vault before anything names it.
  if (target.newKey) {
    return { kind: 'generate', state: target.newKey };
  }
  const byKid = new Map(model.map((k) => [k.kid, k]));
  // 3. The key about to sign says `active` in its secret before the key set names it (auth-service checks).
  const active = target.active ? byKid.get(target.active) : undefined;
  if (active?.stored?.material && active.stored.material.state !== 'active') {
    return { kind: 'prepare-active', kid: active.kid, expectedVersion: active.stored.version };
  }
  // 4. The key set.
  if (target.active) {
    const published = [target.active, target.next, ...target.retired]
      .filter((kid): kid is string => !!kid)
      .map((kid) => ({ kid, publicJwk: byKid.get(kid)?.publicJwk }))
      .filter((k): k is { kid: string; publicJwk: JWK } => !!k.publicJwk);
    const doc = keysetDocumentFor(spec, published, target.active, target.next ?? '', now);
    const observed = vault.keyset && !vault.keysetInvalid ? vault.keyset : undefined;
    if (!sameKeyset(doc, observed)) return { kind: 'publish', doc, expectedVersion: vault.keysetVersion };
  }
  // 5. Secrets' state field follows the key set.
  const want: [string | undefined, KeySecretState][] = [
    [target.next, 'next'],
    ...target.retired.map((kid): [string, KeySecretState] => [kid, 'retired']),
  ];
  for (const [kid, state] of want) {
    const k = kid ? byKid.get(kid) : undefined;
    if (k?.published && k.stored?.material && k.stored.material.state !== state) {
      return { kind: 'sync-state', kid: k.kid, state, expectedVersion: k.stored.version };
    }
  }
  return undefined;
}
