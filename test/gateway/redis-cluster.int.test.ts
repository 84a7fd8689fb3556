import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { ackKey, bucketKey, configKey, faultKey, parseLimitDocument } from '../../lib/ratelimit-contract.js';
import { parseClusterNodes } from '../../lib/redis-client.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { tenantRateLimitController } from '../../operator/src/controllers/tenant-rate-limit/index.js';
import { Manager } from '../../operator/src/runtime/index.js';
import { type RedisClusterInstance, startRedisCluster } from '../harness/components/redis-cluster.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  type AuthFixture,
  count,
  drive,
  startAuth,
  startTestGateway,
  type TestGateway,
  tenantRateLimitYaml,
} from './support.js';

const execFileAsync = promisify(execFile);

type Status = {
  appliedGeneration?: number;
  acknowledgedReplicas?: number;
  conditions?: { type: string; status: string; observedGeneration: number }[];
};

/**
 * The limiter and the TenantRateLimit controller on a real 3-master Redis Cluster (each master with one
 * replica; test/harness/components/redis-cluster.ts), chosen by REDIS_CLUSTER_NODES: two gateway replicas,
 * the controller on the runtime Manager against the test apiserver, tokens from the real auth-service.
 * Limits exact across replicas, a live change, the operator rewriting a generation a failover lost, and a
 * master killed under traffic.
 */
