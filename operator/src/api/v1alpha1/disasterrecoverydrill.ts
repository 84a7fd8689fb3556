import type { V1ObjectMeta } from '@kubernetes/client-node';
import { type Static, Type } from '@sinclair/typebox';
import { ConditionsSchema } from '../conditions.js';
import type { API_VERSION } from '../meta.js';
import {
  AGE_COLUMN,
  Cron,
  cel,
  Duration,
  durationsParse,
  type KindDefinition,
  READY_COLUMN,
  StringEnum,
  StringMap,
  Timestamp,
  TimeZone,
} from '../schema.js';
import {
  LAST_HANDLED_DESCRIPTION,
  LocalObjectReference,
  lastHandledFields,
  observedGeneration,
} from './common.js';
import { REDIS_FAILURE_MODES } from './tenantratelimit.js';

export const CONCURRENCY_POLICIES = ['Forbid', 'Allow'] as const;
export const DRILL_STEPS = ['keyRotation', 'redisOutage', 'auditCatchUp', 'alertDelivery'] as const;
export const RUN_RESULTS = ['Running', 'Succeeded', 'Failed'] as const;
export const STEP_RESULTS = ['Running', 'Passed', 'Failed', 'Skipped'] as const;
export const RUN_TRIGGERS = ['schedule', 'runNow'] as const;

export const KeyRotationStepSchema = Type.Object(
  {
    signingKeyRotationRef: LocalObjectReference('The SigningKeyRotation to rotate (same namespace).'),
    leadTimeOverride: Type.Optional(
      Duration(
        "Lead time for the drill's rotation instead of the resource's, so the new key starts signing while load runs. Shorter than duration.",
      ),
    ),
    syntheticRps: Type.Integer({
      description: 'Synthetic token verifications per second through the gateway during the rotation.',
      minimum: 1,
      maximum: 1000,
      default: 20,
    }),
    duration: Duration('How long the synthetic load runs.', { default: '2m' }),
    maxFailedRequests: Type.Integer({
      description: 'Synthetic requests that may fail verification before the step fails (default 0: none).',
      minimum: 0,
      default: 0,
    }),
  },
  {
    description: 'Rotate the signing keys under synthetic load and check that no valid token is rejected.',
    ...cel({
      rule: `!has(self.leadTimeOverride) || !(${durationsParse('self.leadTimeOverride', 'self.duration')}) || duration(self.leadTimeOverride) < duration(self.duration)`,
      message:
        'steps.keyRotation.leadTimeOverride must be shorter than steps.keyRotation.duration, so the new key signs while the load runs',
      fieldPath: '.leadTimeOverride',
    }),
  },
);

export const RedisOutageStepSchema = Type.Object(
  {
    tenantRateLimitRef: Type.Optional(
      LocalObjectReference('The TenantRateLimit whose tenant is put in outage.'),
    ),
    tenant: Type.Optional(
      Type.String({
        description: 'A synthetic tenant id to put in outage (the gateway default limits apply).',
        minLength: 1,
        maxLength: 63,
        pattern: '^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$',
      }),
    ),
    duration: Duration(
      'How long the simulated outage lasts (the TTL of novapos:ratelimit:fault:{<tenant>}).',
      {
        default: '1m',
      },
    ),
    syntheticRps: Type.Optional(
      Type.Integer({
        description: 'Synthetic requests per second through the gateway during the outage (default 5).',
        minimum: 1,
        maximum: 200,
      }),
    ),
  },
  {
    description:
      "Simulate a Redis outage for one tenant at the gateway and check it behaves as the tenant's redisFailureMode says.",
    ...cel({
      rule: 'has(self.tenantRateLimitRef) != has(self.tenant)',
      message: 'set exactly one of steps.redisOutage.tenantRateLimitRef or steps.redisOutage.tenant',
      reason: 'FieldValueRequired',
    }),
  },
);

