import type { Condition, SigningKey, SigningKeyRotationSpec } from '../../api/index.js';
import { formatTime } from '../../api/index.js';
import { SkrCondition, SkrReason } from './conditions.js';
import type { DecideOptions, ServicesView } from './model.js';

/**
 * The conditions of a SigningKeyRotation, one rule each, in the order they are written: Ready, Deprecated,
 * Rotating, ServicesLoaded, Degraded. Pure: each returns the condition's status, reason and message (or
 * undefined: leave it as it is).
 */

export type ConditionFields = Pick<Condition, 'status' | 'reason' | 'message'>;

const f = (status: Condition['status'], reason: string, message: string): ConditionFields => ({
  status,
  reason,
  message,
});

/** Ready: a published active key whose secret Vault still holds. */
export function readyCondition(
  activeEntry: SigningKey | undefined,
  activeLost: boolean,
  nextRotation: Date | undefined,
): ConditionFields {
  if (!activeEntry || activeLost)
    return f('False', SkrReason.Initializing, 'no key is published as active yet');
  const next = nextRotation ? `; next rotation at ${formatTime(nextRotation)}` : '';
  return f('True', SkrReason.Reconciled, `key ${activeEntry.kid} signs${next}`);
}

/** Deprecated: spec.services naming a statusURL; False once none does (only when it was set before). */
export function deprecatedCondition(
  spec: SigningKeyRotationSpec,
  conditions: readonly Condition[],
): ConditionFields | undefined {
  const byUrl = (spec.services ?? []).filter((s) => s.statusURL !== undefined).map((s) => s.name);
  if (byUrl.length)
    return f(
      'True',
      SkrReason.StatusURLDeprecated,
      `spec.services ${byUrl.join(', ')} name a statusURL, which is deprecated and works only while the operator configuration allows it: use serviceRef (a Service with ports named http and admin)`,
    );
  if (conditions.some((c) => c.type === SkrCondition.Deprecated))
    return f('False', SkrReason.Reconciled, 'no deprecated field is used');
  return undefined;
}

/** Rotating: the rotation under way, or when the next key is published. */
export function rotatingCondition(
  rotating: { reason: string; message: string } | undefined,
  suspended: boolean,
  nextRotation: Date | undefined,
  leadMs: number,
): ConditionFields {
  if (rotating) return f('True', rotating.reason, rotating.message);
  if (suspended) return f('False', SkrReason.Suspended, 'scheduled rotations are suspended');
  return f(
    'False',
    SkrReason.Idle,
    nextRotation
      ? `next key is published at ${formatTime(new Date(nextRotation.getTime() - leadMs))}`
      : 'idle',
  );
}

/** Why services have not loaded the set: the operator may not call them, they do not answer, or they lag. */
function notLoadedReason(services: Pick<ServicesView, 'refused' | 'unreachable'>): string {
  if (services.refused.length) return SkrReason.EndpointNotAllowed;
  if (services.unreachable.length) return SkrReason.ServiceUnreachable;
  return SkrReason.ServicesNotLoaded;
}

/** ServicesLoaded: every listed service has loaded the current key set. */
export function servicesLoadedCondition(
  spec: SigningKeyRotationSpec,
  services: Pick<ServicesView, 'allLoaded' | 'notLoaded' | 'refused' | 'unreachable'>,
): ConditionFields {
  if (!(spec.services?.length ?? 0)) return f('True', SkrReason.AllServicesLoaded, 'no services are listed');
  if (services.allLoaded)
    return f('True', SkrReason.AllServicesLoaded, 'every service has loaded the current key set');
  const refused = services.refused.length
    ? ` (not allowed, never called: ${services.refused.join(', ')})`
    : '';
  const unreachable = services.unreachable.length ? ` (unreachable: ${services.unreachable.join(', ')})` : '';
  return f(
    'False',
    notLoadedReason(services),
    `not loaded the current key set: ${services.notLoaded.join(', ')}${refused}${unreachable}`,
  );
}

/** Degraded: the active key's secret is lost, or services are past the load deadline. */
export function degradedCondition(
  lostActiveKid: string | undefined,
  services: Pick<ServicesView, 'late' | 'refused' | 'unreachable'>,
  options: Pick<DecideOptions, 'serviceLoadTimeoutMs'>,
): ConditionFields {
  if (lostActiveKid !== undefined)
    return f(
      'True',
      SkrReason.KeyMaterialMissing,
      `the secret of active key ${lostActiveKid} is missing in Vault`,
    );
  if (services.late.length)
    return f(
      'True',
      notLoadedReason(services),
      `${services.late.join(', ')} did not load the current key set within ${Math.round(options.serviceLoadTimeoutMs / 1000)}s; the next rotation step waits for them`,
    );
  return f('False', SkrReason.Reconciled, 'Vault and services answer');
}
