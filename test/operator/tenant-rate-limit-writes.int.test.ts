import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPLICAS_KEY } from '../../lib/ratelimit-contract.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { tenantRateLimitController } from '../../operator/src/controllers/tenant-rate-limit/index.js';
import type { Manager } from '../../operator/src/runtime/index.js';
import { startAckReplica } from '../gateway/ack-replica.js';
import { privateRedisDb } from '../harness/env.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type CountingKubeConfig, type Kubectl, kubectlFor, testManager } from '../runtime/support.js';

/**
 * Issue 22: the TenantRateLimit controller wrote each generation twice (status "waiting for acknowledgement"
 * plus a Published Event, then a second reconcile a second later with status Ready plus an Acknowledged Event:
 * 4.58 writes per object in bench/operator-scale.ts). Now a reconcile publishes, waits (bounded) for the live
 * gateway replicas' acknowledgements and writes once: finalizer, status, one Event — and when a replica does
 * not acknowledge in time the status says so honestly and a later reconcile finishes. Real apiserver, real
 * Redis (private logical DB 8), the integration gateway's own ConfigStore as the acknowledging replica.
 */

const env = inject('env');
const suffix = randomBytes(3).toString('hex');
const namespace = `trl-writes-${suffix}`;
const redisUrl = privateRedisDb(env.redisUrl, 8);
const N = 12;

type Cond = { type: string; status: string; reason: string; message: string };
type Trl = {
  metadata: { name: string; generation: number };
  status?: { observedGeneration?: number; acknowledgedReplicas?: number; conditions?: Cond[] };
};
type Ev = { reason: string; note: string; regarding: { name: string }; series?: { count: number } };

let kubectl: Kubectl;
let redis: Redis;
let gateway: { stop(): Promise<void> } | undefined;
let operator: { manager: Manager; kc: CountingKubeConfig; limits: RedisLimitPublisher } | undefined;

const trlYaml = (name: string, tenant: string, rpm: number) =>
  JSON.stringify({
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'TenantRateLimit',
    metadata: { name, namespace },
    spec: { tenant, requestsPerMinute: rpm, burst: 5 },
  });

const list = async () =>
  (JSON.parse(await kubectl(['get', 'trl', '-n', namespace, '-o', 'json'])) as { items: Trl[] }).items;
const cond = (o: Trl, type: string) => o.status?.conditions?.find((c) => c.type === type);
const ready = (o: Trl) =>
  cond(o, 'Ready')?.status === 'True' && o.status?.observedGeneration === o.metadata.generation;
/** Events about `name` (a series counts each occurrence: each is a write). */
const eventsOf = async (name: string) => {
  const items = (
    JSON.parse(await kubectl(['get', 'events.events.k8s.io', '-n', namespace, '-o', 'json'])) as {
      items: Ev[];
    }
  ).items.filter((e) => e.regarding.name === name);
  return items.flatMap((e) => Array.from({ length: e.series?.count ?? 1 }, () => e));
};
/** The operator's own writes (PATCH/POST/PUT/DELETE through its clients) since `from`. */
const writesSince = (from: number) => operator!.kc.writes.slice(from);

beforeAll(async () => {
  kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
  redis = new Redis(redisUrl);
  await redis.flushdb();
  await kubectl(['create', 'namespace', namespace]);
  gateway = await startAckReplica(redisUrl, `trl-writes-gw-${suffix}`);
  const limits = new RedisLimitPublisher(redisUrl);
  const { manager, kc } = testManager({
    kubeconfigPath: env.kube!.kubeconfig,
    identity: `trl-writes-${process.pid}`,
    watchNamespaces: [namespace],
    controllers: [tenantRateLimitController({ limits, ackWaitMs: 400 })],
  });
  await manager.start();
  operator = { manager, kc, limits };
});

afterAll(async () => {
  await operator?.manager.stop();
  await operator?.limits.close();
  await gateway?.stop();
  await redis?.flushdb().catch(() => {});
  redis?.disconnect();
  await kubectl(['delete', 'namespace', namespace, '--wait=false']).catch(() => {});
});

