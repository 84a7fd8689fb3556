import { describe, expect, it } from 'vitest';
import { aSigningKeyRotationSpec } from '../../api/fixtures.js';
import type { Condition } from '../../api/index.js';
import {
  type ConditionFields,
  degradedCondition,
  deprecatedCondition,
  readyCondition,
  rotatingCondition,
  servicesLoadedCondition,
} from './status-conditions.js';

const key = { kid: 'k1', state: 'active' as const, algorithm: 'EdDSA', createdAt: '2025-01-01T00:00:00Z' };
const at10 = new Date('2025-01-01T00:10:00Z');
const byUrl = aSigningKeyRotationSpec({
  services: [{ name: 'auth-service', statusURL: 'http://auth.test/keys/status' }],
});
const byRef = aSigningKeyRotationSpec({
  services: [{ name: 'auth-service', serviceRef: { name: 'auth-service' } }],
});
const none = aSigningKeyRotationSpec({ services: [] });
const deprecatedBefore: Condition[] = [
  {
    type: 'Deprecated',
    status: 'True',
    reason: 'StatusURLDeprecated',
    message: '',
    lastTransitionTime: '2025-01-01T00:00:00Z',
    observedGeneration: 1,
  },
];
const services = (
  s: Partial<{
    allLoaded: boolean;
    notLoaded: string[];
    refused: string[];
    unreachable: string[];
    late: string[];
  }>,
) => ({
  allLoaded: true,
  notLoaded: [],
  refused: [],
  unreachable: [],
  late: [],
  ...s,
});

type Case = [
  name: string,
  got: () => ConditionFields | undefined,
  expected: Partial<ConditionFields> | undefined,
];
const cases: Case[] = [
  [
    'Ready: a published active key signs, with the next rotation',
    () => readyCondition(key, false, at10),
    { status: 'True', reason: 'Reconciled', message: 'key k1 signs; next rotation at 2025-01-01T00:10:00Z' },
  ],
  [
    'Ready: no active key yet',
    () => readyCondition(undefined, false, undefined),
    { status: 'False', reason: 'Initializing' },
  ],
  [
    'Ready: an active key whose secret is lost is not ready',
    () => readyCondition(key, true, at10),
    { status: 'False' },
  ],
  [
    'Deprecated: a statusURL is named with what to use instead',
    () => deprecatedCondition(byUrl, []),
    { status: 'True', reason: 'StatusURLDeprecated' },
  ],
  [
    'Deprecated: cleared once no statusURL is used',
    () => deprecatedCondition(byRef, deprecatedBefore),
    { status: 'False', reason: 'Reconciled' },
  ],
  ['Deprecated: never written when it was never set', () => deprecatedCondition(byRef, []), undefined],
  [
    'Rotating: the rotation under way',
    () => rotatingCondition({ reason: 'WaitingForLeadTime', message: 'm' }, false, at10, 120_000),
    { status: 'True', reason: 'WaitingForLeadTime', message: 'm' },
  ],
  [
    'Rotating: suspended',
    () => rotatingCondition(undefined, true, at10, 120_000),
    { status: 'False', reason: 'Suspended' },
  ],
  [
    'Rotating: idle says when the next key is published',
    () => rotatingCondition(undefined, false, at10, 120_000),
    { status: 'False', reason: 'Idle', message: 'next key is published at 2025-01-01T00:08:00Z' },
  ],
  [
    'ServicesLoaded: none listed',
    () => servicesLoadedCondition(none, services({ allLoaded: false })),
    { status: 'True', reason: 'AllServicesLoaded', message: 'no services are listed' },
  ],
  [
    'ServicesLoaded: all loaded',
    () => servicesLoadedCondition(byRef, services({})),
    { status: 'True', reason: 'AllServicesLoaded' },
  ],
  [
    'ServicesLoaded: a service lagging',
    () => servicesLoadedCondition(byRef, services({ allLoaded: false, notLoaded: ['auth-service'] })),
    { status: 'False', reason: 'ServicesNotLoaded', message: 'not loaded the current key set: auth-service' },
  ],
  [
    'ServicesLoaded: an unreachable service is named',
    () =>
      servicesLoadedCondition(byRef, services({ allLoaded: false, notLoaded: ['a'], unreachable: ['a'] })),
    {
      status: 'False',
      reason: 'ServiceUnreachable',
      message: 'not loaded the current key set: a (unreachable: a)',
    },
  ],
  [
    'ServicesLoaded: a refused endpoint wins over unreachable',
    () =>
      servicesLoadedCondition(
        byRef,
        services({ allLoaded: false, notLoaded: ['a', 'b'], refused: ['a'], unreachable: ['b'] }),
      ),
    {
      reason: 'EndpointNotAllowed',
      message: 'not loaded the current key set: a, b (not allowed, never called: a) (unreachable: b)',
    },
  ],
  [
    'Degraded: the active key material is missing',
    () => degradedCondition('k1', services({}), { serviceLoadTimeoutMs: 120_000 }),
    {
      status: 'True',
      reason: 'KeyMaterialMissing',
      message: 'the secret of active key k1 is missing in Vault',
    },
  ],
  [
    'Degraded: services past the load deadline',
    () =>
      degradedCondition(undefined, services({ late: ['auth-service'] }), { serviceLoadTimeoutMs: 120_000 }),
    {
      status: 'True',
      reason: 'ServicesNotLoaded',
      message:
        'auth-service did not load the current key set within 120s; the next rotation step waits for them',
    },
  ],
  [
    'Degraded: all answer',
    () => degradedCondition(undefined, services({}), { serviceLoadTimeoutMs: 120_000 }),
    { status: 'False', reason: 'Reconciled' },
  ],
];

describe('SigningKeyRotation conditions', () => {
  for (const [name, got, expected] of cases) {
    it(name, () => {
      if (expected === undefined) expect(got()).toBeUndefined();
      else expect(got()).toMatchObject(expected);
    });
  }
});
