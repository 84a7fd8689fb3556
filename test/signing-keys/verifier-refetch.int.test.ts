import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { aDatabase, startTestService, type TestService } from '../auth-service/helpers.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { type Env, startEnv } from '../harness/env.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { aRotation, type InProcessOperator, startSharedEnvOperator } from './support.js';

type KeyStatus = { keysetHash: string | null; kids: string[]; loadedAt: string | null };
type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number };
type Skr = {
  metadata: { generation: number };
  status?: { activeKid?: string; keysetHash?: string; conditions?: Cond[] };
};

const PASSWORD = 'Verifier-Refetch-42!';
/** The verifiers' JWKS cache: the gateway refetches the set this often while tokens arrive. */
const TTL_MS = 2_000;
const LEAD_MS = 3_000;

/**
 * Issue 16 (the drill's key-rotation step never finished on the node): a rotation waits until every listed
 * service has held the new key set for jwksCacheTTL (status `loadedAt` + TTL), and the gateway reported as
 * `loadedAt` the time of its LAST JWKS fetch. Under traffic a gateway refetches the same set each time its
 * cache expires, so its `loadedAt` moved forward every TTL and, with two replicas (or two gateways) out of
 * phase, "loaded for a TTL" was never true: the next key never signed while the load ran. `loadedAt` is when
 * the verifier first loaded the set it reports (as auth-service already reports it). Real apiserver, OpenBao,
 * auth-service, two gateways, the SigningKeyRotation controller; tokens keep arriving at both gateways.
 */
