import { describe, expect, it } from 'vitest';
import { aDisasterRecoveryDrillSpec, aSecretPromotionSpec, aSigningKeyRotationSpec } from './fixtures.js';
import {
  checkCron,
  checkTimeZone,
  describeProblems,
  isSigningKeyPath,
  keyMatches,
  keySelected,
  nextScheduleTime,
  normalizeVaultPath,
  shortestScheduleGapMs,
  validateDisasterRecoveryDrillSpec,
  validateSecretPromotionSpec,
  validateSigningKeyRotationSpec,
} from './validation.js';

const now = new Date('2026-03-01T00:00:00Z');
const HOUR = 3_600_000;

describe('schedules', () => {
  it.each(['0 3 * * 1', '*/15 * * * *', '0 6 1 1,4,7,10 *', '@daily', '0 3 * * MON'])(
    'accepts %s',
    (cron) => {
      expect(checkCron(cron, 'spec.schedule')).toBeUndefined();
    },
  );

  it.each([
    ['61 * * * *', /61/],
    ['0 0 30 2 *', /day of month/],
    ['a b c d e', /Invalid characters/],
    ['H 3 * * *', /hashed/],
  ])('refuses %s naming the field and the fix', (cron, detail) => {
    const problem = checkCron(cron, 'spec.schedule');
    expect(problem?.field).toBe('spec.schedule');
    expect(problem?.message).toMatch(detail);
    expect(problem?.message).toMatch(/five fields|write the minute/);
  });

  it('checks time zones against the IANA database', () => {
    expect(checkTimeZone('Europe/Berlin', 'spec.timeZone')).toBeUndefined();
    expect(checkTimeZone(undefined, 'spec.timeZone')).toBeUndefined();
    expect(checkTimeZone('Mars/Olympus', 'spec.timeZone')?.message).toMatch(/not a known IANA time zone/);
  });

  it('finds the shortest gap between runs over a year', () => {
    expect(shortestScheduleGapMs('*/15 * * * *', undefined, now)).toBe(15 * 60_000);
    // Quarterly: 1 January to 1 April (2027, no leap day) is the shortest quarter, 90 days.
    expect(shortestScheduleGapMs('0 6 1 1,4,7,10 *', undefined, now)).toBe(90 * 24 * HOUR);
    // Runs on Monday and Tuesday: one day apart, even though most gaps are six days.
    expect(shortestScheduleGapMs('0 3 * * 1,2', undefined, now)).toBe(24 * HOUR);
  });

  it('computes the next run in the schedule time zone', () => {
    expect(nextScheduleTime('0 6 * * *', 'Europe/Berlin', now).toISOString()).toBe(
      '2026-03-01T05:00:00.000Z',
    );
  });
});

describe('Vault paths', () => {
  it('normalizes slashes and refuses dot segments', () => {
    expect(normalizeVaultPath('/novapos//auth/')).toBe('novapos/auth');
    expect(() => normalizeVaultPath('novapos/../signing-keys')).toThrow(/\.\. segment/);
  });

  it.each([
    ['secret', 'novapos/signing-keys/novapos/auth/keyset', true],
    ['secret', 'novapos/signing-keys', true],
    ['secret', '/novapos//signing-keys/x', true],
    ['secret/novapos', 'signing-keys/novapos/auth', true],
    ['kv', 'apps/novapos/signing-keys/x', true],
    ['secret', 'novapos/auth', false],
    ['secret', 'novapos', false],
    ['secret', 'novapos/signing-keys-backup', false],
  ])('%s + %s is in the signing-key tree: %s', (mount, path, expected) => {
    expect(isSigningKeyPath(mount, path)).toBe(expected);
  });
});

describe('key selection', () => {
  it('matches names and * globs only', () => {
    expect(keyMatches('REDIS_URL', 'REDIS_URL')).toBe(true);
    expect(keyMatches('SECURITY_*', 'SECURITY_ALERT_TOPIC')).toBe(true);
    expect(keyMatches('REDIS.URL', 'REDIS_URL')).toBe(false);
  });

  it('applies exclude after include', () => {
    const keys = { include: ['SECURITY_*', 'REDIS_URL'], exclude: ['SECURITY_ALERT_*'] };
    expect(
      ['SECURITY_MFA_ACTIVITY_TOPIC', 'SECURITY_ALERT_TOPIC', 'REDIS_URL', 'KAFKA_BOOTSTRAP'].filter((k) =>
        keySelected(keys, k),
      ),
    ).toEqual(['SECURITY_MFA_ACTIVITY_TOPIC', 'REDIS_URL']);
    expect(keySelected(undefined, 'ANYTHING')).toBe(true);
  });
});

