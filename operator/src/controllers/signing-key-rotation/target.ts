import {
  formatTime,
  getCondition,
  parseDuration,
  type SigningKeyRotationSpec,
  type SigningKeyRotationStatus,
} from '../../api/index.js';
import { SkrCondition, SkrReason } from './conditions.js';
import {
  type ModelKey,
  ms,
  type Notice,
  pick,
  type RotationReason,
  type ServicesView,
  scheduledRotation,
  type Target,
} from './model.js';
import type { Triggers } from './triggers.js';

export interface TargetInput {
  readonly spec: SigningKeyRotationSpec;
  readonly prev: SigningKeyRotationStatus;
  readonly now: Date;
  readonly model: readonly ModelKey[];
  readonly services: Pick<ServicesView, 'allLoaded' | 'notLoaded' | 'lastLoadedAt'>;
  readonly triggers: Pick<Triggers, 'revokeKid' | 'rotateNow' | 'emergency'>;
}

export interface TargetDecision {
  readonly target: Target;
  /** The key set has no signing key to keep: replace it at once (first key, lost, revoked, emergency). */
  readonly emergency: boolean;
  /** The active key's secret is missing in Vault. */
  readonly activeLost: boolean;
  readonly reason?: RotationReason;
  readonly nextRotation?: Date;
  /** The Rotating condition while a rotation is under way. */
  readonly rotating?: { readonly reason: string; readonly message: string };
  /** The rotate-now value this decision carries out (recorded in status.lastHandled). */
  readonly rotateNowHandled?: string;
  /** Times something becomes due (lead time over, retired key removable, next publication). */
  readonly wakeAt: readonly number[];
  readonly notices: readonly Notice[];
}

/**
 * The keys the key set should hold now: an emergency replacement when there is no active key to keep,
 * else the routine rotation (a next key published leadTime before it signs, signing once every service
 * serves it long enough). Retired keys stay until their removeAfter.
 */
export function chooseTarget(input: TargetInput): TargetDecision {
  const { model, triggers, prev } = input;
  const active = model.find((k) => k.phase === 'active');
  const activeLost = !!active && !active.stored?.material;
  // A generated key whose secret already says active: an emergency replacement a crash interrupted.
  const emergencyKey = pick(
    model.filter((k) => k.phase === 'pending' && k.stored?.material?.state === 'active'),
  );
  const emergency =
    !active ||
    activeLost ||
    !!emergencyKey ||
    triggers.revokeKid === active.kid ||
    (!!triggers.rotateNow && triggers.emergency);
  if (emergency || !active) return emergencyTarget(input, active, activeLost, emergencyKey);
  return routineTarget(input, active, getCondition(prev.conditions, SkrCondition.Rotating)?.status);
}

function retiredKeys(input: TargetInput): ModelKey[] {
  return input.model.filter((k) => k.phase === 'retired' && k.kid !== input.triggers.revokeKid);
}

const removable = (k: ModelKey, nowMs: number): boolean => {
  const due = ms(k.entry.removeAfter);
  return due !== undefined && nowMs >= due;
};

/** A new key signs at once, without lead time; the old active key (unless revoked) is retired. */
export function emergencyTarget(
  input: TargetInput,
  active: ModelKey | undefined,
  activeLost: boolean,
  emergencyKey: ModelKey | undefined,
): TargetDecision {
  const { triggers, prev } = input;
  const nowMs = input.now.getTime();
  const target: Target = { retired: [], pending: [] };
  const reason: RotationReason = !active && !prev.activeKid ? 'initial' : 'emergency';
  let rotateNowHandled: string | undefined;
  if (emergencyKey) {
    target.active = emergencyKey.kid;
    target.pending.push(emergencyKey.kid);
    rotateNowHandled = triggers.rotateNow;
  } else {
    target.newKey = 'active';
  }
  if (active && active.kid !== triggers.revokeKid) target.retired.push(active.kid);
  for (const r of retiredKeys(input)) if (!removable(r, nowMs)) target.retired.push(r.kid);
  const notices: Notice[] = [];
  if (activeLost && active) {
    notices.push({
      type: 'Warning',
      reason: SkrReason.KeyMaterialMissing,
      note: `the secret of active key ${active.kid} is missing in Vault: replacing it with a new key at once`,
    });
  }
  return {
    target,
    emergency: true,
    activeLost,
    reason,
    rotating: {
      reason: reason === 'initial' ? SkrReason.Initializing : SkrReason.EmergencyRotated,
      message:
        reason === 'initial'
          ? 'generating the first key: it signs as soon as it is published'
          : 'emergency rotation: a new key signs at once, without lead time',
    },
    rotateNowHandled,
    wakeAt: [],
    notices,
  };
}