export const AlertDeliveryStepSchema = Type.Object(
  {
    receiver: Type.String({
      description: 'Alertmanager receiver the synthetic alert must reach, e.g. pagerduty-critical.',
      minLength: 1,
      maxLength: 128,
    }),
    timeout: Duration('How long to wait for delivery before the step fails.', { default: '2m' }),
  },
  { description: 'Fire a synthetic alert and confirm the receiver got it.' },
);

/** The key of the admin token Secret the auditCatchUp step reads unless `key` says otherwise. */
export const AUDIT_ADMIN_TOKEN_KEY = 'token';

export const AuditCatchUpStepSchema = Type.Object(
  {
    adminTokenSecretRef: Type.Object(
      {
        name: Type.String({
          description: 'Name of the Secret, in the same namespace as the drill.',
          minLength: 1,
          maxLength: 253,
          pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
        }),
        key: Type.String({
          description: `Key in the Secret holding the token (default "${AUDIT_ADMIN_TOKEN_KEY}").`,
          minLength: 1,
          maxLength: 253,
          pattern: '^[-._a-zA-Z0-9]+$',
          default: AUDIT_ADMIN_TOKEN_KEY,
        }),
      },
      {
        description:
          "A Secret (same namespace) holding the audit-service's AUDIT_ADMIN_TOKEN, the bearer token of its pause/resume routes. The operator must be allowed to read it (the chart's drills.credentialsSecrets).",
      },
    ),
    events: Type.Integer({
      description:
        'Synthetic security events produced while the consumer is paused: the synthetic admin creates and revokes events/2 API keys through auth-service (api_key_created and api_key_revoked on audit.events.v1).',
      minimum: 2,
      maximum: 200,
      multipleOf: 2,
      default: 20,
    }),
    maxPause: Duration(
      "The longest the consumer stays paused: the pause the audit-service is asked for (it resumes by itself after it, even if the operator dies). Producing the events must fit in it; at most the audit-service's AUDIT_MAX_PAUSE_SECONDS.",
      { default: '1m' },
    ),
    timeout: Duration(
      'After the resume, how long the consumer has to chain every synthetic event and bring its lag back down.',
      { default: '2m' },
    ),
  },
  {
    description:
      "Pause the audit-service's consumer through its authenticated admin route (never by stopping Kafka), let the synthetic admin produce security events, resume, and check every one is chained, the lag is back down and the chain verifies within the timeout.",
    ...cel({
      rule: `!has(self.maxPause) || !(${durationsParse('self.maxPause')}) || (duration(self.maxPause) >= duration('1s') && duration(self.maxPause) <= duration('1h'))`,
      message:
        'steps.auditCatchUp.maxPause must be between 1s and 1h (the audit-service refuses pauses longer than its AUDIT_MAX_PAUSE_SECONDS, at most 3600)',
      fieldPath: '.maxPause',
    }),
  },
);

/** The synthetic tenant's id always starts with this, so a drill can never touch a real tenant. */
export const SYNTHETIC_TENANT_PREFIX = 'drill-';

/** A tenant a drill may break on purpose: named with the synthetic prefix and more than the prefix. */
export function isSyntheticTenant(tenant: string | undefined): tenant is string {
  return (
    typeof tenant === 'string' &&
    tenant.startsWith(SYNTHETIC_TENANT_PREFIX) &&
    tenant.length > SYNTHETIC_TENANT_PREFIX.length
  );
}

export const SyntheticTenantSchema = Type.Object(
  {
    tenant: Type.String({
      description: `Tenant id of the synthetic tenant; must start with "${SYNTHETIC_TENANT_PREFIX}" (a drill refuses any other tenant).`,
      minLength: 7,
      maxLength: 63,
      pattern: `^${SYNTHETIC_TENANT_PREFIX}[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`,
    }),
    credentialsSecretRef: LocalObjectReference(
      "A Secret (same namespace) with the synthetic tenant admin's email, password and totpSecret, made by the setup step in docs/drills.md.",
    ),
    requestsPerMinute: Type.Integer({
      description: 'Limit of the TenantRateLimit the drill creates for the synthetic tenant during a run.',
      minimum: 60,
      maximum: 1_000_000,
      default: 6000,
    }),
    redisFailureMode: StringEnum(REDIS_FAILURE_MODES, {
      description:
        'redisFailureMode of the TenantRateLimit the drill creates: what the redisOutage step expects clients to see.',
      default: 'failClosed',
    }),
    localFallbackRequestsPerMinute: Type.Optional(
      Type.Integer({
        description: 'Per-replica limit when redisFailureMode is localFallback (default requestsPerMinute).',
        minimum: 1,
        maximum: 1_000_000,
      }),
    ),
  },
  {
    description:
      'The synthetic tenant the keyRotation, redisOutage and auditCatchUp steps act as. Required by those steps. The drill creates its TenantRateLimit and an API key for each run and removes them afterwards.',
  },
);

