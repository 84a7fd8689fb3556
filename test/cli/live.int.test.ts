import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { HttpKeyStatusProbe } from '../../operator/src/adapters/services/index.js';
import { Annotations, type SigningKeyRotation, type TenantRateLimit } from '../../operator/src/api/index.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { aDatabase, startTestService, type TestService } from '../auth-service/helpers.js';
import {
  type RecordingUpstream,
  startRateLimitOperator,
  startRecordingUpstream,
  startTestGateway,
  type TestGateway,
} from '../gateway/support.js';
import { type Env, privateRedisDb, startEnv } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aRotation,
  type InProcessOperator,
  rootVaultClient,
  startInProcessOperator,
} from '../signing-keys/support.js';
import {
  buildPlugin,
  endpointSlice,
  type PodNetworkTwin,
  podObject,
  podStatus,
  runPlugin,
  startPodNetworkTwin,
  viaPodNetworkTwin,
} from './support.js';

/**
 * What the plugin reads from the services themselves, through the apiserver's proxy, as an on-call engineer
 * at a laptop can: `revoke --wait` waits until no replica of auth-service or the integration-gateway serves
 * the kid any more (each replica's /keys/status through pods/NAME:PORT/proxy), and a TenantRateLimit's
 * status shows live usage from the gateway replicas' /metrics on their admin port (not on the public port).
 *
 * Real: a private kube-apiserver (its HTTP_PROXY sends pod addresses to the test's loopback twins: there is
 * no pod network without a node), the SigningKeyRotation and TenantRateLimit controllers, OpenBao, Redis,
 * PostgreSQL, auth-service serving the operator's keys, two gateway replicas verifying against it.
 */