/**
 * The routine rotation of a healthy active key: at nextRotation - leadTime a next key is generated and
 * published; it signs at nextRotation (not before leadTime after its publication), once every service has
 * loaded the set containing it and served it for jwksCacheTTL. rotate-now pulls nextRotation to now;
 * spec.suspend stops scheduled rotations (not a rotate-now).
 */
export function routineTarget(
  input: TargetInput,
  active: ModelKey,
  rotatingBefore: string | undefined,
): TargetDecision {
  const { spec, prev, triggers, services, model } = input;
  const nowMs = input.now.getTime();
  const leadMs = parseDuration(spec.leadTime);
  const cacheMs = parseDuration(spec.jwksCacheTTL);
  const target: Target = { active: active.kid, retired: [], pending: [] };
  const wakeAt: number[] = [];
  let reason: RotationReason | undefined = prev.lastRotationReason;
  let rotating: TargetDecision['rotating'];

  // A rotate-now handled earlier is still being carried out for this active key.
  let pulled =
    rotatingBefore === 'True' && prev.lastRotationReason === 'manual' && prev.activeKid === active.kid;
  let pullTime = pulled ? ms(prev.nextRotationTime) : undefined;
  if (triggers.rotateNow) {
    // rotate-now without emergency: the next key signs as soon as its lead time allows.
    pulled = true;
    pullTime = nowMs;
  }
  const scheduled = scheduledRotation(spec, new Date(ms(active.entry.activatedAt) ?? nowMs));
  const nextRotation = pulled ? new Date(Math.min(pullTime ?? nowMs, scheduled.getTime())) : scheduled;
  const mayRotate = pulled || !spec.suspend;
  const next = pick(
    model.filter(
      (k) =>
        k.kid !== triggers.revokeKid &&
        (k.phase === 'next' || (k.phase === 'pending' && k.stored?.material?.state !== 'active')),
    ),
  );
  if (next || pulled) reason = pulled ? 'manual' : 'scheduled';
  const publishAt = nextRotation.getTime() - leadMs;
  if (!next) {
    if (mayRotate && nowMs >= publishAt) {
      target.newKey = 'next';
      rotating = { reason: SkrReason.KeyPublished, message: 'generating the next key' };
    } else if (mayRotate) {
      wakeAt.push(publishAt);
    }
  } else if (next.phase === 'pending') {
    target.pending.push(next.kid);
    target.next = next.kid;
    rotating = { reason: SkrReason.KeyPublished, message: `publishing next key ${next.kid}` };
  } else {
    const publishedAt = ms(next.entry.publishedAt) ?? nowMs;
    const activateAt = Math.max(nextRotation.getTime(), publishedAt + leadMs);
    // Verifiers cache the JWKS a service serves for up to jwksCacheTTL: the key must have been in every
    // service's set that long too, not only in Vault.
    const servedFrom = services.lastLoadedAt;
    const servedLongEnough = servedFrom === undefined || nowMs >= servedFrom + cacheMs;
    if (!servedLongEnough && services.allLoaded && servedFrom !== undefined)
      wakeAt.push(servedFrom + cacheMs);
    if (mayRotate && nowMs >= activateAt && services.allLoaded && servedLongEnough) {
      target.active = next.kid;
      target.retired.push(active.kid);
      rotating = { reason: SkrReason.Rotated, message: `key ${next.kid} starts signing` };
    } else {
      target.next = next.kid;
      if (!mayRotate) {
        rotating = {
          reason: SkrReason.Suspended,
          message: `next key ${next.kid} is published; rotations are suspended`,
        };
      } else if (nowMs < activateAt) {
        wakeAt.push(activateAt);
        rotating = {
          reason: SkrReason.WaitingForLeadTime,
          message: `next key ${next.kid} is published and signs at ${formatTime(new Date(activateAt))}`,
        };
      } else if (!services.allLoaded) {
        rotating = {
          reason: SkrReason.WaitingForServices,
          message: `next key ${next.kid} may sign, waiting for ${services.notLoaded.join(', ')} to load the key set containing it`,
        };
      } else {
        rotating = {
          reason: SkrReason.WaitingForServices,
          message: `next key ${next.kid} signs once verifiers' JWKS caches (${spec.jwksCacheTTL}) hold it from every service`,
        };
      }
    }
  }
  for (const r of retiredKeys(input)) {
    if (removable(r, nowMs)) continue;
    target.retired.push(r.kid);
    const due = ms(r.entry.removeAfter);
    if (due !== undefined) wakeAt.push(due);
  }
  return {
    target,
    emergency: false,
    activeLost: false,
    reason,
    nextRotation,
    rotating,
    rotateNowHandled: triggers.rotateNow,
    wakeAt,
    notices: [],
  };
}
