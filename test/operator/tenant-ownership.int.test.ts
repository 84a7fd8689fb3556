import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { configKey } from '../../lib/ratelimit-contract.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { configFromEnv } from '../../operator/src/config.js';
import type { TenantOwner } from '../../operator/src/connections-file.js';
import { tenantRateLimitController } from '../../operator/src/controllers/tenant-rate-limit/index.js';
import { Manager } from '../../operator/src/runtime/index.js';
import { controllersFor } from '../../operator/src/wiring.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { capturedLogger } from '../promotion/support.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';

/**
 * Issue 19, tenant squatting: TenantRateLimit was first-come across namespaces, so another namespace could
 * claim a tenant first and set it to 1 rpm or shadow mode. Now the operator configuration (tenantOwners)
 * says which namespace sets which tenant's limits; the controller refuses the others with a condition
 * naming the owner, and withdraws what a refused resource had written to Redis. Real apiserver, real Redis.
 */

const env = inject('env');
const suffix = randomBytes(3).toString('hex');
const ownerNs = `trl-owner-${suffix}`;
const squatNs = `trl-squat-${suffix}`;
const tenant = `acme-${suffix}`;
const drillTenant = `drill-${suffix}`;
const unlisted = `globex-${suffix}`;
const owners: TenantOwner[] = [{ namespace: ownerNs, tenants: [tenant, 'drill-*'] }];

type Cond = { type: string; status: string; reason: string; message: string };
type Trl = { status?: { conditions?: Cond[] } };

let kubectl: Kubectl;
let redis: Redis;
let stopOperator: (() => Promise<void>) | undefined;

function managerFor(log = capturedLogger('warn').log) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(env.kube!.kubeconfig);
  return new Manager({
    kubeConfig,
    log,
    identity: `trl-owner-test-${process.pid}`,
    watchNamespaces: [ownerNs, squatNs],
    leaderElection: false,
    metricsPort: 0,
    bindAddress: '127.0.0.1',
    backoff: { baseMs: 200, maxMs: 3_000 },
    shutdownTimeoutMs: 5_000,
  });
}

/** The TenantRateLimit controller alone, watching only this suite's namespaces. */
async function startOperator(tenantOwners?: readonly TenantOwner[]) {
  const limits = new RedisLimitPublisher(env.redisUrl!);
  const manager = managerFor();
  manager.register(tenantRateLimitController({ limits, tenantOwners }));
  await manager.start();
  stopOperator = async () => {
    await manager.stop();
    await limits.close();
  };
}

const trl = (namespace: string, name: string, forTenant: string, spec: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'TenantRateLimit',
    metadata: { name, namespace },
    spec: { tenant: forTenant, requestsPerMinute: 600, burst: 10, ...spec },
  });

const get = async (namespace: string, name: string) =>
  JSON.parse(await kubectl(['get', 'trl', name, '-n', namespace, '-o', 'json'])) as Trl;
