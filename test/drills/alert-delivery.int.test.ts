import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { alertmanagerConfig, RECEIVERS } from '../../alerts/alertmanager/config.js';
import { createLogger } from '../../lib/log.js';
import {
  type DrillWebhookServer,
  deliveryKey,
  MAX_DELIVERIES_PER_RUN,
  RedisDeliveryLog,
  startDrillWebhookServer,
} from '../../operator/src/adapters/drill/index.js';
import { Annotations } from '../../operator/src/api/index.js';
import { sinkRecords } from '../harness/components/sinks.js';
import { type Env, startEnv } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { aDrill, type DrillOperator, finishedRun, getDrill, sample, startDrillOperator } from './support.js';

/**
 * The alert delivery step against the real Alertmanager with the project's configuration (test timings):
 * the synthetic alert reaches the drill receiver (the operator's webhook) and its resolve follows; with the
 * drill route removed from the configuration the step fails and says where the alert went instead.
 */
describe('drill: alert delivery', () => {
  const shared = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const okNs = `drill-am-${suffix}`;
  const brokenNs = `drill-am-broken-${suffix}`;
  const tokenNs = `drill-am-token-${suffix}`;
  const secretsDir = mkdtempSync(path.join(os.tmpdir(), 'drill-am-'));
  // The operator's webhook and Alertmanager read the bearer token from files, as from mounted Secrets.
  const token = randomBytes(32).toString('hex');
  const tokenFile = path.join(secretsDir, 'drill-webhook-token');
  const wrongTokenFile = path.join(secretsDir, 'wrong-drill-webhook-token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  writeFileSync(wrongTokenFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  let kubectl: Kubectl;
  let webhook: DrillWebhookServer;
  let redis: Redis;
  let amOk: Env;
  let amBroken: Env;
  let amWrongToken: Env;
  let opOk: DrillOperator;
  let opBroken: DrillOperator;
  let opWrongToken: DrillOperator;

  const config = (
    sinks: { pagerduty: string; slack: string },
    webhookUrl: string,
    withDrillRoute: boolean,
    drillWebhookTokenFile = tokenFile,
  ) => {
    const routingKeyFile = path.join(secretsDir, 'routing-key');
    writeFileSync(routingKeyFile, 'drill-test-routing-key', { mode: 0o600 });
    const slackFile = path.join(secretsDir, 'slack');
    writeFileSync(slackFile, `${sinks.slack}/services/x`, { mode: 0o600 });
    const c = alertmanagerConfig({
      pagerduty: { routingKeyFile, url: `${sinks.pagerduty}/v2/enqueue` },
      slack: {
        security: { apiUrlFile: slackFile, channel: '#security-alerts' },
        sre: { apiUrlFile: slackFile, channel: '#sre-alerts' },
      },
      drillWebhookUrl: webhookUrl,
      drillWebhookTokenFile,
      timings: { groupWait: '1s', groupInterval: '2s', repeatInterval: '1h' },
    }) as { route: { routes: { receiver: string }[] } };
    if (!withDrillRoute) c.route.routes = c.route.routes.filter((r) => r.receiver !== RECEIVERS.drill);
    return c as unknown as Record<string, unknown>;
  };

  beforeAll(async () => {
    const kube = shared.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    redis = new Redis(shared.redisUrl!);
    webhook = await startDrillWebhookServer({
      port: await freePort(),
      host: '127.0.0.1',
      deliveries: new RedisDeliveryLog(redis),
      log: createLogger({ component: 'drill-webhook', level: 'warn' }),
      bearerTokenFile: tokenFile,
    });
    [amOk, amBroken, amWrongToken] = await Promise.all([
      startEnv({ label: 'drill-am', alertmanager: { config: (s) => config(s, webhook.url, true) } }),
      startEnv({ label: 'drill-am-broken', alertmanager: { config: (s) => config(s, webhook.url, false) } }),
      startEnv({
        label: 'drill-am-token',
        alertmanager: { config: (s) => config(s, webhook.url, true, wrongTokenFile) },
      }),
    ]);
    for (const ns of [okNs, brokenNs, tokenNs]) await kubectl(['create', 'namespace', ns]);
    const common = {
      kubeconfig: kube.kubeconfig,
      redisUrl: shared.redisUrl!,
      authServiceUrl: 'http://127.0.0.1:9',
      gatewayUrl: 'http://127.0.0.1:9',
      rateLimitController: false,
    };
    opOk = await startDrillOperator({ ...common, namespace: okNs, alertmanagerUrl: amOk.alertmanager!.url });
    opBroken = await startDrillOperator({
      ...common,
      namespace: brokenNs,
      alertmanagerUrl: amBroken.alertmanager!.url,
    });
    opWrongToken = await startDrillOperator({
      ...common,
      namespace: tokenNs,
      alertmanagerUrl: amWrongToken.alertmanager!.url,
    });
  }, 120_000);

  afterAll(async () => {
    await opOk?.stop();
    await opBroken?.stop();
    await opWrongToken?.stop();
    await webhook?.close();
    await amOk?.stop();
    await amBroken?.stop();
    await amWrongToken?.stop();
    redis?.disconnect();
    for (const ns of [okNs, brokenNs, tokenNs])
      await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    rmSync(secretsDir, { recursive: true, force: true });
  });

  it('delivers the synthetic alert to the drill receiver and its resolve, and reports pass with figures', async () => {
    const drill = aDrill(
      okNs,
      'alerts',
      { steps: { alertDelivery: { receiver: 'drill', timeout: '20s' } } },
      {
        [Annotations.runNow]: 'first',
      },
    );
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));
    const { run, drill: after } = await waitUntil(
      'the run to finish',
      () => finishedRun(kubectl, okNs, 'alerts'),
      {
        timeoutMs: 60_000,
      },
    );
    expect(run.result, JSON.stringify(run)).toBe('Succeeded');
    expect(run.trigger).toBe('runNow');
    const step = run.steps[0]!;
    expect(step).toMatchObject({ name: 'alertDelivery', result: 'Passed' });
    expect(step.figures?.['deliverySeconds']).toBeGreaterThan(0);
    expect(step.figures?.['deliverySeconds']).toBeLessThan(20);
    expect(step.figures?.['resolveSeconds']).toBeLessThan(20);
    expect(after.status?.lastHandled?.runNow).toBe('first');
    expect(after.status?.conditions?.find((c) => c.type === 'LastRunSucceeded')?.status).toBe('True');

    // What an operator sees.
    const table = await kubectl(['get', 'disasterrecoverydrills', '-n', okNs]);
    expect(table).toMatch(/alerts\s+0 6 1 1 \*\s+Succeeded/);
    const described = await kubectl(['describe', 'disasterrecoverydrill', 'alerts', '-n', okNs]);
    expect(described).toContain('DrillStepPassed');
    expect(described).toContain('Delivery Seconds');

    const metrics = await opOk.metricsText();
    expect(
      sample(metrics, 'novapos_drill_step_result', {
        namespace: okNs,
        name: 'alerts',
        step: 'alertDelivery',
      }),
    ).toBe(1);
    expect(
      sample(metrics, 'novapos_drill_last_success_timestamp_seconds', { namespace: okNs, name: 'alerts' }),
    ).toBeGreaterThan(Date.now() / 1000 - 120);
    // A drill alert pages nobody.
    const paged = (await sinkRecords(amOk.pagerduty!.url)).filter((r) =>
      JSON.stringify(r.body).includes(run.id),
    );
    expect(paged).toEqual([]);
  });

  it('acts once per run-now value', async () => {
    await kubectl([
      'annotate',
      'disasterrecoverydrill',
      'alerts',
      '-n',
      okNs,
      `${Annotations.runNow}=first`,
      '--overwrite',
    ]);
    await sleep(3_000);
    expect((await getDrill(kubectl, okNs, 'alerts')).status?.lastRuns).toHaveLength(1);
    await kubectl([
      'annotate',
      'disasterrecoverydrill',
      'alerts',
      '-n',
      okNs,
      `${Annotations.runNow}=second`,
      '--overwrite',
    ]);
    const { run, drill } = await waitUntil('the second run', () => finishedRun(kubectl, okNs, 'alerts', 1), {
      timeoutMs: 60_000,
    });
    expect(run.result).toBe('Succeeded');
    expect(drill.status?.lastRuns).toHaveLength(2);
    expect(drill.status?.lastHandled?.runNow).toBe('second');
  });

  it('fails exactly the alert step, saying where the alert went, when the drill route is removed', async () => {
    const drill = aDrill(
      brokenNs,
      'alerts',
      { steps: { alertDelivery: { receiver: 'drill', timeout: '8s' } } },
      {
        [Annotations.runNow]: 'broken',
      },
    );
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));
    const { run } = await waitUntil('the run to finish', () => finishedRun(kubectl, brokenNs, 'alerts'), {
      timeoutMs: 60_000,
    });
    expect(run.result).toBe('Failed');
    const step = run.steps[0]!;
    expect(step.result).toBe('Failed');
    expect(step.message).toContain('did not reach receiver drill within 8s');
    expect(step.message).toContain('Alertmanager routed it to pagerduty');
    const metrics = await opBroken.metricsText();
    expect(
      sample(metrics, 'novapos_drill_step_result', {
        namespace: brokenNs,
        name: 'alerts',
        step: 'alertDelivery',
      }),
    ).toBe(0);
    const described = await kubectl(['describe', 'disasterrecoverydrill', 'alerts', '-n', brokenNs]);
    expect(described).toContain('DrillStepFailed');
  });

  describe('the webhook checks the bearer token before it writes anything (issue 19)', () => {
    const log = () => new RedisDeliveryLog(redis);
    const post = (runIds: string[], authorization?: string, extra: Record<string, unknown> = {}) =>
      fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({
          receiver: 'drill',
          alerts: runIds.map((id) => ({ status: 'firing', labels: { drill_run: id } })),
          ...extra,
        }),
      });
    /** Keys under the drill key space that name this suite's forged run ids (others' drills may run). */
    const drillKeys = async () => (await redis.keys(`novapos:drill:*${suffix}*`)).sort();

    it('writes nothing to Redis for posts without the token naming runs that are not in flight', async () => {
      const before = await drillKeys();
      expect(before).toEqual([]);
      const ids = Array.from({ length: 40 }, (_, i) => `flood-${suffix}-${i}`);
      for (let i = 0; i < ids.length; i += 10) {
        expect((await post(ids.slice(i, i + 10))).status).toBe(401);
        expect((await post(ids.slice(i, i + 10), `Bearer ${token.slice(0, -1)}x`)).status).toBe(401);
      }
      expect(await drillKeys()).toEqual(before);
      for (const id of ids.slice(0, 3)) expect(await log().list(id)).toEqual([]);
    });

    it('even with the token, records deliveries only for runs in flight', async () => {
      const before = await drillKeys();
      expect((await post([`not-running-${suffix}`], `Bearer ${token}`)).status).toBe(200);
      expect(await drillKeys()).toEqual(before);
    });

    it('notes refusals for a run in flight, as refusals, capped', async () => {
      const runId = `forged-${suffix}`;
      await log().expect(runId, 60_000);
      expect((await post([runId])).status).toBe(401);
      expect((await post([runId], `Bearer ${token.slice(0, -1)}x`)).status).toBe(401);
      let entries = await log().list(runId);
      expect(entries.map((d) => d.status)).toEqual(['refused', 'refused']);
      expect(entries.some((d) => d.receiver === 'drill')).toBe(false);
      // A flood of refusals for that run keeps a bounded list.
      for (let i = 0; i < MAX_DELIVERIES_PER_RUN + 10; i++) await post([runId]);
      entries = await log().list(runId);
      expect(entries).toHaveLength(MAX_DELIVERIES_PER_RUN);
      expect(await redis.llen(deliveryKey(runId))).toBe(MAX_DELIVERIES_PER_RUN);
      expect(await redis.ttl(deliveryKey(runId))).toBeGreaterThan(0);
    });

    it('a receiver name is stored bounded, and a post without the token is not read past 64 KiB', async () => {
      const runId = `long-${suffix}`;
      await log().expect(runId, 60_000);
      expect((await post([runId], `Bearer ${token}`, { receiver: 'r'.repeat(10_000) })).status).toBe(200);
      const [entry] = await log().list(runId);
      expect(entry?.receiver.length).toBeLessThanOrEqual(64);
      const big = await fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ alerts: [{ labels: { drill_run: runId } }], pad: 'x'.repeat(200_000) }),
      }).then(
        (r) => r.status,
        () => 'closed',
      );
      expect([401, 'closed']).toContain(big);
      expect((await log().list(runId)).filter((d) => d.status === 'refused')).toEqual([]);
    });
  });

  it('fails exactly the alert step, saying the token does not match, when Alertmanager sends another one', async () => {
    const drill = aDrill(
      tokenNs,
      'alerts',
      { steps: { alertDelivery: { receiver: 'drill', timeout: '8s' } } },
      { [Annotations.runNow]: 'wrong-token' },
    );
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));
    const { run } = await waitUntil('the run to finish', () => finishedRun(kubectl, tokenNs, 'alerts'), {
      timeoutMs: 60_000,
    });
    expect(run.result).toBe('Failed');
    const step = run.steps[0]!;
    expect(step.result).toBe('Failed');
    expect(step.message).toContain('was refused');
    expect(step.message).toContain('bearer token');
    // The token itself is in no status, Event or log line.
    const described = await kubectl(['describe', 'disasterrecoverydrill', 'alerts', '-n', tokenNs]);
    expect(JSON.stringify(run) + described + opWrongToken.lines.join('\n')).not.toContain(token);
  });
});
