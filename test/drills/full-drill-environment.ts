import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { ProvidedContext } from 'vitest';
import { alertmanagerConfig } from '../../alerts/alertmanager/config.js';
import { createLogger } from '../../lib/log.js';
import type { VaultClient } from '../../lib/vault.js';
import {
  type DrillWebhookServer,
  RedisDeliveryLog,
  startDrillWebhookServer,
} from '../../operator/src/adapters/drill/index.js';
import { vaultSigningKeyStores } from '../../operator/src/adapters/vault/index.js';
import type { DisasterRecoveryDrillSpec, SigningKeyRotation } from '../../operator/src/api/index.js';
import { signingKeyRotationController } from '../../operator/src/controllers/signing-key-rotation/index.js';
import { startTestService, type TestService } from '../auth-service/helpers.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { type Env, privateRedisDb, startEnv } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { aRotation, rotationIdentities } from '../signing-keys/support.js';
import {
  type DrillOperator,
  type SyntheticTenantSetup,
  setUpSyntheticTenant,
  startDrillOperator,
} from './support.js';

/**
 * What a whole drill needs, started for one suite (test/drills/full-drill.int.test.ts, and the plugin's
 * test/cli/drill-pass.int.test.ts): a namespace of its own, an Alertmanager of its own routing to the
 * drill webhook, OpenBao identities for the operator and auth-service (Kubernetes auth, the repository's
 * policies), a database, the SigningKeyRotation `auth` with its first key, auth-service loading it,
 * a gateway verifying against auth-service's JWKS, the synthetic tenant, and the operator's Manager with
 * the DisasterRecoveryDrill, TenantRateLimit and SigningKeyRotation controllers.
 */
