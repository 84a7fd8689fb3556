import { isDeepStrictEqual } from 'node:util';
import type { LimitDocument } from '../../../../lib/ratelimit-contract.js';
import type { Acknowledgements } from '../../adapters/redis/limit-publisher.js';
import {
  type Condition,
  ConditionType,
  formatTime,
  getCondition,
  Reason,
  type SpecProblem,
  setCondition,
} from '../../api/index.js';
import type { TenantRateLimit, TenantRateLimitStatus } from '../../api/v1alpha1/index.js';
import type { TenantOwner } from '../../connections-file.js';

/**
 * The TenantRateLimit controller's decisions, as pure functions over the resource, the other resources,
 * what Redis holds and the clock. reconciler.ts does the I/O around them.
 */

/** Reasons this kind adds to api/conditions.ts (kept here until that file lists them). */
export const TenantRateLimitReason = {
  /** An older TenantRateLimit already sets this tenant's limits; this one is not applied (not merged). */
  DuplicateTenant: 'DuplicateTenant',
  NoConflict: 'NoConflict',
  NoGatewayReplicas: 'NoGatewayReplicas',
} as const;

export const FINALIZER = 'security.novapos.io/tenant-rate-limit';

/** Checks beyond the CRD schema and its CEL rules (which a fixture or an older apiserver may skip). */
export function validateSpec(trl: TenantRateLimit): SpecProblem[] {
  const spec = trl.spec;
  const problems: SpecProblem[] = [];
  if (spec.redisFailureMode === 'localFallback' && !spec.localFallback) {
    problems.push({
      field: 'spec.localFallback',
      message:
        'required when redisFailureMode is localFallback: set requestsPerMinute (and burst) per replica',
    });
  }
  if (spec.redisFailureMode !== 'localFallback' && spec.localFallback) {
    problems.push({
      field: 'spec.localFallback',
      message: 'used only with redisFailureMode localFallback: remove it or set that mode',
    });
  }
  const dup = (values: string[]) => values.filter((v, i) => values.indexOf(v) !== i);
  for (const p of dup((spec.routes ?? []).map((r) => r.pathPrefix))) {
    problems.push({
      field: 'spec.routes',
      message: `pathPrefix "${p}" is listed twice: keep one entry per prefix`,
    });
  }
  for (const p of dup((spec.apiKeys ?? []).map((k) => k.prefix))) {
    problems.push({
      field: 'spec.apiKeys',
      message: `prefix "${p}" is listed twice: keep one entry per prefix`,
    });
  }
  return problems;
}

const created = (t: TenantRateLimit) => Date.parse(t.metadata.creationTimestamp as unknown as string) || 0;
const nameOf = (t: TenantRateLimit) => `${t.metadata.namespace ?? ''}/${t.metadata.name ?? ''}`;

/**
 * The resource that sets a tenant's limits when several name it: the oldest (then by namespace/name), not
 * being deleted. The others get a Conflict condition and change nothing: limits are never merged.
 */
export function ownerOf(tenant: string, all: readonly TenantRateLimit[]): TenantRateLimit | undefined {
  return all
    .filter((t) => t.spec?.tenant === tenant && !t.metadata.deletionTimestamp)
    .sort((a, b) => created(a) - created(b) || nameOf(a).localeCompare(nameOf(b)))[0];
}

/**
 * The namespace the operator configuration (tenantOwners) lets set `tenant`'s limits: an exact tenant id
 * first, then the longest `prefix*` that matches; undefined when none does (then no namespace may).
 */
export function tenantOwnerNamespace(tenant: string, owners: readonly TenantOwner[]): string | undefined {
  let best: { namespace: string; length: number } | undefined;
  for (const o of owners) {
    for (const t of o.tenants) {
      if (t === tenant) return o.namespace;
      if (t.endsWith('*') && tenant.startsWith(t.slice(0, -1)) && (!best || t.length > best.length))
        best = { namespace: o.namespace, length: t.length };
    }
  }
  return best?.namespace;
}