describe('integration-gateway and the TenantRateLimit controller on a Redis Cluster', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const namespace = `gw-cluster-${suffix}`;
  let dir: string;
  let cluster: RedisClusterInstance;
  let client: Cluster;
  let kubectl: Kubectl;
  let auth: AuthFixture;
  const gateways: TestGateway[] = [];
  let manager: Manager | undefined;
  let limits: RedisLimitPublisher | undefined;
  const operatorLines: string[] = [];

  const status = async (name: string): Promise<Status> =>
    (
      JSON.parse(await kubectl(['get', 'tenantratelimit', name, '-n', namespace, '-o', 'json'])) as {
        status?: Status;
      }
    ).status ?? {};
  /** Applied: every live gateway replica acknowledged `generation`. */
  const applied = (name: string, generation: number, timeoutMs = 20_000) =>
    waitUntil(
      `TenantRateLimit ${name} generation ${generation} acknowledged`,
      async () => {
        const s = await status(name);
        return s.appliedGeneration === generation &&
          s.conditions?.some(
            (c) => c.type === 'Applied' && c.status === 'True' && c.observedGeneration === generation,
          )
          ? s
          : undefined;
      },
      { timeoutMs },
    );
  /** kubectl apply; resolves to the resource's new metadata.generation. */
  const apply = async (name: string, spec: Record<string, unknown>) => {
    await kubectl(['apply', '-f', '-'], tenantRateLimitYaml(name, namespace, spec));
    return Number(
      await kubectl([
        'get',
        'tenantratelimit',
        name,
        '-n',
        namespace,
        '-o',
        'jsonpath={.metadata.generation}',
      ]),
    );
  };
  /** A tenant name whose keys live on the master at `port` (or on any master but it, with `not`). */
  const tenantOn = async (label: string, port: number, not = false) => {
    for (let i = 0; i < 64; i++) {
      const t = `${label}-${suffix}-${i}`;
      if (((await cluster.masterOf(configKey(t))) === port) !== not) return t;
    }
    throw new Error(`no tenant name found for 127.0.0.1:${port}`);
  };
  const storedGeneration = async (tenant: string) => {
    const raw = await client.get(configKey(tenant));
    return raw === null ? undefined : parseLimitDocument(raw).generation;
  };

  beforeAll(async () => {
    dir = makeRunDir('redis-cluster');
    cluster = await startRedisCluster(dir);
    client = new Cluster(parseClusterNodes(cluster.seeds)!, { scaleReads: 'master' });
    client.on('error', () => {});
    kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
    await kubectl(['create', 'namespace', namespace]);
    // auth-service on the same cluster: its session revocations are what the gateways read.
    auth = await startAuth(env, `cluster-${suffix}`, { REDIS_CLUSTER_NODES: cluster.seeds });
    for (const replica of ['a', 'b'])
      gateways.push(
        await startTestGateway({
          REDIS_CLUSTER_NODES: cluster.seeds,
          DATABASE_URL: auth.databaseUrl,
          JWKS_URL: auth.jwksUrl,
          GATEWAY_RATE_LIMIT_RPM: '600',
          GATEWAY_REPLICA_ID: `gw-cluster-${suffix}-${replica}`,
          LOG_LEVEL: 'info',
        }),
      );
    const kc = new KubeConfig();
    kc.loadFromFile(env.kube!.kubeconfig);
    limits = new RedisLimitPublisher('redis://', { clusterNodes: parseClusterNodes(cluster.seeds) });
    await limits.ready();
    manager = new Manager({
      kubeConfig: kc,
      log: createLogger({
        component: 'operator',
        level: 'debug',
        destination: new Writable({
          write(chunk, _enc, cb) {
            operatorLines.push(...chunk.toString().split('\n').filter(Boolean));
            cb();
          },
        }),
      }),
      identity: `gateway-cluster-test-${process.pid}`,
      watchNamespaces: [namespace],
      leaderElection: false,
    });
    // Verify every second that Redis still holds the published generation (60 s in production).
    manager.register(tenantRateLimitController({ limits, verifyEveryMs: 1000 }));
    await manager.start();
  });

  afterAll(async () => {
    await manager?.stop();
    await limits?.close();
    for (const g of gateways) await g.close();
    await auth?.close();
    client?.disconnect();
    await kubectl?.(['delete', 'namespace', namespace, '--wait=false']).catch(() => {});
    await cluster?.stop();
    if (dir) removeRunDir(dir);
  });

  it("keeps each tenant's keys in one slot, spreads tenants over the masters, and applies limits exactly across two replicas", async () => {
    const t = `acme-${suffix}`;
    const slots = await Promise.all(
      [configKey(t), ackKey(t), faultKey(t), bucketKey(t, t), bucketKey(t, `${t}:route:/api/x`)].map(
        async (k) => (await client.cluster('KEYSLOT', k)) as number,
      ),
    );
    expect(new Set(slots).size).toBe(1);
    const masters = new Set<number>();
    // Tenant names spread over the slots and so over every master (40 names: all three unless ~3e-7 bad luck).
    for (let i = 0; i < 40 && masters.size < 3; i++)
      masters.add(await cluster.masterOf(configKey(`spread-${i}`)));
    expect(masters.size).toBe(3);

    await apply('acme', { tenant: t, requestsPerMinute: 60, burst: 10, redisFailureMode: 'failOpen' });
    const s = await applied('acme', 1);
    expect(s.acknowledgedReplicas).toBe(2);
    expect(Object.keys(await client.hgetall(ackKey(t))).sort()).toEqual([
      `gw-cluster-${suffix}-a`,
      `gw-cluster-${suffix}-b`,
    ]);
    const token = await auth.token(t);
    const headers = { authorization: `Bearer ${token}` };
    // 76 requests, 38 to each replica at once: one bucket in the cluster for both.
    const started = performance.now();
    const [a, b] = await Promise.all(gateways.map((g) => drive(g.url, '/api/tenant/ping', headers, 38, 3)));
    const elapsedMs = performance.now() - started;
    const statuses = [...a!.statuses, ...b!.statuses].slice(0, 76);
    const allowed = count(statuses, 200);
    process.stderr.write(
      `[redis cluster] 76 requests over 2 replicas in ${elapsedMs.toFixed(0)} ms: ${allowed} allowed\n`,
    );
    expect(allowed + count(statuses, 429)).toBe(76);
    // A full bucket of 70, refilled at one a second.
    expect(allowed).toBeGreaterThanOrEqual(70);
    expect(allowed).toBeLessThanOrEqual(70 + Math.floor(elapsedMs / 1000));
  });

  it('applies a live change on every replica before the first request charged after the acknowledgement', async () => {
    const t = `live-${suffix}`;
    await applied('live', await apply('live', { tenant: t, requestsPerMinute: 60, burst: 10 }));
    const headers = { authorization: `Bearer ${await auth.token(t)}` };
    // 20 requests of a bucket of 70 at one a second: 20 s of debt, 50 requests left under generation 1.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${gateways[i % 2]!.url}/api/tenant/ping`, { headers });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
    }
    // One a minute: the debt left (under 20 s), kept at the new rate, is many minutes: refused at once.
    const generation = await apply('live', { tenant: t, requestsPerMinute: 1, burst: 0 });
    await applied('live', generation);
    for (const g of gateways) {
      const res = await fetch(`${g.url}/api/tenant/ping`, { headers });
      await res.arrayBuffer();
      expect(res.status).toBe(429);
      expect(res.headers.get('ratelimit-policy')).toContain('q=1;');
    }
  });

  it('writes again a generation that a failover lost (the master killed right after the write, before its replica had it)', async () => {
    const t = `lost-${suffix}`;
    const first = await apply('lost', { tenant: t, requestsPerMinute: 60, burst: 0 });
    await applied('lost', first);
    const masterPort = await cluster.masterOf(configKey(t));
    const nodes = await cluster.nodes();
    const masterId = nodes.find((m) => m.port === masterPort)?.id;
    const replicaPort = nodes.find((n) => n.masterId === masterId)?.port;
    expect(replicaPort).toBeDefined();
    const replica = cluster.servers.get(replicaPort!)!.process;
    /** The generation the replica's own copy holds (READONLY), or undefined. */
    const onReplica = async () => {
      const raw = (
        await execFileAsync('sh', [
          '-c',
          `printf 'READONLY\\nGET %s\\n' '${configKey(t)}' | redis-cli -h 127.0.0.1 -p ${replicaPort}`,
        ])
      ).stdout
        .split('\n')
        .find((l) => l.startsWith('{'));
      return raw ? parseLimitDocument(raw).generation : undefined;
    };
    // Replication is asynchronous: the first generation is acknowledged by the gateways (through the master)
    // before the replica may have it. The scenario starts from a replica that does.
    await waitUntil(`generation ${first} on the replica`, async () => (await onReplica()) === first, {
      timeoutMs: 15_000,
      intervalMs: 50,
    });
    // Replication stops: the replica frozen and its link closed by the master (bytes already in the frozen
    // replica's socket would still arrive); the next generation reaches the master only.
    process.kill(replica.pid, 'SIGSTOP');
    let generation = 0;
    try {
      await cluster.cli(masterPort, 'CLIENT', 'KILL', 'TYPE', 'replica');
      generation = await apply('lost', { tenant: t, requestsPerMinute: 120, burst: 5 });
      await waitUntil(
        `generation ${generation} on the master`,
        async () => (await storedGeneration(t)) === generation,
        {
          timeoutMs: 15_000,
        },
      );
      await cluster.servers.get(masterPort)!.process.crash();
    } finally {
      process.kill(replica.pid, 'SIGCONT');
    }
    // What the replica holds (READONLY: its own copy, before the operator can write again): the generation
    // before. The write the master acknowledged is lost.
    expect(await onReplica()).toBe(generation - 1);
    // The replica takes over with the generation before: the write the master acknowledged is gone.
    await waitUntil(
      'the replica promoted',
      async () => (await cluster.cli(replicaPort!, 'ROLE')).startsWith('master') || undefined,
      { timeoutMs: 30_000 },
    );
    const seen: (number | undefined)[] = [];
    await waitUntil(
      `the operator wrote generation ${generation} again`,
      async () => {
        const g = await storedGeneration(t).catch(() => undefined);
        seen.push(g);
        return g === generation;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    process.stderr.write(
      `[redis cluster] generations read after the failover: ${[...new Set(seen)].join(' → ')}\n`,
    );
    await applied('lost', generation, 30_000);
    for (const g of gateways) expect(g.configStore.get(t).generation).toBe(generation);
  });

  it('writes the config again after a FLUSHALL of its master; the gateways keep the last limits meanwhile', async () => {
    const t = `lost-${suffix}`;
    const generation = (await status('lost')).appliedGeneration!;
    const masterPort = await cluster.masterOf(configKey(t));
    await cluster.cli(masterPort, 'FLUSHALL');
    const seen: (number | undefined)[] = [];
    await waitUntil(
      'config restored',
      async () => {
        const g = await storedGeneration(t);
        seen.push(g);
        return g === generation;
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    ).catch((err: unknown) => {
      process.stderr.write(`[redis cluster] operator log:\n${operatorLines.slice(-30).join('\n')}\n`);
      throw err;
    });
    expect(seen).toContain(undefined);
    expect(operatorLines.some((l) => l.includes('Redis lost the published limits'))).toBe(true);
    for (const g of gateways)
      expect(g.configStore.get(t).limit).toEqual({ requestsPerMinute: 120, burst: 5 });
  });

  it("auth-service's /logout-all on the cluster: both gateways refuse the earlier token within 5 s", async () => {
    const t = `revoke-${suffix}`;
    const token = await auth.token(t);
    const ping = async (g: TestGateway, bearer: string) => {
      const res = await fetch(`${g.url}/api/tenant/ping`, { headers: { authorization: `Bearer ${bearer}` } });
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      return { status: res.status, code: body.error?.code };
    };
    for (const g of gateways) expect((await ping(g, token)).status).toBe(200);
    const out = await fetch(`${auth.svc.url}/logout-all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'x-tenant-id': t },
    });
    expect(out.status).toBe(200);
    const revokedAt = performance.now();
    for (const g of gateways)
      await waitUntil(
        'the gateway to refuse the revoked token',
        async () => {
          const r = await ping(g, token);
          // The caller learns only that it is unauthorized; the reason (session_revoked) is in the gateway's log.
          return r.status === 401 && r.code === 'unauthorized';
        },
        { timeoutMs: 5000, intervalMs: 100 },
      );
    for (const g of gateways) expect(g.logs.text).toContain('session_revoked');
    process.stderr.write(
      `[redis cluster] both gateways refused the revoked token ${(performance.now() - revokedAt).toFixed(0)} ms after /logout-all\n`,
    );
    // The revocation sits in the tenant's slot, beside its limiter keys (one MGET per check).
    const [user] = (await auth.svc.db.query('SELECT id FROM users WHERE tenant_id = $1', [t])).rows as {
      id: string;
    }[];
    expect(await client.get(`novapos:auth:valid-after:{${t}}:${user!.id}`)).toMatch(/^\d+$/);
    // A new sign-in works at once.
    for (const g of gateways) expect((await ping(g, await auth.token(t))).status).toBe(200);
  });

  it('a master killed under traffic: failOpen stays open, failClosed refuses, no limit configuration is lost', async () => {
    // Both tenants on one master with a replica, the one killed.
    const nodes = await cluster.nodes();
    const running = (port: number) => cluster.servers.get(port)?.process.isRunning === true;
    const victim = nodes.find(
      (m) =>
        m.role === 'master' && running(m.port) && nodes.some((r) => r.masterId === m.id && running(r.port)),
    )!;
    expect(victim).toBeDefined();
    const open = await tenantOn('open', victim.port);
    const closed = await tenantOn('closed', victim.port);
    const elsewhere = await tenantOn('other', victim.port, true);
    await apply('open', { tenant: open, requestsPerMinute: 60_000, burst: 0, redisFailureMode: 'failOpen' });
    await apply('closed', {
      tenant: closed,
      requestsPerMinute: 60_000,
      burst: 0,
      redisFailureMode: 'failClosed',
    });
    await apply('other', {
      tenant: elsewhere,
      requestsPerMinute: 60_000,
      burst: 0,
      redisFailureMode: 'failClosed',
    });
    for (const name of ['open', 'closed', 'other']) await applied(name, 1);
    const tokens = {
      open: await auth.token(open),
      closed: await auth.token(closed),
      other: await auth.token(elsewhere),
    };
    // `error`: the refusal's code (rate_limiter_unavailable, auth_unavailable, ...), so a 503 says whose it is.
    type Seen = { status: number; limiter?: string; error?: string };
    const seen: Record<keyof typeof tokens, Seen[]> = { open: [], closed: [], other: [] };
    let stop = false;
    // Bounded traffic: at most 12 s and 1,500 requests per tenant, one request at a time per tenant and replica.
    const deadline = performance.now() + 12_000;
    const traffic = (Object.keys(tokens) as (keyof typeof tokens)[]).flatMap((name) =>
      gateways.map(async (g) => {
        while (!stop && performance.now() < deadline && seen[name].length < 1500) {
          const res = await fetch(`${g.url}/api/tenant/ping`, {
            headers: { authorization: `Bearer ${tokens[name]}` },
          });
          const body = (await res.json().catch(() => ({}))) as {
            limiter?: string;
            error?: { code?: string };
          };
          seen[name].push({ status: res.status, limiter: body.limiter, error: body.error?.code });
          await sleep(5);
        }
      }),
    );
    await sleep(500);
    const killedAt = performance.now();
    const promoted = await cluster.killMaster(victim.port);
    const failoverMs = performance.now() - killedAt;
    // Back to normal on both replicas after the failover.
    await waitUntil(
      'both tenants limited in Redis again',
      async () => {
        const last = (name: keyof typeof tokens) => seen[name].slice(-4);
        return (
          last('open').every((s) => s.status === 200 && s.limiter === 'normal') &&
          last('closed').every((s) => s.status === 200 && s.limiter === 'normal') &&
          last('open').length === 4 &&
          last('closed').length === 4
        );
      },
      { timeoutMs: 20_000 },
    );
    stop = true;
    await Promise.all(traffic);
    const summary = (xs: Seen[]) => {
      const by: Record<string, number> = {};
      for (const s of xs) {
        const key = `${s.status} ${s.limiter ?? s.error ?? '-'}`;
        by[key] = (by[key] ?? 0) + 1;
      }
      return JSON.stringify(by);
    };
    process.stderr.write(
      `[redis cluster] failover of 127.0.0.1:${victim.port} → ${promoted} in ${failoverMs.toFixed(0)} ms; open ${summary(seen.open)}; closed ${summary(seen.closed)}; other master ${summary(seen.other)}\n`,
    );
    // failOpen: never refused for want of Redis; while its master was away it was let through, marked so.
    expect(seen.open.filter((s) => s.status === 503)).toHaveLength(0);
    expect(seen.open.every((s) => s.status === 200 && ['normal', 'fail_open'].includes(s.limiter!))).toBe(
      true,
    );
    // failClosed: never let through without Redis deciding.
    expect(seen.closed.filter((s) => s.status === 200 && s.limiter !== 'normal')).toHaveLength(0);
    expect(seen.closed.every((s) => s.status === 200 || s.status === 503)).toBe(true);
    // Requests sent while the master was away either rode on ioredis' retries until the replica took over
    // (normal) or got the tenant's failure mode (counted above); the other masters' tenants saw nothing.
    expect(seen.other.every((s) => s.status === 200 && s.limiter === 'normal')).toBe(true);
    // No configuration lost: the promoted replica holds every generation, the gateways kept theirs.
    for (const [tenant, mode] of [
      [open, 'failOpen'],
      [closed, 'failClosed'],
      [elsewhere, 'failClosed'],
    ] as const) {
      expect(await storedGeneration(tenant)).toBe(1);
      for (const g of gateways) expect(g.configStore.get(tenant).redisFailureMode).toBe(mode);
    }
  });
});
