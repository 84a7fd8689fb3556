import { VaultError } from '../../../../lib/vault.js';
import { UnknownConnectionError } from '../../adapters/vault-connections/index.js';
import { Reason } from '../../api/conditions.js';
import { SIGNING_KEYS_VAULT_PREFIX } from '../../api/meta.js';
import type { PromotionPlan, PromotionTarget, SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import { isSigningKeyPath } from '../../api/validation.js';
import { MAX_PLAN_BYTES, planBytes } from './plan.js';

/**
 * The failures of a promotion step and how each is handled. Pure: what was thrown in, what to tell the user
 * and whether to retry with backoff out.
 */

/** A problem the user must fix (missing source, bad override, unknown target): not retried with backoff. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Failure {
  readonly reason: string;
  readonly message: string;
  /** True: retried with the queue's backoff (Vault down); false: retried after `sourceRetryMs`. */
  readonly retry: boolean;
}

/** The Ready reason and message of a failed step, and whether it is retried with backoff. */
export function failureOf(err: unknown): Failure {
  if (err instanceof PlanError) return { reason: err.reason, message: err.message, retry: false };
  if (err instanceof UnknownConnectionError)
    return { reason: Reason.InvalidSpec, message: err.message, retry: false };
  if (err instanceof VaultError)
    return { reason: Reason.VaultUnavailable, message: `Vault: ${err.message} (${err.code})`, retry: true };
  const message = err instanceof Error ? (err.message.split('\n')[0] ?? 'error') : 'error';
  return { reason: Reason.ReconcileError, message, retry: true };
}

/**
 * Every path the reconciler reads or writes, whether from spec or from status (a plan, the last
 * promotion), goes through this check: nothing under novapos/signing-keys/ is ever touched.
 */
export function guardPath(where: string, mount: string, path: string): void {
  if (isSigningKeyPath(mount, path))
    throw new PlanError(
      Reason.ForbiddenPath,
      `${where} ${mount}/${path} is under ${SIGNING_KEYS_VAULT_PREFIX}: signing keys are never promoted`,
    );
}

/** The target of spec.targets that a plan or the last promotion names. */
export function targetOf(p: SecretPromotion, name: string): PromotionTarget {
  const t = p.spec.targets.find((x) => x.name === name);
  if (!t)
    throw new PlanError(
      Reason.InvalidSpec,
      `target "${name}" of the last promotion is no longer in spec.targets: add it back to roll it back`,
    );
  return t;
}

/** A plan must fit in status (etcd's object limit). */
export function assertPlanFits(plan: PromotionPlan): void {
  const size = planBytes(plan);
  if (size > MAX_PLAN_BYTES) {
    throw new PlanError(
      Reason.InvalidSpec,
      `the plan is too large for status (${plan.entries.length} entries, ${size} bytes): split the promotion into smaller prefixes`,
    );
  }
}
