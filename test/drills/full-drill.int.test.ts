import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { alertmanagerConfig } from '../../alerts/alertmanager/config.js';
import { createLogger } from '../../lib/log.js';
import type { VaultClient } from '../../lib/vault.js';
import {
  type DrillWebhookServer,
  RESTORE_LEAD_TIME_ANNOTATION,
  RedisDeliveryLog,
  startDrillWebhookServer,
} from '../../operator/src/adapters/drill/index.js';
import { vaultSigningKeyStores } from '../../operator/src/adapters/vault/index.js';
import { Annotations, type SigningKeyRotation } from '../../operator/src/api/index.js';
import { signingKeyRotationController } from '../../operator/src/controllers/signing-key-rotation/index.js';
import { expectNoSecrets, startTestService, type TestService } from '../auth-service/helpers.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { type Env, startEnv } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { aRotation, kubernetesVaultIdentity, vaultAdmin } from '../signing-keys/support.js';
import {
  aDrill,
  DRILL_PASSWORD,
  type DrillOperator,
  finishedRun,
  getDrill,
  type SyntheticTenantSetup,
  sample,
  setUpSyntheticTenant,
  startDrillOperator,
} from './support.js';

/**
 * The whole drill against the real apiserver, OpenBao, Redis, Alertmanager, auth-service and gateway, with
 * the SigningKeyRotation and TenantRateLimit controllers on the same Manager: a drill on a short schedule
 * runs all three steps and reports pass with figures; a gateway whose JWKS never refreshes (a stale cache
 * in front of auth-service's JWKS) fails exactly the key rotation step.
 */
