import { aSecretPromotionSpec, aSigningKeyRotationSpec } from '../../operator/src/api/fixtures.js';
import type { DisasterRecoveryDrill } from '../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import type { SecretPromotion } from '../../operator/src/api/v1alpha1/secretpromotion.js';
import type {
  SigningKey,
  SigningKeyRotation,
  SigningKeyRotationStatus,
} from '../../operator/src/api/v1alpha1/signingkeyrotation.js';
import type { TenantRateLimit } from '../../operator/src/api/v1alpha1/tenantratelimit.js';

/** A fixed clock for the screens: 2026-12-03 10:00 UTC. */
export const NOW = new Date('2026-12-03T10:00:00Z');
export const at = (iso: string) => new Date(iso).toISOString().replace('.000Z', 'Z');

export function aKey(kid: string, state: SigningKey['state'], times: Partial<SigningKey> = {}): SigningKey {
  return { kid, state, algorithm: 'ES256', createdAt: at('2026-11-01T10:00:00Z'), ...times };
}

/** A SigningKeyRotation with one retired, one active and one next key, unless `status` says otherwise. */
export function aRotation(
  status: Partial<SigningKeyRotationStatus> = {},
  annotations: Record<string, string> = {},
): SigningKeyRotation {
  return {
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'SigningKeyRotation',
    metadata: { name: 'auth', namespace: 'novapos', annotations, generation: 1 },
    spec: aSigningKeyRotationSpec(),
    status: {
      activeKid: 'k2',
      nextKid: 'k3',
      keysetHash: 'sha256:0123456789abcdef0123',
      nextRotationTime: at('2026-12-04T10:00:00Z'),
      lastRotationTime: at('2026-11-04T10:00:00Z'),
      lastRotationReason: 'scheduled',
      keys: [
        aKey('k1', 'retired', {
          publishedAt: at('2026-10-03T10:00:00Z'),
          activatedAt: at('2026-10-05T10:00:00Z'),
          retiredAt: at('2026-11-04T10:00:00Z'),
          // Kept while integration-gateway has not loaded the set that no longer signs with it.
          removeAfter: at('2026-12-03T10:20:00Z'),
        }),
        aKey('k2', 'active', {
          publishedAt: at('2026-11-02T10:00:00Z'),
          activatedAt: at('2026-11-04T10:00:00Z'),
        }),
        aKey('k3', 'next', {
          createdAt: at('2026-12-02T10:00:00Z'),
          publishedAt: at('2026-12-02T10:00:00Z'),
        }),
      ],
      services: [
        {
          name: 'auth-service',
          loaded: true,
          keysetHash: 'sha256:0123456789abcdef0123',
          loadedAt: at('2026-12-02T10:00:05Z'),
          lastCheckedAt: at('2026-12-03T09:59:30Z'),
        },
        {
          name: 'integration-gateway',
          loaded: false,
          message: 'reports an older key set',
          lastCheckedAt: at('2026-12-03T09:59:30Z'),
        },
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Idle',
          message: 'k2 signs',
          lastTransitionTime: at('2026-11-04T10:00:00Z'),
          observedGeneration: 1,
        },
        {
          type: 'ServicesLoaded',
          status: 'False',
          reason: 'WaitingForServices',
          message: 'integration-gateway has not loaded the set',
          lastTransitionTime: at('2026-12-02T10:00:00Z'),
          observedGeneration: 1,
        },
        {
          type: 'Rotating',
          status: 'True',
          reason: 'LeadTime',
          message: 'k3 published',
          lastTransitionTime: at('2026-12-02T10:00:00Z'),
          observedGeneration: 1,
        },
      ],
      ...status,
    },
  };
}