export interface DrillEnvironment {
  readonly ns: string;
  readonly tenant: string;
  readonly kubectl: Kubectl;
  readonly svc: TestService;
  readonly gateway: TestGateway;
  readonly setup: SyntheticTenantSetup;
  readonly databaseUrl: string;
  /** The operator now running (restartOperator replaces it). */
  readonly operator: DrillOperator;
  /** skr/auth as the apiserver has it. */
  skr(): Promise<SigningKeyRotation>;
  /** A drill's syntheticTenant for this environment's tenant. */
  synthetic(): {
    tenant: string;
    credentialsSecretRef: { name: string };
    requestsPerMinute: number;
    redisFailureMode: 'localFallback';
    localFallbackRequestsPerMinute: number;
  };
  /**
   * The three steps with the bounds these suites run them at: a key rotation with a 12 s lead time and
   * 35 s of synthetic traffic (no failed request allowed), a 4 s Redis outage, an alert delivered in 15 s.
   */
  threeSteps(): NonNullable<DisasterRecoveryDrillSpec['steps']>;
  /** Stops the operator and starts it again with another gateway (and its admin URL for /metrics). */
  restartOperator(gatewayUrl: string, gatewayAdminUrl?: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts it. `label` names the namespace (`LABEL-XXXXXX`), the Alertmanager, the temp dir and the database;
 * the synthetic tenant is `drill-TAG-XXXXXX` (a drill's tenant must start with `drill-`). On a failure part
 * way, what was started is stopped before the error is thrown.
 */
export async function startDrillEnvironment(
  env: ProvidedContext['env'],
  label: string,
  tenantTag: string,
): Promise<DrillEnvironment> {
  const suffix = randomBytes(3).toString('hex');
  const ns = `${label}-${suffix}`;
  const tenant = `drill-${tenantTag}-${suffix}`;
  const dir = mkdtempSync(path.join(tmpdir(), `${label}-`));
  const kube = env.kube!;
  const kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
  // A Redis database of the drill environments' own (10): the gateway counts failed authentications per
  // client address in Redis, every suite's client is 127.0.0.1, and suites refuse tokens on purpose on the
  // shared database; once 127.0.0.1 had 30 failures there in a minute, the drill's new tokens and API key
  // were refused with 429 too_many_auth_failures (test/drills/shared-redis-isolation.int.test.ts). The
  // drill's gateway, operator (fault keys, limits) and webhook (deliveries) all use this one.
  const redisUrl = privateRedisDb(env.redisUrl, 10);
  const redis = new Redis(redisUrl);
  let webhook: DrillWebhookServer | undefined;
  let am: Env | undefined;
  let svc: TestService | undefined;
  let gateway: TestGateway | undefined;
  let operator: DrillOperator | undefined;
  let operatorVault: VaultClient;

  const skr = async () =>
    JSON.parse(
      await kubectl(['get', 'signingkeyrotation', 'auth', '-n', ns, '-o', 'json']),
    ) as SigningKeyRotation;

  const start = (gatewayUrl: string, authServiceUrl: string, gatewayAdminUrl?: string) =>
    startDrillOperator({
      kubeconfig: kube.kubeconfig,
      namespace: ns,
      redisUrl,
      authServiceUrl,
      gatewayUrl,
      gatewayMetricsUrls: gatewayAdminUrl ? [`${gatewayAdminUrl}/metrics`] : undefined,
      alertmanagerUrl: am!.alertmanager!.url,
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

  const stop = async () => {
    await operator?.stop();
    await gateway?.close();
    await svc?.close();
    await webhook?.close();
    await am?.stop();
    redis.disconnect();
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    webhook = await startDrillWebhookServer({
      port: await freePort(),
      host: '127.0.0.1',
      deliveries: new RedisDeliveryLog(redis),
      log: createLogger({ component: 'drill-webhook', level: 'warn' }),
    });
    const webhookUrl = webhook.url;
    am = await startEnv({
      label: `${label}-am`,
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
            drillWebhookUrl: webhookUrl,
            timings: { groupWait: '1s', groupInterval: '2s', repeatInterval: '1h' },
          });
        },
      },
    });
    await kubectl(['create', 'namespace', ns]);

    // Vault: the operator writes the key tree, auth-service reads it (Kubernetes auth, repo policies).
    const v = env.vaults[0]!;
    const identities = await rotationIdentities(v, kube, { namespace: ns, name: 'auth', dir });
    operatorVault = identities.operator.client;
    const pg = await import('pg');
    const dbName = `${label.replaceAll('-', '_')}_${suffix}`;
    const adminDb = new pg.default.Client({ connectionString: env.postgresUrl });
    await adminDb.connect();
    await adminDb.query(`CREATE DATABASE ${dbName}`);
    await adminDb.end();
    const dbUrl = new URL(env.postgresUrl!);
    dbUrl.pathname = `/${dbName}`;
    const databaseUrl = dbUrl.toString();

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
      DATABASE_URL: databaseUrl,
      ...identities.authServiceEnv,
      SIGNING_KEYSET_PATH: `secret/novapos/signing-keys/${ns}/auth`,
      SIGNING_KEYSET_POLL_SECONDS: '1',
      LOG_LEVEL: 'warn',
      AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
      AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
    });
    const authUrl = svc.url;
    await kubectl([
      'patch',
      'signingkeyrotation',
      'auth',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { services: [{ name: 'auth-service', statusURL: `${authUrl}/keys/status` }] } }),
    ]);
    gateway = await startTestGateway({
      REDIS_URL: redisUrl,
      DATABASE_URL: databaseUrl,
      JWKS_URL: `${authUrl}/.well-known/jwks.json`,
      JWKS_MAX_CACHE_SECONDS: '10',
      GATEWAY_RATE_LIMIT_RPM: '6000',
      LOG_LEVEL: 'warn',
    });
    await operator.stop();
    operator = await start(gateway.url, authUrl, gateway.adminUrl);
    const setup = await setUpSyntheticTenant({ authUrl, db: svc.db, kubectl, namespace: ns, tenant });
    await waitUntil('auth-service to load the key set', async () =>
      (await skr()).status?.conditions?.find((c) => c.type === 'ServicesLoaded')?.status === 'True'
        ? true
        : undefined,
    );
    const [service, gw] = [svc, gateway];
    return {
      ns,
      tenant,
      kubectl,
      svc: service,
      gateway: gw,
      setup,
      databaseUrl,
      get operator() {
        return operator!;
      },
      skr,
      synthetic: () => ({
        tenant,
        credentialsSecretRef: { name: `${tenant}-credentials` },
        requestsPerMinute: 6000,
        redisFailureMode: 'localFallback' as const,
        localFallbackRequestsPerMinute: 6000,
      }),
      threeSteps: () => ({
        keyRotation: {
          signingKeyRotationRef: { name: 'auth' },
          leadTimeOverride: '12s',
          syntheticRps: 10,
          duration: '35s',
          maxFailedRequests: 0,
        },
        redisOutage: { tenant, duration: '4s', syntheticRps: 10 },
        alertDelivery: { receiver: 'drill', timeout: '15s' },
      }),
      async restartOperator(gatewayUrl, gatewayAdminUrl) {
        await operator?.stop();
        operator = undefined;
        operator = await start(gatewayUrl, authUrl, gatewayAdminUrl);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
