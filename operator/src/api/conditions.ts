import { type Static, Type } from '@sinclair/typebox';

/**
 * Conditions as Kubernetes' metav1.Condition: every condition carries the generation it was computed
 * for, and `lastTransitionTime` moves only when the status flips. Types and reasons are constants here so
 * controllers, alerts and docs use one spelling.
 */

export const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description: 'Type of condition in CamelCase, e.g. Ready.',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')], {
      description: 'Status of the condition: True, False or Unknown.',
    }),
    observedGeneration: Type.Integer({
      description:
        'The metadata.generation the condition was computed for; older than the current generation means stale.',
      minimum: 0,
    }),
    lastTransitionTime: Type.String({
      description: 'When the condition last changed from one status to another (RFC 3339).',
      format: 'date-time',
    }),
    reason: Type.String({
      description: 'Machine-readable CamelCase reason for the last transition.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({
      description:
        'Human-readable detail: what happened and what to do about it. Never contains secret values.',
      maxLength: 32768,
    }),
  },
  { description: 'One aspect of the resource state, as metav1.Condition.' },
);

export type Condition = Static<typeof ConditionSchema>;
export type ConditionStatus = Condition['status'];

/** `status.conditions`: one entry per type. */
export const ConditionsSchema = Type.Array(ConditionSchema, {
  description: 'Current state of the resource as conditions; Ready summarises them.',
  maxItems: 16,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

export const ConditionType = {
  /** The resource is reconciled and its goal holds. */
  Ready: 'Ready',
  /** Work towards the goal is under way (a rotation in its lead time, a plan being applied, a drill running). */
  Progressing: 'Progressing',
  /** SigningKeyRotation: every listed service reports the current key-set hash. */
  ServicesLoaded: 'ServicesLoaded',
  /** TenantRateLimit: every gateway replica acknowledged the current generation. */
  Applied: 'Applied',
  /** SecretPromotion: a plan for the current source and target versions is in status. */
  Planned: 'Planned',
  /** SecretPromotion: the approve-plan annotation names the current plan (or approval is not required). */
  Approved: 'Approved',
  /** SecretPromotion: a target changed after the plan was made; nothing was overwritten. */
  Conflict: 'Conflict',
  /** DisasterRecoveryDrill: the last finished run passed every step. */
  LastRunSucceeded: 'LastRunSucceeded',
  /** SecretPromotion: the operator's promotion policy lets this namespace use every connection named. */
  PolicyAllowed: 'PolicyAllowed',
  /** TenantRateLimit: the operator's configuration lets this namespace set the tenant's limits. */
  TenantOwned: 'TenantOwned',
} as const;
export type ConditionTypeName = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  // Any kind
  Reconciled: 'Reconciled',
  InvalidSpec: 'InvalidSpec',
  Suspended: 'Suspended',
  VaultUnavailable: 'VaultUnavailable',
  RedisUnavailable: 'RedisUnavailable',
  ReconcileError: 'ReconcileError',
  // SigningKeyRotation
  KeyPublished: 'KeyPublished',
  WaitingForLeadTime: 'WaitingForLeadTime',
  Rotated: 'Rotated',
  EmergencyRotated: 'EmergencyRotated',
  KeyRevoked: 'KeyRevoked',
  UnknownKid: 'UnknownKid',
  AllServicesLoaded: 'AllServicesLoaded',
  ServicesNotLoaded: 'ServicesNotLoaded',
  ServiceUnreachable: 'ServiceUnreachable',
  // TenantRateLimit
  Published: 'Published',
  WaitingForAcknowledgement: 'WaitingForAcknowledgement',
  Acknowledged: 'Acknowledged',
  // SecretPromotion
  PlanReady: 'PlanReady',
  NoChanges: 'NoChanges',
  AwaitingApproval: 'AwaitingApproval',
  ApprovalNotRequired: 'ApprovalNotRequired',
  PlanApproved: 'PlanApproved',
  ApprovalStale: 'ApprovalStale',
  Promoted: 'Promoted',
  RolledBack: 'RolledBack',
  TargetChanged: 'TargetChanged',
  SourceNotFound: 'SourceNotFound',
  ForbiddenPath: 'ForbiddenPath',
  PolicyAllows: 'PolicyAllows',
  PolicyDenied: 'PolicyDenied',
  // SigningKeyRotation: a service URL outside the operator's allowed endpoints (never called)
  EndpointNotAllowed: 'EndpointNotAllowed',
  // TenantRateLimit ownership
  OwnerConfigured: 'OwnerConfigured',
  TenantNotOwned: 'TenantNotOwned',
  // DisasterRecoveryDrill
  DrillRunning: 'DrillRunning',
  DrillSucceeded: 'DrillSucceeded',
  DrillFailed: 'DrillFailed',
  RunSkipped: 'RunSkipped',
  Scheduled: 'Scheduled',
} as const;
export type ReasonName = (typeof Reason)[keyof typeof Reason];

export interface ConditionUpdate {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/** RFC 3339 at second precision, as metav1.Time serialises. */
export function formatTime(when: Date): string {
  return when.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The conditions with `update` applied for `generation`: a new list (the input is not changed), order kept,
 * a new type appended. `lastTransitionTime` is `now` when the type is new or its status flips, and is kept
 * when only the reason, message or generation change.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  generation: number,
  update: ConditionUpdate,
  now: Date,
): Condition[] {
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === update.type);
  const next: Condition = {
    type: update.type,
    status: update.status,
    observedGeneration: generation,
    lastTransitionTime:
      existing && existing.status === update.status ? existing.lastTransitionTime : formatTime(now),
    reason: update.reason,
    message: update.message,
  };
  if (!existing) return [...list, next];
  return list.map((c) => (c === existing ? next : c));
}

export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition is True and was computed for `generation` (a stale True does not count). */
export function isConditionTrue(
  conditions: readonly Condition[] | undefined,
  type: string,
  generation: number,
): boolean {
  const c = getCondition(conditions, type);
  return c?.status === 'True' && c.observedGeneration === generation;
}