describe('kubectl novapos against the services, through the apiserver', () => {
  const shared = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `cli-live-${suffix}`;
  const tenant = `live-${suffix}`;
  // Gateway replicas register in Redis: a database of its own so other suites' replicas do not acknowledge.
  const redisUrl = privateRedisDb(shared.redisUrl, 15);
  let twin: PodNetworkTwin;
  let env: Env;
  let kubectl: Kubectl;
  let bundle: string;
  let operator: InProcessOperator;
  let limits: Awaited<ReturnType<typeof startRateLimitOperator>>;
  let auth: TestService;
  let upstream: RecordingUpstream;
  const gateways: TestGateway[] = [];
  let frozen: http.Server;
  let frozenKids: string[] = [];

  const plugin = (args: readonly string[], timeoutMs = 90_000) =>
    runPlugin(bundle, [...args, '-n', ns], { kubeconfig: env.kube!.kubeconfig, timeoutMs });
  const skr = async (name = 'auth') =>
    JSON.parse(await kubectl(['get', 'skr', name, '-n', ns, '-o', 'json'])) as SigningKeyRotation;
  const kidsOf = async (url: string) =>
    ((await (await fetch(`${url}/keys/status`)).json()) as { kids: string[] }).kids;
  const port = (url: string) => Number(new URL(url).port);

  /**
   * A Service, a Pod per replica with its address 10.99.0.N (the replica listens on its twin 127.0.0.N),
   * and the EndpointSlice naming them with the ports every replica listens on.
   */
  async function service(name: string, replicas: readonly number[], ports: Record<string, number>) {
    const pods = replicas.map((n, i) => ({ pod: `${name}-${i}`, ip: `10.99.0.${n}` }));
    for (const [i, p] of pods.entries()) twin.pods.set(p.pod, `127.0.0.${replicas[i]}`);
    await kubectl(
      ['apply', '-f', '-'],
      [
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name, namespace: ns },
          spec: { ports: Object.keys(ports).map((p, i) => ({ name: p, port: 8000 + i })) },
        },
        ...pods.map((p) => podObject(ns, p.pod, { app: name })),
        endpointSlice(ns, name, pods, ports),
      ]
        .map((o) => stringify(o))
        .join('---\n'),
    );
    for (const p of pods)
      await kubectl([
        'patch',
        'pod',
        p.pod,
        '-n',
        ns,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify(podStatus(p.ip)),
      ]);
  }

  beforeAll(async () => {
    twin = await startPodNetworkTwin();
    [env, bundle] = await Promise.all([
      startEnv({
        label: 'cli-live',
        kube: { env: { HTTP_PROXY: twin.url, NO_PROXY: '127.0.0.1,localhost' } },
      }),
      buildPlugin(),
    ]);
    kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    const v = shared.vaults[0]!;
    operator = await startInProcessOperator({
      kubeconfig: env.kube!.kubeconfig,
      namespaces: [ns],
      vault: rootVaultClient(v),
      controller: {
        timing: { clockSkewMs: 1_000, servicePollMs: 500, serviceWaitPollMs: 300 },
        services: new HttpKeyStatusProbe({ fetch: viaPodNetworkTwin(twin) }),
      },
    });
    limits = await startRateLimitOperator(env.kube!.kubeconfig, redisUrl, ns);
    await aRotationWithItsFirstKey('auth', [
      { name: 'auth-service', serviceRef: { name: 'auth-service' } },
      { name: 'integration-gateway', serviceRef: { name: 'integration-gateway' } },
    ]);

    // auth-service serves the operator's key set; two gateway replicas verify against its JWKS.
    const databaseUrl = await aDatabase(shared.postgresUrl!, `clilive${suffix}`);
    auth = await startTestService({
      DATABASE_URL: databaseUrl,
      VAULT_ADDR: v.addr,
      VAULT_TOKEN: v.rootToken,
      SIGNING_KEYSET_PATH: `secret/novapos/signing-keys/${ns}/auth`,
      SIGNING_KEYSET_POLL_SECONDS: '1',
      LOG_LEVEL: 'warn',
      AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
      AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
    });
    upstream = await startRecordingUpstream();
    // Two replicas on the same ports, each on its own loopback address, as pods of one Deployment.
    const [gwPort, gwAdminPort] = [await freePort(), await freePort()];
    for (const i of [0, 1])
      gateways.push(
        await startTestGateway({
          HOST: `127.0.0.${2 + i}`,
          PORT: String(gwPort),
          ADMIN_PORT: String(gwAdminPort),
          REDIS_URL: redisUrl,
          DATABASE_URL: databaseUrl,
          JWKS_URL: `${auth.url}/.well-known/jwks.json`,
          GATEWAY_UPSTREAM_URL: upstream.url,
          GATEWAY_REPLICA_ID: `integration-gateway-${i}`,
          GATEWAY_ROUTE_SCOPES: '/api/orders=orders',
          GATEWAY_ROLE_SCOPES: 'user=*',
          LOG_LEVEL: 'warn',
        }),
      );
    await service('auth-service', [1], { http: port(auth.url) });
    await service('integration-gateway', [2, 3], { http: gwPort, admin: gwAdminPort });
    await waitUntil(
      'every replica loaded the key set',
      async () =>
        (await skr()).status?.conditions?.find((c) => c.type === 'ServicesLoaded')?.status === 'True',
      { timeoutMs: 60_000 },
    );
  }, 240_000);

  afterAll(async () => {
    await operator?.stop();
    await limits?.stop();
    for (const g of gateways) await g.close();
    await auth?.close();
    await upstream?.close();
    frozen?.close();
    await env?.stop();
    await twin?.close();
  });

  /** A SigningKeyRotation on this suite's short timings, once the operator has made its first key. */
  async function aRotationWithItsFirstKey(name: string, services: SigningKeyRotation['spec']['services']) {
    const spec = { rotationInterval: '1h', leadTime: '10m', maxTokenTTL: '3s', jwksCacheTTL: '2s', services };
    await kubectl(['apply', '-f', '-'], JSON.stringify(aRotation(ns, name, spec)));
    await waitUntil('the first key', async () => (await skr(name)).status?.activeKid, { timeoutMs: 60_000 });
  }

  /** Starts a rotation of skr/auth and resolves the next kid once auth-service and every gateway serve it. */
  async function aNextKeyServedEverywhere(rotateNow: string): Promise<string> {
    await kubectl([
      'annotate',
      '--overwrite',
      'skr',
      'auth',
      '-n',
      ns,
      `${Annotations.rotateNow}=${rotateNow}`,
    ]);
    let seen = '';
    return waitUntil(
      'a next key every replica serves',
      async () => {
        const kid = (await skr()).status?.nextKid;
        if (!kid) return undefined;
        const all = await Promise.all([auth.url, ...gateways.map((g) => g.url)].map(kidsOf));
        seen = `next ${kid}; served: ${JSON.stringify(all)}`;
        return all.every((kids) => kids.includes(kid)) ? kid : undefined;
      },
      { timeoutMs: 45_000 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; ${seen}`);
    });
  }

  it('revoke --wait returns once no replica of any service serves the kid, read through the apiserver', async () => {
    const next = await aNextKeyServedEverywhere('live-1');
    twin.requests.length = 0;
    const r = await plugin(['revoke', 'skr/auth', next, '--yes', '--wait', '--timeout', '60s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `${next} is revoked and out of the JWKS of auth-service (1 replica), integration-gateway (2 replicas)`,
    );
    expect(r.stderr).toMatch(new RegExp(`^skr/auth: revocation of ${next} requested\\n`));
    // Through the apiserver's pods/NAME:PORT/proxy to every ready replica's /keys/status.
    expect(twin.requests).toContain(`auth-service-0:${port(auth.url)}/keys/status`);
    for (const [i, g] of gateways.entries())
      expect(twin.requests).toContain(`integration-gateway-${i}:${port(g.url)}/keys/status`);
    // It really is gone from what each service serves.
    for (const url of [auth.url, ...gateways.map((g) => g.url)])
      expect(await kidsOf(url)).not.toContain(next);
    const jwks = (await (await fetch(`${auth.url}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    expect(jwks.keys.map((k) => k.kid)).not.toContain(next);
  });

  it('revoke ACTIVE --emergency --wait: a new key signs and the old one is out of every replica', async () => {
    const active = (await skr()).status!.activeKid!;
    const refused = await plugin(['revoke', 'skr/auth', active, '--yes']);
    expect(refused.code).toBe(3);
    const r = await plugin([
      'revoke',
      'skr/auth',
      active,
      '--emergency',
      '--yes',
      '--wait',
      '--timeout',
      '60s',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const after = await skr();
    expect(after.status!.activeKid).not.toBe(active);
    expect(r.stdout).toContain(
      `${active} is revoked and out of the JWKS of auth-service (1 replica), integration-gateway (2 replicas); active key ${after.status!.activeKid}`,
    );
    for (const url of [auth.url, ...gateways.map((g) => g.url)])
      expect(await kidsOf(url)).not.toContain(active);
  });

  it('revoke --wait reads deprecated statusURL entries: a loopback URL directly, an in-cluster Service name through services/NAME:PORT/proxy', async () => {
    const next = await aNextKeyServedEverywhere('live-3');
    // Endpoints for the Service proxy (the apiserver resolves services/NAME:PORT/proxy through them).
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'integration-gateway', namespace: ns },
        subsets: [
          {
            addresses: gateways.map((_, i) => ({
              ip: `10.99.0.${2 + i}`,
              targetRef: { kind: 'Pod', name: `integration-gateway-${i}`, namespace: ns },
            })),
            ports: [{ name: 'http', port: port(gateways[0]!.url) }],
          },
        ],
      }),
    );
    // The Service's ports 8000 (http) and 8001 (admin) reach the second replica, as a virtual IP would.
    twin.services.set('integration-gateway:8000', { host: '127.0.0.3', port: gateways[1]!.port });
    twin.services.set('integration-gateway:8001', { host: '127.0.0.3', port: gateways[1]!.adminPort });
    const services = (entries: unknown[]) =>
      kubectl([
        'patch',
        'skr',
        'auth',
        '-n',
        ns,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { services: entries } }),
      ]);
    await services([
      { name: 'auth-service', statusURL: `${auth.url}/keys/status` },
      {
        name: 'integration-gateway',
        statusURL: `http://integration-gateway.${ns}.svc:8000/keys/status`,
        reloadURL: `http://integration-gateway.${ns}.svc:8001/keys/reload`,
      },
    ]);
    try {
      twin.requests.length = 0;
      const r = await plugin(['revoke', 'skr/auth', next, '--yes', '--wait', '--timeout', '60s']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        `${next} is revoked and out of the JWKS of auth-service (1 replica), integration-gateway (1 replica)`,
      );
      expect(twin.requests.some((q) => q.startsWith('svc/integration-gateway:8000/keys/status'))).toBe(true);
      // What the Service reaches (one replica: why statusURL is deprecated) no longer serves it.
      for (const url of [auth.url, gateways[1]!.url]) expect(await kidsOf(url)).not.toContain(next);
    } finally {
      await services([
        { name: 'auth-service', serviceRef: { name: 'auth-service' } },
        { name: 'integration-gateway', serviceRef: { name: 'integration-gateway' } },
      ]);
    }
  });

  it('revoke --wait gives up with exit 6 naming the replica that still serves the kid', async () => {
    // A replica whose JWKS never changes: it keeps serving whatever the test says.
    frozen = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keysetHash: 'frozen', kids: frozenKids, activeKid: null, loadedAt: null }));
    });
    await new Promise<void>((r) => frozen.listen(0, '127.0.0.9', r));
    await service('frozen', [9], { http: (frozen.address() as AddressInfo).port });
    await aRotationWithItsFirstKey('stale', [{ name: 'frozen', serviceRef: { name: 'frozen' } }]);
    await kubectl(['annotate', '--overwrite', 'skr', 'stale', '-n', ns, `${Annotations.rotateNow}=live-2`]);
    const next = await waitUntil('a next key', async () => (await skr('stale')).status?.nextKid);
    frozenKids = [(await skr('stale')).status!.activeKid!, next];
    const r = await plugin(['revoke', 'skr/stale', next, '--yes', '--wait', '--timeout', '5s']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(
      new RegExp(
        `error: gave up waiting after 5s: ${next} revoked by the operator; still in the JWKS of frozen pod/frozen-0 \\(the request stays in place`,
      ),
    );
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^error: /);
  });

  it("a TenantRateLimit's status shows live usage from the gateway replicas' metrics, read through the apiserver", async () => {
    const trl: TenantRateLimit = {
      apiVersion: 'security.novapos.io/v1alpha1',
      kind: 'TenantRateLimit',
      metadata: { name: 'live', namespace: ns },
      spec: {
        tenant,
        requestsPerMinute: 30,
        burst: 0,
        enforcement: 'enforce',
        redisFailureMode: 'failOpen',
      },
    } as TenantRateLimit;
    await kubectl(['apply', '-f', '-'], JSON.stringify(trl));
    await waitUntil(
      'both replicas acknowledged',
      async () =>
        (JSON.parse(await kubectl(['get', 'trl', 'live', '-n', ns, '-o', 'json'])) as TenantRateLimit).status
          ?.acknowledgedReplicas === 2,
      { timeoutMs: 30_000 },
    );
    // A user of the tenant; traffic through both replicas, about 10 requests a second, during the status.
    await auth.repo.createTenant(tenant, tenant);
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    const password = 'Live-Usage-42!horse';
    await auth.repo.createUser({
      tenantId: tenant,
      email: `oncall@${tenant}.example`,
      passwordHash: await hasher.hash(password),
      roles: ['user'],
    });
    const login = await fetch(`${auth.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
      body: JSON.stringify({ email: `oncall@${tenant}.example`, password }),
    });
    const token = ((await login.json()) as { accessToken: string }).accessToken;
    expect(token).toBeTruthy();
    let sent = 0;
    let rejected = 0;
    const sentAt: number[] = [];
    const statuses: Record<number, number> = {};
    let stop = false;
    const started = Date.now();
    const traffic = (async () => {
      while (!stop) {
        const g = gateways[sent % 2]!;
        const res = await fetch(`${g.url}/api/orders/${sent}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        await res.arrayBuffer();
        sent++;
        sentAt.push(Date.now());
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 429) rejected++;
        await sleep(50);
      }
    })();
    try {
      await sleep(1_000);
      const r = await plugin([
        'status',
        'trl/live',
        '--gateway',
        `${ns}/integration-gateway`,
        '--usage-sample',
        '4s',
      ]);
      // The rate the test sent at, per minute, over each 4 s window of the run: on a loaded machine it
      // varies, and the plugin's two reads fall in a window the test cannot see.
      const ended = Date.now();
      const windows: number[] = [];
      for (let from = started; from + 4_000 <= ended; from += 500)
        windows.push((sentAt.filter((t) => t >= from && t < from + 4_000).length / 4_000) * 60_000);
      const [slowest, fastest] = [Math.min(...windows), Math.max(...windows)];
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Gateway: generation 1 acknowledged by 2 replica\(s\)/);
      const m = r.stdout.match(
        /Live usage: ([\d.]+)\/min of 30 \(\d+%\), ([\d.]+) rejected\/min \(over [\d.]+s from 2 gateway replicas via the apiserver: pod\/integration-gateway-0, pod\/integration-gateway-1\)/,
      );
      expect(m, r.stdout).not.toBeNull();
      const [usage, refused] = [Number(m![1]), Number(m![2])];
      // Within a factor of the rate the test sent at (the two reads and the traffic are not aligned).
      expect(usage, `sent ${slowest.toFixed(0)}–${fastest.toFixed(0)}/min`).toBeGreaterThan(slowest * 0.5);
      expect(usage, `sent ${slowest.toFixed(0)}–${fastest.toFixed(0)}/min`).toBeLessThan(fastest * 1.5);
      // Over 30/min without burst: most are refused, and the plugin says so.
      expect(refused, `${r.stdout}\nanswers: ${JSON.stringify(statuses)}`).toBeGreaterThan(0);
      expect(refused).toBeLessThanOrEqual(usage);
      expect(rejected).toBeGreaterThan(0);
      // Read from each replica's admin port through the apiserver, never from the public port.
      for (const [i, g] of gateways.entries())
        expect(twin.requests).toContain(`integration-gateway-${i}:${port(g.adminUrl)}/metrics`);
      expect(
        twin.requests.filter(
          (q) => q.endsWith('/metrics') && gateways.some((g) => q.includes(`:${port(g.url)}/`)),
        ),
      ).toEqual([]);
    } finally {
      stop = true;
      await traffic;
    }
  });
});
