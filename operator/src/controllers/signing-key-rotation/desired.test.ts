import { describe, expect, it } from 'vitest';
import { aSigningKeyRotation } from '../../api/fixtures.js';
import { Annotations, getCondition } from '../../api/index.js';
import {
  buildModel,
  DEFAULT_DECIDE_OPTIONS,
  decide,
  keysetDocumentFor,
  requeueAfter,
  retireWindowMs,
  scheduledRotation,
} from './desired.js';
import { generateSigningKey } from './keys.js';
import { Simulation } from './simulation.test-support.js';

const SERVICES = [{ name: 'auth-service', statusURL: 'http://auth.test/keys/status' }];
// Interval 10m, lead 2m, tokens 1m, caches 30s; with 10 s of clock skew a retired key stays 100 s.
const SHORT = { rotationInterval: '10m', leadTime: '2m', maxTokenTTL: '1m', jwksCacheTTL: '30s' } as const;
const MIN = 60_000;

async function started(spec: Parameters<typeof aSigningKeyRotation>[0] = {}) {
  const sim = new Simulation({ ...SHORT, services: SERVICES, ...spec });
  await sim.settle();
  await sim.runFor(1_000);
  return sim;
}

describe('SigningKeyRotation decisions', () => {
  it('a new resource gets one key: written to Vault first, then published as the active key', async () => {
    const sim = new Simulation({ ...SHORT, services: SERVICES });
    await sim.settle();
    expect(sim.steps.map((s) => s.kind)).toEqual(['generate', 'publish']);
    expect(sim.activeKid).toBeDefined();
    expect(sim.publishedKids).toEqual([sim.activeKid]);
    expect(sim.status?.activeKid).toBe(sim.activeKid);
    expect(sim.status?.lastRotationReason).toBe('initial');
    expect(getCondition(sim.status?.conditions, 'Ready')?.status).toBe('True');
    expect(sim.events.map((e) => e.reason)).toEqual(expect.arrayContaining(['KeyGenerated', 'Rotated']));
    expect(sim.violations).toEqual([]);
  });

  it('the kid is the RFC 7638 thumbprint of the public key and the key-set hash follows the contract', async () => {
    const sim = await started();
    const doc = sim.keyset!;
    const again = keysetDocumentFor(
      sim.spec,
      doc.jwks.keys.map((k) => ({ kid: k.kid!, publicJwk: k })),
      doc.activeKid,
      '',
      new Date(),
    );
    expect(again.keysetHash).toBe(doc.keysetHash);
    expect(doc.activeKid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(doc.jwksCacheTTLSeconds).toBe(30);
    expect(doc.maxTokenTTLSeconds).toBe(60);
  });

  it('a scheduled rotation publishes the next key leadTime before it signs, and not earlier', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    await sim.runFor(10 * MIN - 2 * MIN - 10_000);
    expect(sim.publishedKids).toEqual([first]);
    await sim.runFor(20_000);
    expect(sim.publishedKids).toHaveLength(2);
    expect(sim.status?.nextKid).toBeDefined();
    expect(sim.activeKid).toBe(first);
    expect(getCondition(sim.status?.conditions, 'Rotating')?.reason).toBe('WaitingForLeadTime');
    expect(sim.violations).toEqual([]);
  });

  it('the next key signs at the rotation time, once its lead time is over, and the old key is retired', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    await sim.runFor(10 * MIN + 10_000);
    expect(sim.activeKid).not.toBe(first);
    const next = sim.key(sim.activeKid!)!;
    expect(Date.parse(next.activatedAt!) - Date.parse(next.publishedAt!)).toBeGreaterThanOrEqual(2 * MIN);
    expect(sim.key(first)?.state).toBe('retired');
    expect(sim.publishedKids).toContain(first);
    expect(sim.status?.lastRotationReason).toBe('scheduled');
    expect(sim.violations).toEqual([]);
  });

  it('a retired key stays published for maxTokenTTL + jwksCacheTTL + clock skew, then is destroyed', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    await sim.runFor(10 * MIN + 5_000);
    const retiredAt = Date.parse(sim.key(first)!.retiredAt!);
    const window = retireWindowMs(sim.spec, sim.options.clockSkewMs);
    expect(window).toBe(100_000);
    await sim.runFor(window - 10_000);
    expect(sim.publishedKids).toContain(first);
    expect(sim.secrets.has(first)).toBe(true);
    await sim.runFor(20_000);
    expect(sim.publishedKids).not.toContain(first);
    expect(sim.secrets.has(first)).toBe(false);
    expect(sim.key(first)).toBeUndefined();
    expect(sim.now - retiredAt).toBeGreaterThanOrEqual(window);
    expect(sim.events.map((e) => e.reason)).toContain('KeyRemoved');
    expect(sim.violations).toEqual([]);
  });

  it('the next key does not sign while a service has not loaded the key set containing it', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    await sim.runFor(8 * MIN - 10_000);
    sim.stuck.add('auth-service'); // from before the next key is published
    await sim.runFor(5 * MIN);
    expect(sim.status?.nextKid).toBeDefined();
    expect(sim.activeKid).toBe(first);
    expect(getCondition(sim.status?.conditions, 'Rotating')?.reason).toBe('WaitingForServices');
    expect(getCondition(sim.status?.conditions, 'Degraded')?.status).toBe('True');
    expect(getCondition(sim.status?.conditions, 'ServicesLoaded')?.status).toBe('False');
    expect(sim.events.some((e) => e.type === 'Warning' && e.reason === 'ServicesNotLoaded')).toBe(true);
    sim.stuck.clear();
    await sim.runFor(20_000);
    // Loaded now, but verifiers may cache the service's older JWKS for jwksCacheTTL (30s) more.
    expect(sim.activeKid).toBe(first);
    await sim.runFor(15_000);
    expect(sim.activeKid).not.toBe(first);
    expect(getCondition(sim.status?.conditions, 'Degraded')?.status).toBe('False');
    expect(sim.violations).toEqual([]);
  });

  it('a retired key is kept while a service may still sign with it (its window starts when all loaded the new set)', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    await sim.runFor(10 * MIN - 10_000);
    // The service has the set with the next key, but will not load the activation: it keeps signing with
    // the old key, so the old key's retire window must not start.
    sim.stuck.add('auth-service');
    await sim.runFor(3 * MIN);
    expect(sim.activeKid).not.toBe(first);
    expect(sim.publishedKids).toContain(first);
    expect(sim.key(first)?.removeAfter).toBeUndefined();
    sim.stuck.clear();
    await sim.runFor(3 * MIN);
    expect(sim.publishedKids).not.toContain(first);
    expect(sim.violations).toEqual([]);
  });

  it('rotate-now without emergency respects the lead time and acts once per value', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    sim.annotations[Annotations.rotateNow] = 'one';
    await sim.runFor(30_000);
    expect(sim.status?.lastHandled?.rotateNow).toBe('one');
    expect(sim.activeKid).toBe(first);
    expect(sim.status?.nextKid).toBeDefined();
    expect(sim.status?.lastRotationReason).toBe('manual');
    await sim.runFor(2 * MIN);
    const second = sim.activeKid!;
    expect(second).not.toBe(first);
    const k = sim.key(second)!;
    expect(Date.parse(k.activatedAt!) - Date.parse(k.publishedAt!)).toBeGreaterThanOrEqual(2 * MIN);
    // The same value again does nothing; the schedule goes on from the new key.
    await sim.runFor(5 * MIN);
    expect(sim.activeKid).toBe(second);
    expect(sim.status?.nextKid).toBeUndefined();
    expect(Date.parse(sim.status!.nextRotationTime!)).toBe(Date.parse(k.activatedAt!) + 10 * MIN);
    expect(sim.violations).toEqual([]);
  });

  it('rotate-now with emergency makes a fresh key sign at once and discards the pending next key', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    await sim.runFor(8 * MIN + 5_000);
    const pendingNext = sim.status!.nextKid!;
    expect(pendingNext).toBeDefined();
    sim.annotations[Annotations.rotateNow] = 'breach-1';
    sim.annotations[Annotations.emergency] = 'breach-1';
    await sim.settle();
    const fresh = sim.activeKid!;
    expect(fresh).not.toBe(first);
    expect(fresh).not.toBe(pendingNext);
    expect(sim.key(first)?.state).toBe('retired');
    expect(sim.publishedKids).toContain(first);
    expect(sim.publishedKids).not.toContain(pendingNext);
    expect(sim.secrets.has(pendingNext)).toBe(false);
    expect(sim.status?.lastRotationReason).toBe('emergency');
    expect(sim.status?.lastHandled?.rotateNow).toBe('breach-1');
    expect(sim.events.some((e) => e.reason === 'EmergencyRotated')).toBe(true);
    await sim.runFor(MIN);
    expect(sim.activeKid).toBe(fresh);
    expect(sim.violations).toEqual([]);
  });

  it('an emergency annotation left from an earlier rotation does not make the next rotate-now skip the lead time', async () => {
    const sim = await started();
    sim.annotations[Annotations.rotateNow] = 'breach-1';
    sim.annotations[Annotations.emergency] = 'breach-1';
    await sim.settle();
    const emergencyKey = sim.activeKid!;
    expect(sim.status?.lastRotationReason).toBe('emergency');
    await sim.runFor(MIN);
    // The emergency annotation stays (GitOps, or nobody removed it); a routine rotation follows.
    sim.annotations[Annotations.rotateNow] = 'routine-2';
    await sim.runFor(30_000);
    expect(sim.status?.lastHandled?.rotateNow).toBe('routine-2');
    expect(sim.activeKid).toBe(emergencyKey);
    expect(sim.status?.lastRotationReason).toBe('manual');
    await sim.runFor(2 * MIN);
    const k = sim.key(sim.activeKid!)!;
    expect(sim.activeKid).not.toBe(emergencyKey);
    expect(Date.parse(k.activatedAt!) - Date.parse(k.publishedAt!)).toBeGreaterThanOrEqual(2 * MIN);
    expect(sim.violations).toEqual([]);
  });

  it('emergency: "true" is not an emergency: the rotation keeps its lead time and a Warning says what to write', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    sim.annotations[Annotations.rotateNow] = 'two';
    sim.annotations[Annotations.emergency] = 'true';
    await sim.runFor(30_000);
    expect(sim.activeKid).toBe(first);
    expect(sim.status?.lastRotationReason).toBe('manual');
    const warning = sim.events.find((e) => e.reason === 'EmergencyNotForThisRotation');
    expect(warning?.type).toBe('Warning');
    expect(warning?.note).toContain('security.novapos.io/emergency: "two"');
    expect(sim.violations).toEqual([]);
  });

  it('revoke-kid of a retired key removes it from the key set at once and destroys its secret', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    await sim.runFor(10 * MIN + 5_000);
    expect(sim.key(first)?.state).toBe('retired');
    sim.markRevoked(first);
    sim.annotations[Annotations.revokeKid] = first;
    await sim.settle();
    expect(sim.publishedKids).not.toContain(first);
    expect(sim.secrets.has(first)).toBe(false);
    expect(sim.key(first)?.state).toBe('revoked');
    expect(sim.key(first)?.revokedAt).toBeDefined();
    expect(sim.status?.lastHandled?.revokeKid).toBe(first);
    expect(sim.events.some((e) => e.reason === 'KeyRevoked' && e.type === 'Warning')).toBe(true);
    expect(sim.violations).toEqual([]);
  });

  it('revoke-kid of the active key replaces it with a new key at once', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    sim.markRevoked(first);
    sim.annotations[Annotations.revokeKid] = first;
    await sim.settle();
    expect(sim.activeKid).not.toBe(first);
    expect(sim.publishedKids).toEqual([sim.activeKid]);
    expect(sim.secrets.has(first)).toBe(false);
    expect(sim.status?.lastRotationReason).toBe('emergency');
    expect((sim.status?.keys ?? []).filter((k) => k.state === 'active')).toHaveLength(1);
    expect(sim.violations).toEqual([]);
  });

  it('revoke-kid of an unknown kid warns once and changes nothing', async () => {
    const sim = await started();
    const before = sim.keyset;
    sim.annotations[Annotations.revokeKid] = 'no-such-kid';
    await sim.settle();
    await sim.runFor(10_000);
    expect(sim.keyset).toBe(before);
    expect(sim.status?.lastHandled?.revokeKid).toBe('no-such-kid');
    expect(sim.events.filter((e) => e.reason === 'UnknownKid')).toHaveLength(1);
  });

  it('suspend stops scheduled rotations, but rotate-now still acts', async () => {
    const sim = await started({ suspend: true });
    const first = sim.activeKid!;
    await sim.runFor(15 * MIN);
    expect(sim.activeKid).toBe(first);
    expect(sim.publishedKids).toEqual([first]);
    expect(getCondition(sim.status?.conditions, 'Rotating')?.reason).toBe('Suspended');
    sim.annotations[Annotations.rotateNow] = 'now';
    await sim.runFor(3 * MIN);
    expect(sim.activeKid).not.toBe(first);
    const second = sim.activeKid;
    await sim.runFor(15 * MIN);
    expect(sim.activeKid).toBe(second);
    expect(sim.violations).toEqual([]);
  });

  it('a rotation schedule in cron syntax sets the time the next key signs', async () => {
    const sim = await started({ rotationInterval: undefined, schedule: '*/10 * * * *' });
    expect(sim.status?.nextRotationTime).toBe('2025-01-01T00:10:00Z');
    expect(scheduledRotation(sim.spec, new Date('2025-01-01T00:10:00Z')).toISOString()).toBe(
      '2025-01-01T00:20:00.000Z',
    );
    await sim.runFor(10 * MIN + 5_000);
    expect(
      Date.parse(sim.status!.lastRotationTime!) - Date.parse('2025-01-01T00:10:00Z'),
    ).toBeLessThanOrEqual(2000); // whole seconds, rounded up
  });

  it('a secret that no record names is destroyed when a key set exists', async () => {
    const sim = await started();
    const stray = await generateSigningKey('ES256');
    sim.secrets.set(stray.kid, {
      version: 1,
      alg: 'ES256',
      state: 'next',
      createdAt: 'x',
      jwk: stray.privateJwk as Record<string, unknown>,
    });
    const d = await sim.reconcile();
    expect(sim.steps.at(-1)).toEqual({ kind: 'destroy', kid: stray.kid, why: 'orphan' });
    expect(d.status.keys?.some((k) => k.kid === stray.kid)).toBe(false);
    expect(sim.secrets.has(stray.kid)).toBe(false);
  });

  it('without a key set, secrets that may have signed are adopted as retired and stay published', async () => {
    const old = await generateSigningKey('ES256');
    const model = buildModel(
      [],
      {
        keysetVersion: 0,
        keysetInvalid: false,
        keys: [
          {
            kid: old.kid,
            version: 3,
            material: {
              alg: 'ES256',
              state: 'active',
              createdAt: '2024-12-01T00:00:00Z',
              publicJwk: old.publicJwk,
            },
          },
        ],
      },
      new Date(),
    );
    expect(model.map((k) => [k.kid, k.phase])).toEqual([[old.kid, 'retired']]);
    const sim = new Simulation({ ...SHORT });
    sim.secrets.set(old.kid, {
      version: 3,
      alg: 'ES256',
      state: 'active',
      createdAt: '2024-12-01T00:00:00Z',
      jwk: old.privateJwk as Record<string, unknown>,
    });
    await sim.settle();
    expect(sim.publishedKids).toContain(old.kid);
    expect(sim.activeKid).not.toBe(old.kid);
    expect(sim.key(old.kid)?.state).toBe('retired');
  });

  it('the key set in Vault wins over a stale status after a crash (adopts what was published)', async () => {
    const sim = await started();
    const first = sim.activeKid!;
    const stale = structuredClone(sim.status);
    await sim.runFor(10 * MIN + 5_000);
    sim.status = stale; // the status writes since were lost
    await sim.reconcile();
    expect(sim.status?.activeKid).toBe(sim.activeKid);
    expect(sim.status?.activeKid).not.toBe(first);
    expect(sim.key(first)?.state).toBe('retired');
    expect(sim.violations).toEqual([]);
  });

  it('an invalid spec does nothing and says why in Ready', () => {
    const obj = aSigningKeyRotation({ ...SHORT, rotationInterval: undefined, schedule: 'not a cron' });
    const d = decide({
      spec: obj.spec,
      generation: 3,
      status: undefined,
      annotations: {},
      now: new Date(),
      location: { mount: 'secret', namespace: 'novapos', name: 'auth' },
      vault: { keysetVersion: 0, keysetInvalid: false, keys: [] },
      services: [],
      options: DEFAULT_DECIDE_OPTIONS,
    });
    expect(d.invalidSpec).toBe(true);
    expect(d.step).toBeUndefined();
    const ready = getCondition(d.status.conditions, 'Ready')!;
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidSpec', observedGeneration: 3 });
    expect(ready.message).toContain('spec.schedule');
  });

  describe('a crash after any step converges: one active key, nothing lost, duplicated or unpublished early', () => {
    // A scenario with every kind of step: start, scheduled rotation, removal, rotate-now, emergency, revoke.
    async function scenario(crashAfterStep: number | undefined): Promise<Simulation> {
      const sim = new Simulation({ ...SHORT, services: SERVICES });
      sim.crashAfterStep = crashAfterStep;
      await sim.runFor(13 * MIN);
      sim.annotations[Annotations.rotateNow] = 'a';
      await sim.runFor(3 * MIN);
      const retired = sim.status?.keys?.find((k) => k.state === 'retired')?.kid;
      if (retired) {
        sim.markRevoked(retired);
        sim.annotations[Annotations.revokeKid] = retired;
      }
      await sim.runFor(MIN);
      sim.annotations[Annotations.rotateNow] = 'b';
      sim.annotations[Annotations.emergency] = 'b';
      await sim.runFor(5 * MIN);
      return sim;
    }

    it('the scenario itself runs every kind of step', async () => {
      const sim = await scenario(undefined);
      expect(new Set(sim.steps.map((s) => s.kind))).toEqual(
        new Set(['generate', 'prepare-active', 'publish', 'sync-state', 'destroy']),
      );
      expect(sim.violations).toEqual([]);
    });

    it('for every step of the scenario', async () => {
      const total = (await scenario(undefined)).steps.length;
      expect(total).toBeGreaterThan(15);
      for (let i = 0; i < total; i++) {
        const sim = await scenario(i);
        expect(sim.violations, `crash after step ${i}`).toEqual([]);
        const actives = (sim.status?.keys ?? []).filter((k) => k.state === 'active');
        expect(
          actives.map((k) => k.kid),
          `crash after step ${i}`,
        ).toEqual([sim.activeKid]);
        // Every secret in Vault is named by the key set or the status: nothing left behind.
        for (const kid of sim.secrets.keys()) {
          expect(
            sim.publishedKids.includes(kid) || sim.key(kid) !== undefined,
            `crash after step ${i}: stray ${kid}`,
          ).toBe(true);
        }
        expect(sim.status?.lastHandled?.rotateNow, `crash after step ${i}`).toBe('b');
        const emergencies = sim.steps.filter((s) => s.kind === 'generate' && s.state === 'active').length;
        expect(
          emergencies,
          `crash after step ${i}: one emergency key (plus the first), or one more if the crash lost it`,
        ).toBeLessThanOrEqual(3);
      }
    }, 120_000);
  });
});

describe('requeueAfter', () => {
  const now = new Date('2025-01-01T00:00:00Z');
  const t = now.getTime();
  const opts = { servicePollMs: 30_000, serviceWaitPollMs: 2_000, maxRequeueMs: 3_600_000 };
  const cases: [string, number[], { allLoaded: boolean } | undefined, number][] = [
    ['nothing due and no services: the longest requeue', [], undefined, 3_600_005],
    ['the soonest wake-up wins, 5 ms late so it has passed', [t + 90_000, t + 10_000], undefined, 10_005],
    ['times already past are ignored', [t - 1, t], undefined, 3_600_005],
    [
      'services that loaded the set are polled every servicePollMs',
      [t + 60_000],
      { allLoaded: true },
      30_005,
    ],
    ['services not loaded yet are polled every serviceWaitPollMs', [], { allLoaded: false }, 2_005],
  ];
  for (const [name, wakeAt, services, expected] of cases) {
    it(name, () => expect(requeueAfter(wakeAt, now, opts, services)).toBe(expected));
  }
});
