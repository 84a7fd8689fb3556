import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Doc, examples, type Kubectl, kubectlAs, yaml } from './kubectl.js';

/**
 * The generated CRDs in a real kube-apiserver (the shared one, which installs crds/ at start): examples
 * apply, kubectl explain shows the descriptions, printer columns show status, and the schema and CEL rules
 * reject bad resources with a message that names the field.
 */

const env = inject('env');
const kube = env.kube!;
const ns = `api-crds-${process.pid}`;
let kubectl: Kubectl;
let valid: Map<string, Doc>;

beforeAll(async () => {
  kubectl = kubectlAs(kube.kubectlPath, kube.kubeconfig);
  valid = examples(ns);
  await kubectl(['create', 'namespace', ns]);
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
});

const apply = (doc: Doc, ...flags: string[]) =>
  kubectl(['apply', '--server-side', '--field-manager=api-test', ...flags, '-f', '-'], yaml(doc));

let counter = 0;
/** A copy of the example of `kind`, renamed, with `edit` applied. */
function variant(kind: string, edit: (d: Doc) => void): Doc {
  const doc = structuredClone(valid.get(kind)!);
  doc.metadata.name = `${doc.metadata.name}-${++counter}`;
  edit(doc);
  return doc;
}

describe('examples/', () => {
  it('applies every example as it is written', async () => {
    expect([...valid.keys()].sort()).toEqual([
      'DisasterRecoveryDrill',
      'SecretPromotion',
      'SigningKeyRotation',
      'TenantRateLimit',
    ]);
    for (const doc of valid.values()) {
      expect(await apply(doc)).toMatch(/serverside-applied/);
    }
    const stored = JSON.parse(await kubectl(['get', 'skr', 'auth', '-n', ns, '-o', 'json']));
    expect(stored.spec.rotationInterval).toBe('720h');
  });

  it('fills in defaults the example leaves out', async () => {
    const stored = JSON.parse(await kubectl(['get', 'spromo', 'auth-to-staging', '-n', ns, '-o', 'json']));
    expect(stored.spec.interval).toBe('5m');
    expect(stored.spec.suspend).toBe(false);
    expect(stored.spec.targets[0].overrides[0].valueFrom.mount).toBe('secret');
  });
});

describe('kubectl explain', () => {
  it('prints the field descriptions', async () => {
    const leadTime = await kubectl(['explain', 'signingkeyrotation.spec.leadTime']);
    expect(leadTime).toContain('FIELD: leadTime <string>');
    expect(leadTime.replace(/\s+/g, ' ')).toContain(
      'Pre-publication lead time: a new key sits in JWKS for this long before it signs',
    );
    const valueFrom = await kubectl(['explain', 'spromo.spec.targets.overrides.valueFrom']);
    expect(valueFrom.replace(/\s+/g, ' ')).toContain('a literal value cannot be written here');
    const drill = await kubectl(['explain', 'drdrill.spec.concurrencyPolicy']);
    expect(drill).toMatch(/ENUM:\s+Forbid\s+Allow/);
  });
});

