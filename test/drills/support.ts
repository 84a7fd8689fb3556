import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { generate } from 'otplib';
import { createLogger } from '../../lib/log.js';
import { drillAdapters } from '../../operator/src/adapters/drill/index.js';
import type { DrillAdapters } from '../../operator/src/adapters/drill/ports.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import type { DisasterRecoveryDrill, DisasterRecoveryDrillSpec } from '../../operator/src/api/index.js';
import {
  type DisasterRecoveryDrillControllerOptions,
  type DisasterRecoveryDrillReconciler,
  disasterRecoveryDrillController,
} from '../../operator/src/controllers/disaster-recovery-drill/index.js';
import { tenantRateLimitController } from '../../operator/src/controllers/tenant-rate-limit/index.js';
import { type ControllerFactory, Manager } from '../../operator/src/runtime/index.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { seedDemo } from '../../services/auth-service/src/seed.js';
import type { TestService } from '../auth-service/helpers.js';
import { waitUntil } from '../harness/wait.js';
import type { Kubectl } from '../runtime/support.js';

export const DRILL_PASSWORD = 'Drill-Synthetic-Admin-77!';

/** Timings that make a drill fit in a test: fast polls, short bounds. */
export const TEST_TIMING = {
  guardIntervalMs: 500,
  guardBlindMs: 5_000,
  appliedTimeoutMs: 15_000,
  recoveryTimeoutMs: 8_000,
  pollMs: 300,
  tokenRefreshMs: 500,
  cleanupTimeoutMs: 40_000,
} as const;

export interface DrillOperator {
  readonly manager: Manager;
  readonly lines: string[];
  readonly adapters: DrillAdapters;
  reconciler(): DisasterRecoveryDrillReconciler;
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The operator's Manager in this process with the DisasterRecoveryDrill controller (real adapters) and the
 * TenantRateLimit controller (the drill's synthetic limits reach the gateway through it), plus any other
 * controllers a suite needs.
 */
export async function startDrillOperator(opts: {
  kubeconfig: string;
  namespace: string;
  redisUrl: string;
  authServiceUrl: string;
  gatewayUrl: string;
  /** The gateway's `/metrics` on its admin port (default `<gatewayUrl>/metrics`). */
  gatewayMetricsUrls?: readonly string[];
  alertmanagerUrl: string;
  /** The audit-service's admin port (DRILL_AUDIT_SERVICE_URL), for the auditCatchUp step. */
  auditServiceUrl?: string;
  controller?: Partial<DisasterRecoveryDrillControllerOptions>;
  extra?: readonly ControllerFactory[];
  rateLimitController?: boolean;
  identity?: string;
}): Promise<DrillOperator> {
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const lines: string[] = [];
  const log = createLogger({
    component: 'operator',
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        if (process.env.DRILL_TEST_LOGS === '1') process.stderr.write(chunk);
        cb();
      },
    }),
  });
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 2 });
  const adapters = drillAdapters({
    kubeConfig: kc,
    redis,
    authServiceUrl: opts.authServiceUrl,
    gatewayUrl: opts.gatewayUrl,
    gatewayMetricsUrls: opts.gatewayMetricsUrls,
    alertmanagerUrl: opts.alertmanagerUrl,
    auditServiceUrl: opts.auditServiceUrl,
  });
  const limits = new RedisLimitPublisher(opts.redisUrl);
  await limits.ready();
  const manager = new Manager({
    kubeConfig: kc,
    log,
    identity: opts.identity ?? `drill-test-${process.pid}-${randomBytes(2).toString('hex')}`,
    watchNamespaces: [opts.namespace],
    leaderElection: false,
    metricsPort: 0,
    bindAddress: '127.0.0.1',
    backoff: { baseMs: 200, maxMs: 3_000 },
    shutdownTimeoutMs: 5_000,
  });
  let reconciler: DisasterRecoveryDrillReconciler | undefined;
  manager.register(
    disasterRecoveryDrillController({
      adapters,
      timing: TEST_TIMING,
      schedule: { runPollMs: 500 },
      ...opts.controller,
      onReconciler: (r) => {
        reconciler = r;
      },
    }),
  );
  if (opts.rateLimitController !== false) manager.register(tenantRateLimitController({ limits }));
  for (const f of opts.extra ?? []) manager.register(f);
  await manager.start();
  return {
    manager,
    lines,
    adapters,
    reconciler: () => reconciler!,
    metricsText: async () => (await fetch(`${manager.metricsUrl}/metrics`)).text(),
    async stop() {
      await reconciler?.stopAll(30_000);
      await manager.stop();
      await limits.close();
      redis.disconnect();
    },
  };
}

