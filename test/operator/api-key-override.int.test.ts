import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { tenantRateLimitController } from '../../operator/src/controllers/tenant-rate-limit/index.js';
import { Manager } from '../../operator/src/runtime/index.js';
import {
  type AuthFixture,
  count,
  startAuth,
  startTestGateway,
  tenantRateLimitYaml,
} from '../gateway/support.js';
import { waitUntil } from '../harness/wait.js';
import { capturedLogger } from '../promotion/support.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';

/**
 * Issue 19: the example's API-key override (`acme_batch`) could never match a key, whose prefix is 12
 * lower-case base32 characters (`npk_<prefix>_<secret>`). An override names the prefix a real key carries:
 * real auth-service issues two keys of one tenant, a TenantRateLimit limits one of them by its prefix, and
 * the real gateway applies the override to that key only. Real apiserver, Redis, PostgreSQL, OpenBao.
 */

const env = inject('env');
const suffix = randomBytes(3).toString('hex');
const ns = `trl-keys-${suffix}`;
const tenant = `keys-${suffix}`;

let kubectl: Kubectl;
let auth: AuthFixture;
let gateway: Awaited<ReturnType<typeof startTestGateway>>;
let manager: Manager;
let limits: RedisLimitPublisher;

beforeAll(async () => {
  kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
  await kubectl(['create', 'namespace', ns]);
  auth = await startAuth(env, `keys-${suffix}`);
  gateway = await startTestGateway({
    REDIS_URL: env.redisUrl,
    DATABASE_URL: auth.databaseUrl,
    JWKS_URL: auth.jwksUrl,
    GATEWAY_REPLICA_ID: `gw-keys-${suffix}`,
    LOG_LEVEL: 'warn',
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(env.kube!.kubeconfig);
  limits = new RedisLimitPublisher(env.redisUrl!);
  manager = new Manager({
    kubeConfig,
    log: capturedLogger('warn').log,
    identity: `trl-keys-${process.pid}`,
    watchNamespaces: [ns],
    leaderElection: false,
    metricsPort: 0,
    bindAddress: '127.0.0.1',
  });
  manager.register(
    tenantRateLimitController({ limits, tenantOwners: [{ namespace: ns, tenants: [tenant] }] }),
  );
  await manager.start();
}, 180_000);

afterAll(async () => {
  await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  await manager?.stop();
  await limits?.close();
  await gateway?.close();
  await auth?.close();
});

describe('an API-key override names a prefix real keys carry', () => {
  it("limits the key with that prefix and leaves the tenant's other key alone", async () => {
    const batch = await auth.apiKey(tenant);
    const other = await auth.apiKey(tenant);
    expect(batch.prefix).toMatch(/^[a-z2-7]{12}$/);
    expect(batch.key.startsWith(`npk_${batch.prefix}_`)).toBe(true);
    await kubectl(
      ['apply', '-f', '-'],
      tenantRateLimitYaml('keys', ns, {
        tenant,
        requestsPerMinute: 6000,
        burst: 100,
        apiKeys: [{ prefix: batch.prefix, requestsPerMinute: 1, burst: 0 }],
      }),
    );
    const burst = async (key: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${gateway.url}/api/tenant/ping`, { headers: { 'x-api-key': key } });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      return statuses;
    };
    await waitUntil(
      'the override applied to the batch key',
      async () => (count(await burst(batch.key), 429) > 0 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    // 1 request a minute, no burst: its bucket is spent, every further request of that key is refused.
    expect(await burst(batch.key)).toEqual([429, 429, 429, 429]);
    const free = await burst(other.key);
    expect(free).toEqual([200, 200, 200, 200]);
  });
});
