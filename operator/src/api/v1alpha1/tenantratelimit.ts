import type { V1ObjectMeta } from '@kubernetes/client-node';
import { type Static, Type } from '@sinclair/typebox';
import { ConditionsSchema } from '../conditions.js';
import type { API_VERSION } from '../meta.js';
import { AGE_COLUMN, cel, type KindDefinition, READY_COLUMN, StringEnum, Timestamp } from '../schema.js';
import { LAST_HANDLED_DESCRIPTION, lastHandledFields, observedGeneration } from './common.js';

export const ENFORCEMENT_MODES = ['enforce', 'shadow'] as const;
export const REDIS_FAILURE_MODES = ['failOpen', 'failClosed', 'localFallback'] as const;

const MAX_RPM = 1_000_000;

const requestsPerMinute = (description: string) =>
  Type.Integer({ description, minimum: 1, maximum: MAX_RPM });
const burst = (description: string) =>
  Type.Integer({ description, minimum: 0, maximum: MAX_RPM, default: 0 });

export const TenantRateLimitSpecSchema = Type.Object(
  {
    tenant: Type.String({
      description:
        "Tenant id as the gateway sees it (the tid claim / X-Tenant-ID), auth-service's shape: lower case, digits and '-'. One TenantRateLimit per tenant; immutable. Which namespace may set a tenant's limits is the operator configuration's tenantOwners.",
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
      ...cel({
        rule: 'self == oldSelf',
        message: 'spec.tenant is immutable: create a new TenantRateLimit for another tenant',
      }),
    }),
    requestsPerMinute: requestsPerMinute(
      'Requests per minute the tenant may make across all routes and keys.',
    ),
    burst: burst(
      'Extra requests allowed above requestsPerMinute in a short spike: the bucket holds requestsPerMinute + burst.',
    ),
    routes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            pathPrefix: Type.String({
              description:
                'Requests whose path starts with this prefix use this limit; the longest match wins.',
              minLength: 1,
              maxLength: 256,
              pattern: '^/[^\\s]*$',
            }),
            requestsPerMinute: requestsPerMinute('Requests per minute on matching routes.'),
            burst: burst('Extra requests above requestsPerMinute on matching routes.'),
          },
          { description: 'A per-route limit, charged in addition to the tenant limit.' },
        ),
        {
          description: 'Per-route overrides.',
          maxItems: 64,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['pathPrefix'],
        },
      ),
    ),
    apiKeys: Type.Optional(
      Type.Array(
        Type.Object(
          {
            prefix: Type.String({
              description:
                'API keys whose 12-character key prefix (npk_<prefix>_..., lower-case base32; the key_prefix label of gateway metrics) starts with this use this limit: the whole prefix of one key, or its first characters.',
              minLength: 4,
              maxLength: 12,
              pattern: '^[a-z2-7]{4,12}$',
            }),
            requestsPerMinute: requestsPerMinute('Requests per minute for matching API keys.'),
            burst: burst('Extra requests above requestsPerMinute for matching API keys.'),
          },
          { description: 'A per-API-key-prefix limit, charged in addition to the tenant limit.' },
        ),
        {
          description: 'Per-API-key-prefix overrides.',
          maxItems: 64,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['prefix'],
        },
      ),
    ),
    enforcement: StringEnum(ENFORCEMENT_MODES, {
      description:
        'enforce rejects requests over the limit with 429; shadow only counts would-be rejections (gateway_rate_limit_checks_total{outcome="shadow_rejected"}) and rejects nothing.',
      default: 'enforce',
    }),
    redisFailureMode: StringEnum(REDIS_FAILURE_MODES, {
      description:
        'What the gateway does for this tenant while Redis is unreachable: failOpen allows every request, failClosed rejects every request, localFallback limits in process per replica with spec.localFallback.',
      default: 'failOpen',
    }),
    localFallback: Type.Optional(
      Type.Object(
        {
          requestsPerMinute: requestsPerMinute(
            'Requests per minute per gateway replica while Redis is down.',
          ),
          burst: burst('Extra requests per replica above requestsPerMinute while Redis is down.'),
        },
        {
          description:
            'The in-process limit used when redisFailureMode is localFallback. Required then, and only then.',
        },
      ),
    ),
  },
  {
    description: 'The limits for one tenant, pushed to every gateway replica through Redis.',
    ...cel(
      {
        rule: "self.redisFailureMode != 'localFallback' || has(self.localFallback)",
        message: 'spec.localFallback is required when spec.redisFailureMode is localFallback',
        fieldPath: '.localFallback',
        reason: 'FieldValueRequired',
      },
      {
        rule: "self.redisFailureMode == 'localFallback' || !has(self.localFallback)",
        message:
          'spec.localFallback is used only when spec.redisFailureMode is localFallback: remove it or set that mode',
        fieldPath: '.localFallback',
        reason: 'FieldValueForbidden',
      },
    ),
  },
);

