import type { V1ObjectMeta } from '@kubernetes/client-node';
import { type Static, Type } from '@sinclair/typebox';
import { ConditionsSchema } from '../conditions.js';
import type { API_VERSION } from '../meta.js';
import {
  AGE_COLUMN,
  type CelRule,
  cel,
  Duration,
  type KindDefinition,
  READY_COLUMN,
  StringEnum,
  Timestamp,
} from '../schema.js';
import {
  LAST_HANDLED_DESCRIPTION,
  lastHandledFields,
  observedGeneration,
  VAULT_PATH_PATTERN,
  VaultConnection,
  VaultMount,
} from './common.js';

export const PROMOTION_MODES = ['oneShot', 'continuous'] as const;
export const DELETION_POLICIES = ['Retain', 'Delete'] as const;
export const CHANGE_ACTIONS = ['add', 'change', 'remove', 'unchanged'] as const;
export const PROMOTION_PHASES = [
  'Pending',
  'AwaitingApproval',
  'Applying',
  'Promoted',
  'Conflict',
  'Failed',
  'Suspended',
] as const;
export const HISTORY_ACTIONS = ['promote', 'rollback'] as const;
export const HISTORY_RESULTS = ['Succeeded', 'Conflict', 'Failed'] as const;

const vaultPath = (description: string) =>
  Type.String({ description, minLength: 1, maxLength: 512, pattern: VAULT_PATH_PATTERN });

/**
 * CEL on an object with `mount` and the given path field: the location is not in the signing-key tree,
 * whatever way the mount and the path split it (mount `secret`, path `novapos/signing-keys/...`, or a
 * nested mount). Signing keys are per environment and are never promoted.
 */
function outsideSigningKeys(pathField: string, where: string): CelRule {
  return {
    rule: `!has(self.${pathField}) || !('/' + self.mount + '/' + self.${pathField} + '/').contains('/novapos/signing-keys/')`,
    message: `${where}: must not be under novapos/signing-keys/ — signing keys are per environment and are never promoted (each environment's SigningKeyRotation makes its own)`,
    fieldPath: `.${pathField}`,
    reason: 'FieldValueForbidden',
  };
}

const KeyName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_.*-]+$' });

export const OverrideSchema = Type.Object(
  {
    key: Type.String({
      description: 'The key in the target secret whose value comes from valueFrom instead of the source.',
      minLength: 1,
      maxLength: 256,
      pattern: '^[A-Za-z0-9_.-]+$',
    }),
    valueFrom: Type.Object(
      {
        connection: Type.Optional(
          Type.String({
            description: "Named Vault connection to read from; default: the target's connection.",
            maxLength: 63,
            pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
          }),
        ),
        mount: VaultMount(),
        path: vaultPath('KV v2 secret path holding the value.'),
        key: Type.String({ description: 'Key within that secret.', minLength: 1, maxLength: 256 }),
      },
      {
        description:
          'Where the override value is read. Always a Vault reference: a literal value cannot be written here.',
        ...cel(outsideSigningKeys('path', 'valueFrom.path')),
      },
    ),
  },
  { description: 'A per-target value taken from another Vault secret.' },
);

export const TargetSchema = Type.Object(
  {
    name: Type.String({
      description: 'Target name used in status and plans, e.g. staging.',
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    }),
    connection: VaultConnection(),
    mount: VaultMount(),
    path: vaultPath(
      'KV v2 path to write. When the source is a prefix this is a prefix too: each source secret lands at the same relative path under it.',
    ),
    overrides: Type.Optional(
      Type.Array(OverrideSchema, {
        description: 'Keys whose value in this target comes from another Vault path.',
        maxItems: 32,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['key'],
      }),
    ),
  },
  {
    description: 'One place the source is mirrored to.',
    ...cel(outsideSigningKeys('path', 'target path')),
  },
);

