/**
 * Names fixed by docs/contracts.md: the API group and version, the annotations users set, and the
 * annotation the admission policy stamps. Controllers, charts and tests import them from here.
 */

export const GROUP = 'security.novapos.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** `kubectl get novapos` lists every kind of this API. */
export const CATEGORIES = ['novapos', 'security'] as const;

/**
 * Annotations that trigger an action. Each acts once per distinct value; the operator records the last
 * value it acted on in `status.lastHandled` (see `LAST_HANDLED_FIELD`).
 */
export const Annotations = {
  /** Any new unique value starts a rotation now (SigningKeyRotation). */
  rotateNow: `${GROUP}/rotate-now`,
  /** `"true"` together with rotate-now: the new key signs at once, skipping the lead time. */
  emergency: `${GROUP}/emergency`,
  /** A kid: that key is revoked and removed from JWKS at once. */
  revokeKid: `${GROUP}/revoke-kid`,
  /** The plan hash a SecretPromotion may apply. */
  approvePlan: `${GROUP}/approve-plan`,
  /** Stamped by admission from the requesting user whenever approve-plan is set or changed; never typed. */
  approvedBy: `${GROUP}/approved-by`,
  /** Any new unique value rolls a SecretPromotion's targets back to before its last promotion. */
  rollback: `${GROUP}/rollback`,
  /** Any new unique value starts a DisasterRecoveryDrill run now. */
  runNow: `${GROUP}/run-now`,
  /** Any new unique value makes the operator reconcile the resource now. */
  reconcileNow: `${GROUP}/reconcile-now`,
} as const;

export type AnnotationName = keyof typeof Annotations;

/**
 * The `status.lastHandled` field that records the last value acted on, per annotation. `emergency` and
 * `approvedBy` are read together with another annotation, so they have no entry of their own.
 */
export const LAST_HANDLED_FIELD = {
  rotateNow: 'rotateNow',
  revokeKid: 'revokeKid',
  rollback: 'rollback',
  runNow: 'runNow',
  reconcileNow: 'reconcileNow',
  approvePlan: 'approvePlan',
} as const satisfies Partial<Record<AnnotationName, string>>;

/** The operator's own Vault (VAULT_ADDR); other names are connections from the operator's configuration file. */
export const LOCAL_VAULT_CONNECTION = 'local';

/** The Vault tree (under any KV v2 mount) that holds signing keys; never promoted between environments. */
export const SIGNING_KEYS_VAULT_PREFIX = 'novapos/signing-keys/';

/** The group whose members may set approve-plan on a SecretPromotion (enforced by the admission policy). */
export const APPROVERS_GROUP = 'novapos:approvers';
