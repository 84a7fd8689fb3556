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
  Timestamp,
  TimeZone,
} from '../schema.js';
import {
  LAST_HANDLED_DESCRIPTION,
  lastHandledFields,
  observedGeneration,
  VaultConnection,
  VaultMount,
} from './common.js';

export const SIGNING_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export const KEY_STATES = ['next', 'active', 'retired', 'revoked'] as const;
export const ROTATION_REASONS = ['initial', 'scheduled', 'manual', 'emergency'] as const;

export const SigningKeyRotationSpecSchema = Type.Object(
  {
    issuer: Type.String({
      description: 'The JWT issuer (iss claim) these keys sign for, e.g. https://auth.novapos.local.',
      minLength: 1,
      maxLength: 512,
      pattern: '^https?://[^\\s]+$',
    }),
    audiences: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
      description:
        'Audiences (aud claim) of the tokens signed with these keys, recorded in the key-set document.',
      minItems: 1,
      maxItems: 16,
      'x-kubernetes-list-type': 'set',
    }),
    algorithm: StringEnum(SIGNING_ALGORITHMS, {
      description:
        'JWS algorithm of the keys: RS256 or PS256 (RSA, size from keySize), ES256 (P-256) or EdDSA (Ed25519). Changing it takes effect at the next rotation.',
      default: 'ES256',
    }),
    keySize: Type.Optional(
      Type.Union([Type.Literal(2048), Type.Literal(3072), Type.Literal(4096)], {
        description:
          'RSA modulus size in bits for RS256 and PS256 (default 3072). Not allowed for ES256 and EdDSA.',
      }),
    ),
    rotationInterval: Type.Optional(
      Duration(
        'Rotate on a fixed interval: a new key is published leadTime before the active key reaches this age. Exactly one of rotationInterval and schedule.',
      ),
    ),
    schedule: Type.Optional(
      Cron(
        'Rotate on a schedule: at each time the new key starts signing; it is published leadTime before. Exactly one of rotationInterval and schedule.',
      ),
    ),
    timeZone: Type.Optional(TimeZone('Time zone of schedule.')),
    leadTime: Duration(
      'Pre-publication lead time: a new key sits in JWKS for this long before it signs, so every verifier has it. At least jwksCacheTTL.',
      { default: '24h' },
    ),
    maxTokenTTL: Duration(
      'Longest lifetime of a token signed with these keys. A retired key stays in JWKS for maxTokenTTL + jwksCacheTTL after it stops signing.',
      { default: '15m' },
    ),
    jwksCacheTTL: Duration(
      'How long verifiers may cache the JWKS (auth-service sends it as Cache-Control max-age).',
      { default: '5m' },
    ),
    vault: Type.Object(
      {
        connection: VaultConnection(),
        mount: VaultMount(
          'KV v2 mount holding the keys at <mount>/novapos/signing-keys/<namespace>/<name>/<kid> and the key-set document at .../keyset.',
        ),
      },
      { description: 'Where the private keys and the key-set document are kept.', default: {} },
    ),
    services: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({
              description:
                'Service name, used in status and in the novapos_signing_key_services_loaded metric.',
              minLength: 1,
              maxLength: 63,
              pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
            }),
            serviceRef: Type.Optional(
              Type.Object(
                {
                  name: Type.String({
                    description: 'Name of the Kubernetes Service.',
                    minLength: 1,
                    maxLength: 63,
                    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                  }),
                  namespace: Type.Optional(
                    Type.String({
                      description:
                        "Its namespace; default the resource's. Another namespace must be allowed in the operator configuration (keyStatusEndpoints.serviceNamespaces).",
                      minLength: 1,
                      maxLength: 63,
                      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                    }),
                  ),
                },
                {
                  description:
                    "The Kubernetes Service whose ready replicas must load each key set: the operator finds them through the Service's EndpointSlices and reads GET /keys/status on the port named http (or admin when there is none), POST /keys/reload on the port named admin (or http when there is none), on every ready replica.",
                },
              ),
            ),
            statusURL: Type.Optional(
              Type.String({
                description:
                  "Deprecated, use serviceRef. The service's GET /keys/status URL; called only when the operator configuration allows it (an in-cluster Service name of an allowed namespace, or an origin in keyStatusEndpoints.allowedOrigins).",
                maxLength: 512,
                pattern: '^https?://[^\\s]+$',
              }),
            ),
            reloadURL: Type.Optional(
              Type.String({
                description:
                  "Deprecated, with statusURL. The service's POST /keys/reload URL. Default: statusURL with /keys/status replaced by /keys/reload.",
                maxLength: 512,
                pattern: '^https?://[^\\s]+$',
              }),
            ),
          },
          {
            description: 'A service that must load each new key set.',
            ...cel(
              {
                rule: 'has(self.serviceRef) != has(self.statusURL)',
                message: 'set exactly one of serviceRef and statusURL (statusURL is deprecated)',
              },
              {
                rule: '!has(self.reloadURL) || has(self.statusURL)',
                message: 'reloadURL goes with statusURL only',
              },
            ),
          },
        ),
        {
          description:
            'Services that must load each new key set before a next key may start signing. The operator polls each statusURL and records which have loaded the current set.',
          maxItems: 32,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
        },
      ),
    ),
    suspend: Type.Boolean({
      description:
        'Pause scheduled rotations, as on a CronJob. The rotate-now and revoke-kid annotations still act, so an emergency is never blocked.',
      default: false,
    }),
  },
  {
    description: 'The desired key set: who it signs for, how it rotates, and where the keys live.',
    ...cel(
      {
        rule: 'has(self.rotationInterval) != has(self.schedule)',
        message: 'set exactly one of spec.rotationInterval (e.g. 720h) or spec.schedule (e.g. "0 3 1 * *")',
        reason: 'FieldValueRequired',
      },
      {
        rule: `!has(self.rotationInterval) || !(${durationsParse('self.rotationInterval', 'self.leadTime')}) || duration(self.rotationInterval) > duration(self.leadTime)`,
        message:
          'spec.rotationInterval must be longer than spec.leadTime: each new key is published leadTime before it signs',
        fieldPath: '.rotationInterval',
      },
      {
        rule: `!(${durationsParse('self.leadTime', 'self.jwksCacheTTL')}) || duration(self.leadTime) >= duration(self.jwksCacheTTL)`,
        message:
          'spec.leadTime must be at least spec.jwksCacheTTL, so every cached JWKS holds a new key before it signs',
        fieldPath: '.leadTime',
      },
      {
        rule: "!has(self.keySize) || self.algorithm in ['RS256', 'PS256']",
        message:
          'spec.keySize applies only to RS256 and PS256 (ES256 uses P-256 and EdDSA uses Ed25519): remove it',
        fieldPath: '.keySize',
        reason: 'FieldValueForbidden',
      },
      {
        rule: '!has(self.timeZone) || has(self.schedule)',
        message: 'spec.timeZone applies only to spec.schedule: remove it or use a schedule',
        fieldPath: '.timeZone',
        reason: 'FieldValueForbidden',
      },
    ),
  },
);