export const DisasterRecoveryDrillSpecSchema = Type.Object(
  {
    schedule: Cron('When the drill runs, e.g. quarterly "0 6 1 1,4,7,10 *".'),
    timeZone: Type.Optional(TimeZone('Time zone of schedule.')),
    suspend: Type.Boolean({
      description: 'Skip scheduled runs, as on a CronJob; the run-now annotation still starts one.',
      default: false,
    }),
    concurrencyPolicy: StringEnum(CONCURRENCY_POLICIES, {
      description: 'Forbid skips a run while another is in progress; Allow starts it anyway.',
      default: 'Forbid',
    }),
    historyLimit: Type.Integer({
      description: 'Finished runs kept in status.lastRuns.',
      minimum: 1,
      maximum: 20,
      default: 5,
    }),
    syntheticTenant: Type.Optional(SyntheticTenantSchema),
    steps: Type.Object(
      {
        keyRotation: Type.Optional(KeyRotationStepSchema),
        redisOutage: Type.Optional(RedisOutageStepSchema),
        auditCatchUp: Type.Optional(AuditCatchUpStepSchema),
        alertDelivery: Type.Optional(AlertDeliveryStepSchema),
      },
      {
        description:
          'The steps, run in this order: keyRotation, redisOutage, auditCatchUp, alertDelivery. At least one.',
        ...cel({
          rule: 'has(self.keyRotation) || has(self.redisOutage) || has(self.auditCatchUp) || has(self.alertDelivery)',
          message: 'spec.steps needs at least one of keyRotation, redisOutage, auditCatchUp or alertDelivery',
          reason: 'FieldValueRequired',
        }),
      },
    ),
  },
  { description: 'When the drill runs and what it exercises.' },
);

export const StepReportSchema = Type.Object(
  {
    name: StringEnum(DRILL_STEPS, { description: 'Step name.' }),
    result: StringEnum(STEP_RESULTS, { description: 'Outcome of the step.' }),
    startedAt: Type.Optional(Timestamp('When the step started.')),
    finishedAt: Type.Optional(Timestamp('When the step finished.')),
    message: Type.Optional(
      Type.String({ description: 'What was checked and, on failure, what went wrong.' }),
    ),
    figures: Type.Optional(
      StringMap(Type.Number(), {
        description:
          'Measured figures, e.g. requests, failedRequests, p99LatencySeconds, rejected, deliverySeconds, events, catchUpSeconds, maxLag.',
      }),
    ),
  },
  { description: 'One step of a run.' },
);

export const DrillRunSchema = Type.Object(
  {
    id: Type.String({ description: 'Run id.' }),
    trigger: StringEnum(RUN_TRIGGERS, { description: 'schedule or the run-now annotation.' }),
    startedAt: Timestamp('When the run started.'),
    finishedAt: Type.Optional(Timestamp('When the run finished.')),
    result: StringEnum(RUN_RESULTS, { description: 'Running, Succeeded (every step passed) or Failed.' }),
    reason: Type.Optional(
      Type.String({
        description: 'Why a run failed as a whole, e.g. OperatorRestarted, SetupFailed, Aborted.',
      }),
    ),
    message: Type.Optional(Type.String({ description: 'What happened to the run as a whole.' })),
    owner: Type.Optional(Type.String({ description: 'The operator replica that ran it.' })),
    touched: Type.Optional(
      Type.Object(
        {
          tenant: Type.Optional(Type.String({ description: 'The synthetic tenant.' })),
          tenantRateLimit: Type.Optional(
            Type.String({ description: 'The TenantRateLimit the run created.' }),
          ),
          signingKeyRotation: Type.Optional(
            Type.String({ description: 'The SigningKeyRotation it rotated.' }),
          ),
        },
        {
          description:
            'What the run may change, recorded before it starts, so cleanup after an operator restart finds it.',
        },
      ),
    ),
    steps: Type.Array(StepReportSchema, { description: 'Per-step report.' }),
  },
  { description: 'One drill run.' },
);

