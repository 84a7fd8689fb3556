import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { faultKey } from '../../lib/ratelimit-contract.js';
import { parseClusterNodes, type RedisClient } from '../../lib/redis-client.js';
import {
  drillAdapters,
  drillRedisClient,
  RedisDeliveryLog,
} from '../../operator/src/adapters/drill/index.js';
import { configFromEnv } from '../../operator/src/config.js';
import { controllersFor } from '../../operator/src/wiring.js';
import { RedisLimiter } from '../../services/integration-gateway/src/limiter/redis-limiter.js';
import { type RedisClusterInstance, startRedisCluster } from '../harness/components/redis-cluster.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { capturedLogger } from '../promotion/support.js';

/**
 * Issue 22: the drill's fault-key writer used one Redis (REDIS_URL) while the gateways' limiter may run on a
 * Redis Cluster (REDIS_CLUSTER_NODES), so a drill's outage of its synthetic tenant never reached the limiter.
 * The drill's Redis is now chosen like the limiter's (lib/redis-client.ts). A real 3-master Redis Cluster
 * (test/harness/components/redis-cluster.ts); the gateway's own RedisLimiter reads the fault keys.
 */
describe('the drill fault-key writer on a Redis Cluster', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  let dir: string;
  let cluster: RedisClusterInstance;
  let drillRedis: RedisClient;
  let gatewayRedis: RedisClient;

  beforeAll(async () => {
    dir = makeRunDir('drill-fault-cluster');
    cluster = await startRedisCluster(dir);
    const nodes = parseClusterNodes(cluster.seeds);
    // The operator's drill connection exactly as wiring.ts makes it from REDIS_CLUSTER_NODES.
    drillRedis = drillRedisClient(undefined, nodes);
    gatewayRedis = drillRedisClient(undefined, nodes);
  });

  afterAll(async () => {
    drillRedis?.disconnect();
    gatewayRedis?.disconnect();
    await cluster?.stop();
    if (dir) removeRunDir(dir);
  });

  it('a fault injected for a synthetic tenant on each master is seen by the limiter on the cluster, and cleared', async () => {
    const masters = (await cluster.nodes()).filter((n) => n.role === 'master').map((n) => n.port);
    expect(masters).toHaveLength(3);
    const tenants: string[] = [];
    for (const port of masters) {
      for (let i = 0; i < 64; i++) {
        const t = `drill-fault-${suffix}-${i}`;
        if (!tenants.includes(t) && (await cluster.masterOf(faultKey(t))) === port) {
          tenants.push(t);
          break;
        }
      }
    }
    expect(tenants).toHaveLength(3);

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(env.kube!.kubeconfig);
    const adapters = drillAdapters({
      kubeConfig,
      redis: drillRedis,
      authServiceUrl: 'http://127.0.0.1:9',
      gatewayUrl: 'http://127.0.0.1:9',
      alertmanagerUrl: 'http://127.0.0.1:9',
    });
    const limiter = new RedisLimiter(gatewayRedis);
    const bucket = { policy: 'tenant' as const, id: '', limit: { requestsPerMinute: 600, burst: 10 } };
    const check = (t: string) => limiter.check(t, [{ ...bucket, id: `${t}:tenant` }]);

    for (const t of tenants) expect((await check(t)).status).toBe('allowed');
    for (const t of tenants) await adapters.faults.inject(t, 30_000);
    for (const t of tenants) {
      expect(await adapters.faults.isSet(t)).toBe(true);
      expect((await check(t)).status).toBe('fault');
    }
    for (const t of tenants) await adapters.faults.clear(t);
    for (const t of tenants) expect((await check(t)).status).toBe('allowed');
    // A real tenant is never put in outage, on a cluster either.
    await expect(adapters.faults.inject(`acme-${suffix}`, 1_000)).rejects.toThrow(/not a synthetic/);
  });

  it('the delivery log (per-run keys) works on the cluster', async () => {
    const log = new RedisDeliveryLog(drillRedis);
    const run = `run-${suffix}`;
    await log.expect(run, 30_000);
    const delivery = { receiver: 'oncall', status: 'firing' as const, receivedAt: Date.now() };
    expect(await log.record(run, delivery)).toBe(true);
    expect(await log.record(`other-${suffix}`, delivery)).toBe(false);
    expect((await log.list(run)).map((d) => d.receiver)).toEqual(['oncall']);
  });

  it('the operator wires drills with REDIS_CLUSTER_NODES alone (no REDIS_URL)', async () => {
    const { log } = capturedLogger('warn');
    const wiringEnv = {
      KUBECONFIG: env.kube!.kubeconfig,
      REDIS_CLUSTER_NODES: cluster.seeds,
      DRILL_AUTH_SERVICE_URL: 'http://127.0.0.1:9',
      DRILL_GATEWAY_URL: 'http://127.0.0.1:9',
      ALERTMANAGER_URL: 'http://127.0.0.1:9',
      DRILL_WEBHOOK_PORT: '0',
    };
    const wiring = await controllersFor(configFromEnv(wiringEnv), wiringEnv, log);
    try {
      expect(wiring.skipped.map((s) => s.controller)).not.toContain('disasterrecoverydrill');
      expect(wiring.skipped.map((s) => s.controller)).not.toContain('tenantratelimit');
    } finally {
      await wiring.close();
    }
  });
});
