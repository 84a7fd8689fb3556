import { Annotations, type SigningKeyRotationStatus } from '../../api/index.js';
import { SkrReason } from './conditions.js';
import type { ModelKey, Notice } from './model.js';

type LastHandled = NonNullable<SigningKeyRotationStatus['lastHandled']>;

/** What the annotations ask for that was not handled yet. */
export interface Triggers {
  /** A key of this set to revoke (not yet unpublished and destroyed). */
  readonly revokeKid?: string;
  /** A rotate-now value not handled yet. */
  readonly rotateNow?: string;
  /** rotate-now comes with an emergency annotation naming the same value: the new key signs at once. */
  readonly emergency: boolean;
  /** status.lastHandled with the annotations answered right away (an unknown kid, a finished revocation). */
  readonly handled: LastHandled;
  readonly notices: readonly Notice[];
}

/**
 * The trigger annotations against status.lastHandled: revoke-kid (a kid of this set, or a warning that it
 * is not one), rotate-now and emergency (which counts only when it names this rotate-now value, so an
 * emergency annotation left from an earlier rotation never makes a later routine one skip the lead time).
 */
export function readTriggers(
  annotations: Readonly<Record<string, string>>,
  lastHandled: LastHandled | undefined,
  keys: ReadonlyMap<string, ModelKey>,
): Triggers {
  const handled: LastHandled = { ...(lastHandled ?? {}) };
  const notices: Notice[] = [];

  const revokeValue = annotations[Annotations.revokeKid];
  let revokeKid: string | undefined;
  if (revokeValue && revokeValue !== handled.revokeKid) {
    const x = keys.get(revokeValue);
    if (!x || x.phase === 'orphan') {
      handled.revokeKid = revokeValue;
      notices.push({
        type: 'Warning',
        reason: SkrReason.UnknownKid,
        note: `revoke-kid names ${revokeValue}, which is not a key of this set: nothing revoked`,
      });
    } else if (x.phase === 'revoked' && !x.published && !x.stored) {
      handled.revokeKid = revokeValue;
    } else {
      revokeKid = x.kid;
    }
  }

  const rotateValue = annotations[Annotations.rotateNow];
  const rotateNow = rotateValue && rotateValue !== handled.rotateNow ? rotateValue : undefined;
  const emergencyValue = annotations[Annotations.emergency];
  if (rotateNow && emergencyValue && emergencyValue !== rotateNow) {
    notices.push({
      type: 'Warning',
      reason: SkrReason.EmergencyNotForThisRotation,
      note: `${Annotations.emergency} is "${emergencyValue}", not this rotation's ${Annotations.rotateNow} value: rotating with the lead time. To skip it, set ${Annotations.emergency}: "${rotateNow}"`,
    });
  }
  return { revokeKid, rotateNow, emergency: !!rotateNow && emergencyValue === rotateNow, handled, notices };
}
