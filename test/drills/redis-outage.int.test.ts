import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { faultKey } from '../../lib/ratelimit-contract.js';
import { Annotations } from '../../operator/src/api/index.js';
import { syntheticRateLimitName } from '../../operator/src/controllers/disaster-recovery-drill/index.js';
import {
  type AuthFixture,
  expectNoSecrets,
  startAuth,
  startTestGateway,
  type TestGateway,
} from '../gateway/support.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aDrill,
  DRILL_PASSWORD,
  type DrillOperator,
  drillRuns,
  getDrill,
  type SyntheticTenantSetup,
  sample,
  setUpSyntheticTenant,
  startDrillOperator,
  syntheticAdminLeftovers,
} from './support.js';

/**
 * The Redis outage step against the real gateway, auth-service, Redis and the TenantRateLimit controller:
 * the drill creates the synthetic tenant's TenantRateLimit (failClosed) and an API key through
 * auth-service, sets the fault key for that tenant only, checks clients were refused with 503 and that
 * normal service came back, then removes everything it made. Broken on purpose: a gateway that applies
 * its default failure mode instead of the tenant's fails exactly this step; real traffic failing during
 * the outage trips the abort guard.
 */
describe('drill: Redis outage for the synthetic tenant', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `drill-outage-${suffix}`;
  const tenant = `drill-${suffix}`;
  const realTenant = `acme-${suffix}`;
  const kubectl: Kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
  let auth: AuthFixture;
  let gateway: TestGateway;
  let operator: DrillOperator;
  let redis: Redis;
  let setup: SyntheticTenantSetup;

  const drill = (runNow: string, duration = '4s') =>
    aDrill(
      ns,
      'outage',
      {
        syntheticTenant: {
          tenant,
          credentialsSecretRef: { name: `${tenant}-credentials` },
          requestsPerMinute: 6000,
          redisFailureMode: 'failClosed',
        },
        steps: { redisOutage: { tenant, duration, syntheticRps: 10 } },
      },
      { [Annotations.runNow]: runNow },
    );

  const runs = drillRuns(kubectl, ns, 'outage');
  const runDrill = (runNow: string, duration?: string) => runs(drill(runNow, duration));

  /** Nothing synthetic is left: no fault key, no drill TenantRateLimit, no live drill API key, no session. */
  const expectCleanedUp = async () => {
    expect(await redis.exists(faultKey(tenant))).toBe(0);
    await waitUntil('the synthetic TenantRateLimit to be gone', async () =>
      (await kubectl(['get', 'tenantratelimits', '-n', ns, '-o', 'name'])).includes(
        syntheticRateLimitName('outage'),
      )
        ? undefined
        : true,
    );
    expect(await syntheticAdminLeftovers(auth.svc, tenant)).toEqual({ liveApiKeys: [], sessions: 0 });
  };

  beforeAll(async () => {
    const kube = env.kube!;
    redis = new Redis(env.redisUrl!);
    auth = await startAuth(env, `drill-${suffix}`);
    gateway = await startTestGateway({
      REDIS_URL: env.redisUrl,
      DATABASE_URL: auth.databaseUrl,
      JWKS_URL: auth.jwksUrl,
      GATEWAY_RATE_LIMIT_RPM: '6000',
      GATEWAY_API_KEY_REVALIDATE_SECONDS: '1',
      // The guard test's failing clients all come from 127.0.0.1: past the failed-authentication budget
      // the gateway answers 429 before verifying, which the drill's guard does not count as an error.
      GATEWAY_AUTH_FAILURES_PER_ADDRESS: '100000',
      LOG_LEVEL: 'info',
    });
    await kubectl(['create', 'namespace', ns]);
    setup = await setUpSyntheticTenant({
      authUrl: auth.svc.url,
      db: auth.svc.db,
      kubectl,
      namespace: ns,
      tenant,
    });
    operator = await startDrillOperator({
      kubeconfig: kube.kubeconfig,
      namespace: ns,
      redisUrl: env.redisUrl!,
      authServiceUrl: auth.svc.url,
      gatewayUrl: gateway.url,
      gatewayMetricsUrls: [`${gateway.adminUrl}/metrics`],
      alertmanagerUrl: env.alertmanagerUrl!,
    });
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
    await gateway?.close();
    await auth?.close();
    redis?.disconnect();
    await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  });

  it('sees the failClosed answers during the outage, normal service after, and leaves nothing behind', async () => {
    const { run, drill: after } = await runDrill('first');
    expect(run.result, JSON.stringify(run, null, 1)).toBe('Succeeded');
    const step = run.steps[0]!;
    expect(step).toMatchObject({ name: 'redisOutage', result: 'Passed' });
    expect(step.figures?.['requests']).toBeGreaterThanOrEqual(20);
    expect(step.figures?.['expectedModeResponses']).toBe(step.figures?.['requests']);
    expect(step.figures?.['recoverySeconds']).toBeLessThan(5);
    expect(step.message).toContain('refused with 503');
    expect(run.touched).toEqual({ tenant, tenantRateLimit: syntheticRateLimitName('outage') });
    await expectCleanedUp();

    const metrics = await operator.metricsText();
    expect(
      sample(metrics, 'novapos_drill_step_result', { namespace: ns, name: 'outage', step: 'redisOutage' }),
    ).toBe(1);

    // Secrets stay out of status, Events and logs.
    const events = await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    expectNoSecrets(JSON.stringify(after) + events + operator.lines.join('\n'), {
      password: DRILL_PASSWORD,
      totpSecret: setup.totpSecret,
    });
    expect(events).not.toMatch(/npk_|Bearer /);
  });

  it('fails exactly the outage step when the gateway applies its default failure mode instead of the tenant’s', async () => {
    // A misconfigured replica: it ignores the tenant's redisFailureMode and uses its own default (failOpen).
    const store = gateway.configStore;
    const original = store.get.bind(store);
    store.get = (t: string) => ({ ...original(t), redisFailureMode: 'failOpen' as const });
    try {
      const { run } = await runDrill('misconfigured');
      expect(run.result).toBe('Failed');
      const step = run.steps[0]!;
      expect(step.result).toBe('Failed');
      expect(step.message).toMatch(
        /clients of drill-\w+ saw fail_open ×\d+; its redisFailureMode is failClosed/,
      );
      expect(run.reason).toBeUndefined();
    } finally {
      store.get = original;
    }
    await expectCleanedUp();
    const metrics = await operator.metricsText();
    expect(
      sample(metrics, 'novapos_drill_step_result', { namespace: ns, name: 'outage', step: 'redisOutage' }),
    ).toBe(0);
  });

  it('stops the drill and restores state when real traffic starts failing during the outage', async () => {
    await auth.token(realTenant); // a real tenant exists; its clients now send bad tokens
    const bad = { authorization: 'Bearer not-a-token', 'x-tenant-id': realTenant };
    const stop = new AbortController();
    const noise = (async () => {
      while (!stop.signal.aborted) {
        await Promise.all(
          Array.from({ length: 5 }, () =>
            fetch(`${gateway.url}/api/tenant/ping`, { headers: bad }).then(
              (r) => r.arrayBuffer(),
              () => {},
            ),
          ),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const { run } = await runDrill('guard', '30s');
    stop.abort();
    await noise;
    expect(run.result).toBe('Failed');
    expect(run.reason).toBe('Aborted');
    expect(run.steps[0]!.message).toMatch(/stopped: the gateway's error rate for real traffic rose to \d+%/);
    // The step was cut short: without the guard it would have held the fault for the whole 30 s outage.
    // (Measured on the step, not the run: the run also creates the synthetic tenant, which takes longer
    // on a loaded machine.)
    const step = run.steps[0]!;
    expect(Date.parse(step.finishedAt!) - Date.parse(step.startedAt!)).toBeLessThan(30_000);
    await expectCleanedUp();
    expect(
      (await getDrill(kubectl, ns, 'outage')).status?.conditions?.find((c) => c.type === 'LastRunSucceeded')
        ?.status,
    ).toBe('False');
  });
});
