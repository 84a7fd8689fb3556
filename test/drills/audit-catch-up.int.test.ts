import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Annotations } from '../../operator/src/api/index.js';
import type { DisasterRecoveryDrillSpec } from '../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import { configFromEnv } from '../../services/audit-service/src/config.js';
import { type RunningAuditService, startAuditService } from '../../services/audit-service/src/server.js';
import { aDatabase, expectNoSecrets, startServiceWithKeys } from '../auth-service/helpers.js';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { waitUntil } from '../harness/wait.js';
import { kafkaEnv } from '../kafka/services.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aDrill,
  DRILL_PASSWORD,
  type DrillOperator,
  drillRuns,
  type SyntheticTenantSetup,
  sample,
  setUpSyntheticTenant,
  startDrillOperator,
  syntheticAdminLeftovers,
} from './support.js';

/**
 * The auditCatchUp step against the real chain of components: auth-service publishing through its outbox
 * to a real Kafka broker (SASL/SCRAM, ACLs), the real audit-service chaining into PostgreSQL, the operator's
 * drill controller on the real apiserver. The drill pauses the consumer through the audit-service's
 * authenticated admin route, the synthetic admin creates and revokes API keys (two events each), the drill
 * resumes and waits for every event to be chained and the chain to verify. Broken on purpose: a wrong admin
 * token fails the step saying so (and nothing is paused); a consumer whose appends block after the resume
 * fails it on the timeout with the figures.
 */