describe('drill: all three steps', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `drill-full-${suffix}`;
  const tenant = `drill-f-${suffix}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'drill-full-'));
  let kubectl: Kubectl;
  let redis: Redis;
  let am: Env;
  let webhook: DrillWebhookServer;
  let svc: TestService;
  let gateway: TestGateway;
  let staleGateway: TestGateway | undefined;
  let staleJwks: http.Server | undefined;
  let operator: DrillOperator;
  let setup: SyntheticTenantSetup;
  let operatorVault: VaultClient;
  let databaseUrl: string;

  const skr = async () =>
    JSON.parse(
      await kubectl(['get', 'signingkeyrotation', 'auth', '-n', ns, '-o', 'json']),
    ) as SigningKeyRotation;

  const start = (gatewayUrl: string, authServiceUrl = svc.url, gatewayAdminUrl?: string) =>
    startDrillOperator({
      kubeconfig: env.kube!.kubeconfig,
      namespace: ns,
      redisUrl: env.redisUrl!,
      authServiceUrl,
      gatewayUrl,
      gatewayMetricsUrls: gatewayAdminUrl ? [`${gatewayAdminUrl}/metrics`] : undefined,
      alertmanagerUrl: am.alertmanager!.url,
      extra: [
        signingKeyRotationController({
          vault: vaultSigningKeyStores(new Map([['local', operatorVault]])),
          // The test's services listen on loopback ports chosen at run time.
          endpoints: { allowedOrigins: ['http://127.0.0.1:*'] },
          timing: {
            clockSkewMs: 1_000,
            servicePollMs: 500,
            serviceWaitPollMs: 200,
            serviceLoadTimeoutMs: 10_000,
          },
        }),
      ],
    });

  const synthetic = () => ({
    tenant,
    credentialsSecretRef: { name: `${tenant}-credentials` },
    requestsPerMinute: 6000,
    redisFailureMode: 'localFallback' as const,
    localFallbackRequestsPerMinute: 6000,
  });

  beforeAll(async () => {
    const kube = env.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    redis = new Redis(env.redisUrl!);
    webhook = await startDrillWebhookServer({
      port: await freePort(),
      host: '127.0.0.1',
      deliveries: new RedisDeliveryLog(redis),
      log: createLogger({ component: 'drill-webhook', level: 'warn' }),
    });
    am = await startEnv({
      label: 'drill-full-am',
      alertmanager: {
        config: (sinks) => {
          const file = path.join(dir, 'secret');
          writeFileSync(file, `${sinks.slack}/x`, { mode: 0o600 });
          return alertmanagerConfig({
            pagerduty: { routingKeyFile: file, url: `${sinks.pagerduty}/v2/enqueue` },
            slack: {
              security: { apiUrlFile: file, channel: '#s' },
              sre: { apiUrlFile: file, channel: '#r' },
            },
            drillWebhookUrl: webhook.url,
            timings: { groupWait: '1s', groupInterval: '2s', repeatInterval: '1h' },
          });
        },
      },
    });
    await kubectl(['create', 'namespace', ns]);

    // Vault: the operator writes the key tree, auth-service reads it (Kubernetes auth, repo policies).
    const v = env.vaults[0]!;
    const admin = vaultAdmin(v.addr, v.rootToken);
    const mount = `k8s-${ns}`;
    const opId = await kubernetesVaultIdentity(admin, kube, {
      mount,
      namespace: ns,
      serviceAccount: 'novapos-operator',
      policyFile: 'signing-key-operator.hcl',
      dir,
    });
    operatorVault = opId.client;
    const authId = await kubernetesVaultIdentity(admin, kube, {
      mount,
      namespace: ns,
      serviceAccount: 'auth-service',
      policyFile: 'auth-service.hcl',
      tree: { namespace: ns, name: 'auth' },
      dir,
    });
    const pg = await import('pg');
    const dbName = `drill_full_${suffix}`;
    const adminDb = new pg.default.Client({ connectionString: env.postgresUrl });
    await adminDb.connect();
    await adminDb.query(`CREATE DATABASE ${dbName}`);
    await adminDb.end();
    const dbUrl = new URL(env.postgresUrl!);
    dbUrl.pathname = `/${dbName}`;
    databaseUrl = dbUrl.toString();

    // The SigningKeyRotation first (the operator makes the first key), then the service that loads it.
    // Its own lead time is long; the drill shortens it for its rotation and puts it back. jwksCacheTTL is
    // 10 s, not less: the gateway's verifier never caches the JWKS for less than its 10 s refetch interval,
    // and with a shorter TTL the drill (rightly) fails: tokens of the new key are rejected for a few seconds.
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(aRotation(ns, 'auth', { leadTime: '2m', jwksCacheTTL: '10s', maxTokenTTL: '15m' })),
    );
    operator = await start('http://127.0.0.1:9', 'http://127.0.0.1:9'); // the gateway comes next; no drill runs before it
    await waitUntil('the first key', async () => (await skr()).status?.activeKid, { timeoutMs: 60_000 });
    svc = await startTestService({
      DATABASE_URL: dbUrl.toString(),
      VAULT_ADDR: v.addr,
      VAULT_AUTH_METHOD: 'kubernetes',
      VAULT_K8S_ROLE: authId.role,
      VAULT_K8S_MOUNT: mount,
      VAULT_K8S_TOKEN_PATH: authId.jwtPath,
      SIGNING_KEYSET_PATH: `secret/novapos/signing-keys/${ns}/auth`,
      SIGNING_KEYSET_POLL_SECONDS: '1',
      LOG_LEVEL: 'warn',
      AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
      AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
    });
    await kubectl([
      'patch',
      'signingkeyrotation',
      'auth',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { services: [{ name: 'auth-service', statusURL: `${svc.url}/keys/status` }] } }),
    ]);
    gateway = await startTestGateway({
      REDIS_URL: env.redisUrl,
      DATABASE_URL: dbUrl.toString(),
      JWKS_URL: `${svc.url}/.well-known/jwks.json`,
      JWKS_MAX_CACHE_SECONDS: '10',
      GATEWAY_RATE_LIMIT_RPM: '6000',
      LOG_LEVEL: 'warn',
    });
    await operator.stop();
    operator = await start(gateway.url, svc.url, gateway.adminUrl);
    setup = await setUpSyntheticTenant({ authUrl: svc.url, db: svc.db, kubectl, namespace: ns, tenant });
    await waitUntil('auth-service to load the key set', async () =>
      (await skr()).status?.conditions?.find((c) => c.type === 'ServicesLoaded')?.status === 'True'
        ? true
        : undefined,
    );
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await staleGateway?.close();
    staleJwks?.close();
    await gateway?.close();
    await svc?.close();
    await webhook?.close();
    await am?.stop();
    redis?.disconnect();
    await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs all three steps on its schedule and reports pass with figures', async () => {
    const before = await skr();
    const drill = aDrill(ns, 'quarterly', {
      schedule: '* * * * *',
      syntheticTenant: synthetic(),
      steps: {
        keyRotation: {
          signingKeyRotationRef: { name: 'auth' },
          leadTimeOverride: '12s',
          syntheticRps: 10,
          duration: '35s',
          maxFailedRequests: 0,
        },
        redisOutage: { tenant, duration: '4s', syntheticRps: 10 },
        alertDelivery: { receiver: 'drill', timeout: '15s' },
      },
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
    // A stale cache in front of auth-service's JWKS: the key set as it is now, forever.
    const frozen = await (await fetch(`${svc.url}/.well-known/jwks.json`)).text();
    staleJwks = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=1' });
      res.end(frozen);
    });
    await new Promise<void>((r) => staleJwks!.listen(0, '127.0.0.1', r));
    staleGateway = await startTestGateway({
      REDIS_URL: env.redisUrl,
      DATABASE_URL: databaseUrl,
      JWKS_URL: `http://127.0.0.1:${(staleJwks.address() as AddressInfo).port}/jwks.json`,
      JWKS_MAX_CACHE_SECONDS: '10',
      GATEWAY_RATE_LIMIT_RPM: '6000',
      LOG_LEVEL: 'warn',
    });
    await operator.stop();
    operator = await start(staleGateway.url, svc.url, staleGateway.adminUrl);

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
