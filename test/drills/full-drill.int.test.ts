import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RESTORE_LEAD_TIME_ANNOTATION } from '../../operator/src/adapters/drill/index.js';
import { Annotations } from '../../operator/src/api/index.js';
import { expectNoSecrets } from '../auth-service/helpers.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { privateRedisDb } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import { type DrillEnvironment, startDrillEnvironment } from './full-drill-environment.js';
import { aDrill, DRILL_PASSWORD, finishedRun, getDrill, sample } from './support.js';

/**
 * The whole drill against the real apiserver, OpenBao, Redis, Alertmanager, auth-service and gateway, with
 * the SigningKeyRotation and TenantRateLimit controllers on the same Manager: a drill on a short schedule
 * runs all three steps and reports pass with figures; a gateway whose JWKS never refreshes (a stale cache
 * in front of auth-service's JWKS) fails exactly the key rotation step. The setup:
 * full-drill-environment.ts (the plugin's test/cli/drill-pass.int.test.ts starts the same).
 */
describe('drill: all three steps', () => {
  const env = inject('env');
  let drillEnv: DrillEnvironment;
  let staleGateway: TestGateway | undefined;
  let staleJwks: http.Server | undefined;

  beforeAll(async () => {
    drillEnv = await startDrillEnvironment(env, 'drill-full', 'f');
  }, 180_000);

  afterAll(async () => {
    await drillEnv?.stop();
    await staleGateway?.close();
    staleJwks?.close();
  });

  it('runs all three steps on its schedule and reports pass with figures', async () => {
    const { ns, kubectl, skr, synthetic, operator, setup } = drillEnv;
    const before = await skr();
    const drill = aDrill(ns, 'quarterly', {
      schedule: '* * * * *',
      syntheticTenant: synthetic(),
      steps: drillEnv.threeSteps(),
    });
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));
    const { run, drill: after } = await waitUntil(
      'the scheduled run to finish',
      () => finishedRun(kubectl, ns, 'quarterly'),
      {
        timeoutMs: 150_000,
        intervalMs: 1_000,
      },
    );
    await kubectl([
      'patch',
      'disasterrecoverydrill',
      'quarterly',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"suspend":true}}',
    ]);
    expect(run.trigger).toBe('schedule');
    expect(run.result, JSON.stringify(run, null, 1)).toBe('Succeeded');
    const [rotation, outage, alert] = run.steps;
    expect(rotation).toMatchObject({ name: 'keyRotation', result: 'Passed' });
    expect(rotation!.figures).toMatchObject({ failedRequests: 0 });
    expect(rotation!.figures!['requests']).toBeGreaterThan(150);
    expect(rotation!.figures!['newKeyRequests']).toBeGreaterThan(0);
    expect(rotation!.figures!['keyPropagationSeconds']).toBeGreaterThanOrEqual(12);
    expect(rotation!.figures!['p99LatencySeconds']).toBeGreaterThan(0);
    expect(outage).toMatchObject({ name: 'redisOutage', result: 'Passed' });
    expect(outage!.message).toContain('local_fallback');
    expect(alert).toMatchObject({ name: 'alertDelivery', result: 'Passed' });
    expect(alert!.figures!['deliverySeconds']).toBeLessThan(15);
    process.stderr.write(
      `[drill] report: ${JSON.stringify(run.steps.map((s) => ({ [s.name]: s.figures })))}\n`,
    );

    // The rotation really happened, the normal way, and the resource's own lead time is back.
    const rotated = await skr();
    expect(rotated.status?.activeKid).not.toBe(before.status?.activeKid);
    expect(rotated.metadata.annotations?.[Annotations.rotateNow]).toBe(run.id);
    expect(rotated.spec.leadTime).toBe('2m');
    expect(rotated.metadata.annotations?.[RESTORE_LEAD_TIME_ANNOTATION]).toBeUndefined();

    // What an operator sees.
    const table = await kubectl(['get', 'disasterrecoverydrills', '-n', ns]);
    expect(table).toMatch(/quarterly\s+\* \* \* \* \*\s+Succeeded\s+\S+\s+True/);
    const described = await kubectl(['describe', 'disasterrecoverydrill', 'quarterly', '-n', ns]);
    for (const text of [
      'Key Propagation Seconds',
      'Expected Mode Responses',
      'Delivery Seconds',
      'DrillStepPassed',
      'DrillSucceeded',
    ])
      expect(described).toContain(text);
    const metrics = await operator.metricsText();
    for (const step of ['keyRotation', 'redisOutage', 'alertDelivery'])
      expect(sample(metrics, 'novapos_drill_step_result', { namespace: ns, name: 'quarterly', step })).toBe(
        1,
      );
    expect(after.status?.lastSuccessfulTime).toBeDefined();

    const events = await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    expectNoSecrets(JSON.stringify(after) + events + operator.lines.join('\n'), {
      password: DRILL_PASSWORD,
      totpSecret: setup.totpSecret,
    });
  }, 200_000);

  it('fails exactly the key rotation step when a verifier never refreshes its JWKS', async () => {
    const { ns, kubectl, skr, svc, synthetic, databaseUrl } = drillEnv;
    // A stale cache in front of auth-service's JWKS: the key set as it is now, forever.
    const frozen = await (await fetch(`${svc.url}/.well-known/jwks.json`)).text();
    staleJwks = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=1' });
      res.end(frozen);
    });
    await new Promise<void>((r) => staleJwks!.listen(0, '127.0.0.1', r));
    staleGateway = await startTestGateway({
      // A Redis database of its own (1): this gateway refuses the drill's tokens on purpose, and every refusal
      // is charged to 127.0.0.1's failed-authentication budget in its Redis database. On the shared one it
      // spent the budget of every suite's gateway there (stop 27's CI: drills/restart's drill was answered
      // 429 too_many_auth_failures before it began).
      REDIS_URL: privateRedisDb(env.redisUrl, 1),
      DATABASE_URL: databaseUrl,
      JWKS_URL: `http://127.0.0.1:${(staleJwks.address() as AddressInfo).port}/jwks.json`,
      JWKS_MAX_CACHE_SECONDS: '10',
      GATEWAY_RATE_LIMIT_RPM: '6000',
      LOG_LEVEL: 'warn',
    });
    await drillEnv.restartOperator(staleGateway.url, staleGateway.adminUrl);

    const drill = aDrill(
      ns,
      'stale-verifier',
      {
        syntheticTenant: synthetic(),
        steps: {
          keyRotation: {
            signingKeyRotationRef: { name: 'auth' },
            leadTimeOverride: '12s',
            syntheticRps: 10,
            duration: '30s',
            maxFailedRequests: 0,
          },
          alertDelivery: { receiver: 'drill', timeout: '15s' },
        },
      },
      { [Annotations.runNow]: 'stale' },
    );
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));
    const { run } = await waitUntil('the run to finish', () => finishedRun(kubectl, ns, 'stale-verifier'), {
      timeoutMs: 120_000,
      intervalMs: 1_000,
    });
    expect(run.result).toBe('Failed');
    const [rotation, alert] = run.steps;
    expect(rotation!.result).toBe('Failed');
    expect(rotation!.message).toMatch(
      /^\d+ of \d+ requests with valid tokens were rejected \(401 unauthorized ×\d+; at most 0 allowed\); \d+ carried tokens signed by the new key \S+, the first .* after rotate-now: a verifier did not pick up the new key from the JWKS$/,
    );
    expect(rotation!.figures!['failedRequests']).toBeGreaterThan(0);
    expect(alert!.result).toBe('Passed');
    expect((await skr()).spec.leadTime).toBe('2m');
    const d = await getDrill(kubectl, ns, 'stale-verifier');
    expect(d.status?.conditions?.find((c) => c.type === 'LastRunSucceeded')?.message).toContain(
      'keyRotation failed',
    );
  }, 150_000);
});