export function aPromotion(
  status: Partial<NonNullable<SecretPromotion['status']>> = {},
  annotations: Record<string, string> = {},
): SecretPromotion {
  return {
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'SecretPromotion',
    metadata: {
      name: 'auth-to-staging',
      namespace: 'promotions',
      annotations,
      resourceVersion: '42',
      generation: 1,
    },
    spec: aSecretPromotionSpec({
      source: { connection: 'dev', mount: 'secret', path: 'novapos/auth/config' },
      targets: [{ name: 'staging', connection: 'staging', mount: 'secret', path: 'novapos/auth/config' }],
    }),
    status: {
      phase: 'AwaitingApproval',
      plan: {
        hash: 'plan-abc123',
        createdAt: at('2026-12-03T09:55:00Z'),
        fingerprintKeyId: 'fpk-1',
        summary: { add: 1, change: 1, remove: 0, unchanged: 1 },
        entries: [
          {
            target: 'staging',
            sourcePath: 'novapos/auth/config',
            sourceVersion: 3,
            targetPath: 'novapos/auth/config',
            targetVersion: 2,
            changes: [
              {
                key: 'DB_PASSWORD',
                action: 'change',
                sourceFingerprint: 'hmac-sha256:aaaaaaaaaaaaaaaaaaaaaaaa',
                targetFingerprint: 'hmac-sha256:bbbbbbbbbbbbbbbbbbbbbbbb',
              },
              { key: 'NEW_FLAG', action: 'add', sourceFingerprint: 'hmac-sha256:cccccccccccccccccccccccc' },
              {
                key: 'REGION',
                action: 'unchanged',
                sourceFingerprint: 'hmac-sha256:dddddddddddddddddddddddd',
                targetFingerprint: 'hmac-sha256:dddddddddddddddddddddddd',
              },
            ],
          },
        ],
      },
      ...status,
    },
  };
}

export function aRateLimit(status: Partial<NonNullable<TenantRateLimit['status']>> = {}): TenantRateLimit {
  return {
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'TenantRateLimit',
    metadata: { name: 'acme', namespace: 'tenants', generation: 2 },
    spec: {
      tenant: 'acme',
      requestsPerMinute: 600,
      burst: 100,
      enforcement: 'enforce',
      redisFailureMode: 'localFallback',
      localFallback: { requestsPerMinute: 100, burst: 10 },
      routes: [{ pathPrefix: '/v1/payments', requestsPerMinute: 60, burst: 0 }],
    },
    status: {
      appliedGeneration: 2,
      publishedAt: at('2026-12-03T09:50:00Z'),
      acknowledgedAt: at('2026-12-03T09:50:01Z'),
      acknowledgedReplicas: 2,
      ...status,
    },
  };
}

export function aDrill(
  status: Partial<NonNullable<DisasterRecoveryDrill['status']>> = {},
): DisasterRecoveryDrill {
  return {
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'DisasterRecoveryDrill',
    metadata: { name: 'quarterly', namespace: 'novapos' },
    spec: {
      schedule: '0 6 1 1,4,7,10 *',
      suspend: false,
      concurrencyPolicy: 'Forbid',
      historyLimit: 5,
      steps: { alertDelivery: { receiver: 'pagerduty-critical', timeout: '2m' } },
    },
    status: {
      lastResult: 'Failed',
      nextScheduleTime: at('2027-01-01T06:00:00Z'),
      lastRuns: [
        {
          id: 'run-2',
          trigger: 'runNow',
          startedAt: at('2026-12-03T09:40:00Z'),
          finishedAt: at('2026-12-03T09:42:00Z'),
          result: 'Failed',
          steps: [
            {
              name: 'keyRotation',
              result: 'Passed',
              startedAt: at('2026-12-03T09:40:00Z'),
              finishedAt: at('2026-12-03T09:41:00Z'),
              figures: { requests: 1200, failedRequests: 0 },
            },
            {
              name: 'alertDelivery',
              result: 'Failed',
              startedAt: at('2026-12-03T09:41:00Z'),
              finishedAt: at('2026-12-03T09:42:00Z'),
              message: 'pagerduty-critical got nothing in 1m',
            },
          ],
        },
      ],
      ...status,
    },
  };
}
