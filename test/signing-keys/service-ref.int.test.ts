import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { HttpKeyStatusProbe } from '../../operator/src/adapters/services/index.js';
import type { SigningKeyRotation } from '../../operator/src/api/index.js';
import { freePort } from '../harness/ports.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aRotation,
  type InProcessOperator,
  podAddress,
  startSharedEnvOperator,
  viaLoopbackTwin,
} from './support.js';

/**
 * Issue 19: services in a SigningKeyRotation are Kubernetes Services (serviceRef), not free URLs. The
 * operator finds the ready replicas through the Service's EndpointSlices and reads each one's
 * /keys/status on the port named http, notifies each on the port named admin (a Service with only an admin
 * port, as the audit-service's, gets both there); a Service of a namespace the configuration does not allow
 * is never called; statusURL still works, with a Deprecated condition.
 * The "replicas" are HTTP servers on loopback addresses (127.0.0.1-3) behind a selector-less Service
 * whose EndpointSlice this test writes, as the endpoint controller would. The apiserver refuses loopback
 * addresses in an EndpointSlice, so the slice names pod-network addresses (10.99.0.1-3) and the operator's
 * HTTP client maps each to its loopback twin: everything else (the apiserver's EndpointSlices, the
 * operator's resolution, the HTTP calls) is real.
 */

interface Replica {
  hash: string | null;
  readonly calls: string[];
  close(): Promise<void>;
}

async function replica(address: string, httpPort: number, adminPort: number): Promise<Replica> {
  const r = { hash: null as string | null, calls: [] as string[] };
  const servers = [httpPort, adminPort].map((port) =>
    http.createServer((req, res) => {
      r.calls.push(`${req.method} :${port}${req.url}`);
      if (req.method === 'GET' && req.url === '/keys/status') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keysetHash: r.hash, kids: [], loadedAt: new Date().toISOString() }));
      } else {
        res.writeHead(202);
        res.end();
      }
    }),
  );
  await Promise.all(
    servers.map(
      (s, i) => new Promise<void>((resolve) => s.listen(i ? adminPort : httpPort, address, resolve)),
    ),
  );
  return Object.assign(r, {
    close: () =>
      Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections();
              s.close(() => resolve());
            }),
        ),
      ).then(() => {}),
  });
}

type Status = SigningKeyRotation['status'] & {
  conditions?: { type: string; status: string; reason: string; message: string }[];
  services?: { name: string; loaded: boolean; message?: string }[];
};

