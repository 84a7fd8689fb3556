import { createHash } from 'node:crypto';
import type { FingerprintKey } from '../../adapters/hmac-key/index.js';
import type { SecretData } from '../../adapters/vault-connections/index.js';
import { formatTime } from '../../api/conditions.js';
import type {
  KeyChange,
  PlanEntry,
  PromotionPlan,
  SecretPromotionSpec,
} from '../../api/v1alpha1/secretpromotion.js';
import { keySelected } from '../../api/validation.js';

/**
 * Plans, as pure functions over what the adapters read: the per-key diff with keyed fingerprints, the data
 * each target gets, and the plan hash an approval names. Values live only in `PlannedWrite`s (memory);
 * the `PromotionPlan` that goes to status carries names, versions and fingerprints.
 */

export type PlanAction = 'promote' | 'rollback';

/** One source secret and one target secret as read, values included (never leaves the process). */
export interface PairSnapshot {
  readonly target: string;
  /** Path inside the source mount (for a rollback: the target's own path). */
  readonly sourcePath: string;
  /** Pinned version: the source's for a promotion, the version restored for a rollback (0: absent). */
  readonly sourceVersion: number;
  readonly sourceData?: SecretData;
  /** Path inside the target mount. */
  readonly targetPath: string;
  /** Current target version: the check-and-set version (0: absent). */
  readonly targetVersion: number;
  readonly targetData?: SecretData;
  /** Override values for this target, by key (promotions only). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** What applying writes to one target secret (values included: memory only). */
export interface PlannedWrite {
  readonly target: string;
  readonly targetPath: string;
  readonly expectedVersion: number;
  readonly data: SecretData;
  readonly sourcePath: string;
  readonly sourceVersion: number;
  /** A rollback to "absent": write the empty version, then soft-delete it, so reads find nothing as before. */
  readonly deleteAfterWrite: boolean;
}

export interface PlanInput {
  readonly action: PlanAction;
  readonly pairs: readonly PairSnapshot[];
  readonly keys?: SecretPromotionSpec['keys'];
  readonly prune: boolean;
  readonly key: FingerprintKey;
  readonly now: Date;
}

export interface PlanComputation {
  readonly plan: PromotionPlan;
  /** Only entries with a change; unchanged secrets get no new version. */
  readonly writes: PlannedWrite[];
}

/** JSON with object keys sorted, so equal data gives equal text whatever order Vault returned. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The fingerprint of one key's value: keyed by the HMAC key and the key name, never reversible. */
export function fingerprintOf(key: FingerprintKey, name: string, value: unknown): string {
  return key.fingerprint(`${name}\u0000${canonicalJson(value)}`);
}

/** The data a promotion writes for one source secret: selected keys, then override values. */
export function promotedData(
  source: SecretData | undefined,
  keys: SecretPromotionSpec['keys'],
  overrides: Readonly<Record<string, unknown>> = {},
): SecretData {
  const out: SecretData = {};
  for (const [k, v] of Object.entries(source ?? {})) if (keySelected(keys, k)) out[k] = v;
  for (const [k, v] of Object.entries(overrides)) out[k] = v;
  return out;
}

/**
 * The per-key diff of `desired` against `current`, and the data the target gets: every desired key, plus
 * the current keys that are neither desired nor `removable` (left as they are, and not listed).
 */
export function diffSecret(
  current: SecretData | undefined,
  desired: SecretData,
  removable: (key: string) => boolean,
  key: FingerprintKey,
): { changes: KeyChange[]; next: SecretData } {
  const changes: KeyChange[] = [];
  const next: SecretData = {};
  const now = current ?? {};
  for (const [k, v] of Object.entries(now)) {
    if (k in desired) continue;
    if (removable(k)) changes.push({ key: k, action: 'remove', targetFingerprint: fingerprintOf(key, k, v) });
    else next[k] = v;
  }
  for (const [k, v] of Object.entries(desired)) {
    next[k] = v;
    const sourceFingerprint = fingerprintOf(key, k, v);
    if (!(k in now)) {
      changes.push({ key: k, action: 'add', sourceFingerprint });
      continue;
    }
    const targetFingerprint = fingerprintOf(key, k, now[k]);
    changes.push({
      key: k,
      action: canonicalJson(v) === canonicalJson(now[k]) ? 'unchanged' : 'change',
      sourceFingerprint,
      targetFingerprint,
    });
  }
  changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { changes, next };
}

/** The hash an approval names: over the action, the fingerprint key id and every entry (versions included). */
export function planHash(
  action: PlanAction,
  fingerprintKeyId: string,
  entries: readonly PlanEntry[],
): string {
  const digest = createHash('sha256')
    .update(canonicalJson({ v: 1, action, fingerprintKeyId, entries }))
    .digest('hex');
  return `${action}-${digest.slice(0, 32)}`;
}

/** Whether a plan restores earlier versions (its hash says so: approvers see it in the Plan column). */
export function actionOf(plan: Pick<PromotionPlan, 'hash'> | undefined): PlanAction {
  return plan?.hash.startsWith('rollback-') ? 'rollback' : 'promote';
}

export const hasChanges = (plan: PromotionPlan | undefined): boolean =>
  !!plan && plan.summary.add + plan.summary.change + plan.summary.remove > 0;

export function computePlan(input: PlanInput): PlanComputation {
  const entries: PlanEntry[] = [];
  const writes: PlannedWrite[] = [];
  const pairs = [...input.pairs].sort((a, b) =>
    a.sourcePath === b.sourcePath ? (a.target < b.target ? -1 : 1) : a.sourcePath < b.sourcePath ? -1 : 1,
  );
  for (const pair of pairs) {
    const rollback = input.action === 'rollback';
    const desired = rollback
      ? { ...(pair.sourceData ?? {}) }
      : promotedData(pair.sourceData, input.keys, pair.overrides);
    const removable = rollback ? () => true : (k: string) => input.prune && keySelected(input.keys, k);
    const { changes, next } = diffSecret(pair.targetData, desired, removable, input.key);
    entries.push({
      target: pair.target,
      sourcePath: pair.sourcePath,
      sourceVersion: pair.sourceVersion,
      targetPath: pair.targetPath,
      targetVersion: pair.targetVersion,
      changes,
    });
    // A rollback to "absent" of a secret that is already absent (or deleted) has nothing to do.
    const restoresAbsent = rollback && pair.sourceVersion === 0;
    const changed =
      changes.some((c) => c.action !== 'unchanged') || (restoresAbsent && pair.targetData !== undefined);
    if (changed) {
      writes.push({
        target: pair.target,
        targetPath: pair.targetPath,
        expectedVersion: pair.targetVersion,
        data: next,
        sourcePath: pair.sourcePath,
        sourceVersion: pair.sourceVersion,
        deleteAfterWrite: restoresAbsent,
      });
    }
  }
  const summary = { add: 0, change: 0, remove: 0, unchanged: 0 };
  for (const e of entries) for (const c of e.changes) summary[c.action] += 1;
  return {
    plan: {
      hash: planHash(input.action, input.key.id, entries),
      createdAt: formatTime(input.now),
      fingerprintKeyId: input.key.id,
      entries,
      summary,
    },
    writes,
  };
}

/**
 * Whether two plans read the same source: same secrets at the same versions giving the same values. A
 * continuous promotion replaces a pending plan only when this is false, so a target edited after the plan
 * still surfaces as a Conflict at apply instead of being absorbed into a fresh plan.
 */
export function sameSource(a: PromotionPlan, b: PromotionPlan): boolean {
  const side = (p: PromotionPlan) =>
    canonicalJson(
      p.entries.map((e) => [
        e.target,
        e.sourcePath,
        e.sourceVersion,
        e.changes.filter((c) => c.sourceFingerprint).map((c) => [c.key, c.sourceFingerprint]),
      ]),
    );
  return actionOf(a) === actionOf(b) && side(a) === side(b);
}

/**
 * Keys of the plan (names only) whose target value differs from what the plan saw, for a Conflict's
 * detail. Keys the plan does not touch are not compared: the plan has no fingerprint for them.
 */
export function changedKeysSince(
  entry: PlanEntry,
  current: SecretData | undefined,
  key: FingerprintKey,
): string[] {
  const seen = new Map(entry.changes.map((c) => [c.key, c.targetFingerprint]));
  const out: string[] = [];
  for (const name of seen.keys()) {
    const now = current && name in current ? fingerprintOf(key, name, current[name]) : undefined;
    if (now !== seen.get(name)) out.push(name);
  }
  return out.sort();
}

/** A one-line summary for conditions and Events: counts only. */
export function describePlan(plan: PromotionPlan): string {
  const s = plan.summary;
  const targets = new Set(plan.entries.map((e) => e.target)).size;
  const secrets = new Set(plan.entries.map((e) => e.sourcePath)).size;
  return `plan ${plan.hash}: ${s.add} to add, ${s.change} to change, ${s.remove} to remove, ${s.unchanged} unchanged (${secrets} secret${secrets === 1 ? '' : 's'} to ${targets} target${targets === 1 ? '' : 's'})`;
}

/** Rough status size of a plan; the apiserver stores objects up to ~1.5 MB. */
export const MAX_PLAN_BYTES = 900_000;
export const planBytes = (plan: PromotionPlan): number => Buffer.byteLength(JSON.stringify(plan));