describe('drill: audit-service catch-up', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `drill-audit-${suffix}`;
  const tenant = `drill-${suffix}`;
  const ADMIN_TOKEN = `audit-admin-${randomBytes(16).toString('hex')}`;
  const WRONG_TOKEN = `not-the-audit-token-${randomBytes(8).toString('hex')}`;
  let dir: string;
  let kafka: KafkaInstance;
  const kubectl: Kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
  let auth: Awaited<ReturnType<typeof startServiceWithKeys>>;
  let auditDbUrl: string;
  let audit: RunningAuditService;
  let operator: DrillOperator;
  let setup: SyntheticTenantSetup;
  const auditLines: string[] = [];

  const spec = (step: Partial<NonNullable<DisasterRecoveryDrillSpec['steps']['auditCatchUp']>> = {}) => ({
    syntheticTenant: {
      tenant,
      credentialsSecretRef: { name: `${tenant}-credentials` },
      requestsPerMinute: 6000,
      redisFailureMode: 'failClosed' as const,
    },
    steps: {
      auditCatchUp: {
        adminTokenSecretRef: { name: 'audit-admin', key: 'token' },
        events: 10,
        maxPause: '20s',
        timeout: '30s',
        ...step,
      },
    },
  });

  const runs = drillRuns(kubectl, ns, 'audit', 120_000);
  const runDrill = (runNow: string, s = spec()) =>
    runs(aDrill(ns, 'audit', s, { [Annotations.runNow]: runNow }));

  const setToken = (token: string) =>
    kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'audit-admin', namespace: ns },
        stringData: { token },
      }),
    );

  /** An unlabelled gauge of the audit-service's /metrics. */
  const metric = async (name: string) => {
    const text = await (await fetch(`${audit.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };

  /** The synthetic tenant's rows in the audit chain, by type. */
  const chainedTypes = async () => {
    const c = new pg.Client({ connectionString: auditDbUrl });
    await c.connect();
    try {
      const r = await c.query<{ event_type: string; n: string }>(
        'SELECT event_type, count(*) AS n FROM audit_logs WHERE tenant_id = $1 GROUP BY event_type',
        [tenant],
      );
      return Object.fromEntries(r.rows.map((row) => [row.event_type, Number(row.n)]));
    } finally {
      await c.end();
    }
  };

  /** No drill API key left live, no session of the synthetic admin, the consumer running. */
  const expectCleanedUp = async () => {
    expect(await syntheticAdminLeftovers(auth.svc, tenant)).toEqual({ liveApiKeys: [], sessions: 0 });
    expect(await metric('audit_consumer_paused')).toBe(0);
  };

  const expectNoTokenAnywhere = async () => {
    const drill = await kubectl(['get', 'disasterrecoverydrill', 'audit', '-n', ns, '-o', 'json']);
    const events = await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    const everything = [drill, events, operator.lines.join('\n'), auditLines.join('\n')].join('\n');
    expectNoSecrets(everything, {
      adminToken: ADMIN_TOKEN,
      wrongToken: WRONG_TOKEN,
      password: DRILL_PASSWORD,
      totpSecret: setup.totpSecret,
    });
    expect(drill + events).not.toMatch(/npk_|Bearer /);
  };

  beforeAll(async () => {
    const kube = env.kube!;
    dir = makeRunDir('drill-audit');
    kafka = await startKafka(dir);
    // auth-service publishes its security events through its outbox to the broker, as in production.
    auth = await startServiceWithKeys(env, `drill-audit-${suffix}`, {
      serviceEnv: {
        LOG_LEVEL: 'warn',
        AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
        AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
        ...kafkaEnv(kafka, 'auth-service'),
      },
    });
    auditDbUrl = await aDatabase(env.postgresUrl!, `drill_audit_${suffix}`);
    audit = await startAuditService(
      configFromEnv({
        DATABASE_URL: auditDbUrl,
        ...kafkaEnv(kafka, 'audit-service'),
        ADMIN_PORT: '0',
        ADMIN_HOST: '127.0.0.1',
        AUDIT_ADMIN_TOKEN: ADMIN_TOKEN,
        AUDIT_CHECK_INTERVAL_MS: '200',
        LOG_LEVEL: 'info',
      }),
      { logDestination: { write: (line: string) => void auditLines.push(line) } },
    );
    await kubectl(['create', 'namespace', ns]);
    setup = await setUpSyntheticTenant({
      authUrl: auth.svc.url,
      db: auth.svc.db,
      kubectl,
      namespace: ns,
      tenant,
    });
    await setToken(ADMIN_TOKEN);
    operator = await startDrillOperator({
      kubeconfig: kube.kubeconfig,
      namespace: ns,
      redisUrl: env.redisUrl!,
      authServiceUrl: auth.svc.url,
      // Never contacted: the auditCatchUp step sends no gateway traffic and the guard does not watch it.
      gatewayUrl: 'http://127.0.0.1:9',
      alertmanagerUrl: env.alertmanagerUrl ?? 'http://127.0.0.1:9',
      auditServiceUrl: audit.adminUrl,
      rateLimitController: false,
    });
  }, 240_000);

  afterAll(async () => {
    await operator?.stop();
    await audit?.close();
    await auth?.svc.close();
    await kafka?.stop();
    await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    if (dir) removeRunDir(dir);
  });

  it('pauses the consumer, has the synthetic events chained after the resume, and the chain verifies', async () => {
    const { run } = await runDrill('first');
    expect(run.result, JSON.stringify(run, null, 1)).toBe('Succeeded');
    expect(run.touched).toEqual({ tenant });
    const step = run.steps[0]!;
    expect(step).toMatchObject({ name: 'auditCatchUp', result: 'Passed' });
    expect(step.figures).toMatchObject({ events: 10, chainedEvents: 10, lag: 0 });
    // The lag rose by at least the ten events while the consumer was held, and fell back after the resume.
    expect(step.figures?.['maxLag']).toBeGreaterThanOrEqual(10);
    expect(step.figures?.['catchUpSeconds']).toBeLessThan(30);
    expect(step.figures?.['pausedSeconds']).toBeLessThan(20);
    expect(step.message).toMatch(
      /^10 synthetic events produced while the consumer was paused .* the chain verifies/,
    );
    // The drill's events are in the chain: five keys created, five revoked (plus the sign-ins' events).
    const types = await chainedTypes();
    expect(types['api_key_created']).toBe(5);
    expect(types['api_key_revoked']).toBe(5);
    expect((await (await fetch(`${audit.adminUrl}/audit/verify`)).json()) as { ok: boolean }).toMatchObject({
      ok: true,
    });
    // The audit-service logged the drill's pause and the resume by request (not by its own timer).
    expect(auditLines.join('\n')).toMatch(/"event":"audit_consumer_paused","seconds":20/);
    expect(auditLines.join('\n')).toMatch(/"event":"audit_consumer_resumed","reason":"request"/);
    await expectCleanedUp();

    const metrics = await operator.metricsText();
    expect(
      sample(metrics, 'novapos_drill_step_result', { namespace: ns, name: 'audit', step: 'auditCatchUp' }),
    ).toBe(1);
    const events = await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    expect(events).toMatch(
      /step auditCatchUp passed: .*\[events=10 maxLag=\d+ pausedSeconds=[\d.]+ chainedEvents=10/,
    );
    await expectNoTokenAnywhere();
  });

  it('fails saying the admin token was refused when the Secret holds another one, and pauses nothing', async () => {
    await setToken(WRONG_TOKEN);
    try {
      const { run } = await runDrill('wrong-token');
      expect(run.result).toBe('Failed');
      const step = run.steps[0]!;
      expect(step.result).toBe('Failed');
      expect(step.message).toBe(
        `the audit-service refused the admin token from Secret ${ns}/audit-admin key token (HTTP 401 unauthorized): the Secret must hold the audit-service's AUDIT_ADMIN_TOKEN (without one set, the audit-service refuses every pause)`,
      );
      expect(run.reason).toBeUndefined();
    } finally {
      await setToken(ADMIN_TOKEN);
    }
    await expectCleanedUp();
    expect(auditLines.filter((l) => l.includes('"audit_consumer_paused"'))).toHaveLength(1);
    await expectNoTokenAnywhere();
  });

  it('fails on the timeout with the figures when the consumer does not catch up after the resume', async () => {
    // The audit-service's appends block: a transaction holds audit_logs in EXCLUSIVE mode (reads still work).
    const locker = new pg.Client({ connectionString: auditDbUrl });
    await locker.connect();
    const chainedBefore = await chainedTypes();
    let run: Awaited<ReturnType<typeof runDrill>>['run'];
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE audit_logs IN EXCLUSIVE MODE');
      ({ run } = await runDrill('stuck', spec({ events: 6, maxPause: '15s', timeout: '8s' })));
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
    expect(run.result).toBe('Failed');
    const step = run.steps[0]!;
    expect(step.result).toBe('Failed');
    expect(step.message).toMatch(
      /^0 of 6 synthetic events were chained within 8s of the resume \(consumer lag \d+, at most \d+\): the consumer is not catching up: check the audit-service's log \(audit_append_failed\) and its PostgreSQL$/,
    );
    expect(step.figures).toMatchObject({ events: 6, chainedEvents: 0 });
    expect(step.figures?.['maxLag']).toBeGreaterThanOrEqual(6);
    expect(step.figures?.['lag']).toBeGreaterThanOrEqual(6);
    expect(step.figures?.['catchUpSeconds']).toBeUndefined();
    // The lock gone, the consumer chains them after all: nothing was lost.
    await waitUntil(
      'the stuck events to be chained',
      async () =>
        ((await chainedTypes())['api_key_created'] ?? 0) === (chainedBefore['api_key_created'] ?? 0) + 3 ||
        undefined,
      { timeoutMs: 30_000 },
    );
    await expectCleanedUp();
    await expectNoTokenAnywhere();
  });
});