export const DisasterRecoveryDrillStatusSchema = Type.Object(
  {
    observedGeneration,
    conditions: Type.Optional(ConditionsSchema),
    lastScheduleTime: Type.Optional(Timestamp('When a run was last started by the schedule.')),
    nextScheduleTime: Type.Optional(Timestamp('When the schedule starts the next run.')),
    lastRunTime: Type.Optional(Timestamp('When the last finished run started.')),
    lastResult: Type.Optional(
      StringEnum(RUN_RESULTS, { description: 'Result of the last run (Running while one is in progress).' }),
    ),
    lastSuccessfulTime: Type.Optional(Timestamp('When the last successful run finished.')),
    activeRuns: Type.Optional(Type.Array(Type.String(), { description: 'Ids of runs in progress.' })),
    lastRuns: Type.Optional(
      Type.Array(DrillRunSchema, { description: 'Recent runs, newest first, at most spec.historyLimit.' }),
    ),
    lastHandled: Type.Optional(
      Type.Object(
        { runNow: lastHandledFields.runNow, reconcileNow: lastHandledFields.reconcileNow },
        { description: LAST_HANDLED_DESCRIPTION },
      ),
    ),
  },
  { description: 'Runs and their reports.' },
);

export type DisasterRecoveryDrillSpec = Static<typeof DisasterRecoveryDrillSpecSchema>;
export type DisasterRecoveryDrillStatus = Static<typeof DisasterRecoveryDrillStatusSchema>;
export type DrillRun = Static<typeof DrillRunSchema>;
export type StepReport = Static<typeof StepReportSchema>;
export type DrillStepName = StepReport['name'];
export type SyntheticTenant = Static<typeof SyntheticTenantSchema>;
export type AuditCatchUpStep = Static<typeof AuditCatchUpStepSchema>;

export interface DisasterRecoveryDrill {
  apiVersion: typeof API_VERSION;
  kind: 'DisasterRecoveryDrill';
  metadata: V1ObjectMeta;
  spec: DisasterRecoveryDrillSpec;
  status?: DisasterRecoveryDrillStatus;
}

export const disasterRecoveryDrill: KindDefinition = {
  kind: 'DisasterRecoveryDrill',
  plural: 'disasterrecoverydrills',
  singular: 'disasterrecoverydrill',
  shortNames: ['drdrill'],
  description:
    'DisasterRecoveryDrill runs a scheduled drill: rotate signing keys under synthetic load, simulate a Redis outage for one tenant at the gateway, pause the audit-service consumer and confirm it catches up, fire a synthetic alert and confirm delivery. Each step is reported pass/fail with figures in status, Events and metrics. security.novapos.io/run-now starts a run at once.',
  spec: DisasterRecoveryDrillSpecSchema,
  status: DisasterRecoveryDrillStatusSchema,
  printerColumns: [
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule', description: 'Cron schedule.' },
    {
      name: 'Last Result',
      type: 'string',
      jsonPath: '.status.lastResult',
      description: 'Result of the last run.',
    },
    {
      name: 'Last Run',
      type: 'date',
      jsonPath: '.status.lastRunTime',
      description: 'When the last run started.',
    },
    READY_COLUMN,
    {
      name: 'Suspend',
      type: 'boolean',
      jsonPath: '.spec.suspend',
      description: 'Scheduled runs paused.',
      priority: 1,
    },
    AGE_COLUMN,
  ],
  source: 'operator/src/api/v1alpha1/disasterrecoverydrill.ts',
};