describe('signing keys: services referenced as Kubernetes Services', () => {
  const env = inject('env');
  const ns = `skr-svcref-${randomBytes(3).toString('hex')}`;
  const otherNs = `${ns}-other`;
  let kubectl: Kubectl;
  let operator: InProcessOperator;
  let replicas: Replica[];
  let httpPort: number;
  let adminPort: number;

  const get = async (name: string) =>
    JSON.parse(await kubectl(['get', 'skr', name, '-n', ns, '-o', 'json'])) as SigningKeyRotation & {
      status?: Status;
    };
  const cond = (o: { status?: Status }, type: string) => o.status?.conditions?.find((c) => c.type === type);

  /**
   * A Service without a selector and its EndpointSlice, as the endpoint controller would write it; ports
   * `http` and `admin`, or only `admin` (the audit-service's Service).
   */
  const service = (
    namespace: string,
    name: string,
    ready: string[],
    notReady: string[] = [],
    portNames: readonly ('http' | 'admin')[] = ['http', 'admin'],
  ) => {
    const ports = portNames.map((n) => ({
      name: n,
      port: n === 'http' ? httpPort : adminPort,
      protocol: 'TCP',
    }));
    return [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace },
        spec: { ports },
      },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-1`, namespace, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        ports,
        endpoints: [
          ...ready.map((a) => ({ addresses: [a], conditions: { ready: true } })),
          ...notReady.map((a) => ({ addresses: [a], conditions: { ready: false } })),
        ],
      },
    ]
      .map((o) => stringify(o))
      .join('---\n');
  };

  beforeAll(async () => {
    kubectl = kubectlFor(env.kube!.kubectlPath, env.kube!.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['create', 'namespace', otherNs]);
    httpPort = await freePort();
    adminPort = await freePort();
    replicas = [
      await replica('127.0.0.1', httpPort, adminPort),
      await replica('127.0.0.2', httpPort, adminPort),
      await replica('127.0.0.3', httpPort, adminPort),
    ];
    await kubectl(['apply', '-f', '-'], service(ns, 'auth', [podAddress(1), podAddress(2)], [podAddress(3)]));
    await kubectl(['apply', '-f', '-'], service(otherNs, 'auth', [podAddress(3)]));
    operator = await startSharedEnvOperator(env, [ns], {
      timing: { clockSkewMs: 1_000, servicePollMs: 300, serviceWaitPollMs: 200 },
      services: new HttpKeyStatusProbe({ fetch: viaLoopbackTwin }),
    });
  });

  afterAll(async () => {
    await operator?.stop();
    for (const r of replicas ?? []) await r.close();
    for (const n of [ns, otherNs]) await kubectl(['delete', 'namespace', n, '--wait=false']).catch(() => {});
  });

  it('reads every ready replica on the http port: loaded only when all report the key set', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      stringify(aRotation(ns, 'svc', { services: [{ name: 'auth-service', serviceRef: { name: 'auth' } }] })),
    );
    const first = await waitUntil(
      'the key set published',
      async () => {
        const o = await get('svc');
        return o.status?.keysetHash ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const hash = first.status!.keysetHash!;
    // One replica behind: not loaded, and status says why.
    replicas[0]!.hash = hash;
    const behind = await waitUntil(
      'one replica behind',
      async () => {
        const o = await get('svc');
        return o.status?.services?.[0]?.message?.includes('2 different key sets') ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(cond(behind, 'ServicesLoaded')?.status).toBe('False');
    // Both ready replicas: loaded.
    replicas[1]!.hash = hash;
    await waitUntil(
      'ServicesLoaded',
      async () => cond(await get('svc'), 'ServicesLoaded')?.status === 'True',
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    expect(replicas[0]!.calls).toContain(`GET :${httpPort}/keys/status`);
    expect(replicas[1]!.calls).toContain(`GET :${httpPort}/keys/status`);
    // The replica that is not ready, and the admin port for status, are never asked.
    expect(replicas[2]!.calls).toEqual([]);
    expect(replicas[0]!.calls.filter((c) => c.startsWith(`GET :${adminPort}`))).toEqual([]);
    expect(cond(await get('svc'), 'Deprecated')).toBeUndefined();
  });

  it('notifies each ready replica on the admin port when the key set changes', async () => {
    for (const r of replicas) r.calls.length = 0;
    await kubectl([
      'annotate',
      '--overwrite',
      'skr',
      'svc',
      '-n',
      ns,
      `security.novapos.io/rotate-now=${Date.now()}`,
    ]);
    await waitUntil(
      'reload notifications',
      async () =>
        replicas.slice(0, 2).every((r) => r.calls.includes(`POST :${adminPort}/keys/reload`))
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(replicas[2]!.calls).toEqual([]);
  });

  it('never calls a Service of a namespace the configuration does not allow', async () => {
    for (const r of replicas) r.calls.length = 0;
    await kubectl(
      ['apply', '-f', '-'],
      stringify(
        aRotation(ns, 'other', {
          services: [{ name: 'x', serviceRef: { name: 'auth', namespace: otherNs } }],
        }),
      ),
    );
    const o = await waitUntil(
      'refused',
      async () => {
        const s = await get('other');
        return s.status?.services?.[0]?.message ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(o.status?.services?.[0]?.message).toMatch(/serviceRef is not allowed: .*did not call it$/);
    expect(cond(o, 'ServicesLoaded')?.reason).toBe('EndpointNotAllowed');
    await sleep(1_000);
    expect(replicas[2]!.calls).toEqual([]);
  });

  it('statusURL still works for an allowed address, with a Deprecated condition', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      stringify(
        aRotation(ns, 'legacy', {
          services: [{ name: 'auth-service', statusURL: `http://auth.${ns}.svc:${httpPort}/keys/status` }],
        }),
      ),
    );
    const o = await waitUntil(
      'deprecated',
      async () => {
        const s = await get('legacy');
        return cond(s, 'Deprecated') ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(cond(o, 'Deprecated')).toMatchObject({ status: 'True', reason: 'StatusURLDeprecated' });
    expect(cond(o, 'Deprecated')?.message).toContain('use serviceRef');
  });

  it('the schema takes exactly one of serviceRef and statusURL', async () => {
    await expect(
      kubectl(
        ['apply', '-f', '-'],
        stringify(
          aRotation(ns, 'both', {
            services: [{ name: 'a', serviceRef: { name: 'auth' }, statusURL: 'http://a.b.svc/keys/status' }],
          }),
        ),
      ),
    ).rejects.toThrow(/exactly one of serviceRef and statusURL/);
  });

  it('reads and notifies a Service whose only port is admin (the audit-service) on that port', async () => {
    await kubectl(['apply', '-f', '-'], service(ns, 'audit', [podAddress(1)], [], ['admin']));
    await kubectl(
      ['apply', '-f', '-'],
      stringify(
        aRotation(ns, 'audit', { services: [{ name: 'audit-service', serviceRef: { name: 'audit' } }] }),
      ),
    );
    const first = await waitUntil(
      'the key set published',
      async () => {
        const o = await get('audit');
        return o.status?.keysetHash ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (const r of replicas) r.calls.length = 0;
    replicas[0]!.hash = first.status!.keysetHash!;
    const loaded = await waitUntil(
      'ServicesLoaded',
      async () => {
        const o = await get('audit');
        return cond(o, 'ServicesLoaded')?.status === 'True' ? o : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(loaded.status?.services?.[0]).toMatchObject({ name: 'audit-service', loaded: true });
    // Read on admin, the Service's only port. (The replica's http port may still be polled meanwhile by this
    // file's other rotations, whose Services name the same pod address: a full run saw one such GET.)
    expect(replicas[0]!.calls).toContain(`GET :${adminPort}/keys/status`);

    await kubectl([
      'annotate',
      '--overwrite',
      'skr',
      'audit',
      '-n',
      ns,
      `security.novapos.io/rotate-now=${Date.now()}`,
    ]);
    await waitUntil(
      'a reload notification on the admin port',
      async () => (replicas[0]!.calls.includes(`POST :${adminPort}/keys/reload`) ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });
});