describe('validateSigningKeyRotationSpec', () => {
  it('accepts an interval rotation', () => {
    expect(validateSigningKeyRotationSpec(aSigningKeyRotationSpec(), now)).toEqual([]);
  });

  it('accepts a monthly schedule with a 48h lead time', () => {
    const spec = aSigningKeyRotationSpec({
      rotationInterval: undefined,
      schedule: '0 3 1 * *',
      timeZone: 'Europe/Berlin',
    });
    expect(validateSigningKeyRotationSpec(spec, now)).toEqual([]);
  });

  it('refuses a schedule whose runs are closer together than the lead time', () => {
    const spec = aSigningKeyRotationSpec({
      rotationInterval: undefined,
      schedule: '0 3 * * 1,2',
      leadTime: '48h',
    });
    const [problem] = validateSigningKeyRotationSpec(spec, now);
    expect(problem).toEqual({
      field: 'spec.schedule',
      message: expect.stringMatching(
        /as little as 24h apart, not longer than spec.leadTime \(48h\).*shorten leadTime/,
      ),
    });
  });

  it('refuses a schedule that does not parse and an unknown time zone, one problem each', () => {
    const spec = aSigningKeyRotationSpec({
      rotationInterval: undefined,
      schedule: '0 25 * * *',
      timeZone: 'Nowhere/City',
    });
    const problems = validateSigningKeyRotationSpec(spec, now);
    expect(problems.map((p) => p.field)).toEqual(['spec.timeZone', 'spec.schedule']);
    expect(describeProblems(problems)).toMatch(/^spec.timeZone: .*; spec.schedule: .*/);
  });
});

describe('validateSecretPromotionSpec', () => {
  it('accepts the auth-to-staging promotion with overrides from a separate path', () => {
    const spec = aSecretPromotionSpec({
      targets: [
        {
          name: 'staging',
          connection: 'staging',
          mount: 'secret',
          path: 'novapos/auth',
          overrides: [
            {
              key: 'REDIS_URL',
              valueFrom: { mount: 'secret', path: 'novapos/staging-overrides/auth', key: 'REDIS_URL' },
            },
          ],
        },
      ],
    });
    expect(validateSecretPromotionSpec(spec)).toEqual([]);
  });

  it('refuses signing-key paths however mount and path split them', () => {
    const spec = aSecretPromotionSpec({
      source: { connection: 'local', mount: 'secret/novapos', path: 'signing-keys/novapos/auth' },
      targets: [{ name: 'staging', connection: 'staging', mount: 'secret', path: 'novapos/signing-keys/x' }],
    });
    expect(validateSecretPromotionSpec(spec).map((p) => p.field)).toEqual([
      'spec.source.path',
      'spec.targets[0].path',
    ]);
  });

  it('refuses an override that reads the target it writes, or a key that is not promoted', () => {
    const spec = aSecretPromotionSpec({
      keys: { include: ['KAFKA_BOOTSTRAP'] },
      targets: [
        {
          name: 'staging',
          connection: 'staging',
          mount: 'secret',
          path: 'novapos/auth',
          overrides: [
            { key: 'REDIS_URL', valueFrom: { mount: 'secret', path: '/novapos/auth', key: 'REDIS_URL' } },
          ],
        },
      ],
    });
    const problems = validateSecretPromotionSpec(spec);
    expect(problems.map((p) => p.field)).toEqual([
      'spec.targets[0].overrides[0].valueFrom.path',
      'spec.targets[0].overrides[0].key',
    ]);
    expect(problems[0]!.message).toMatch(/reads the target secret itself/);
    expect(problems[1]!.message).toMatch(/add it to spec.keys.include/);
  });

  it('refuses an override that reads signing keys', () => {
    const spec = aSecretPromotionSpec({
      targets: [
        {
          name: 'staging',
          connection: 'staging',
          mount: 'secret',
          path: 'novapos/auth',
          overrides: [
            {
              key: 'K',
              valueFrom: {
                connection: 'local',
                mount: 'secret',
                path: 'novapos/signing-keys/novapos/auth/keyset',
                key: 'jwks',
              },
            },
          ],
        },
      ],
    });
    expect(validateSecretPromotionSpec(spec)[0]?.message).toMatch(/cannot read signing keys/);
  });
});

describe('validateDisasterRecoveryDrillSpec', () => {
  it('accepts the quarterly drill', () => {
    expect(validateDisasterRecoveryDrillSpec(aDisasterRecoveryDrillSpec(), now)).toEqual([]);
  });

  it('refuses steps that take longer than the gap between runs, naming each duration', () => {
    const spec = aDisasterRecoveryDrillSpec({ schedule: '*/5 * * * *' });
    const [problem] = validateDisasterRecoveryDrillSpec(spec, now);
    expect(problem?.field).toBe('spec.schedule');
    expect(problem?.message).toBe(
      'runs as little as 5m apart, but the steps take up to 5m (steps.keyRotation.duration 2m + steps.redisOutage.duration 1m + steps.alertDelivery.timeout 2m): schedule runs further apart or shorten the steps',
    );
  });

  it('refuses a schedule that never parses', () => {
    expect(
      validateDisasterRecoveryDrillSpec(aDisasterRecoveryDrillSpec({ schedule: '0 0 31 4 *' }), now)[0]
        ?.field,
    ).toBe('spec.schedule');
  });
});