/** A DisasterRecoveryDrill as a user applies it. */
export function aDrill(
  namespace: string,
  name: string,
  spec: Partial<DisasterRecoveryDrillSpec> & Pick<DisasterRecoveryDrillSpec, 'steps'>,
  annotations: Record<string, string> = {},
): DisasterRecoveryDrill {
  return {
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'DisasterRecoveryDrill',
    metadata: { name, namespace, annotations },
    spec: {
      // Far away: runs are started with run-now unless a test says otherwise.
      schedule: '0 6 1 1 *',
      suspend: false,
      concurrencyPolicy: 'Forbid',
      historyLimit: 5,
      ...spec,
    },
  };
}

export async function getDrill(
  kubectl: Kubectl,
  namespace: string,
  name: string,
): Promise<DisasterRecoveryDrill> {
  return JSON.parse(
    await kubectl(['get', 'disasterrecoverydrill', name, '-n', namespace, '-o', 'json']),
  ) as DisasterRecoveryDrill;
}

/** The finished run started by run-now `value`, once status has it. */
export async function finishedRun(kubectl: Kubectl, namespace: string, name: string, afterRuns = 0) {
  const d = await getDrill(kubectl, namespace, name);
  const done = (d.status?.lastRuns ?? []).filter((r) => r.result !== 'Running');
  return done.length > afterRuns && !d.status?.activeRuns?.length ? { drill: d, run: done[0]! } : undefined;
}

/**
 * Runs of one drill, one after another: `run(drill)` applies it (its run-now annotation starts a run) and
 * waits for that run to finish, counting the runs so each wait is for the new one.
 */
export function drillRuns(kubectl: Kubectl, namespace: string, name: string, timeoutMs = 90_000) {
  let runs = 0;
  return async (drill: DisasterRecoveryDrill) => {
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));
    const done = await waitUntil('the run to finish', () => finishedRun(kubectl, namespace, name, runs), {
      timeoutMs,
    });
    runs++;
    return done;
  };
}

export interface SyntheticTenantSetup {
  readonly tenant: string;
  readonly email: string;
  readonly totpSecret: string;
  readonly secretName: string;
}

/**
 * The documented setup step (docs/drills.md, "Setup"): the synthetic tenant and its admin are created the
 * way `SEED_TENANT=<tenant> npm run auth:seed` does it, the admin enrolls MFA through auth-service's API,
 * and the credentials go into a Secret beside the drill.
 */
export async function setUpSyntheticTenant(opts: {
  authUrl: string;
  db: Parameters<typeof seedDemo>[0];
  kubectl: Kubectl;
  namespace: string;
  tenant: string;
  secretName?: string;
}): Promise<SyntheticTenantSetup> {
  const email = `admin@${opts.tenant}.drill.invalid`;
  const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
  await seedDemo(opts.db, hasher, { tenant: opts.tenant, email, password: DRILL_PASSWORD });
  const call = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${opts.authUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-tenant-id': opts.tenant,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const login = await call('/login', { email, password: DRILL_PASSWORD });
  const token = (login.body['enrollmentToken'] ?? login.body['accessToken']) as string | undefined;
  if (!token) throw new Error(`synthetic admin login: HTTP ${login.status}`);
  const start = await call('/mfa/enroll/start', {}, token);
  const totpSecret = start.body['secret'] as string;
  if (!totpSecret) throw new Error(`MFA enrollment start: HTTP ${start.status}`);
  const done = await call('/mfa/enroll/complete', { code: await generate({ secret: totpSecret }) }, token);
  if (done.status !== 200) throw new Error(`MFA enrollment: HTTP ${done.status}`);
  const secretName = opts.secretName ?? `${opts.tenant}-credentials`;
  await opts.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace: opts.namespace },
      stringData: { email, password: DRILL_PASSWORD, totpSecret },
    }),
  );
  return { tenant: opts.tenant, email, totpSecret, secretName };
}

/** Value of one sample in Prometheus text (undefined when absent). */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const got = Object.fromEntries(
      [...line.slice(name.length + 1, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * What the synthetic admin still holds after a run's cleanup: API keys not revoked and live sessions
 * (refresh tokens neither revoked, used nor expired). Both must be empty.
 */
export async function syntheticAdminLeftovers(
  svc: Pick<TestService, 'repo' | 'db'>,
  tenant: string,
): Promise<{ liveApiKeys: unknown[]; sessions: number }> {
  const keys = await svc.repo.listApiKeys(tenant);
  const sessions = await svc.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM auth_refresh_tokens
      WHERE tenant_id = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > now()`,
    [tenant],
  );
  return { liveApiKeys: keys.filter((k) => !k.revokedAt), sessions: Number(sessions.rows[0]?.n) };
}
