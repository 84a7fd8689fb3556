import { parseDuration } from '../../../lib/duration.js';
import { Annotations } from '../../../operator/src/api/meta.js';
import type { SigningKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { relative } from '../format.js';
import type { Progress } from './trigger.js';

/**
 * The annotations of a rotation request. Emergency is scoped to this one request: the emergency annotation
 * carries the same value as rotate-now, so the controller honours it for this rotation only; a routine
 * rotation removes any emergency annotation left from before (a stale `"true"` would otherwise make the next
 * routine rotate-now skip the lead time).
 */
export function rotateAnnotations(value: string, emergency: boolean): Record<string, string | null> {
  return {
    [Annotations.rotateNow]: value,
    [Annotations.emergency]: emergency ? value : null,
  };
}

/**
 * When a published next key starts signing: at the rotation time, but never before it was published for
 * the lead time (a rotate-now pulls the rotation time to now; the lead time still holds).
 */
export function keySignsAt(skr: SigningKeyRotation, publishedAt: string): string {
  const rotation = Date.parse(skr.status?.nextRotationTime ?? '');
  const leadOver = Date.parse(publishedAt) + parseDuration(skr.spec.leadTime);
  const t = Number.isNaN(rotation) ? leadOver : Math.max(rotation, leadOver);
  return new Date(t).toISOString().replace(/\.000Z$/, 'Z');
}

export interface RotateRequest {
  readonly value: string;
  readonly emergency: boolean;
  /** The active kid when the request was made. */
  readonly activeKidBefore: string | undefined;
}

/**
 * How far a rotation request has come. Emergency: done when a new key signs. Routine: done when the
 * operator has taken the request and the lead time has started (a next key is published) or a new key
 * already signs (no lead time left to wait).
 */
export function rotateProgress(skr: SigningKeyRotation, req: RotateRequest, now: Date): Progress {
  const st = skr.status ?? {};
  const handled = st.lastHandled?.rotateNow === req.value;
  const newActive = !!st.activeKid && st.activeKid !== req.activeKidBefore;
  if (req.emergency) {
    if (newActive && handled)
      return { done: true, line: `new key ${st.activeKid} signs (emergency rotation, no lead time)` };
    return {
      done: false,
      line: handled
        ? `operator took the request; waiting for the new key to sign (active ${st.activeKid ?? '-'})`
        : `waiting for the operator to take rotate-now=${req.value}`,
    };
  }
  if (!handled) return { done: false, line: `waiting for the operator to take rotate-now=${req.value}` };
  if (newActive) return { done: true, line: `new key ${st.activeKid} signs` };
  const next = st.keys?.find((k) => k.kid === st.nextKid && k.state === 'next' && k.publishedAt);
  if (next?.publishedAt) {
    const signsAt = keySignsAt(skr, next.publishedAt);
    return {
      done: true,
      line: `lead time started: key ${next.kid} is published and signs ${relative(signsAt, now)} (${signsAt})`,
    };
  }
  return { done: false, line: 'operator took the request; waiting for the next key to be published' };
}