describe('printer columns', () => {
  it('show the active kid, next rotation and readiness from status', async () => {
    await kubectl([
      'patch',
      'skr',
      'auth',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          activeKid: 'kid-2026-03',
          nextRotationTime: '2026-04-01T00:00:00Z',
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              observedGeneration: 1,
              lastTransitionTime: '2026-03-01T00:00:00Z',
              reason: 'Reconciled',
              message: '',
            },
          ],
        },
      }),
    ]);
    const table = await kubectl(['get', 'skr', '-n', ns]);
    const [header, row] = table.trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['NAME', 'ACTIVE KID', 'NEXT ROTATION', 'READY', 'AGE']);
    expect(row).toMatch(/^auth\s+kid-2026-03\s+2026-04-01T00:00:00Z\s+True\s+\d+s/);
  });

  it.each([
    ['trl', ['NAME', 'TENANT', 'RPM', 'MODE', 'APPLIED', 'READY', 'AGE'], /^acme\s+acme\s+60\s+enforce\s+/],
    [
      'spromo',
      ['NAME', 'SOURCE', 'PLAN', 'PHASE', 'APPROVED BY', 'LAST PROMOTED', 'READY', 'AGE'],
      /^auth-to-staging\s+novapos\/auth\s+/,
    ],
    [
      'drdrill',
      ['NAME', 'SCHEDULE', 'LAST RESULT', 'LAST RUN', 'READY', 'AGE'],
      /^quarterly\s+0 6 1 1,4,7,10 \*\s+/,
    ],
  ])('kubectl get %s shows its columns', async (short, columns, row) => {
    const [header, first] = (await kubectl(['get', short, '-n', ns])).trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(columns);
    expect(first).toMatch(row);
  });

  it('lists every kind under the novapos category', async () => {
    const out = await kubectl(['get', 'novapos', '-n', ns, '-o', 'name']);
    expect(out.trim().split('\n').sort()).toEqual([
      'disasterrecoverydrill.security.novapos.io/quarterly',
      'secretpromotion.security.novapos.io/auth-to-staging',
      'signingkeyrotation.security.novapos.io/auth',
      'tenantratelimit.security.novapos.io/acme',
    ]);
  });
});