/** The document for `novapos:ratelimit:config:{<tenant>}`. */
export function limitDocument(trl: TenantRateLimit, now: Date): LimitDocument {
  const s = trl.spec;
  return {
    tenant: s.tenant,
    generation: trl.metadata.generation ?? 0,
    requestsPerMinute: s.requestsPerMinute,
    burst: s.burst ?? 0,
    routes: (s.routes ?? []).map((r) => ({
      pathPrefix: r.pathPrefix,
      requestsPerMinute: r.requestsPerMinute,
      burst: r.burst ?? 0,
    })),
    apiKeys: (s.apiKeys ?? []).map((k) => ({
      prefix: k.prefix,
      requestsPerMinute: k.requestsPerMinute,
      burst: k.burst ?? 0,
    })),
    enforcement: s.enforcement ?? 'enforce',
    redisFailureMode: s.redisFailureMode ?? 'failOpen',
    ...(s.localFallback
      ? {
          localFallback: {
            requestsPerMinute: s.localFallback.requestsPerMinute,
            burst: s.localFallback.burst ?? 0,
          },
        }
      : {}),
    source: {
      namespace: trl.metadata.namespace ?? '',
      name: trl.metadata.name ?? '',
      uid: trl.metadata.uid ?? '',
    },
    publishedAt: formatTime(now),
  };
}

/** Whether Redis already holds these limits (publishedAt aside): no write, no notification otherwise. */
export function samePublished(current: LimitDocument | undefined, desired: LimitDocument): boolean {
  if (!current) return false;
  const { publishedAt: _a, ...c } = current;
  const { publishedAt: _b, ...d } = desired;
  return isDeepStrictEqual(c, d);
}

export interface AckSummary {
  readonly live: number;
  readonly acknowledged: number;
  /** Every live replica acknowledged `generation` (false when no replica is alive). */
  readonly complete: boolean;
  readonly pending: readonly string[];
}

export function summarizeAcks(acks: Acknowledgements, generation: number): AckSummary {
  const pending = acks.liveReplicas.filter((r) => acks.acked[r] !== generation);
  const live = acks.liveReplicas.length;
  return { live, acknowledged: live - pending.length, complete: live > 0 && pending.length === 0, pending };
}

export type Outcome =
  | { readonly kind: 'invalid'; readonly problems: readonly SpecProblem[] }
  /** The operator configuration gives the tenant to another namespace (or to none): nothing published. */
  | { readonly kind: 'notOwned'; readonly ownerNamespace?: string; readonly withdrawn: boolean }
  | { readonly kind: 'conflict'; readonly owner: TenantRateLimit }
  | { readonly kind: 'redisUnavailable'; readonly error: string }
  | {
      readonly kind: 'applied';
      readonly publishedNow: boolean;
      readonly publishedAt: string;
      readonly acks: AckSummary;
    };

export interface StatusPlan {
  readonly status: TenantRateLimitStatus;
  /** Requeue after this long; undefined waits for the next change or resync. */
  readonly requeueAfterMs?: number;
  /** Value of the novapos_tenant_rate_limit_applied gauge. */
  readonly applied: 0 | 1;
}

/** While acknowledgements are awaited: poll every second for a minute after publishing, then every 10 s. */
export const ACK_POLL_MS = 1000;
export const ACK_SLOW_POLL_MS = 10_000;
/** After publishing, the reconcile waits this long for the acknowledgements before it writes the status. */
export const ACK_WAIT_MS = 1000;
/** Re-check Redis this often when all is well: a Redis restart (no persistence) loses the config key. */
export const RESYNC_MS = 60_000;
export const CONFLICT_RECHECK_MS = 10_000;

