import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { HttpKeyStatusProbe } from '../../operator/src/adapters/services/index.js';
import { Annotations, type SigningKeyRotation } from '../../operator/src/api/index.js';
import { startTestService, type TestService } from '../auth-service/helpers.js';
import { endpointSlice } from '../cli/support.js';
import { privateRedisDb } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { ManagedProcess, makeRunDir, removeRunDir } from '../harness/process.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aRotation,
  type InProcessOperator,
  podAddress,
  repoRoot,
  startSharedEnvOperator,
  viaLoopbackTwin,
} from './support.js';

/**
 * Issue 17: the per-replica key-set acknowledgement with real replicas. Two integration-gateway processes
 * (`services/integration-gateway/src/main.ts`, as a Deployment's pods run it) behind one Service; the
 * operator finds them through the Service's EndpointSlice and reads each one's /keys/status. One replica
 * cannot load the new key set: its JWKS fetch from auth-service is refused (503) by the relay in front of
 * it — later, a replica paused with SIGSTOP. The rotation must not count the key set as loaded, must not
 * let the new key sign, and must finish once the replica catches up.
 *
 * Real: the apiserver and its EndpointSlices, OpenBao, Redis, auth-service serving the operator's key set,
 * the gateway processes, the SigningKeyRotation controller. The pods' addresses in the slice are
 * pod-network addresses (10.99.0.N: the apiserver refuses loopback ones) that the operator's HTTP client
 * maps to the replicas' loopback twins 127.0.0.N, as in service-ref.int.test.ts.
 */
type Status = NonNullable<SigningKeyRotation['status']> & {
  conditions?: { type: string; status: string; reason: string; message: string }[];
  services?: { name: string; loaded: boolean; message?: string }[];
};

/** auth-service's JWKS as one replica sees it: passed through, or refused while `blocked`. */
interface JwksRelay {
  readonly url: string;
  blocked: boolean;
  close(): Promise<void>;
}

