import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { aDatabase, startTestService, type TestService } from '../auth-service/helpers.js';
import { startTestGateway, type TestGateway } from '../gateway/support.js';
import { freePort } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { aRotation, type InProcessOperator, startSharedEnvOperator } from './support.js';

type Cond = { type: string; status: string; reason: string };

/**
 * A service that missed the publish notification (auth-service was down when the key set was published, so
 * the gateway's refetch then failed) is notified again by the operator once it reports an older key set:
 * the gateway does not poll, so without that it would never load the set and the rotation would stall.
 */
describe('signing keys: a service that missed the reload notification catches up', () => {
  const env = inject('env');
  const ns = `skr-late-${randomBytes(3).toString('hex')}`;
  let kubectl: Kubectl;
  let operator: InProcessOperator;
  let gateway: TestGateway;
  let auth: TestService | undefined;
  let authPort: number;

  beforeAll(async () => {
    kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    operator = await startSharedEnvOperator(env, [ns], {
      timing: { clockSkewMs: 1_000, servicePollMs: 1_000, serviceWaitPollMs: 300 },
      // The test's services listen on loopback ports chosen at run time.
      endpoints: { allowedOrigins: ['http://127.0.0.1:*'] },
    });
    authPort = await freePort();
    // The gateway runs; the auth-service whose JWKS it verifies through is not up yet.
    gateway = await startTestGateway({
      REDIS_URL: env.redisUrl,
      JWKS_URL: `http://127.0.0.1:${authPort}/.well-known/jwks.json`,
    });
  });

  afterAll(async () => {
    await operator?.stop();
    await gateway?.close();
    await auth?.close();
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  });

  it('re-notifies the gateway once it reports no or an older key set, and ServicesLoaded turns True', async () => {
    const rotation = aRotation(ns, 'auth', {
      services: [
        {
          name: 'integration-gateway',
          statusURL: `${gateway.url}/keys/status`,
          // POST /keys/reload is on the gateway's admin port (docs/contracts.md, "Ports").
          reloadURL: `${gateway.adminUrl}/keys/reload`,
        },
      ],
    });
    await kubectl(['apply', '-f', '-'], stringify(rotation));
    const keysetHash = await waitUntil('the key set published', async () => {
      const o = JSON.parse(await kubectl(['get', 'skr', 'auth', '-n', ns, '-o', 'json'])) as {
        status?: { activeKid?: string; conditions?: Cond[] };
      };
      return o.status?.activeKid ? o.status : undefined;
    });
    expect(keysetHash.activeKid).toBeTruthy();
    // The publish notification reached the gateway while its issuer was down: nothing loaded.
    expect(
      ((await (await fetch(`${gateway.url}/keys/status`)).json()) as { keysetHash: string | null })
        .keysetHash,
    ).toBeNull();

    // auth-service comes up and serves the published set; the gateway still does not poll.
    auth = await startTestService({
      PORT: String(authPort),
      DATABASE_URL: await aDatabase(env.postgresUrl!, `skr_late_${ns.slice(-6)}`),
      VAULT_ADDR: env.vaults[0]!.addr,
      VAULT_TOKEN: env.vaults[0]!.rootToken,
      SIGNING_KEYSET_PATH: `secret/novapos/signing-keys/${ns}/auth`,
      LOG_LEVEL: 'warn',
    });
    const authHash = ((await (await fetch(`${auth.url}/keys/status`)).json()) as { keysetHash: string })
      .keysetHash;
    await waitUntil(
      'the gateway to load the key set after being notified again',
      async () =>
        ((await (await fetch(`${gateway.url}/keys/status`)).json()) as { keysetHash: string | null })
          .keysetHash === authHash,
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    await waitUntil('ServicesLoaded True', async () => {
      const o = JSON.parse(await kubectl(['get', 'skr', 'auth', '-n', ns, '-o', 'json'])) as {
        status?: { conditions?: Cond[] };
      };
      return o.status?.conditions?.some((c) => c.type === 'ServicesLoaded' && c.status === 'True');
    });
  });
});