export const SecretPromotionSpecSchema = Type.Object(
  {
    source: Type.Object(
      {
        connection: VaultConnection(),
        mount: VaultMount(),
        path: Type.Optional(
          vaultPath('One KV v2 secret to promote, e.g. novapos/auth. Exactly one of path and prefix.'),
        ),
        prefix: Type.Optional(
          vaultPath(
            'Promote every secret under this folder (recursively), e.g. novapos. Anything under novapos/signing-keys/ is always skipped. Exactly one of path and prefix.',
          ),
        ),
        version: Type.Optional(
          Type.Integer({
            description: 'Pin this KV v2 version of the source path; default: the latest. Only with path.',
            minimum: 1,
          }),
        ),
      },
      {
        description: 'Where the secrets come from.',
        ...cel(
          {
            rule: 'has(self.path) != has(self.prefix)',
            message: 'set exactly one of spec.source.path (one secret) or spec.source.prefix (a folder)',
            reason: 'FieldValueRequired',
          },
          {
            rule: '!has(self.version) || has(self.path)',
            message: 'spec.source.version pins one secret: it needs spec.source.path, not a prefix',
            fieldPath: '.version',
            reason: 'FieldValueForbidden',
          },
          outsideSigningKeys('path', 'source path'),
          outsideSigningKeys('prefix', 'source prefix'),
        ),
      },
    ),
    targets: Type.Array(TargetSchema, {
      description: 'Where the secrets go (e.g. staging, then prod in another SecretPromotion).',
      minItems: 1,
      maxItems: 8,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      ...cel({
        rule: 'self.all(t, self.exists_one(u, u.connection == t.connection && u.mount == t.mount && u.path == t.path))',
        // Not reason FieldValueDuplicate: the apiserver drops the message for that reason.
        message: 'two targets write the same connection, mount and path: give each target its own location',
      }),
    }),
    keys: Type.Optional(
      Type.Object(
        {
          include: Type.Optional(
            Type.Array(KeyName, {
              description:
                'Only these keys are promoted (names, * matches any characters); default: all keys.',
              maxItems: 64,
              'x-kubernetes-list-type': 'set',
            }),
          ),
          exclude: Type.Optional(
            Type.Array(KeyName, {
              description:
                'These keys are never promoted (names, * matches any characters); applied after include.',
              maxItems: 64,
              'x-kubernetes-list-type': 'set',
            }),
          ),
        },
        { description: 'Which keys of each source secret are promoted.' },
      ),
    ),
    requireApproval: Type.Boolean({
      description:
        'Apply a plan only after the security.novapos.io/approve-plan annotation names its hash (the approver is recorded by admission). A new source version needs a new approval.',
      default: true,
    }),
    mode: StringEnum(PROMOTION_MODES, {
      description:
        'oneShot applies one plan and then only re-plans when the spec changes; continuous re-plans whenever the source changes (checked every interval).',
      default: 'oneShot',
    }),
    interval: Duration('How often a continuous promotion checks the source for a new version.', {
      default: '5m',
    }),
    prune: Type.Boolean({
      description:
        'Remove keys from the targets that are no longer in the source (plan action remove). Default: keep them.',
      default: false,
    }),
    deletionPolicy: StringEnum(DELETION_POLICIES, {
      description:
        'What happens to the target secrets when this resource is deleted: Retain leaves them; Delete soft-deletes the versions it wrote (recoverable with vault kv undelete).',
      default: 'Retain',
    }),
    suspend: Type.Boolean({ description: 'Stop planning and applying, as on a CronJob.', default: false }),
  },
  {
    description: 'What to mirror, where to, and under which approval rules.',
    ...cel({
      rule: "self.targets.all(t, t.connection != self.source.connection || t.mount != self.source.mount || (has(self.source.path) ? t.path != self.source.path : !((t.path + '/').startsWith(self.source.prefix + '/') || (self.source.prefix + '/').startsWith(t.path + '/'))))",
      message:
        'a target must differ from the source: on the same connection and mount a target path must not equal the source path, nor lie inside or contain the source prefix',
      fieldPath: '.targets',
    }),
  },
);

