import { API_VERSION } from './meta.js';
import type {
  DisasterRecoveryDrill,
  DisasterRecoveryDrillSpec,
  SecretPromotion,
  SecretPromotionSpec,
  SigningKeyRotation,
  SigningKeyRotationSpec,
  TenantRateLimit,
  TenantRateLimitSpec,
} from './v1alpha1/index.js';

/**
 * Builders of valid resources, defaults filled in as the apiserver would, for unit tests of pure logic:
 * `aSigningKeyRotation({ leadTime: '1h' })`. Override only what the test is about.
 */

const meta = (name: string, generation = 1) => ({
  name,
  namespace: 'novapos',
  generation,
  uid: `uid-${name}`,
});

export function aSigningKeyRotationSpec(
  overrides: Partial<SigningKeyRotationSpec> = {},
): SigningKeyRotationSpec {
  return {
    issuer: 'https://auth.novapos.local',
    audiences: ['novapos-api'],
    algorithm: 'ES256',
    rotationInterval: '720h',
    leadTime: '48h',
    maxTokenTTL: '15m',
    jwksCacheTTL: '5m',
    vault: { connection: 'local', mount: 'secret' },
    suspend: false,
    ...overrides,
  };
}

export function aSigningKeyRotation(
  overrides: Partial<SigningKeyRotationSpec> = {},
  name = 'auth',
): SigningKeyRotation {
  return {
    apiVersion: API_VERSION,
    kind: 'SigningKeyRotation',
    metadata: meta(name),
    spec: aSigningKeyRotationSpec(overrides),
  };
}

export function aTenantRateLimitSpec(overrides: Partial<TenantRateLimitSpec> = {}): TenantRateLimitSpec {
  return {
    tenant: 'acme',
    requestsPerMinute: 60,
    burst: 10,
    enforcement: 'enforce',
    redisFailureMode: 'failOpen',
    ...overrides,
  };
}

export function aTenantRateLimit(
  overrides: Partial<TenantRateLimitSpec> = {},
  name = 'acme',
): TenantRateLimit {
  return {
    apiVersion: API_VERSION,
    kind: 'TenantRateLimit',
    metadata: meta(name),
    spec: aTenantRateLimitSpec(overrides),
  };
}

export function aSecretPromotionSpec(overrides: Partial<SecretPromotionSpec> = {}): SecretPromotionSpec {
  return {
    source: { connection: 'local', mount: 'secret', path: 'novapos/auth' },
    targets: [{ name: 'staging', connection: 'staging', mount: 'secret', path: 'novapos/auth' }],
    requireApproval: true,
    mode: 'oneShot',
    interval: '5m',
    prune: false,
    deletionPolicy: 'Retain',
    suspend: false,
    ...overrides,
  };
}

export function aSecretPromotion(
  overrides: Partial<SecretPromotionSpec> = {},
  name = 'auth-to-staging',
): SecretPromotion {
  return {
    apiVersion: API_VERSION,
    kind: 'SecretPromotion',
    metadata: meta(name),
    spec: aSecretPromotionSpec(overrides),
  };
}

export function aDisasterRecoveryDrillSpec(
  overrides: Partial<DisasterRecoveryDrillSpec> = {},
): DisasterRecoveryDrillSpec {
  return {
    schedule: '0 6 1 1,4,7,10 *',
    suspend: false,
    concurrencyPolicy: 'Forbid',
    historyLimit: 5,
    syntheticTenant: {
      tenant: 'drill-synthetic',
      credentialsSecretRef: { name: 'drill-synthetic-credentials' },
      requestsPerMinute: 6000,
      redisFailureMode: 'failClosed',
    },
    steps: {
      keyRotation: {
        signingKeyRotationRef: { name: 'auth' },
        syntheticRps: 20,
        duration: '2m',
        maxFailedRequests: 0,
      },
      redisOutage: { tenant: 'drill-synthetic', duration: '1m' },
      alertDelivery: { receiver: 'drill', timeout: '2m' },
    },
    ...overrides,
  };
}

export function aDisasterRecoveryDrill(
  overrides: Partial<DisasterRecoveryDrillSpec> = {},
  name = 'quarterly',
): DisasterRecoveryDrill {
  return {
    apiVersion: API_VERSION,
    kind: 'DisasterRecoveryDrill',
    metadata: meta(name),
    spec: aDisasterRecoveryDrillSpec(overrides),
  };
}