export const SigningKeySchema = Type.Object(
  {
    kid: Type.String({ description: 'Key id (JWS kid header).' }),
    state: StringEnum(KEY_STATES, {
      description:
        'next: published, not signing; active: signing; retired: published for verification only; revoked: removed from JWKS at once.',
    }),
    algorithm: Type.String({ description: 'JWS algorithm of this key.' }),
    createdAt: Timestamp('When the key was generated and written to Vault.'),
    publishedAt: Type.Optional(Timestamp('When the key first appeared in the JWKS.')),
    activatedAt: Type.Optional(Timestamp('When the key started signing.')),
    retiredAt: Type.Optional(Timestamp('When the key stopped signing.')),
    removeAfter: Type.Optional(
      Timestamp('When a retired key leaves the JWKS: retiredAt + maxTokenTTL + jwksCacheTTL.'),
    ),
    revokedAt: Type.Optional(Timestamp('When the key was revoked.')),
  },
  { description: 'One key of the set and its lifecycle timestamps.' },
);

export const ServiceLoadStatusSchema = Type.Object(
  {
    name: Type.String({ description: 'Service name from spec.services.' }),
    loaded: Type.Boolean({ description: 'Whether the service reports the current key-set hash.' }),
    keysetHash: Type.Optional(Type.String({ description: 'The key-set hash the service last reported.' })),
    loadedAt: Type.Optional(Timestamp('When the service says it loaded that key set.')),
    lastCheckedAt: Type.Optional(Timestamp('When the operator last polled the service.')),
    message: Type.Optional(
      Type.String({ description: 'Why the service is not loaded or could not be reached.' }),
    ),
  },
  { description: 'What one service reported on GET /keys/status.' },
);