/** The whole new status for one reconcile, computed from the outcome. */
export function planStatus(
  trl: TenantRateLimit,
  outcome: Outcome,
  now: Date,
  reconcileNow?: string,
  /** With tenantOwners configured: the TenantOwned message when this namespace owns the tenant. */
  ownership?: string,
): StatusPlan {
  const generation = trl.metadata.generation ?? 0;
  const prev = trl.status ?? {};
  let conditions: Condition[] = [...(prev.conditions ?? [])];
  const set = (type: string, status: Condition['status'], reason: string, message: string) => {
    conditions = setCondition(conditions, generation, { type, status, reason, message }, now);
  };
  const base: TenantRateLimitStatus = {
    ...prev,
    observedGeneration: generation,
    ...(reconcileNow !== undefined ? { lastHandled: { ...prev.lastHandled, reconcileNow } } : {}),
  };
  const clearConflict = () => {
    if (getCondition(conditions, ConditionType.Conflict)) {
      set(
        ConditionType.Conflict,
        'False',
        TenantRateLimitReason.NoConflict,
        `this resource sets the limits of tenant ${trl.spec.tenant}`,
      );
    }
  };

  const owned = (status: Condition['status'], reason: string, message: string) =>
    set(ConditionType.TenantOwned, status, reason, message);
  if (outcome.kind !== 'notOwned' && outcome.kind !== 'invalid' && ownership) {
    owned('True', Reason.OwnerConfigured, ownership);
  }

  switch (outcome.kind) {
    case 'notOwned': {
      const message = `${
        outcome.ownerNamespace
          ? `tenant ${trl.spec.tenant} is owned by namespace ${outcome.ownerNamespace}`
          : `no namespace owns tenant ${trl.spec.tenant}`
      } (tenantOwners in the operator configuration): this resource is not applied${outcome.withdrawn ? '; the limits it had written were withdrawn and the gateway default applies' : ''}${
        outcome.ownerNamespace
          ? ''
          : `; to let namespace ${trl.metadata.namespace} set them, add { namespace: ${trl.metadata.namespace}, tenants: [${trl.spec.tenant}] } to tenantOwners`
      }`;
      owned('False', Reason.TenantNotOwned, message);
      set(ConditionType.Ready, 'False', Reason.TenantNotOwned, message);
      return { status: { ...base, conditions }, requeueAfterMs: CONFLICT_RECHECK_MS, applied: 0 };
    }
    case 'invalid': {
      const message = outcome.problems.map((p) => `${p.field}: ${p.message}`).join('; ');
      set(ConditionType.Ready, 'False', Reason.InvalidSpec, message);
      return { status: { ...base, conditions }, applied: 0 };
    }
    case 'conflict': {
      const owner = `${outcome.owner.metadata.namespace}/${outcome.owner.metadata.name}`;
      const message = `tenant ${trl.spec.tenant} is already limited by TenantRateLimit ${owner} (older); this resource is not applied and not merged: delete one of them`;
      set(ConditionType.Conflict, 'True', TenantRateLimitReason.DuplicateTenant, message);
      set(ConditionType.Ready, 'False', TenantRateLimitReason.DuplicateTenant, message);
      return { status: { ...base, conditions }, requeueAfterMs: CONFLICT_RECHECK_MS, applied: 0 };
    }
    case 'redisUnavailable': {
      clearConflict();
      set(
        ConditionType.Ready,
        'False',
        Reason.RedisUnavailable,
        `could not publish the limits to Redis: ${outcome.error}`,
      );
      return { status: { ...base, conditions }, applied: 0 };
    }
    case 'applied': {
      clearConflict();
      const { acks } = outcome;
      const sameGeneration = prev.appliedGeneration === generation && !outcome.publishedNow;
      const status: TenantRateLimitStatus = {
        ...base,
        appliedGeneration: generation,
        publishedAt: outcome.publishedAt,
        acknowledgedReplicas: acks.acknowledged,
      };
      if (acks.complete) {
        status.acknowledgedAt = sameGeneration && prev.acknowledgedAt ? prev.acknowledgedAt : formatTime(now);
        const message = `generation ${generation} acknowledged by ${acks.live} gateway replica${acks.live === 1 ? '' : 's'}`;
        set(ConditionType.Applied, 'True', Reason.Acknowledged, message);
        set(ConditionType.Ready, 'True', Reason.Reconciled, message);
        return { status: { ...status, conditions }, requeueAfterMs: RESYNC_MS, applied: 1 };
      }
      delete status.acknowledgedAt;
      const since = Date.parse(outcome.publishedAt);
      const waited = Number.isNaN(since) ? 0 : now.getTime() - since;
      const message =
        acks.live === 0
          ? `generation ${generation} published; no gateway replica is running to acknowledge it`
          : `generation ${generation} published; waiting for ${acks.pending.length} of ${acks.live} gateway replicas (${acks.pending.slice(0, 5).join(', ')})`;
      set(
        ConditionType.Applied,
        'False',
        acks.live === 0 ? TenantRateLimitReason.NoGatewayReplicas : Reason.WaitingForAcknowledgement,
        message,
      );
      set(ConditionType.Ready, 'False', Reason.WaitingForAcknowledgement, message);
      return {
        status: { ...status, conditions },
        requeueAfterMs: waited < 60_000 ? ACK_POLL_MS : ACK_SLOW_POLL_MS,
        applied: 0,
      };
    }
  }
}
