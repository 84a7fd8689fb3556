import type { JWK } from 'jose';
import { canonicalJson, computeKeysetHash, type KeysetDocument } from '../../../../lib/keyset.js';
import type { KeyStatusReport } from '../../adapters/services/key-status-probe.js';
import {
  type KeyLocation,
  type KeySecretState,
  keyTreePath,
  type StoredKey,
  type VaultObservation,
} from '../../adapters/vault/signing-key-store.js';
import {
  Annotations,
  type Condition,
  describeProblems,
  formatTime,
  getCondition,
  nextScheduleTime,
  parseDuration,
  type ServiceLoadStatus,
  type SigningKey,
  type SigningKeyRotationSpec,
  type SigningKeyRotationStatus,
  setCondition,
  validateSigningKeyRotationSpec,
} from '../../api/index.js';
import { SkrCondition, SkrReason } from './conditions.js';

/**
 * The SigningKeyRotation state machine, as pure functions over (spec, status, annotations, clock, what
 * Vault holds, what the services report). No I/O here: the reconciler observes, calls `decide`, carries
 * out the one step it returns, observes again and writes the status `decide` computes for the new state.
 *
 * Records, in order of authority:
 * - the key-set document in Vault is what the services see: which keys are published, which one signs;
 * - `status.keys` is the operator's record of the lifecycle (timestamps, revocations, pending keys);
 * - the per-key secrets are the key material.
 * One Vault write per step, in an order that keeps the invariants whatever step a crash interrupts:
 * a key's secret is written (CAS 0) before any record names it; a key is published before it signs and
 * its secret says `active` before the key set names it active; a key leaves the key set before its
 * secret is destroyed. A secret that no record names is destroyed (it was never announced).
 */

export type RotationReason = NonNullable<SigningKeyRotationStatus['lastRotationReason']>;

export interface ServiceObservation {
  readonly name: string;
  readonly report?: KeyStatusReport;
  /** One line, no body: why the status could not be read. */
  readonly error?: string;
  /** The URL is outside the operator's allowed endpoints: it was not called, so nothing is known of it. */
  readonly refused?: string;
  /** Why a reachable service does not count as loaded (its replicas disagree). */
  readonly note?: string;
  readonly checkedAt: Date;
}

export interface DecideOptions {
  /** Added to maxTokenTTL + jwksCacheTTL before a retired key leaves the JWKS (clock skew, poll lag). */
  readonly clockSkewMs: number;
  /** A service that has not loaded the current set this long after it was written is reported (Degraded). */
  readonly serviceLoadTimeoutMs: number;
  /** Poll of the services while waiting for them to load a set. */
  readonly serviceWaitPollMs: number;
  /** Poll of the services when nothing is waiting on them. */
  readonly servicePollMs: number;
  /** Longest requeue when nothing is due. */
  readonly maxRequeueMs: number;
}

export const DEFAULT_DECIDE_OPTIONS: DecideOptions = {
  clockSkewMs: 60_000,
  serviceLoadTimeoutMs: 120_000,
  serviceWaitPollMs: 2_000,
  servicePollMs: 30_000,
  maxRequeueMs: 3_600_000,
};

export interface DecideInput {
  readonly spec: SigningKeyRotationSpec;
  readonly generation: number;
  readonly status: SigningKeyRotationStatus | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  readonly now: Date;
  readonly location: KeyLocation;
  readonly vault: VaultObservation;
  readonly services: readonly ServiceObservation[];
  readonly options: DecideOptions;
}

/** One Vault write. */
export type Step =
  | { readonly kind: 'generate'; readonly state: 'next' | 'active' }
  | { readonly kind: 'prepare-active'; readonly kid: string; readonly expectedVersion: number }
  | { readonly kind: 'publish'; readonly doc: KeysetDocument; readonly expectedVersion: number }
  | {
      readonly kind: 'sync-state';
      readonly kid: string;
      readonly state: KeySecretState;
      readonly expectedVersion: number;
    }
  | {
      readonly kind: 'destroy';
      readonly kid: string;
      readonly why: 'orphan' | 'removed' | 'revoked' | 'discarded';
    };

export interface Notice {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly note: string;
}

