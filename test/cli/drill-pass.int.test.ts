import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { alertmanagerConfig } from '../../alerts/alertmanager/config.js';
import { createLogger } from '../../lib/log.js';
import type { VaultClient } from '../../lib/vault.js';
import {
  type DrillWebhookServer,
  RedisDeliveryLog,
  startDrillWebhookServer,
} from '../../operator/src/adapters/drill/index.js';
import { vaultSigningKeyStores } from '../../operator/src/adapters/vault/index.js';
import type { SigningKeyRotation } from '../../operator/src/api/index.js';
import { signingKeyRotationController } from '../../operator/src/controllers/signing-key-rotation/index.js';
import { expectNoSecrets, startTestService, type TestService } from '../auth-service/helpers.js';
import {
  aDrill,
  DRILL_PASSWORD,
  type DrillOperator,
  type SyntheticTenantSetup,
  setUpSyntheticTenant,
  startDrillOperator,
} from '../drills/support.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { type Env, startEnv } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { aRotation, kubernetesVaultIdentity, vaultAdmin } from '../signing-keys/support.js';
import { buildPlugin, runPlugin } from './support.js';

/**
 * `kubectl novapos drill run --wait` to a passing report: the whole drill (key rotation, Redis outage,
 * alert delivery) against the real apiserver, OpenBao, Redis, Alertmanager, auth-service and gateway, with
 * the DisasterRecoveryDrill, SigningKeyRotation and TenantRateLimit controllers on one Manager (the setup
 * of test/drills/full-drill.int.test.ts); the plugin starts the run, prints a progress line as each step
 * moves, exits 0 and prints the report; `drill report` and `status` show the same run.
 */
describe('kubectl novapos drill run --wait: a passing drill', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `cli-drill-pass-${suffix}`;
  const tenant = `drill-cli-${suffix}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-drill-pass-'));
  let bundle: string;
  let kubectl: Kubectl;
  let redis: Redis;
  let am: Env;
  let webhook: DrillWebhookServer;
  let svc: TestService;
  let gateway: TestGateway;
  let operator: DrillOperator;
  let setup: SyntheticTenantSetup;
  let operatorVault: VaultClient;

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
    bundle = await buildPlugin();
    webhook = await startDrillWebhookServer({
      port: await freePort(),
      host: '127.0.0.1',
      deliveries: new RedisDeliveryLog(redis),
      log: createLogger({ component: 'drill-webhook', level: 'warn' }),
    });
    am = await startEnv({
      label: 'cli-drill-pass-am',
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
    const dbName = `cli_drill_pass_${suffix}`;
    const adminDb = new pg.default.Client({ connectionString: env.postgresUrl });
    await adminDb.connect();
    await adminDb.query(`CREATE DATABASE ${dbName}`);
    await adminDb.end();
    const dbUrl = new URL(env.postgresUrl!);
    dbUrl.pathname = `/${dbName}`;

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
    await gateway?.close();
    await svc?.close();
    await webhook?.close();
    await am?.stop();
    redis?.disconnect();
    await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('drill run --wait follows every step to a passing report and exits 0', async () => {
    const before = await skr();
    const drill = aDrill(ns, 'quarterly', {
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
    const plugin = (args: readonly string[]) =>
      runPlugin(bundle, [...args, '-n', ns], { kubeconfig: env.kube!.kubeconfig, timeoutMs: 200_000 });
    const r = await plugin(['drill', 'run', 'drdrill/quarterly', '--wait', '--timeout', '180s']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^drdrill\/quarterly: run requested \(run-now=kubectl-novapos-/);
    // A live line as each step moves: each one seen running, then passed, in order.
    for (const [i, step] of ['keyRotation', 'redisOutage', 'alertDelivery'].entries()) {
      const passedBefore = ['keyRotation', 'redisOutage', 'alertDelivery']
        .slice(0, i)
        .map((s) => `${s} Passed, `)
        .join('');
      expect(r.stderr).toMatch(new RegExp(`: run \\S+ Running: ${passedBefore}${step} Running \\d`));
    }
    expect(lines.at(-1)).toMatch(
      /^drdrill\/quarterly: run \S+ Succeeded: keyRotation Passed, redisOutage Passed, alertDelivery Passed$/,
    );
    // The report, step by step with figures.
    expect(r.stdout).toMatch(/Run \S+ \(runNow\) Succeeded/);
    expect(r.stdout).toMatch(/keyRotation\s+Passed\s+\S+\s+.*failedRequests=0/);
    expect(r.stdout).toMatch(/redisOutage\s+Passed/);
    expect(r.stdout).toMatch(/alertDelivery\s+Passed\s+\S+\s+.*deliverySeconds=/);

    const report = JSON.parse((await plugin(['drill', 'report', 'drdrill/quarterly', '-o', 'json'])).stdout);
    expect(report).toMatchObject({ trigger: 'runNow', result: 'Succeeded' });
    expect(report.steps.map((s: { result: string }) => s.result)).toEqual(['Passed', 'Passed', 'Passed']);
    const status = await plugin(['status', 'drdrill/quarterly']);
    expect(status.stdout).toContain(`Run ${report.id} (runNow) Succeeded`);
    expect(status.stdout).toMatch(/Last success: \d{4}-/);
    // The rotation really happened, and the resource's own lead time is back.
    const rotated = await skr();
    expect(rotated.status?.activeKid).not.toBe(before.status?.activeKid);
    expect(rotated.spec.leadTime).toBe('2m');
    expectNoSecrets(r.stdout + r.stderr + status.stdout, {
      password: DRILL_PASSWORD,
      totpSecret: setup.totpSecret,
    });
  }, 240_000);
});
