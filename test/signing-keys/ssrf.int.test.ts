import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import type { SigningKeyRotation } from '../../operator/src/api/index.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { aRotation, type InProcessOperator, startSharedEnvOperator } from './support.js';

/**
 * Issue 19, SSRF: a SigningKeyRotation is written by a namespace user, and the operator used to GET any
 * statusURL and POST any reloadURL in it, then record reachable / unreachable / the HTTP code in status, so
 * any namespace could probe internal addresses. Now only in-cluster Service names of allowed namespaces
 * and origins the operator configuration lists are called; anything else is refused without a request, and
 * status says the same thing whether the address exists or not.
 */

interface Canary {
  readonly origin: string;
  readonly requests: string[];
  close(): Promise<void>;
}

/** An "internal" HTTP server on loopback that records every request it gets. */
async function canary(): Promise<Canary> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keysetHash: null, kids: [], loadedAt: null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Cond = { type: string; status: string; reason: string; message: string };

describe('signing keys: the operator calls only allowed service endpoints', () => {
  const env = inject('env');
  const ns = `skr-ssrf-${randomBytes(3).toString('hex')}`;
  let kubectl: Kubectl;
  let operator: InProcessOperator;
  let internal: Canary;
  let allowedService: Canary;

  const get = async (name: string) =>
    JSON.parse(await kubectl(['get', 'skr', name, '-n', ns, '-o', 'json'])) as SigningKeyRotation & {
      status?: { conditions?: Cond[]; services?: { name: string; loaded: boolean; message?: string }[] };
    };

  beforeAll(async () => {
    kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    internal = await canary();
    allowedService = await canary();
    operator = await startSharedEnvOperator(env, [ns], {
      timing: { clockSkewMs: 1_000, servicePollMs: 500, serviceWaitPollMs: 200 },
      // The operator configuration allows one loopback origin (as for local development), no other.
      endpoints: { serviceNamespaces: [], allowedOrigins: [allowedService.origin] },
    });
  });

  afterAll(async () => {
    await operator?.stop();
    await internal?.close();
    await allowedService?.close();
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  });

  it('never GETs a statusURL nor POSTs a reloadURL outside the allowed endpoints', async () => {
    const services = [
      // An internal address that answers.
      { name: 'probe-open', statusURL: `${internal.origin}/keys/status` },
      // A closed port on the same host: must look exactly like the open one in status.
      { name: 'probe-closed', statusURL: 'http://127.0.0.1:1/keys/status' },
      // An allowed status URL with a reload URL aimed elsewhere: neither is called.
      {
        name: 'probe-reload',
        statusURL: `${allowedService.origin}/keys/status`,
        reloadURL: `${internal.origin}/keys/reload`,
      },
      // Another namespace's Service (the apiserver's), and the cloud metadata address.
      { name: 'probe-svc', statusURL: 'https://kubernetes.default.svc/keys/status' },
      { name: 'probe-metadata', statusURL: 'http://169.254.169.254/keys/status' },
      // Any other path of an allowed origin.
      { name: 'probe-path', statusURL: `${allowedService.origin}/admin/keys/status/../../debug` },
    ];
    await kubectl(['apply', '-f', '-'], stringify(aRotation(ns, 'ssrf', { services })));
    const skr = await waitUntil(
      'the services refused in status',
      async () => {
        const o = await get('ssrf');
        return (o.status?.services?.length ?? 0) === services.length && o.status?.activeKid ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    // Let the operator poll and notify a few times.
    await sleep(2_500);
    expect(internal.requests).toEqual([]);
    expect(allowedService.requests).toEqual([]);

    const byName = Object.fromEntries((skr.status?.services ?? []).map((s) => [s.name, s]));
    for (const s of services) {
      expect(byName[s.name]?.loaded).toBe(false);
      expect(byName[s.name]?.message).toMatch(/is not allowed: .*the operator did not call it$/);
    }
    // No oracle: the open and the closed address read the same, and nothing says reachable or a code.
    expect(byName['probe-open']?.message).toBe(byName['probe-closed']?.message);
    const text = JSON.stringify(skr.status);
    expect(text).not.toMatch(/unreachable|answered|timed out|ECONNREFUSED/);
    const loaded = skr.status?.conditions?.find((c) => c.type === 'ServicesLoaded');
    expect(loaded).toMatchObject({ status: 'False', reason: 'EndpointNotAllowed' });
  });

  it('calls an allowed origin', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      stringify(
        aRotation(ns, 'allowed', {
          services: [{ name: 'svc', statusURL: `${allowedService.origin}/keys/status` }],
        }),
      ),
    );
    await waitUntil(
      'the allowed service polled',
      async () => allowedService.requests.includes('GET /keys/status'),
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    expect(internal.requests).toEqual([]);
  });
});