export interface Decision {
  /** The next Vault write, if any. */
  readonly step?: Step;
  /** The status for the observed state (before `step`). */
  readonly status: SigningKeyRotationStatus;
  /** Events that are not key transitions (those come from `transitions`). */
  readonly notices: readonly Notice[];
  /** When to look again if there is no step. */
  readonly requeueAfterMs: number;
  /** The spec failed validation: nothing is done until it is fixed. */
  readonly invalidSpec: boolean;
}

type Phase = 'pending' | 'next' | 'active' | 'retired' | 'gone' | 'revoked' | 'orphan';

/** A key as all three records see it. */
export interface ModelKey {
  readonly kid: string;
  readonly phase: Phase;
  /** The status entry, brought up to date with the key-set document. */
  readonly entry: SigningKey;
  /** In the observed key-set document. */
  readonly published: boolean;
  readonly stored?: StoredKey;
  readonly publicJwk?: JWK;
}

const ms = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);

/** maxTokenTTL + jwksCacheTTL + clock skew: how long a key stays published after it stopped signing. */
export function retireWindowMs(spec: SigningKeyRotationSpec, clockSkewMs: number): number {
  return parseDuration(spec.maxTokenTTL) + parseDuration(spec.jwksCacheTTL) + clockSkewMs;
}

/** When a key activated at `activatedAt` is due to be replaced (it starts signing at that time). */
export function scheduledRotation(spec: SigningKeyRotationSpec, activatedAt: Date): Date {
  if (spec.schedule) return nextScheduleTime(spec.schedule, spec.timeZone, activatedAt);
  return new Date(activatedAt.getTime() + parseDuration(spec.rotationInterval ?? '720h'));
}

/**
 * Joins the status record, the key-set document and the stored secrets into one list of keys. The
 * document decides what is published and which key signs; the status adds timestamps and the keys not
 * (yet, or any more) published. Without a document (never written, deleted, or unreadable) the status is
 * the record, and secrets it does not know that may have signed (state active or retired) are adopted as
 * retired rather than destroyed, since tokens they signed may still be in use.
 */
export function buildModel(entries: readonly SigningKey[], vault: VaultObservation, now: Date): ModelKey[] {
  const doc = vault.keyset && !vault.keysetInvalid ? vault.keyset : undefined;
  const stored = new Map(vault.keys.map((k) => [k.kid, k]));
  const byKid = new Map(entries.map((e) => [e.kid, e]));
  // Status timestamps have second precision; rounding up keeps every wait (lead time, retire window) whole.
  const written = doc?.updatedAt ? Date.parse(doc.updatedAt) : Number.NaN;
  const at = formatTime(new Date(Math.ceil((Number.isNaN(written) ? now.getTime() : written) / 1000) * 1000));
  const out: ModelKey[] = [];
  const seen = new Set<string>();

  for (const jwk of doc?.jwks.keys ?? []) {
    const kid = jwk.kid as string;
    if (seen.has(kid)) continue;
    seen.add(kid);
    const s = stored.get(kid);
    const prev = byKid.get(kid);
    if (prev?.state === 'revoked') {
      // Revoked but published again (by hand?): stays revoked, and is unpublished again.
      out.push({ kid, phase: 'revoked', entry: prev, published: true, stored: s, publicJwk: jwk });
      continue;
    }
    const phase = kid === doc!.activeKid ? 'active' : kid === doc!.nextKid ? 'next' : 'retired';
    const entry: SigningKey = prev
      ? { ...prev }
      : { kid, state: phase, algorithm: String(jwk.alg), createdAt: s?.material?.createdAt ?? at };
    entry.publishedAt ??= at;
    if (phase === 'active') {
      if (prev?.state !== 'active') entry.activatedAt = at;
      entry.activatedAt ??= at;
      delete entry.retiredAt;
      delete entry.removeAfter;
    }
    if (phase === 'retired' && prev?.state !== 'retired') {
      entry.retiredAt = at;
      delete entry.removeAfter;
    }
    if (phase === 'retired') entry.retiredAt ??= at;
    entry.state = phase;
    out.push({ kid, phase, entry, published: true, stored: s, publicJwk: jwk });
  }

  for (const e of entries) {
    if (seen.has(e.kid)) continue;
    seen.add(e.kid);
    const s = stored.get(e.kid);
    const hasMaterial = !!s?.material;
    let phase: Phase;
    if (e.state === 'revoked') phase = 'revoked';
    else if (e.state === 'next' && !e.publishedAt) phase = hasMaterial ? 'pending' : 'gone';
    else if (!doc && hasMaterial) phase = e.state;
    else phase = 'gone';
    out.push({
      kid: e.kid,
      phase,
      entry: { ...e },
      published: false,
      stored: s,
      publicJwk: s?.material?.publicJwk,
    });
  }

  for (const s of vault.keys) {
    if (seen.has(s.kid)) continue;
    seen.add(s.kid);
    const m = s.material;
    if (!doc && m && (m.state === 'active' || m.state === 'retired')) {
      const entry: SigningKey = {
        kid: s.kid,
        state: 'retired',
        algorithm: m.alg,
        createdAt: m.createdAt,
        retiredAt: formatTime(now),
      };
      out.push({ kid: s.kid, phase: 'retired', entry, published: false, stored: s, publicJwk: m.publicJwk });
    } else {
      const entry: SigningKey = {
        kid: s.kid,
        state: 'next',
        algorithm: m?.alg ?? '',
        createdAt: m?.createdAt ?? at,
      };
      out.push({ kid: s.kid, phase: 'orphan', entry, published: false, stored: s, publicJwk: m?.publicJwk });
    }
  }
  return out;
}

