import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { tenantRateLimitController } from '../../operator/src/controllers/tenant-rate-limit/index.js';
import { Manager } from '../../operator/src/runtime/index.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { newApiKey } from '../../services/auth-service/src/domain/secrets.js';
import { configFromEnv } from '../../services/integration-gateway/src/config.js';
import { type RunningGateway, startGateway } from '../../services/integration-gateway/src/server.js';
import {
  type aSigningKey,
  LogCapture,
  startServiceWithKeys,
  type TestService,
} from '../auth-service/helpers.js';
import type { EnvDescriptor } from '../harness/env.js';

export { expectNoSecrets, LogCapture, metricValue } from '../auth-service/helpers.js';

const PASSWORD = 'Gateway-Drill-42!horse';

/**
 * The real auth-service (shared PostgreSQL and OpenBao): issues the tokens and API keys the gateway
 * verifies, as in the runbook ("acquire an auth token from auth-service").
 */
export interface AuthFixture {
  readonly svc: TestService;
  readonly databaseUrl: string;
  readonly jwksUrl: string;
  /** Vault path of its key tree (`secret/...`) and the key it signs with, to write a new key set in tests. */
  readonly keyBase: string;
  readonly signingKey: Awaited<ReturnType<typeof aSigningKey>>;
  /** A fresh access token of a user of `tenant` (tenant and user created on first use). */
  token(tenant: string): Promise<string>;
  /** A new API key of `tenant`, stored as auth-service stores it (argon2id). */
  apiKey(tenant: string): Promise<{ id: string; prefix: string; key: string }>;
  revokeApiKey(tenant: string, id: string): Promise<void>;
  close(): Promise<void>;
}

export async function startAuth(env: EnvDescriptor, label: string): Promise<AuthFixture> {
  const { svc, key, base, databaseUrl } = await startServiceWithKeys(env, `gw-${label}`, {
    serviceEnv: {
      LOG_LEVEL: 'warn',
      AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
      AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
    },
  });
  const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
  const users = new Map<string, { email: string; userId: string }>();
  const ensureUser = async (tenant: string) => {
    let u = users.get(tenant);
    if (!u) {
      await svc.repo.createTenant(tenant, tenant);
      const email = `drill@${tenant}.example`;
      const userId = (await svc.repo.createUser({
        tenantId: tenant,
        email,
        passwordHash: await hasher.hash(PASSWORD),
        roles: ['user'],
      }))!;
      u = { email, userId };
      users.set(tenant, u);
    }
    return u;
  };
  return {
    svc,
    databaseUrl,
    jwksUrl: `${svc.url}/.well-known/jwks.json`,
    keyBase: base,
    signingKey: key,
    async token(tenant) {
      const u = await ensureUser(tenant);
      const res = await fetch(`${svc.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
        body: JSON.stringify({ email: u.email, password: PASSWORD }),
      });
      const body = (await res.json()) as { accessToken?: string };
      if (!res.ok || !body.accessToken) throw new Error(`login for ${tenant} failed: HTTP ${res.status}`);
      return body.accessToken;
    },
    async apiKey(tenant) {
      const u = await ensureUser(tenant);
      const { prefix, key } = newApiKey();
      const row = await svc.repo.insertApiKey({
        tenantId: tenant,
        createdBy: u.userId,
        name: `drill-${prefix}`,
        prefix,
        keyHash: await hasher.hash(key),
        scopes: [],
        expiresAt: null,
      });
      return { id: row.id, prefix, key };
    },
    async revokeApiKey(tenant, id) {
      await svc.repo.revokeApiKey(tenant, id);
    },
    close: () => svc.close(),
  };
}

export interface TestGateway extends RunningGateway {
  readonly logs: LogCapture;
}

/** The gateway in this process on a free port, configured as main.ts would be from these env vars. */
export async function startTestGateway(env: Record<string, string | undefined>): Promise<TestGateway> {
  const logs = new LogCapture();
  const config = configFromEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...env });
  const running = await startGateway(config, { logDestination: logs });
  return Object.assign(running, { logs });
}

/** The TenantRateLimit controller on the runtime Manager, in this process, against the test apiserver. */
export async function startRateLimitOperator(kubeconfig: string, redisUrl: string, namespace: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const lines: string[] = [];
  const log = createLogger({
    component: 'operator',
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    }),
  });
  const limits = new RedisLimitPublisher(redisUrl);
  await limits.ready();
  const manager = new Manager({
    kubeConfig: kc,
    log,
    identity: `gateway-test-${process.pid}`,
    watchNamespaces: [namespace],
    leaderElection: false,
  });
  manager.register(tenantRateLimitController({ limits }));
  await manager.start();
  return {
    manager,
    lines,
    async stop() {
      await manager.stop();
      await limits.close();
    },
  };
}

export interface DriveResult {
  readonly statuses: number[];
  readonly elapsedMs: number;
  readonly first?: Response;
  readonly lastRejected?: Response;
}

/** `n` GETs of `path`, `concurrency` at a time, recording each status in order of completion. */
export async function drive(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  n: number,
  concurrency = 5,
): Promise<DriveResult> {
  const statuses: number[] = [];
  let next = 0;
  let lastRejected: Response | undefined;
  const started = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await fetch(`${baseUrl}${path}`, { headers });
      await res.arrayBuffer();
      statuses.push(res.status);
      if (res.status === 429) lastRejected = res;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, elapsedMs: performance.now() - started, lastRejected };
}

export const count = (statuses: readonly number[], status: number) =>
  statuses.filter((s) => s === status).length;

/** A TenantRateLimit manifest for kubectl. */
export function tenantRateLimitYaml(name: string, namespace: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'TenantRateLimit',
    metadata: { name, namespace },
    spec,
  });
}