describe('signing keys: verifiers that refetch the same key set under traffic', () => {
  const env = inject('env');
  const ns = `skr-refetch-${randomBytes(3).toString('hex')}`;
  let kubectl: Kubectl;
  let operator: InProcessOperator;
  let auth: TestService;
  /** A Redis of its own: no other suite's failed authentications from 127.0.0.1 count against these gateways. */
  let own: Env;
  const gateways: TestGateway[] = [];
  const status = async (url: string) => (await (await fetch(`${url}/keys/status`)).json()) as KeyStatus;
  const skr = async () => JSON.parse(await kubectl(['get', 'skr', 'auth', '-n', ns, '-o', 'json'])) as Skr;
  const condition = (o: Skr, type: string) => o.status?.conditions?.find((c) => c.type === type);
  const patchSkr = (patch: unknown) =>
    kubectl(['patch', 'skr', 'auth', '-n', ns, '--type=merge', '-p', JSON.stringify(patch)]);
  const login = async () => {
    const res = await fetch(`${auth.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': 'refetch' },
      body: JSON.stringify({ email: 'refetch@skr.test', password: PASSWORD }),
    });
    const body = (await res.json()) as { accessToken?: string };
    if (!body.accessToken) throw new Error(`login failed: HTTP ${res.status}`);
    return body.accessToken;
  };
  const ping = (gateway: TestGateway, token: string) =>
    fetch(`${gateway.url}/api/tenant/ping`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    }).then(
      async (r) => {
        await r.arrayBuffer();
        return r.status;
      },
      () => 0,
    );
  /** 10 requests a second at each gateway (a drill's synthetic load) until stopped. */
  const traffic = (token: string) => {
    let stopped = false;
    const statuses: number[] = [];
    const loops = gateways.map(async (g) => {
      while (!stopped) {
        const next = sleep(100);
        statuses.push(await ping(g, token));
        await next;
      }
    });
    return {
      statuses,
      async stop() {
        stopped = true;
        await Promise.all(loops);
      },
    };
  };
  const fetches = (g: TestGateway) => g.logs.lines.filter((l) => l.includes('"jwks_fetched"')).length;

  beforeAll(async () => {
    kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    operator = await startSharedEnvOperator(env, [ns], {
      timing: {
        clockSkewMs: 1_000,
        servicePollMs: 500,
        serviceWaitPollMs: 200,
        serviceLoadTimeoutMs: 10_000,
      },
      // The test's services listen on loopback ports chosen at run time.
      endpoints: { allowedOrigins: ['http://127.0.0.1:*'] },
    });
    await kubectl(
      ['apply', '-f', '-'],
      stringify(aRotation(ns, 'auth', { leadTime: '1h', jwksCacheTTL: `${TTL_MS / 1000}s` })),
    );
    await waitUntil('the first key', async () => (await skr()).status?.activeKid, { timeoutMs: 30_000 });
    auth = await startTestService({
      DATABASE_URL: await aDatabase(env.postgresUrl!, 'skr_refetch'),
      VAULT_ADDR: env.vaults[0]!.addr,
      VAULT_TOKEN: env.vaults[0]!.rootToken,
      SIGNING_KEYSET_PATH: `secret/novapos/signing-keys/${ns}/auth`,
      // As the chart runs it: the operator's reload notification, and a poll every 30 s.
      SIGNING_KEYSET_POLL_SECONDS: '30',
      LOG_LEVEL: 'warn',
      AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
      AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
    });
    await auth.repo.createTenant('refetch', 'refetch');
    await auth.repo.createUser({
      tenantId: 'refetch',
      email: 'refetch@skr.test',
      passwordHash: await new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 }).hash(
        PASSWORD,
      ),
      roles: ['user'],
    });
    own = await startEnv({ redis: true, label: 'skr-refetch' });
    for (let i = 0; i < 2; i++) {
      gateways.push(
        await startTestGateway({
          REDIS_URL: own.redis!.url,
          JWKS_URL: `${auth.url}/.well-known/jwks.json`,
          GATEWAY_RATE_LIMIT_RPM: '1000000',
          // Not this suite's subject: on a loaded machine a Redis command past the 500 ms default timeout
          // inside one of ioredis' automatic pipelines threw an uncaught "results[i] is not iterable" here
          // (reported with issue 16's findings); a longer timeout keeps this suite about key sets.
          GATEWAY_REDIS_COMMAND_TIMEOUT_MS: '5000',
          // info: its JWKS fetches are logged (jwks_fetched), which the first case counts.
          LOG_LEVEL: 'info',
        }),
      );
    }
    await patchSkr({
      spec: {
        services: [
          { name: 'auth-service', statusURL: `${auth.url}/keys/status` },
          ...gateways.map((g, i) => ({
            name: `integration-gateway-${i}`,
            statusURL: `${g.url}/keys/status`,
            reloadURL: `${g.adminUrl}/keys/reload`,
          })),
        ],
      },
    });
    await waitUntil(
      'every service to load the key set',
      async () => condition(await skr(), 'ServicesLoaded')?.status === 'True',
      { timeoutMs: 30_000 },
    );
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
    for (const g of gateways) await g.close();
    await auth?.close();
    await own?.stop();
    await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  });

  it("a gateway's loadedAt is when it first loaded the set: refetching the same set does not move it", async () => {
    const [gateway] = gateways as [TestGateway];
    const before = await status(gateway.url);
    expect(before.keysetHash).toBe((await status(auth.url)).keysetHash);
    const fetchedBefore = fetches(gateway);
    const load = traffic(await login());
    try {
      // Its cache expires every TTL under traffic: it refetches the same set, and once more on a reload.
      await waitUntil('two refetches of the same set', async () => fetches(gateway) >= fetchedBefore + 2, {
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      expect((await fetch(`${gateway.adminUrl}/keys/reload`, { method: 'POST' })).status).toBe(202);
      await waitUntil('the reload', async () => fetches(gateway) >= fetchedBefore + 3, { timeoutMs: 10_000 });
    } finally {
      await load.stop();
    }
    expect(load.statuses.filter((s) => s !== 200)).toEqual([]);
    expect(await status(gateway.url)).toEqual(before);
  }, 60_000);

  it('under traffic at both gateways, rotate-now makes the next key sign within lead time + TTL + slack', async () => {
    const before = await skr();
    const oldKid = before.status!.activeKid!;
    const load = traffic(await login());
    const t0 = Date.now();
    let rotated: Skr;
    try {
      await patchSkr({
        metadata: { annotations: { 'security.novapos.io/rotate-now': `refetch-${t0}` } },
        spec: { leadTime: `${LEAD_MS / 1000}s` },
      });
      // Lead time 3 s, then one TTL (2 s) of every service holding the set: about 5 s. 45 s is slack for a
      // machine loaded by other suites; before the fix the next key could not sign while the traffic ran.
      rotated = await waitUntil(
        'the new key to sign, loaded by every service',
        async () => {
          const o = await skr();
          const loaded = condition(o, 'ServicesLoaded');
          return o.status?.activeKid &&
            o.status.activeKid !== oldKid &&
            loaded?.status === 'True' &&
            loaded.observedGeneration === o.metadata.generation
            ? o
            : undefined;
        },
        { timeoutMs: 45_000, intervalMs: 300 },
      ).catch(async (err: Error) => {
        const o = await skr();
        throw new Error(
          `${err.message}: ${condition(o, 'Rotating')?.message} / ${condition(o, 'ServicesLoaded')?.message}`,
        );
      });
    } finally {
      await load.stop();
    }
    const seconds = (Date.now() - t0) / 1000;
    console.log(
      `[signing-keys] rotate-now under traffic at 2 gateways: new key signing and loaded in ${seconds} s`,
    );
    expect(seconds).toBeGreaterThanOrEqual(LEAD_MS / 1000);
    // No valid token was refused while the set changed.
    expect(load.statuses.filter((s) => s !== 200)).toEqual([]);
    // A token of the new key goes through both gateways.
    const fresh = await login();
    expect(decodeProtectedHeader(fresh).kid).toBe(rotated.status!.activeKid);
    for (const g of gateways) expect(await ping(g, fresh)).toBe(200);
  }, 90_000);
});