/** Deterministic pick among candidates: published first, then oldest, then by kid. */
function pick(keys: readonly ModelKey[]): ModelKey | undefined {
  return [...keys].sort(
    (a, b) =>
      Number(b.published) - Number(a.published) ||
      (ms(a.entry.createdAt) ?? 0) - (ms(b.entry.createdAt) ?? 0) ||
      (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0),
  )[0];
}

interface ServicesView {
  readonly statuses: ServiceLoadStatus[];
  readonly allLoaded: boolean;
  readonly notLoaded: string[];
  readonly unreachable: string[];
  /** Services whose URL the operator may not call (never probed). */
  readonly refused: string[];
  /** Services past the load deadline for the current set. */
  readonly late: string[];
  /** When the last of them loaded the current set (as they report it). */
  readonly lastLoadedAt?: number;
}

function viewServices(input: DecideInput, doc: KeysetDocument | undefined): ServicesView {
  const listed = input.spec.services ?? [];
  const statuses: ServiceLoadStatus[] = [];
  const notLoaded: string[] = [];
  const unreachable: string[] = [];
  const refused: string[] = [];
  const hash = doc?.keysetHash;
  let lastLoadedAt: number | undefined;
  for (const svc of listed) {
    const obs = input.services.find((o) => o.name === svc.name);
    const report = obs?.report;
    const loaded = !!hash && report?.keysetHash === hash;
    const st: ServiceLoadStatus = { name: svc.name, loaded };
    if (report?.keysetHash) st.keysetHash = report.keysetHash;
    if (report?.loadedAt) st.loadedAt = report.loadedAt;
    if (obs) st.lastCheckedAt = formatTime(obs.checkedAt);
    if (obs?.refused) {
      st.message = obs.refused;
      refused.push(svc.name);
    } else if (obs?.error) {
      st.message = obs.error;
      unreachable.push(svc.name);
    } else if (!obs) {
      st.message = 'not polled yet';
    } else if (!loaded) {
      st.message = obs.note ?? (report?.keysetHash ? 'has an older key set loaded' : 'has no key set loaded');
    }
    if (!loaded) notLoaded.push(svc.name);
    else {
      // A service that does not say when it loaded the set adds no wait.
      const at = ms(report?.loadedAt ?? undefined);
      if (at !== undefined && !Number.isNaN(at)) lastLoadedAt = Math.max(lastLoadedAt ?? 0, at);
    }
    statuses.push(st);
  }
  const written = ms(doc?.updatedAt);
  const overdue = written !== undefined && input.now.getTime() - written > input.options.serviceLoadTimeoutMs;
  return {
    statuses,
    allLoaded: notLoaded.length === 0,
    notLoaded,
    unreachable,
    refused,
    late: overdue ? notLoaded : [],
    lastLoadedAt: notLoaded.length ? undefined : lastLoadedAt,
  };
}

