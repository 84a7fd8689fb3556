/**
 * Suites share the one Kubernetes node of a run through leases on it. The integration tier's global setup
 * runs a small broker on loopback (`startNodeBroker`); a suite asks it for a lease in its `beforeAll`
 * (`leaseNode`) and the broker starts the node the first time one is asked for, in the global setup's
 * process, so it outlives the suites and is stopped once by the global teardown.
 *
 * Three kinds of lease, one node per machine:
 *   shared   any number at once: the suite works in namespaces of its own (`lease.namespace(name)`, deleted
 *            when the lease ends) and installs nothing cluster-wide.
 *   cluster  alone on the running node: for suites that install or delete cluster-wide things (CRDs,
 *            ClusterRoles, the operator, `pulumi destroy`). Serial with every other lease.
 *   own      no shared node at all: the broker stops it (if it runs) and the suite starts and stops a node
 *            of its own (`startNode()`; the node suite kills nodes, `npm start` runs one). Serial too.
 * Waiting exclusive leases go before new shared ones, so a cluster suite is not starved.
 *
 * A lease is one open HTTP response: the broker answers with the node's descriptor when it grants it and
 * keeps the response open; the lease ends when the suite releases it or its worker dies (the connection
 * closes), so a crashed suite never holds the node.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NodeInstance } from './components/node.js';

const run = promisify(execFile);

export type LeaseMode = 'shared' | 'cluster' | 'own';

/** What a suite gets with a shared or cluster lease: plain data, valid while the lease lasts. */
export interface NodeDescriptor {
  readonly nodeName: string;
  readonly nodeIp: string;
  readonly bridge: string;
  readonly podSubnet: string;
  readonly serviceRange: string;
  /** The node's apiserver, https://<node IP>:PORT, and its admin kubeconfig. */
  readonly server: string;
  readonly kubeconfig: string;
  readonly kubectlPath: string;
  readonly caCert: string;
  readonly images: { readonly busybox: string; readonly coredns: string; readonly sandbox: string };
  /** Seconds the node took to start (0 when it was already running). */
  readonly startSeconds: number;
}

interface Waiter {
  readonly id: string;
  readonly mode: LeaseMode;
  readonly holder: string;
  grant(): void;
}

export interface NodeBroker {
  readonly url: string;
  /** Ends every lease and stops the node if it runs. */
  stop(): Promise<void>;
}

function describeNode(n: NodeInstance, fresh: boolean): NodeDescriptor {
  return {
    nodeName: n.nodeName,
    nodeIp: n.network.nodeIp,
    bridge: n.network.bridge,
    podSubnet: n.network.subnet,
    serviceRange: n.network.serviceRange,
    server: n.kube.server,
    kubeconfig: n.kube.kubeconfig,
    kubectlPath: n.kube.kubectlPath,
    caCert: n.kube.caCert,
    images: n.images,
    startSeconds: fresh ? n.startSeconds : 0,
  };
}

/**
 * The broker (global setup). `start` defaults to the harness's startNode; the node starts on the first
 * shared or cluster lease and stops for an `own` lease and at `stop()`.
 */