export const KeyChangeSchema = Type.Object(
  {
    key: Type.String({ description: 'Key name.' }),
    action: StringEnum(CHANGE_ACTIONS, { description: 'What applying the plan does to this key.' }),
    sourceFingerprint: Type.Optional(
      Type.String({
        description:
          'Keyed HMAC-SHA256 fingerprint of the value to write (never the value): equal fingerprints mean equal values.',
      }),
    ),
    targetFingerprint: Type.Optional(
      Type.String({ description: 'Keyed HMAC-SHA256 fingerprint of the current target value.' }),
    ),
  },
  { description: 'One key of the diff.' },
);

export const PlanEntrySchema = Type.Object(
  {
    target: Type.String({ description: 'Target name.' }),
    sourcePath: Type.String({ description: 'Source secret path.' }),
    sourceVersion: Type.Integer({ description: 'Pinned source KV v2 version.', minimum: 0 }),
    targetPath: Type.String({ description: 'Target secret path.' }),
    targetVersion: Type.Integer({
      description:
        'Target KV v2 version the plan was made against (0: absent); the write is check-and-set on it.',
      minimum: 0,
    }),
    changes: Type.Array(KeyChangeSchema, { description: 'Per-key diff.' }),
  },
  { description: 'The diff for one source secret and one target.' },
);

export const PlanSchema = Type.Object(
  {
    hash: Type.String({
      description:
        'Hash over the entries, including every pinned version; the approve-plan annotation names it.',
    }),
    createdAt: Timestamp('When the plan was computed.'),
    fingerprintKeyId: Type.Optional(
      Type.String({ description: 'Identifies which HMAC key made the fingerprints (not the key itself).' }),
    ),
    entries: Type.Array(PlanEntrySchema, { description: 'One entry per source secret and target.' }),
    summary: Type.Object(
      {
        add: Type.Integer({ minimum: 0, description: 'Keys to add.' }),
        change: Type.Integer({ minimum: 0, description: 'Keys to change.' }),
        remove: Type.Integer({ minimum: 0, description: 'Keys to remove.' }),
        unchanged: Type.Integer({ minimum: 0, description: 'Keys already equal.' }),
      },
      { description: 'Counts over all entries.' },
    ),
  },
  { description: 'What applying would change. Values never appear: only keyed fingerprints.' },
);

export const PromotionWriteSchema = Type.Object(
  {
    target: Type.String({ description: 'Target name.' }),
    path: Type.String({ description: 'Target secret path.' }),
    previousVersion: Type.Integer({
      description: 'Target version before the write (0: absent); rollback restores it.',
      minimum: 0,
    }),
    version: Type.Integer({ description: 'Target version the write created.', minimum: 0 }),
  },
  { description: 'One check-and-set write.' },
);