/** The key-set document for a target set of keys (jwks sorted by kid, hash per the contract). */
export function keysetDocumentFor(
  spec: SigningKeyRotationSpec,
  published: readonly { kid: string; publicJwk: JWK }[],
  activeKid: string,
  nextKid: string,
  now: Date,
): KeysetDocument {
  const keys = [...published]
    .sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0))
    .map((k) => k.publicJwk);
  const jwks = { keys };
  const active = keys.find((k) => k.kid === activeKid);
  return {
    issuer: spec.issuer,
    audiences: [...spec.audiences],
    algorithm: String(active?.alg ?? spec.algorithm),
    jwks,
    activeKid,
    nextKid,
    keysetHash: computeKeysetHash(jwks, activeKid),
    jwksCacheTTLSeconds: Math.ceil(parseDuration(spec.jwksCacheTTL) / 1000),
    maxTokenTTLSeconds: Math.ceil(parseDuration(spec.maxTokenTTL) / 1000),
    updatedAt: now.toISOString(),
  };
}

/** Whether two documents say the same thing (everything but updatedAt). */
export function sameKeyset(a: KeysetDocument | undefined, b: KeysetDocument | undefined): boolean {
  if (!a || !b) return a === b;
  const { updatedAt: _a, ...ra } = a;
  const { updatedAt: _b, ...rb } = b;
  return canonicalJson(ra) === canonicalJson(rb);
}

interface Target {
  active?: string;
  next?: string;
  retired: string[];
  /** Kept unpublished (a generated key waiting for its publication). */
  pending: string[];
  newKey?: 'next' | 'active';
}

// Validating a cron schedule samples a year of runs: remembered per spec (the answer does not depend on
// the day in any way that matters for a schedule that is valid at all).
const validated = new Map<string, ReturnType<typeof validateSigningKeyRotationSpec>>();
function specProblems(spec: SigningKeyRotationSpec, now: Date) {
  const key = canonicalJson(spec);
  let problems = validated.get(key);
  if (!problems) {
    problems = validateSigningKeyRotationSpec(spec, now);
    if (validated.size > 256) validated.clear();
    validated.set(key, problems);
  }
  return problems;
}