/** [what is wrong, kind, edit, what the apiserver must say (field path included)]. */
const rejected: [string, string, (d: Doc) => void, RegExp][] = [
  [
    'a rotation without an issuer',
    'SigningKeyRotation',
    (d) => delete d.spec.issuer,
    /spec\.issuer: Required value/,
  ],
  [
    'an algorithm outside the four',
    'SigningKeyRotation',
    (d) => (d.spec.algorithm = 'HS256'),
    /spec\.algorithm: Unsupported value: "HS256": supported values: "RS256", "PS256", "ES256", "EdDSA"/,
  ],
  [
    'both an interval and a schedule',
    'SigningKeyRotation',
    (d) => (d.spec.schedule = '0 3 1 * *'),
    /spec: Required value: set exactly one of spec\.rotationInterval .* or spec\.schedule/,
  ],
  [
    'neither an interval nor a schedule',
    'SigningKeyRotation',
    (d) => delete d.spec.rotationInterval,
    /set exactly one of spec\.rotationInterval/,
  ],
  [
    'a duration in days',
    'SigningKeyRotation',
    (d) => (d.spec.rotationInterval = '30d'),
    /spec\.rotationInterval: Invalid value: "30d": spec\.rotationInterval in body should match/,
  ],
  [
    'a zero lead time',
    'SigningKeyRotation',
    (d) => (d.spec.leadTime = '0s'),
    /spec\.leadTime: Invalid value: "0s": must be a positive duration/,
  ],
  [
    'an interval no longer than the lead time',
    'SigningKeyRotation',
    (d) => (d.spec.rotationInterval = '48h'),
    /spec\.rotationInterval: Invalid value: .*must be longer than spec\.leadTime/,
  ],
  [
    'a lead time shorter than the JWKS cache TTL',
    'SigningKeyRotation',
    (d) => {
      d.spec.leadTime = '2m';
      d.spec.jwksCacheTTL = '5m';
    },
    /spec\.leadTime: Invalid value: .*must be at least spec\.jwksCacheTTL/,
  ],
  [
    'a key size for ES256',
    'SigningKeyRotation',
    (d) => (d.spec.keySize = 4096),
    /spec\.keySize: Forbidden: spec\.keySize applies only to RS256 and PS256/,
  ],
  [
    'a service URL that is not http(s)',
    'SigningKeyRotation',
    (d) => (d.spec.services[0].statusURL = 'auth-service:8085/keys/status'),
    /spec\.services\[0\]\.statusURL: Invalid value/,
  ],
  [
    'a negative burst',
    'TenantRateLimit',
    (d) => (d.spec.burst = -1),
    /spec\.burst: Invalid value: -1: .*greater than or equal to 0/,
  ],
  [
    'zero requests per minute',
    'TenantRateLimit',
    (d) => (d.spec.requestsPerMinute = 0),
    /spec\.requestsPerMinute: Invalid value: 0: .*greater than or equal to 1/,
  ],
  [
    'an unknown enforcement mode',
    'TenantRateLimit',
    (d) => (d.spec.enforcement = 'block'),
    /spec\.enforcement: Unsupported value: "block": supported values: "enforce", "shadow"/,
  ],
  [
    'localFallback mode without its limit',
    'TenantRateLimit',
    (d) => delete d.spec.localFallback,
    /spec\.localFallback: Required value: spec\.localFallback is required when spec\.redisFailureMode is localFallback/,
  ],
  [
    'a local fallback limit with failOpen',
    'TenantRateLimit',
    (d) => (d.spec.redisFailureMode = 'failOpen'),
    /spec\.localFallback: Forbidden: spec\.localFallback is used only when spec\.redisFailureMode is localFallback/,
  ],
  [
    'a route that does not start with /',
    'TenantRateLimit',
    (d) => (d.spec.routes[0].pathPrefix = 'api/exports'),
    /spec\.routes\[0\]\.pathPrefix: Invalid value: "api\/exports"/,
  ],
  [
    'a source under novapos/signing-keys/',
    'SecretPromotion',
    (d) => (d.spec.source.path = 'novapos/signing-keys/novapos/auth/keyset'),
    /spec\.source\.path: Forbidden: source path: must not be under novapos\/signing-keys\//,
  ],
  [
    'a source prefix that is the signing-key tree',
    'SecretPromotion',
    (d) => {
      delete d.spec.source.path;
      d.spec.source.prefix = 'novapos/signing-keys';
    },
    /spec\.source\.prefix: Forbidden: source prefix: must not be under novapos\/signing-keys\//,
  ],
  [
    'a signing-key path split between mount and path',
    'SecretPromotion',
    (d) => {
      d.spec.source.mount = 'secret/novapos';
      d.spec.source.path = 'signing-keys/novapos/auth/keyset';
    },
    /spec\.source\.path: Forbidden: .*novapos\/signing-keys\//,
  ],
  [
    'a target under novapos/signing-keys/',
    'SecretPromotion',
    (d) => (d.spec.targets[0].path = 'novapos/signing-keys/staging'),
    /spec\.targets\[0\]\.path: Forbidden: target path: must not be under novapos\/signing-keys\//,
  ],
  [
    'an override read from the signing-key tree',
    'SecretPromotion',
    (d) => (d.spec.targets[0].overrides[0].valueFrom.path = 'novapos/signing-keys/novapos/auth/k1'),
    /spec\.targets\[0\]\.overrides\[0\]\.valueFrom\.path: Forbidden/,
  ],
  [
    'a target that is the source',
    'SecretPromotion',
    (d) => (d.spec.targets[0].connection = 'local'),
    /spec\.targets: Invalid value: .*a target must differ from the source/,
  ],
  [
    'a target inside the source prefix',
    'SecretPromotion',
    (d) => {
      delete d.spec.source.path;
      d.spec.source.prefix = 'novapos';
      d.spec.targets[0].connection = 'local';
      d.spec.targets[0].path = 'novapos/staging';
    },
    /spec\.targets: Invalid value: .*nor lie inside or contain the source prefix/,
  ],
  [
    'two targets writing the same place',
    'SecretPromotion',
    (d) => d.spec.targets.push({ ...d.spec.targets[0], name: 'staging-again' }),
    /spec\.targets: Invalid value: .*two targets write the same connection, mount and path/,
  ],
  [
    'a version pinned on a prefix',
    'SecretPromotion',
    (d) => {
      delete d.spec.source.path;
      d.spec.source.prefix = 'novapos';
      d.spec.source.version = 3;
    },
    /spec\.source\.version: Forbidden: spec\.source\.version pins one secret/,
  ],
  [
    'a path with a .. segment',
    'SecretPromotion',
    (d) => (d.spec.source.path = 'novapos/../novapos/signing-keys'),
    /spec\.source\.path: Invalid value: "novapos\/\.\.\/novapos\/signing-keys"/,
  ],
  [
    'a literal override value',
    'SecretPromotion',
    (d) => (d.spec.targets[0].overrides[0].value = 'redis://staging:6379/0'),
    /\.spec\.targets\[name="staging"\]\.overrides\[key="KAFKA_BOOTSTRAP"\]\.value: field not declared in schema/,
  ],
  [
    'a drill without steps',
    'DisasterRecoveryDrill',
    (d) => (d.spec.steps = {}),
    /spec\.steps: Required value: spec\.steps needs at least one of keyRotation, redisOutage, auditCatchUp or alertDelivery/,
  ],
  [
    'an outage naming both a TenantRateLimit and a tenant',
    'DisasterRecoveryDrill',
    (d) => (d.spec.steps.redisOutage.tenantRateLimitRef = { name: 'acme' }),
    /spec\.steps\.redisOutage: Required value: set exactly one of steps\.redisOutage\.tenantRateLimitRef or steps\.redisOutage\.tenant/,
  ],
  [
    'a drill lead time not shorter than the load',
    'DisasterRecoveryDrill',
    (d) => (d.spec.steps.keyRotation.leadTimeOverride = '10m'),
    /spec\.steps\.keyRotation\.leadTimeOverride: Invalid value: .*must be shorter than steps\.keyRotation\.duration/,
  ],
  [
    'an odd number of audit catch-up events (each API key gives two)',
    'DisasterRecoveryDrill',
    (d) => (d.spec.steps.auditCatchUp = { adminTokenSecretRef: { name: 'drill-audit-admin' }, events: 7 }),
    /spec\.steps\.auditCatchUp\.events: Invalid value: 7: spec\.steps\.auditCatchUp\.events in body should be a multiple of 2/,
  ],
  [
    'an audit pause longer than the audit-service allows',
    'DisasterRecoveryDrill',
    (d) =>
      (d.spec.steps.auditCatchUp = { adminTokenSecretRef: { name: 'drill-audit-admin' }, maxPause: '2h' }),
    /spec\.steps\.auditCatchUp\.maxPause: Invalid value: .*must be between 1s and 1h/,
  ],
  [
    'an unknown concurrency policy',
    'DisasterRecoveryDrill',
    (d) => (d.spec.concurrencyPolicy = 'Replace'),
    /spec\.concurrencyPolicy: Unsupported value: "Replace": supported values: "Forbid", "Allow"/,
  ],
  [
    'a schedule in words',
    'DisasterRecoveryDrill',
    (d) => (d.spec.schedule = 'quarterly'),
    /spec\.schedule: Invalid value: "quarterly": spec\.schedule in body should match/,
  ],
];

describe('rejected resources', () => {
  it.each(rejected)('refuses %s, naming the field', async (_what, kind, edit, message) => {
    const doc = variant(kind, edit);
    const err = await apply(doc, '--dry-run=server').then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err, 'the apiserver accepted it').toBeDefined();
    expect(err).toMatch(message);
    // A malformed duration is reported by its pattern alone, without CEL evaluation noise.
    expect(err).not.toMatch(/type conversion error|no such key/);
  });

  it('keeps a TenantRateLimit tenant immutable', async () => {
    const doc = variant('TenantRateLimit', (d) => (d.spec.tenant = 'globex'));
    await apply(doc);
    doc.spec.tenant = 'initech';
    await expect(apply(doc)).rejects.toThrow(
      /spec\.tenant: Invalid value: "initech": spec\.tenant is immutable/,
    );
  });
});
