import { Type } from '@sinclair/typebox';
import { Annotations, LOCAL_VAULT_CONNECTION } from '../meta.js';

/** A Vault connection name: `local` or one from the operator's configuration file. */
export function VaultConnection() {
  return Type.String({
    description: `Named Vault connection from the operator's configuration file; "${LOCAL_VAULT_CONNECTION}" is the operator's own Vault (VAULT_ADDR).`,
    default: LOCAL_VAULT_CONNECTION,
    minLength: 1,
    maxLength: 63,
    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
  });
}

/** A KV v2 mount name (`secret`). */
export function VaultMount(description = 'KV v2 secrets engine mount.') {
  return Type.String({
    description,
    default: 'secret',
    minLength: 1,
    maxLength: 128,
    pattern: '^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$',
  });
}

/**
 * A KV v2 secret path under a mount, without the mount and without leading or trailing slash. Segments
 * cannot start with a dot, so `.` and `..` are impossible; `//` is impossible too.
 */
export const VAULT_PATH_PATTERN = '^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$';
/** A reference to another resource of this API in the same namespace. */
export function LocalObjectReference(description: string) {
  return Type.Object(
    {
      name: Type.String({
        description: 'Name of the resource, in the same namespace.',
        minLength: 1,
        maxLength: 253,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
      }),
    },
    { description },
  );
}

const handledValue = (annotation: string) =>
  Type.Optional(
    Type.String({ description: `The last value of ${annotation} the operator acted on.`, maxLength: 1024 }),
  );

/** `status.lastHandled` fields for the annotations a kind reacts to (each acts once per distinct value). */
export const lastHandledFields = {
  rotateNow: handledValue(Annotations.rotateNow),
  revokeKid: handledValue(Annotations.revokeKid),
  rollback: handledValue(Annotations.rollback),
  runNow: handledValue(Annotations.runNow),
  reconcileNow: handledValue(Annotations.reconcileNow),
  approvePlan: handledValue(Annotations.approvePlan),
} as const;

export const LAST_HANDLED_DESCRIPTION =
  'The last value of each trigger annotation the operator acted on. An annotation acts once per distinct value: setting it again to the value recorded here does nothing.';

export const observedGeneration = Type.Optional(
  Type.Integer({ description: 'The metadata.generation this status was computed for.', minimum: 0 }),
);