export const TenantRateLimitStatusSchema = Type.Object(
  {
    observedGeneration,
    conditions: Type.Optional(ConditionsSchema),
    appliedGeneration: Type.Optional(
      Type.Integer({
        description: 'The generation last written to Redis (novapos:ratelimit:config:{<tenant>}).',
        minimum: 0,
      }),
    ),
    publishedAt: Type.Optional(Timestamp('When that generation was written and announced.')),
    acknowledgedAt: Type.Optional(
      Timestamp('When every live gateway replica had acknowledged appliedGeneration.'),
    ),
    acknowledgedReplicas: Type.Optional(
      Type.Integer({ description: 'Gateway replicas that acknowledged appliedGeneration.', minimum: 0 }),
    ),
    lastHandled: Type.Optional(
      Type.Object(
        { reconcileNow: lastHandledFields.reconcileNow },
        { description: LAST_HANDLED_DESCRIPTION },
      ),
    ),
  },
  { description: 'What the gateway has applied.' },
);

export type TenantRateLimitSpec = Static<typeof TenantRateLimitSpecSchema>;
export type TenantRateLimitStatus = Static<typeof TenantRateLimitStatusSchema>;
export type EnforcementMode = TenantRateLimitSpec['enforcement'];
export type RedisFailureMode = TenantRateLimitSpec['redisFailureMode'];

export interface TenantRateLimit {
  apiVersion: typeof API_VERSION;
  kind: 'TenantRateLimit';
  metadata: V1ObjectMeta;
  spec: TenantRateLimitSpec;
  status?: TenantRateLimitStatus;
}

export const tenantRateLimit: KindDefinition = {
  kind: 'TenantRateLimit',
  plural: 'tenantratelimits',
  singular: 'tenantratelimit',
  shortNames: ['trl'],
  description:
    'TenantRateLimit sets the integration gateway limits for one tenant. The operator writes them to Redis and the gateway applies a change within a second, without restart; deleting the resource restores the default (GATEWAY_RATE_LIMIT_RPM).',
  spec: TenantRateLimitSpecSchema,
  status: TenantRateLimitStatusSchema,
  printerColumns: [
    { name: 'Tenant', type: 'string', jsonPath: '.spec.tenant', description: 'Tenant id.' },
    {
      name: 'RPM',
      type: 'integer',
      jsonPath: '.spec.requestsPerMinute',
      description: 'Requests per minute.',
    },
    { name: 'Mode', type: 'string', jsonPath: '.spec.enforcement', description: 'enforce or shadow.' },
    {
      name: 'Applied',
      type: 'integer',
      jsonPath: '.status.appliedGeneration',
      description: 'Generation the gateway was given.',
    },
    READY_COLUMN,
    { name: 'Burst', type: 'integer', jsonPath: '.spec.burst', description: 'Burst.', priority: 1 },
    {
      name: 'Redis Failure',
      type: 'string',
      jsonPath: '.spec.redisFailureMode',
      description: 'Behaviour while Redis is down.',
      priority: 1,
    },
    AGE_COLUMN,
  ],
  source: 'operator/src/api/v1alpha1/tenantratelimit.ts',
};