/** Decides the next step and the status for the observed state. */
export function decide(input: DecideInput): Decision {
  const { spec, now, options } = input;
  const prev = input.status ?? {};
  const generation = input.generation;
  const nowMs = now.getTime();
  const notices: Notice[] = [];
  let conditions = prev.conditions ?? [];
  const cond = (type: string, status: Condition['status'], reason: string, message: string) => {
    conditions = setCondition(conditions, generation, { type, status, reason, message }, now);
  };

  const problems = specProblems(spec, now);
  if (problems.length) {
    cond(SkrCondition.Ready, 'False', SkrReason.InvalidSpec, describeProblems(problems));
    return {
      status: { ...prev, observedGeneration: generation, conditions },
      notices,
      requeueAfterMs: options.maxRequeueMs,
      invalidSpec: true,
    };
  }

  const window = retireWindowMs(spec, options.clockSkewMs);
  const leadMs = parseDuration(spec.leadTime);
  const cacheMs = parseDuration(spec.jwksCacheTTL);
  const vault = input.vault;
  const doc = vault.keyset && !vault.keysetInvalid ? vault.keyset : undefined;
  const model = buildModel(prev.keys ?? [], vault, now);
  const byKid = new Map(model.map((k) => [k.kid, k]));
  const services = viewServices(input, doc);
  const handled = { ...(prev.lastHandled ?? {}) };
  const wakeAt: number[] = [];

  // --- Triggers --------------------------------------------------------------------------------------
  const revokeValue = input.annotations[Annotations.revokeKid];
  let revokeKid: string | undefined;
  if (revokeValue && revokeValue !== handled.revokeKid) {
    const x = byKid.get(revokeValue);
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
  const rotateValue = input.annotations[Annotations.rotateNow];
  const rotatePending = !!rotateValue && rotateValue !== handled.rotateNow;
  // Emergency is scoped to one rotation: it counts only when it names this rotate-now value, so an emergency
  // annotation left from an earlier rotation never makes a later routine one skip the lead time.
  const emergencyValue = input.annotations[Annotations.emergency];
  const emergencyFlag = rotatePending && emergencyValue === rotateValue;
  if (rotatePending && emergencyValue && emergencyValue !== rotateValue) {
    notices.push({
      type: 'Warning',
      reason: SkrReason.EmergencyNotForThisRotation,
      note: `${Annotations.emergency} is "${emergencyValue}", not this rotation's ${Annotations.rotateNow} value: rotating with the lead time. To skip it, set ${Annotations.emergency}: "${rotateValue}"`,
    });
  }

  // --- Target ----------------------------------------------------------------------------------------
  const active = model.find((k) => k.phase === 'active');
  const activeLost = !!active && !active.stored?.material;
  const emergencyKey = pick(
    model.filter((k) => k.phase === 'pending' && k.stored?.material?.state === 'active'),
  );
  const retiredKeys = model.filter((k) => k.phase === 'retired' && k.kid !== revokeKid);
  const removable = (k: ModelKey) => {
    const due = ms(k.entry.removeAfter);
    return due !== undefined && nowMs >= due;
  };
  const target: Target = { retired: [], pending: [] };
  let reason: RotationReason | undefined = prev.lastRotationReason;
  let nextRotation: Date | undefined;
  let rotating: { reason: string; message: string } | undefined;
  let pulled = false;

  const needEmergency =
    !active || activeLost || !!emergencyKey || revokeKid === active.kid || (rotatePending && emergencyFlag);
  if (needEmergency) {
    reason = !active && !prev.activeKid ? 'initial' : 'emergency';
    if (emergencyKey) {
      target.active = emergencyKey.kid;
      target.pending.push(emergencyKey.kid);
      if (rotatePending) handled.rotateNow = rotateValue;
    } else {
      target.newKey = 'active';
    }
    if (active && active.kid !== revokeKid) target.retired.push(active.kid);
    for (const r of retiredKeys) if (!removable(r)) target.retired.push(r.kid);
    rotating = {
      reason: reason === 'initial' ? SkrReason.Initializing : SkrReason.EmergencyRotated,
      message:
        reason === 'initial'
          ? 'generating the first key: it signs as soon as it is published'
          : 'emergency rotation: a new key signs at once, without lead time',
    };
    if (activeLost) {
      notices.push({
        type: 'Warning',
        reason: SkrReason.KeyMaterialMissing,
        note: `the secret of active key ${active!.kid} is missing in Vault: replacing it with a new key at once`,
      });
    }
  } else {
    target.active = active.kid;
    const prevRotating = getCondition(prev.conditions, SkrCondition.Rotating);
    // A rotate-now handled earlier is still being carried out for this active key.
    pulled =
      prevRotating?.status === 'True' &&
      prev.lastRotationReason === 'manual' &&
      prev.activeKid === active.kid;
    let pullTime = pulled ? ms(prev.nextRotationTime) : undefined;
    if (rotatePending) {
      // rotate-now without emergency: the next key signs as soon as its lead time allows.
      handled.rotateNow = rotateValue;
      pulled = true;
      pullTime = nowMs;
    }
    const scheduled = scheduledRotation(spec, new Date(ms(active.entry.activatedAt) ?? nowMs));
    nextRotation = pulled ? new Date(Math.min(pullTime ?? nowMs, scheduled.getTime())) : scheduled;
    const mayRotate = pulled || !spec.suspend;
    const candidates = model.filter(
      (k) =>
        k.kid !== revokeKid &&
        (k.phase === 'next' || (k.phase === 'pending' && k.stored?.material?.state !== 'active')),
    );
    const next = pick(candidates);
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
      const servedLongEnough =
        services.lastLoadedAt === undefined || nowMs >= services.lastLoadedAt + cacheMs;
      if (!servedLongEnough && services.allLoaded) wakeAt.push(services.lastLoadedAt! + cacheMs);
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
    for (const r of retiredKeys) {
      if (removable(r)) continue;
      target.retired.push(r.kid);
      const due = ms(r.entry.removeAfter);
      if (due !== undefined) wakeAt.push(due);
    }
  }

  // --- Step: the first Vault write the target needs, in the safe order ------------------------------
  const inTarget = new Set(
    [target.active, target.next, ...target.retired, ...target.pending].filter(Boolean),
  );
  const step = nextStep(spec, target, model, inTarget, vault, now, revokeKid);

  // --- Status for the observed state ----------------------------------------------------------------
  const entries: SigningKey[] = [];
  for (const k of model) {
    if (k.phase === 'orphan') continue;
    const e = { ...k.entry };
    if (k.kid === revokeKid && !k.published) {
      e.state = 'revoked';
      e.revokedAt ??= formatTime(now);
      delete e.removeAfter;
    }
    if (e.state === 'revoked') {
      // Kept in status as a record for one retire window, then dropped.
      const until = (ms(e.revokedAt) ?? nowMs) + window;
      if (nowMs >= until && !k.stored && !k.published) continue;
      if (nowMs < until) wakeAt.push(until);
      entries.push(e);
      continue;
    }
    if (k.phase === 'gone' && !k.stored) continue;
    if (k.phase === 'retired' && !e.removeAfter) {
      // The window starts once no service signs with it any more: all have loaded a set where it is not active.
      const listed = spec.services?.length ?? 0;
      if (listed === 0) e.removeAfter = formatTime(new Date((ms(e.retiredAt) ?? nowMs) + window));
      else if (services.allLoaded && doc) e.removeAfter = formatTime(new Date(nowMs + window));
      if (e.removeAfter) wakeAt.push(ms(e.removeAfter)!);
    }
    entries.push(e);
  }
  if (revokeKid && !byKid.get(revokeKid)?.published && !byKid.get(revokeKid)?.stored) {
    handled.revokeKid = revokeKid;
  }
  entries.sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));

  const activeEntry = entries.find((e) => e.state === 'active' && byKid.get(e.kid)?.published);
  const nextEntry = entries.find((e) => e.state === 'next' && byKid.get(e.kid)?.published);
  if (needEmergency && activeEntry) {
    nextRotation = scheduledRotation(spec, new Date(ms(activeEntry.activatedAt) ?? nowMs));
  }

  // Conditions
  const ready = !!activeEntry && !activeLost;
  if (ready) {
    cond(
      SkrCondition.Ready,
      'True',
      SkrReason.Reconciled,
      `key ${activeEntry!.kid} signs${nextRotation ? `; next rotation at ${formatTime(nextRotation)}` : ''}`,
    );
  } else {
    cond(SkrCondition.Ready, 'False', SkrReason.Initializing, 'no key is published as active yet');
  }
  const byUrl = (spec.services ?? []).filter((s) => s.statusURL !== undefined).map((s) => s.name);
  if (byUrl.length)
    cond(
      SkrCondition.Deprecated,
      'True',
      SkrReason.StatusURLDeprecated,
      `spec.services ${byUrl.join(', ')} name a statusURL, which is deprecated and works only while the operator configuration allows it: use serviceRef (a Service with ports named http and admin)`,
    );
  else if (conditions.some((c) => c.type === SkrCondition.Deprecated))
    cond(SkrCondition.Deprecated, 'False', SkrReason.Reconciled, 'no deprecated field is used');
  if (rotating) cond(SkrCondition.Rotating, 'True', rotating.reason, rotating.message);
  else if (spec.suspend)
    cond(SkrCondition.Rotating, 'False', SkrReason.Suspended, 'scheduled rotations are suspended');
  else
    cond(
      SkrCondition.Rotating,
      'False',
      SkrReason.Idle,
      nextRotation
        ? `next key is published at ${formatTime(new Date(nextRotation.getTime() - leadMs))}`
        : 'idle',
    );

  if (!(spec.services?.length ?? 0)) {
    cond(SkrCondition.ServicesLoaded, 'True', SkrReason.AllServicesLoaded, 'no services are listed');
  } else if (services.allLoaded) {
    cond(
      SkrCondition.ServicesLoaded,
      'True',
      SkrReason.AllServicesLoaded,
      'every service has loaded the current key set',
    );
  } else {
    const why = services.refused.length
      ? SkrReason.EndpointNotAllowed
      : services.unreachable.length
        ? SkrReason.ServiceUnreachable
        : SkrReason.ServicesNotLoaded;
    cond(
      SkrCondition.ServicesLoaded,
      'False',
      why,
      `not loaded the current key set: ${services.notLoaded.join(', ')}${services.refused.length ? ` (not allowed, never called: ${services.refused.join(', ')})` : ''}${services.unreachable.length ? ` (unreachable: ${services.unreachable.join(', ')})` : ''}`,
    );
  }
  if (activeLost) {
    cond(
      SkrCondition.Degraded,
      'True',
      SkrReason.KeyMaterialMissing,
      `the secret of active key ${active!.kid} is missing in Vault`,
    );
  } else if (services.late.length) {
    const why = services.refused.length
      ? SkrReason.EndpointNotAllowed
      : services.unreachable.length
        ? SkrReason.ServiceUnreachable
        : SkrReason.ServicesNotLoaded;
    cond(
      SkrCondition.Degraded,
      'True',
      why,
      `${services.late.join(', ')} did not load the current key set within ${Math.round(options.serviceLoadTimeoutMs / 1000)}s; the next rotation step waits for them`,
    );
  } else {
    cond(SkrCondition.Degraded, 'False', SkrReason.Reconciled, 'Vault and services answer');
  }

  const status: SigningKeyRotationStatus = {
    observedGeneration: generation,
    conditions,
    keysetPath: `${input.location.mount}/${keyTreePath(input.location)}/keyset`,
    keys: entries,
    services: services.statuses,
  };
  if (activeEntry) status.activeKid = activeEntry.kid;
  if (nextEntry) status.nextKid = nextEntry.kid;
  if (doc) status.keysetHash = doc.keysetHash;
  if (activeEntry?.activatedAt) status.lastRotationTime = activeEntry.activatedAt;
  if (reason) status.lastRotationReason = reason;
  if (nextRotation) status.nextRotationTime = formatTime(nextRotation);
  if (Object.keys(handled).length) status.lastHandled = handled;
  if (!status.services?.length) delete status.services;

  // Requeue: services poll, lead time ends, removals, the next publication.
  if (spec.services?.length) {
    wakeAt.push(nowMs + (services.allLoaded ? options.servicePollMs : options.serviceWaitPollMs));
  }
  const soonest = Math.min(...wakeAt.filter((t) => t > nowMs), nowMs + options.maxRequeueMs);
  return {
    step,
    status,
    notices,
    requeueAfterMs: Math.max(1, soonest - nowMs + 5),
    invalidSpec: false,
  };
}

