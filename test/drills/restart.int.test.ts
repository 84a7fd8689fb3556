import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { faultKey } from '../../lib/ratelimit-contract.js';
import { Annotations } from '../../operator/src/api/index.js';
import { syntheticRateLimitName } from '../../operator/src/controllers/disaster-recovery-drill/index.js';
import { type AuthFixture, startAuth, startTestGateway, type TestGateway } from '../gateway/support.js';
import { privateRedisDb } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor, repoRoot } from '../runtime/support.js';
import {
  aDrill,
  type DrillOperator,
  finishedRun,
  getDrill,
  setUpSyntheticTenant,
  startDrillOperator,
  syntheticAdminLeftovers,
} from './support.js';

/**
 * kill -9 of the operator in the middle of a drill (fault key set, synthetic TenantRateLimit and API key
 * in place): after the restart the run is marked failed (OperatorRestarted), not resumed, and no synthetic
 * state is left behind.
 */
describe('drill: operator killed mid-drill', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `drill-restart-${suffix}`;
  const tenant = `drill-r-${suffix}`;
  // A Redis database of its own (9): on the shared one, other suites' refused credentials from 127.0.0.1 had
  // spent the gateway's failed-authentication budget, and the drill's check before the outage saw only 429s
  // (stop 27's CI: "did not answer tenant drill-r-b554fb normally (rate_limited ×5)"). The gateway, the
  // operator (fault keys) and this test's own client all use it.
  const redisUrl = privateRedisDb(env.redisUrl, 9);
  let kubectl: Kubectl;
  let auth: AuthFixture;
  let gateway: TestGateway;
  let redis: Redis;
  let child: ChildProcess | undefined;
  let operator: DrillOperator | undefined;

  beforeAll(async () => {
    const kube = env.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    redis = new Redis(redisUrl);
    auth = await startAuth(env, `drill-r-${suffix}`);
    gateway = await startTestGateway({
      REDIS_URL: redisUrl,
      DATABASE_URL: auth.databaseUrl,
      JWKS_URL: auth.jwksUrl,
      GATEWAY_RATE_LIMIT_RPM: '6000',
      LOG_LEVEL: 'warn',
    });
    await kubectl(['create', 'namespace', ns]);
    await setUpSyntheticTenant({ authUrl: auth.svc.url, db: auth.svc.db, kubectl, namespace: ns, tenant });
  }, 120_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await operator?.stop();
    await gateway?.close();
    await auth?.close();
    redis?.disconnect();
    await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  });

  it('fails the interrupted run with OperatorRestarted and removes every synthetic thing it made', async () => {
    child = fork(path.join(repoRoot, 'test/drills/operator-child.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        KUBECONFIG: env.kube!.kubeconfig,
        DRILL_NAMESPACE: ns,
        REDIS_URL: redisUrl,
        DRILL_AUTH_SERVICE_URL: auth.svc.url,
        DRILL_GATEWAY_URL: gateway.url,
        DRILL_GATEWAY_METRICS_URLS: `${gateway.adminUrl}/metrics`,
        ALERTMANAGER_URL: env.alertmanagerUrl,
      },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child!.once('exit', (code) => reject(new Error(`operator child exited with ${code}`)));
    });

    const drill = aDrill(
      ns,
      'restart',
      {
        syntheticTenant: {
          tenant,
          credentialsSecretRef: { name: `${tenant}-credentials` },
          requestsPerMinute: 6000,
          redisFailureMode: 'failClosed',
        },
        steps: {
          redisOutage: { tenant, duration: '2m', syntheticRps: 5 },
          alertDelivery: { receiver: 'drill', timeout: '10s' },
        },
      },
      { [Annotations.runNow]: 'go' },
    );
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));

    // Mid-drill: the fault key is set and status shows the outage step running. Before it, the drill sets up
    // its synthetic tenant (a TenantRateLimit the gateway acknowledges, an API key): on a loaded CI machine
    // (four suites on 2 cores) that took over a minute once, so the wait is generous and says where the
    // drill was when it gives up.
    let seen = 'no status yet';
    await waitUntil(
      'the outage to be under way',
      async () => {
        const d = await getDrill(kubectl, ns, 'restart');
        const run = d.status?.lastRuns?.[0];
        seen = JSON.stringify({ steps: run?.steps, conditions: d.status?.conditions });
        const running = run?.steps.find((s) => s.name === 'redisOutage')?.result === 'Running';
        return running && (await redis.exists(faultKey(tenant))) === 1 ? d : undefined;
      },
      { timeoutMs: 150_000 },
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; the drill's status: ${seen}`);
    });
    const liveKeys = (await auth.svc.repo.listApiKeys(tenant)).filter((k) => !k.revokedAt);
    expect(liveKeys).toHaveLength(1);
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;
    // Left behind by the dead process.
    expect(await redis.exists(faultKey(tenant))).toBe(1);
    expect(await kubectl(['get', 'tenantratelimits', '-n', ns, '-o', 'name'])).toContain(
      syntheticRateLimitName('restart'),
    );

    operator = await startDrillOperator({
      kubeconfig: env.kube!.kubeconfig,
      namespace: ns,
      redisUrl,
      authServiceUrl: auth.svc.url,
      gatewayUrl: gateway.url,
      gatewayMetricsUrls: [`${gateway.adminUrl}/metrics`],
      alertmanagerUrl: env.alertmanagerUrl!,
    });
    const { run } = await waitUntil(
      'the interrupted run to be failed',
      () => finishedRun(kubectl, ns, 'restart'),
      {
        timeoutMs: 90_000,
      },
    );
    expect(run).toMatchObject({ result: 'Failed', reason: 'OperatorRestarted' });
    expect(run.message).toContain('was not resumed');
    expect(run.message).not.toContain('except');
    expect(run.steps.map((s) => [s.name, s.result])).toEqual([
      ['redisOutage', 'Failed'],
      ['alertDelivery', 'Skipped'],
    ]);
    expect(run.steps[0]!.message).toBe('interrupted by an operator restart');

    expect(await redis.exists(faultKey(tenant))).toBe(0);
    await waitUntil('the synthetic TenantRateLimit to be gone', async () =>
      (await kubectl(['get', 'tenantratelimits', '-n', ns, '-o', 'name'])).trim() === '' ? true : undefined,
    );
    expect(await syntheticAdminLeftovers(auth.svc, tenant)).toEqual({ liveApiKeys: [], sessions: 0 });
    // The tenant is served normally again.
    const res = await fetch(`${gateway.url}/api/tenant/ping`, {
      headers: { 'x-tenant-id': tenant, authorization: `Bearer ${await auth.token(tenant)}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { limiter: string }).limiter).toBe('normal');
    const described = await kubectl(['describe', 'disasterrecoverydrill', 'restart', '-n', ns]);
    expect(described).toContain('OperatorRestarted');
  }, 360_000);
});
