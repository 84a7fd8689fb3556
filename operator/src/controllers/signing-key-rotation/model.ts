import type { JWK } from 'jose';
import { canonicalJson, computeKeysetHash, type KeysetDocument } from '../../../../lib/keyset.js';
import type { KeyStatusReport } from '../../adapters/services/key-status-probe.js';
import type {
  KeyLocation,
  KeySecretState,
  StoredKey,
  VaultObservation,
} from '../../adapters/vault/signing-key-store.js';
import {
  formatTime,
  nextScheduleTime,
  parseDuration,
  type ServiceLoadStatus,
  type SigningKey,
  type SigningKeyRotationSpec,
  type SigningKeyRotationStatus,
} from '../../api/index.js';

/**
 * What the SigningKeyRotation rules decide over: the input (spec, status, annotations, clock, what Vault
 * holds, what the services report), the one model of the keys joined from the three records, the services'
 * view, the key-set document, and the vocabulary of the decision (steps, notices, targets). Pure.
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

export type Phase = 'pending' | 'next' | 'active' | 'retired' | 'gone' | 'revoked' | 'orphan';

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

export const ms = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);

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
    const phase = kid === doc?.activeKid ? 'active' : kid === doc?.nextKid ? 'next' : 'retired';
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
export function pick(keys: readonly ModelKey[]): ModelKey | undefined {
  return [...keys].sort(
    (a, b) =>
      Number(b.published) - Number(a.published) ||
      (ms(a.entry.createdAt) ?? 0) - (ms(b.entry.createdAt) ?? 0) ||
      (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0),
  )[0];
}

export interface ServicesView {
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

export function viewServices(input: DecideInput, doc: KeysetDocument | undefined): ServicesView {
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

/** The keys the key set should hold, and a key to generate first. */
export interface Target {
  active?: string;
  next?: string;
  retired: string[];
  /** Kept unpublished (a generated key waiting for its publication). */
  pending: string[];
  newKey?: 'next' | 'active';
}