export async function startNodeBroker(
  start: () => Promise<NodeInstance> = async () => (await import('./components/node.js')).startNode(),
  log: (line: string) => void = (l) => process.stderr.write(`[node-broker] ${l}\n`),
): Promise<NodeBroker> {
  let node: NodeInstance | undefined;
  let starting: Promise<NodeInstance> | undefined;
  const held = new Map<string, { mode: LeaseMode; holder: string }>();
  const queue: Waiter[] = [];

  const exclusive = (m: LeaseMode) => m !== 'shared';
  const pump = () => {
    while (queue.length) {
      const next = queue[0]!;
      const holding = [...held.values()];
      if (exclusive(next.mode) ? holding.length > 0 : holding.some((h) => exclusive(h.mode))) return;
      queue.shift();
      held.set(next.id, { mode: next.mode, holder: next.holder });
      next.grant();
      // Shared leases go together; an exclusive one waits for them (it is now first in the queue).
      if (exclusive(next.mode)) return;
    }
  };
  const release = (id: string) => {
    if (held.delete(id)) pump();
    const i = queue.findIndex((w) => w.id === id);
    if (i !== -1) queue.splice(i, 1);
  };
  const stopNode = async () => {
    const n = node ?? (await starting?.catch(() => undefined));
    node = undefined;
    starting = undefined;
    if (n) {
      log('stopping the shared node');
      await n.stop();
    }
  };
  const ensureNode = async (): Promise<{ n: NodeInstance; fresh: boolean }> => {
    if (node) return { n: node, fresh: false };
    starting ??= start();
    try {
      node = await starting;
    } finally {
      starting = undefined;
    }
    log(`shared node up in ${node.startSeconds.toFixed(1)} s`);
    return { n: node, fresh: true };
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://broker');
    if (req.method === 'POST' && url.pathname === '/import') {
      const archive = url.searchParams.get('archive') ?? '';
      (node ? node.importImage(archive) : Promise.reject(new Error('no shared node runs'))).then(
        () => res.end('{}'),
        (err: Error) => {
          res.statusCode = 500;
          res.end(JSON.stringify({ error: err.message }));
        },
      );
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/lease') {
      res.statusCode = 404;
      res.end();
      return;
    }
    const mode = url.searchParams.get('mode') as LeaseMode;
    if (!['shared', 'cluster', 'own'].includes(mode)) {
      res.statusCode = 400;
      res.end(JSON.stringify({ error: 'mode: one of shared, cluster, own' }));
      return;
    }
    const id = randomBytes(6).toString('hex');
    const holder = url.searchParams.get('holder') ?? '?';
    // The lease lasts as long as this response: closed by the suite (release) or by its worker's death.
    res.on('close', () => release(id));
    queue.push({
      id,
      mode,
      holder,
      grant: () => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        const answer =
          mode === 'own'
            ? stopNode().then(() => ({ id, mode }))
            : ensureNode().then(({ n, fresh }) => ({ id, mode, node: describeNode(n, fresh) }));
        answer.then(
          (a) => res.write(`${JSON.stringify(a)}\n`),
          (err: Error) => res.end(`${JSON.stringify({ error: err.message })}\n`),
        );
      },
    });
    pump();
  });
  server.keepAliveTimeout = 0;
  // A lease can be held for the length of a suite.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      server.close();
      await stopNode();
    },
  };
}

/** A suite's lease; `release()` in afterAll (deletes its namespaces first when shared). */
export interface NodeLease {
  readonly mode: LeaseMode;
  /** Undefined for an `own` lease. */
  readonly node?: NodeDescriptor;
  kubectl(args: readonly string[], input?: string): Promise<string>;
  /** Creates namespace `name` (labelled with the suite) and deletes it when the lease ends. */
  namespace(name: string): Promise<string>;
  /** Imports an image archive into the shared node's containerd (through the broker, which owns it). */
  importImage(archive: string): Promise<void>;
  release(): Promise<void>;
}

/** Asks the broker for a lease; resolves once granted (it may wait for other suites' exclusive leases). */
export function leaseNode(brokerUrl: string, mode: LeaseMode, holder: string): Promise<NodeLease> {
  return new Promise((resolve, reject) => {
    const url = new URL('/lease', brokerUrl);
    url.searchParams.set('mode', mode);
    url.searchParams.set('holder', holder);
    const req = http.request(url, { method: 'POST', agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      let buf = '';
      const onData = (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        const nl = buf.indexOf('\n');
        if (nl === -1) return;
        res.off('data', onData);
        const answer = JSON.parse(buf.slice(0, nl)) as { error?: string; node?: NodeDescriptor };
        if (answer.error) {
          req.destroy();
          reject(new Error(`no ${mode} lease on the node: ${answer.error}`));
          return;
        }
        resolve(makeLease(brokerUrl, mode, holder, answer.node, () => req.destroy()));
      };
      res.on('data', onData);
    });
    req.end();
  });
}

function makeLease(
  brokerUrl: string,
  mode: LeaseMode,
  holder: string,
  node: NodeDescriptor | undefined,
  end: () => void,
): NodeLease {
  const namespaces: string[] = [];
  const kubectl = async (args: readonly string[], input?: string) => {
    if (!node) throw new Error('an own lease has no shared node: start one with startNode()');
    const child = run(node.kubectlPath, ['--kubeconfig', node.kubeconfig, ...args], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    try {
      return (await child).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  };
  let released = false;
  return {
    mode,
    node,
    kubectl,
    async namespace(name) {
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name, labels: { 'novapos.io/test-suite': suiteLabel(holder) } },
        }),
      );
      namespaces.push(name);
      return name;
    },
    async importImage(archive) {
      const url = new URL('/import', brokerUrl);
      url.searchParams.set('archive', archive);
      const res = await fetch(url, { method: 'POST' });
      if (!res.ok) throw new Error(`image import: ${await res.text()}`);
    },
    async release() {
      if (released) return;
      released = true;
      try {
        for (const ns of namespaces)
          await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
      } finally {
        end();
      }
    },
  };
}

/** A label value naming the suite: its file name, cut to the label's 63 characters. */
function suiteLabel(holder: string): string {
  return (
    path
      .basename(holder)
      .replace(/[^A-Za-z0-9_.-]+/g, '_')
      .slice(0, 63)
      .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '') || 'suite'
  );
}