function nextStep(
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

export interface Transition extends Notice {
  readonly kid?: string;
}

/** Events for what changed between two statuses: keys generated, published, activated, removed, revoked. */
export function transitions(
  prev: SigningKeyRotationStatus | undefined,
  next: SigningKeyRotationStatus,
): Transition[] {
  const out: Transition[] = [];
  const before = new Map((prev?.keys ?? []).map((k) => [k.kid, k]));
  const after = new Map((next.keys ?? []).map((k) => [k.kid, k]));
  for (const [kid, k] of after) {
    const b = before.get(kid);
    if (!b)
      out.push({
        kid,
        type: 'Normal',
        reason: SkrReason.KeyGenerated,
        note: `generated key ${kid} (${k.algorithm}) in Vault`,
      });
    if (k.state === 'next' && k.publishedAt && !b?.publishedAt) {
      out.push({
        kid,
        type: 'Normal',
        reason: SkrReason.KeyPublished,
        note: `published next key ${kid} in the key set`,
      });
    }
    if (k.state === 'revoked' && b?.state !== 'revoked') {
      out.push({
        kid,
        type: 'Warning',
        reason: SkrReason.KeyRevoked,
        note: `revoked key ${kid}: removed from the key set, its Vault versions are destroyed`,
      });
    }
  }
  for (const [kid, b] of before) {
    if (!after.has(kid) && b.state !== 'revoked') {
      out.push({
        kid,
        type: 'Normal',
        reason: SkrReason.KeyRemoved,
        note: `removed ${b.state} key ${kid} from the key set and destroyed it in Vault`,
      });
    }
  }
  if (next.activeKid && next.activeKid !== prev?.activeKid) {
    const emergency = next.lastRotationReason === 'emergency';
    out.push({
      kid: next.activeKid,
      type: emergency ? 'Warning' : 'Normal',
      reason: emergency ? SkrReason.EmergencyRotated : SkrReason.Rotated,
      note: `key ${next.activeKid} signs now (${next.lastRotationReason ?? 'scheduled'})${prev?.activeKid ? `; ${prev.activeKid} is retired and stays published until no token it signed can be valid` : ''}`,
    });
  }
  const wasDegraded = getCondition(prev?.conditions, SkrCondition.Degraded);
  const isDegraded = getCondition(next.conditions, SkrCondition.Degraded);
  if (
    isDegraded?.status === 'True' &&
    (wasDegraded?.status !== 'True' || wasDegraded.reason !== isDegraded.reason)
  ) {
    out.push({ type: 'Warning', reason: isDegraded.reason, note: isDegraded.message });
  } else if (wasDegraded?.status === 'True' && isDegraded?.status !== 'True') {
    out.push({ type: 'Normal', reason: SkrReason.Recovered, note: `recovered from ${wasDegraded.reason}` });
  }
  return out;
}