async function jwksRelay(jwksUrl: string): Promise<JwksRelay> {
  const relay = { blocked: false };
  const server = http.createServer((_req, res) => {
    if (relay.blocked) {
      res.writeHead(503).end();
      return;
    }
    fetch(jwksUrl).then(
      async (up) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        for (const h of ['cache-control', 'x-keyset-hash']) {
          const v = up.headers.get(h);
          if (v !== null) headers[h] = v;
        }
        res.writeHead(up.status, headers).end(await up.text());
      },
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(relay, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

describe('signing keys: two real gateway replicas behind one Service, one of them stale', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `skr-stale-${suffix}`;
  const dir = makeRunDir('skr-stale-replica');
  let kubectl: Kubectl;
  let operator: InProcessOperator;
  let auth: TestService;
  let relay: JwksRelay;
  const replicas: ManagedProcess[] = [];
  let httpPort: number;
  let adminPort: number;

  const get = async () =>
    JSON.parse(await kubectl(['get', 'skr', 'gw', '-n', ns, '-o', 'json'])) as { status?: Status };
  const cond = (o: { status?: Status }, type: string) => o.status?.conditions?.find((c) => c.type === type);
  /** What replica n (127.0.0.n) has loaded, from its own /keys/status. */
  const loadedBy = async (n: number) =>
    (
      (await (await fetch(`http://127.0.0.${n}:${httpPort}/keys/status`)).json()) as {
        keysetHash: string | null;
      }
    ).keysetHash;
  const rotateNow = (value: string) =>
    kubectl(['annotate', '--overwrite', 'skr', 'gw', '-n', ns, `${Annotations.rotateNow}=${value}`]);
  /** The rotation away from `oldKid` finished: every replica counts as loaded and another key signs. */
  const rotationFinished = (oldKid: string) =>
    waitUntil(
      'the rotation finished',
      async () => {
        const o = await get();
        return cond(o, 'ServicesLoaded')?.status === 'True' && o.status?.activeKid !== oldKid ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );

  async function startReplica(n: number, jwksUrl: string): Promise<ManagedProcess> {
    return ManagedProcess.start(
      {
        name: `integration-gateway-${n}`,
        command: process.execPath,
        args: ['--import', 'tsx', 'services/integration-gateway/src/main.ts'],
        cwd: repoRoot,
        env: {
          HOST: `127.0.0.${n}`,
          PORT: String(httpPort),
          ADMIN_PORT: String(adminPort),
          // Replicas register in Redis: a database of their own, so other suites' replicas do not count.
          REDIS_URL: privateRedisDb(env.redisUrl, 6),
          JWKS_URL: jwksUrl,
          GATEWAY_REPLICA_ID: `integration-gateway-${n}`,
          LOG_LEVEL: 'warn',
        },
        ready: async () =>
          (await fetch(`http://127.0.0.${n}:${adminPort}/healthz`).catch(() => undefined))?.ok ?? false,
        readyTimeoutMs: 90_000,
      },
      `${dir}/logs`,
    );
  }

  beforeAll(async () => {
    kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    operator = await startSharedEnvOperator(env, [ns], {
      timing: { clockSkewMs: 1_000, servicePollMs: 300, serviceWaitPollMs: 200 },
      services: new HttpKeyStatusProbe({ fetch: viaLoopbackTwin }),
    });
    await kubectl(
      ['apply', '-f', '-'],
      stringify(
        aRotation(ns, 'gw', {
          rotationInterval: '1h',
          // A next key may sign 3 s after its publication: long enough to see it published, short
          // enough that afterwards only the stale replica holds the rotation.
          leadTime: '3s',
          maxTokenTTL: '3s',
          jwksCacheTTL: '2s',
          services: [{ name: 'integration-gateway', serviceRef: { name: 'integration-gateway' } }],
        }),
      ),
    );
    await waitUntil('the first key', async () => (await get()).status?.keysetHash, { timeoutMs: 60_000 });

    const v = env.vaults[0]!;
    auth = await startTestService({
      VAULT_ADDR: v.addr,
      VAULT_TOKEN: v.rootToken,
      SIGNING_KEYSET_PATH: `secret/novapos/signing-keys/${ns}/gw`,
      SIGNING_KEYSET_POLL_SECONDS: '1',
      LOG_LEVEL: 'warn',
    });
    relay = await jwksRelay(`${auth.url}/.well-known/jwks.json`);
    // Two pods of one Deployment: the same ports, each on its own address.
    [httpPort, adminPort] = [await freePort(), await freePort()];
    replicas.push(
      ...(await Promise.all([
        startReplica(2, `${auth.url}/.well-known/jwks.json`),
        startReplica(3, relay.url),
      ])),
    );
    // The Service and the EndpointSlice the endpoint controller would write for its two ready pods.
    const ports = { http: httpPort, admin: adminPort };
    const pods = [2, 3].map((n) => ({ pod: `integration-gateway-${n}`, ip: podAddress(n) }));
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'integration-gateway', namespace: ns },
      spec: { ports: Object.entries(ports).map(([name, port]) => ({ name, port })) },
    };
    await kubectl(
      ['apply', '-f', '-'],
      [svc, endpointSlice(ns, 'integration-gateway', pods, ports)].map((o) => stringify(o)).join('---\n'),
    );
    await waitUntil(
      'both replicas loaded the first key set',
      async () => {
        return cond(await get(), 'ServicesLoaded')?.status === 'True';
      },
      { timeoutMs: 60_000 },
    );
  }, 240_000);

  afterAll(async () => {
    await operator?.stop();
    for (const r of replicas) r.killGroupNow('SIGCONT');
    await Promise.all(replicas.map((r) => r.stop()));
    await relay?.close();
    await auth?.close();
    await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    removeRunDir(dir);
  });

  it('a replica that cannot load the new key set holds the rotation, and it finishes once the replica catches up', async () => {
    const before = (await get()).status!;
    const [oldHash, oldKid] = [before.keysetHash!, before.activeKid!];
    expect(await loadedBy(3)).toBe(oldHash);

    relay.blocked = true;
    await rotateNow('stale-1');
    const published = await waitUntil(
      'the next key published',
      async () => {
        const o = await get();
        return o.status?.keysetHash && o.status.keysetHash !== oldHash ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const newHash = published.status!.keysetHash!;
    // The replica that can reach auth-service loads it (the operator notifies both on their admin port).
    await waitUntil('replica 2 loaded the new set', async () => (await loadedBy(2)) === newHash, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });

    // Past the lead time only replica 3 holds the rotation; for as long as it is stale (here longer than
    // jwksCacheTTL) the set is not loaded everywhere and the new key does not sign.
    await waitUntil(
      'the rotation waiting for the stale replica',
      async () => cond(await get(), 'Rotating')?.reason === 'WaitingForServices',
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (let i = 0; i < 3; i++) {
      await sleep(1_000);
      const o = await get();
      expect(await loadedBy(3)).toBe(oldHash);
      expect(cond(o, 'ServicesLoaded')).toMatchObject({ status: 'False', reason: 'ServicesNotLoaded' });
      expect(cond(o, 'ServicesLoaded')?.message).toContain('integration-gateway');
      expect(o.status?.services?.[0]).toMatchObject({ name: 'integration-gateway', loaded: false });
      expect(o.status?.services?.[0]?.message).toContain('2 ready replicas report 2 different key sets');
      // Each replica named with the set it holds: the stale one is the one on the old set.
      expect(o.status?.services?.[0]?.message).toContain(
        `integration-gateway-3 (${podAddress(3)}): ${oldHash.slice(0, 12)}`,
      );
      expect(o.status?.services?.[0]?.message).toContain(
        `integration-gateway-2 (${podAddress(2)}): ${newHash.slice(0, 12)}`,
      );
      expect(o.status?.activeKid).toBe(oldKid);
      expect(cond(o, 'Rotating')?.message).toMatch(/waiting for integration-gateway to load/);
    }

    // auth-service answers replica 3 again: the operator's repeated notification brings it up to date,
    // the set counts as loaded, and after jwksCacheTTL the new key signs.
    relay.blocked = false;
    const done = await rotationFinished(oldKid);
    expect(await loadedBy(3)).toBe(done.status!.keysetHash);
    expect(await loadedBy(2)).toBe(done.status!.keysetHash);
    expect(cond(done, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(done, 'Ready')?.message).toContain(`key ${done.status!.activeKid} signs`);
  }, 120_000);

  it('a paused replica (SIGSTOP) is unreachable, not loaded; resumed, it catches up and the rotation finishes', async () => {
    const before = (await get()).status!;
    const oldKid = before.activeKid!;
    const paused = replicas[1]!;
    relay.blocked = false;
    await waitUntil(
      'every replica on the current set',
      async () => cond(await get(), 'ServicesLoaded')?.status === 'True',
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    paused.killGroupNow('SIGSTOP');
    try {
      await rotateNow('stale-2');
      const o = await waitUntil(
        'replica 3 unreachable',
        async () => {
          const s = await get();
          return cond(s, 'ServicesLoaded')?.reason === 'ServiceUnreachable' ? s : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(cond(o, 'ServicesLoaded')).toMatchObject({ status: 'False' });
      expect(o.status?.services?.[0]?.message).toMatch(
        /1 of 2 ready replicas of Service skr-stale-[0-9a-f]+\/integration-gateway did not answer/,
      );
      await sleep(2_500);
      expect((await get()).status?.activeKid).toBe(oldKid);
    } finally {
      paused.killGroupNow('SIGCONT');
    }
    const done = await rotationFinished(oldKid);
    expect(await loadedBy(3)).toBe(done.status!.keysetHash);
  }, 120_000);
});