export const SigningKeyRotationStatusSchema = Type.Object(
  {
    observedGeneration,
    conditions: Type.Optional(ConditionsSchema),
    activeKid: Type.Optional(Type.String({ description: 'Kid of the key that signs now.' })),
    nextKid: Type.Optional(Type.String({ description: 'Kid of the published key that signs next, if any.' })),
    keysetHash: Type.Optional(
      Type.String({ description: 'Hash of the current key-set document (sha256 of {jwks, activeKid}).' }),
    ),
    keysetPath: Type.Optional(
      Type.String({
        description: 'Vault path of the key-set document, <mount>/novapos/signing-keys/<ns>/<name>/keyset.',
      }),
    ),
    keys: Type.Optional(
      Type.Array(SigningKeySchema, {
        description: 'Every key not yet removed, with its state.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['kid'],
      }),
    ),
    lastRotationTime: Type.Optional(Timestamp('When the current active key started signing.')),
    lastRotationReason: Type.Optional(
      StringEnum(ROTATION_REASONS, { description: 'What started the last rotation.' }),
    ),
    nextRotationTime: Type.Optional(
      Timestamp('When the next key will start signing (its publication is leadTime earlier).'),
    ),
    services: Type.Optional(
      Type.Array(ServiceLoadStatusSchema, {
        description: 'Which services have loaded the current key set.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    lastHandled: Type.Optional(
      Type.Object(
        {
          rotateNow: lastHandledFields.rotateNow,
          revokeKid: lastHandledFields.revokeKid,
          reconcileNow: lastHandledFields.reconcileNow,
        },
        { description: LAST_HANDLED_DESCRIPTION },
      ),
    ),
  },
  { description: 'The key set as the operator last saw it. Public data only: no key material.' },
);

export type SigningKeyRotationSpec = Static<typeof SigningKeyRotationSpecSchema>;
export type SigningKeyRotationStatus = Static<typeof SigningKeyRotationStatusSchema>;
export type SigningKey = Static<typeof SigningKeySchema>;
export type SigningKeyState = SigningKey['state'];
export type SigningAlgorithm = SigningKeyRotationSpec['algorithm'];
export type ServiceLoadStatus = Static<typeof ServiceLoadStatusSchema>;

export interface SigningKeyRotation {
  apiVersion: typeof API_VERSION;
  kind: 'SigningKeyRotation';
  metadata: V1ObjectMeta;
  spec: SigningKeyRotationSpec;
  status?: SigningKeyRotationStatus;
}

export const signingKeyRotation: KindDefinition = {
  kind: 'SigningKeyRotation',
  plural: 'signingkeyrotations',
  singular: 'signingkeyrotation',
  shortNames: ['skr'],
  description:
    'SigningKeyRotation manages one JWT signing key set for one issuer: keys are generated into Vault, published in JWKS for a lead time before they sign, and retired only when no token they signed can still be valid. Annotations: security.novapos.io/rotate-now (rotate now), with security.novapos.io/emergency set to the same value (skip the lead time for that one rotation), security.novapos.io/revoke-kid (revoke a key at once).',
  spec: SigningKeyRotationSpecSchema,
  status: SigningKeyRotationStatusSchema,
  printerColumns: [
    {
      name: 'Active Kid',
      type: 'string',
      jsonPath: '.status.activeKid',
      description: 'Kid of the signing key.',
    },
    {
      name: 'Next Rotation',
      type: 'string',
      jsonPath: '.status.nextRotationTime',
      description: 'When the next key starts signing.',
    },
    READY_COLUMN,
    {
      name: 'Algorithm',
      type: 'string',
      jsonPath: '.spec.algorithm',
      description: 'JWS algorithm.',
      priority: 1,
    },
    { name: 'Issuer', type: 'string', jsonPath: '.spec.issuer', description: 'JWT issuer.', priority: 1 },
    AGE_COLUMN,
  ],
  source: 'operator/src/api/v1alpha1/signingkeyrotation.ts',
};