describe('TenantRateLimit: one status write and one Event per generation (issue 22)', () => {
  it('N objects: each gets its finalizer, one status write with Applied=True and one Acknowledged Event', async () => {
    const before = operator!.kc.writes.length;
    const names = Array.from({ length: N }, (_, i) => `trl-${i}`);
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: names.map((n) => JSON.parse(trlYaml(n, `writes-${suffix}-${n}`, 600))),
      }),
    );
    await waitUntil('all Ready', async () => (await list()).filter(ready).length === N, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await sleep(1_500); // a late second write (the old 1 s acknowledgement poll) would land here

    const writes = writesSince(before);
    expect(writes.length).toBe(3 * N);
    for (const name of names) {
      const mine = writes.filter((w) => new URL(w.url).pathname.endsWith(`/tenantratelimits/${name}`));
      const status = writes.filter((w) =>
        new URL(w.url).pathname.endsWith(`/tenantratelimits/${name}/status`),
      );
      expect(mine, `${name}: one finalizer patch`).toHaveLength(1);
      expect(status, `${name}: one status write`).toHaveLength(1);
      const events = await eventsOf(name);
      expect(events.map((e) => e.reason)).toEqual(['Acknowledged']);
      expect(events[0]!.note).toContain('written to Redis and acknowledged by 1 gateway replica');
    }
    for (const o of await list()) {
      expect(cond(o, 'Applied')).toMatchObject({ status: 'True', reason: 'Acknowledged' });
      expect(o.status?.acknowledgedReplicas).toBe(1);
    }
  });

  it('a spec change: one status write and one Event for the new generation, no finalizer write', async () => {
    const before = operator!.kc.writes.length;
    await kubectl(['apply', '-f', '-'], trlYaml('trl-0', `writes-${suffix}-trl-0`, 120));
    await waitUntil(
      'generation 2 Ready',
      async () =>
        (await list()).find((o) => o.metadata.name === 'trl-0' && o.metadata.generation === 2 && ready(o)),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await sleep(1_500);
    const writes = writesSince(before).map((w) => new URL(w.url).pathname);
    expect(writes.filter((p) => p.endsWith('/tenantratelimits/trl-0/status'))).toHaveLength(1);
    expect(writes.filter((p) => p.endsWith('/tenantratelimits/trl-0'))).toHaveLength(0);
    expect(writes).toHaveLength(2); // the status and the Event
    const events = await eventsOf('trl-0');
    expect(events.filter((e) => e.note.startsWith('generation 2 '))).toHaveLength(1);
  });

  it('a replica that does not acknowledge within the wait: status says what is pending, then Applied once it does', async () => {
    // A live replica (heartbeat far in the future by Redis' clock) that never acknowledges.
    const stuck = `stuck-${suffix}`;
    await redis.zadd(REPLICAS_KEY, Date.now() + 3_600_000, stuck);
    await kubectl(['apply', '-f', '-'], trlYaml('slow', `writes-${suffix}-slow`, 600));
    const waiting = await waitUntil(
      'waiting for the stuck replica',
      async () => {
        const o = (await list()).find((x) => x.metadata.name === 'slow');
        return o && cond(o, 'Applied')?.reason === 'WaitingForAcknowledgement' ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForAcknowledgement' });
    expect(cond(waiting, 'Applied')!.message).toContain(`waiting for 1 of 2 gateway replicas (${stuck})`);
    expect(waiting.status?.acknowledgedReplicas).toBe(1);
    const published = await eventsOf('slow');
    expect(published.map((e) => e.reason)).toEqual(['Published']);
    expect(published[0]!.note).toContain(`not yet acknowledged by 1 of 2 gateway replicas (${stuck})`);

    // The stuck replica goes away: the next poll (1 s) finds every live replica acknowledged.
    await redis.zrem(REPLICAS_KEY, stuck);
    await waitUntil(
      'Ready once acknowledged',
      async () => {
        const o = (await list()).find((x) => x.metadata.name === 'slow');
        return o && ready(o);
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect((await eventsOf('slow')).map((e) => e.reason).sort()).toEqual(['Acknowledged', 'Published']);
  });
});