export const SecretPromotionStatusSchema = Type.Object(
  {
    observedGeneration,
    conditions: Type.Optional(ConditionsSchema),
    phase: Type.Optional(
      StringEnum(PROMOTION_PHASES, {
        description: 'Where the promotion stands; conditions have the detail.',
      }),
    ),
    plan: Type.Optional(PlanSchema),
    approval: Type.Optional(
      Type.Object(
        {
          planHash: Type.String({ description: 'The plan hash approved by the approve-plan annotation.' }),
          approvedBy: Type.Optional(
            Type.String({
              description:
                'Who set the annotation, as stamped by admission (security.novapos.io/approved-by).',
            }),
          ),
          approvedAt: Type.Optional(Timestamp('When the operator saw the approval.')),
        },
        { description: 'The approval in force.' },
      ),
    ),
    lastPromotion: Type.Optional(
      Type.Object(
        {
          planHash: Type.String({ description: 'Plan that was applied.' }),
          promotedAt: Timestamp('When it was applied.'),
          approvedBy: Type.Optional(Type.String({ description: 'Who approved it.' })),
          writes: Type.Array(PromotionWriteSchema, {
            description: 'Each write, with the version it replaced.',
          }),
        },
        { description: 'The last applied plan; rollback restores the versions it replaced.' },
      ),
    ),
    conflicts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            target: Type.String({ description: 'Target name.' }),
            path: Type.String({ description: 'Target secret path.' }),
            plannedVersion: Type.Integer({ description: 'Version the plan expected.', minimum: 0 }),
            currentVersion: Type.Integer({ description: 'Version found at apply time.', minimum: 0 }),
            changedKeys: Type.Optional(
              Type.Array(Type.String(), {
                description: 'Keys whose value changed since the plan (names only).',
              }),
            ),
          },
          { description: 'A target edited after the plan was made.' },
        ),
        { description: 'Targets changed since the plan; nothing was overwritten. Re-plan and re-approve.' },
      ),
    ),
    history: Type.Optional(
      Type.Array(
        Type.Object(
          {
            action: StringEnum(HISTORY_ACTIONS, { description: 'promote or rollback.' }),
            planHash: Type.String({ description: 'Plan applied.' }),
            at: Timestamp('When.'),
            approvedBy: Type.Optional(Type.String({ description: 'Approver.' })),
            result: StringEnum(HISTORY_RESULTS, { description: 'Outcome.' }),
            message: Type.Optional(Type.String({ description: 'Detail.' })),
          },
          { description: 'One apply or rollback.' },
        ),
        { description: 'Recent applies and rollbacks, newest first (bounded).' },
      ),
    ),
    lastHandled: Type.Optional(
      Type.Object(
        {
          approvePlan: lastHandledFields.approvePlan,
          rollback: lastHandledFields.rollback,
          reconcileNow: lastHandledFields.reconcileNow,
        },
        { description: LAST_HANDLED_DESCRIPTION },
      ),
    ),
  },
  { description: 'Plan, approval and history. Never contains secret values.' },
);

export type SecretPromotionSpec = Static<typeof SecretPromotionSpecSchema>;
export type SecretPromotionStatus = Static<typeof SecretPromotionStatusSchema>;
export type PromotionTarget = Static<typeof TargetSchema>;
export type PromotionOverride = Static<typeof OverrideSchema>;
export type PromotionPlan = Static<typeof PlanSchema>;
export type PlanEntry = Static<typeof PlanEntrySchema>;
export type KeyChange = Static<typeof KeyChangeSchema>;
export type PromotionPhase = NonNullable<SecretPromotionStatus['phase']>;

export interface SecretPromotion {
  apiVersion: typeof API_VERSION;
  kind: 'SecretPromotion';
  metadata: V1ObjectMeta;
  spec: SecretPromotionSpec;
  status?: SecretPromotionStatus;
}

export const secretPromotion: KindDefinition = {
  kind: 'SecretPromotion',
  plural: 'secretpromotions',
  singular: 'secretpromotion',
  shortNames: ['spromo'],
  description:
    'SecretPromotion mirrors Vault KV v2 secrets from one environment to another (dev -> staging -> prod). It shows a plan as keyed fingerprints, applies it with check-and-set once security.novapos.io/approve-plan names its hash, records provenance in custom_metadata, and rolls back with security.novapos.io/rollback. Never copies anything under novapos/signing-keys/.',
  spec: SecretPromotionSpecSchema,
  status: SecretPromotionStatusSchema,
  printerColumns: [
    { name: 'Source', type: 'string', jsonPath: '.spec.source.path', description: 'Source secret path.' },
    { name: 'Plan', type: 'string', jsonPath: '.status.plan.hash', description: 'Current plan hash.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase.' },
    {
      name: 'Approved By',
      type: 'string',
      jsonPath: '.status.approval.approvedBy',
      description: 'Approver of the current plan.',
    },
    {
      name: 'Last Promoted',
      type: 'date',
      jsonPath: '.status.lastPromotion.promotedAt',
      description: 'When the last plan was applied.',
    },
    READY_COLUMN,
    {
      name: 'Prefix',
      type: 'string',
      jsonPath: '.spec.source.prefix',
      description: 'Source prefix.',
      priority: 1,
    },
    AGE_COLUMN,
  ],
  source: 'operator/src/api/v1alpha1/secretpromotion.ts',
};