const cond = (o: Trl, type: string) => o.status?.conditions?.find((c) => c.type === type);
/** The TenantRateLimit once its TenantOwned condition says False (its tenant refused to its namespace). */
const refusedOwnership = (namespace: string, name: string) =>
  waitUntil(
    `${name} refused`,
    async () => {
      const o = await get(namespace, name);
      return cond(o, 'TenantOwned')?.status === 'False' ? o : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
const published = async (forTenant: string) => {
  const raw = await redis.get(configKey(forTenant));
  return raw
    ? (JSON.parse(raw) as { requestsPerMinute: number; enforcement: string; source: { namespace: string } })
    : undefined;
};

beforeAll(async () => {
  kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
  redis = new Redis(env.redisUrl!);
  await kubectl(['create', 'namespace', ownerNs]);
  await kubectl(['create', 'namespace', squatNs]);
});

afterAll(async () => {
  await stopOperator?.();
  for (const t of [tenant, drillTenant, unlisted, `initech-${suffix}`]) await redis.del(configKey(t));
  redis?.disconnect();
  for (const ns of [ownerNs, squatNs])
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
});

describe('tenant ownership (issue 19: another namespace could squat a tenant)', () => {
  it('the squatter, created first and published by an operator without ownership, is withdrawn; the owner applies', async () => {
    // An operator without tenantOwners (before this change): the squatter is first, so it wins.
    await startOperator(undefined);
    await kubectl(
      ['apply', '-f', '-'],
      trl(squatNs, 'squat', tenant, { requestsPerMinute: 1, enforcement: 'shadow' }),
    );
    await waitUntil(
      'the squatter published',
      async () => (await published(tenant))?.source.namespace === squatNs,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    await stopOperator!();

    // With tenantOwners the squatter's limits are withdrawn at once (default restored), then the owner's apply.
    await startOperator(owners);
    const refused = await refusedOwnership(squatNs, 'squat');
    expect(cond(refused, 'TenantOwned')).toMatchObject({ reason: 'TenantNotOwned' });
    expect(cond(refused, 'TenantOwned')?.message).toContain(
      `tenant ${tenant} is owned by namespace ${ownerNs}`,
    );
    expect(cond(refused, 'TenantOwned')?.message).toContain('withdrawn');
    expect(cond(refused, 'Ready')).toMatchObject({ status: 'False', reason: 'TenantNotOwned' });
    expect(await published(tenant)).toBeUndefined();

    await kubectl(['apply', '-f', '-'], trl(ownerNs, 'acme', tenant, { requestsPerMinute: 600 }));
    const doc = await waitUntil(
      'the owner published',
      async () => {
        const d = await published(tenant);
        return d?.source.namespace === ownerNs ? d : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(doc).toMatchObject({ requestsPerMinute: 600, enforcement: 'enforce' });
    const owner = await get(ownerNs, 'acme');
    expect(cond(owner, 'TenantOwned')).toMatchObject({ status: 'True', reason: 'OwnerConfigured' });
    expect(cond(owner, 'Conflict')?.status ?? 'False').toBe('False');
  });

  it("a squatter created after the owner changes nothing, and deleting it leaves the owner's limits", async () => {
    await kubectl(['apply', '-f', '-'], trl(squatNs, 'squat-2', tenant, { requestsPerMinute: 1 }));
    await refusedOwnership(squatNs, 'squat-2');
    await kubectl(['delete', 'trl', 'squat-2', '-n', squatNs, '--timeout=30s']);
    await kubectl(['delete', 'trl', 'squat', '-n', squatNs, '--timeout=30s']);
    await sleep(500);
    expect(await published(tenant)).toMatchObject({ requestsPerMinute: 600, source: { namespace: ownerNs } });
  });

  it('a tenant no namespace owns is refused everywhere; a prefix entry (drill-*) gives a namespace a family of tenants', async () => {
    await kubectl(['apply', '-f', '-'], trl(ownerNs, 'globex', unlisted));
    await kubectl(['apply', '-f', '-'], trl(squatNs, 'drill', drillTenant));
    await kubectl(['apply', '-f', '-'], trl(ownerNs, 'drill', drillTenant, { requestsPerMinute: 6000 }));
    const globex = await refusedOwnership(ownerNs, 'globex');
    expect(cond(globex, 'TenantOwned')?.message).toContain(`no namespace owns tenant ${unlisted}`);
    await waitUntil(
      'the drill tenant published by its owner',
      async () => (await published(drillTenant))?.source.namespace === ownerNs,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    expect(cond(await get(squatNs, 'drill'), 'TenantOwned')?.status).toBe('False');
    expect(await published(unlisted)).toBeUndefined();
  });

  it('the operator as shipped, with no tenantOwners in its configuration, applies no TenantRateLimit and says what to set', async () => {
    await stopOperator?.();
    stopOperator = undefined;
    // The operator's own wiring from its environment (no connections file): what a pod runs by default.
    const { log, lines } = capturedLogger('warn');
    const wiring = await controllersFor(
      configFromEnv({ REDIS_URL: env.redisUrl!, KUBECONFIG: env.kube!.kubeconfig }),
      {},
      log,
    );
    const manager = managerFor(log);
    for (const factory of wiring.controllers) manager.register(factory);
    await manager.start();
    stopOperator = async () => {
      await manager.stop();
      await wiring.close();
    };
    const fresh = `initech-${suffix}`;
    await kubectl(['apply', '-f', '-'], trl(ownerNs, 'initech', fresh));
    const refused = await refusedOwnership(ownerNs, 'initech');
    expect(cond(refused, 'Ready')).toMatchObject({ status: 'False', reason: 'TenantNotOwned' });
    expect(cond(refused, 'TenantOwned')?.message).toContain(`no namespace owns tenant ${fresh}`);
    expect(cond(refused, 'TenantOwned')?.message).toContain(
      `add { namespace: ${ownerNs}, tenants: [${fresh}] } to tenantOwners`,
    );
    expect(await published(fresh)).toBeUndefined();
    expect(lines.join('\n')).toContain(
      'no tenantOwners in the operator configuration: no TenantRateLimit applies',
    );
    await kubectl(['delete', 'trl', 'initech', '-n', ownerNs, '--timeout=30s']);
  });

  it("the schema takes only auth-service's tenant id shape (lower case)", async () => {
    await expect(kubectl(['apply', '-f', '-'], trl(ownerNs, 'upper', `ACME-${suffix}`))).rejects.toThrow(
      /spec\.tenant/,
    );
    await expect(kubectl(['apply', '-f', '-'], trl(ownerNs, 'dots', `acme.${suffix}`))).rejects.toThrow(
      /spec\.tenant/,
    );
    await expect(
      kubectl(
        ['apply', '-f', '-'],
        trl(ownerNs, 'key', tenant, { apiKeys: [{ prefix: 'acme_batch', requestsPerMinute: 5 }] }),
      ),
    ).rejects.toThrow(/spec\.apiKeys\[0\]\.prefix/);
  });
});
