import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeInstance, startNode } from '../harness/components/node.js';
import { debianBaseLayer, nodeLtsLayer } from '../harness/node/base-image.js';
import {
  bridgeExists,
  cleanupAbandonedNode,
  egressRejected,
  kubeIptablesLeft,
  kubepodsLeft,
  nodeOwner,
  readSysctl,
} from '../harness/node/host.js';
import { buildImageArchive, kubectlImage } from '../harness/node/images.js';
import { type NodeChild, spawnNodeChild } from '../harness/node/spawn-child.js';
import { LEASE_WAIT_MS, nodeLease } from '../harness/node-lease.js';
import { makeRunDir } from '../harness/process.js';
import type { NodeLease } from '../harness/shared-node.js';
import { waitUntil } from '../harness/wait.js';
import { productChecks } from './product.js';

// The harness's real Kubernetes node (one per machine, so this file runs its checks in order): a node whose
// owner is SIGKILLed leaves containers, mounts, cgroups and rules behind, and the next start cleans them;
// then pods run from images imported here, a Service answers by name through CoreDNS, a pod talks to the
// API server with its ServiceAccount token, no packet tried to leave the bridge, and stop leaves the
// machine as it was.

const NS = 'node-checks';

let node: NodeInstance | undefined;
let scratch: string | undefined;
let child: NodeChild | undefined;
let lease: NodeLease | undefined;

// This file starts (and kills) nodes of its own: the run's shared node, if a suite started it, is stopped
// meanwhile and no other suite leases one until this file is done (test/harness/shared-node.ts).
beforeAll(async () => {
  const l = await nodeLease('own', import.meta.url);
  if (typeof l !== 'string') lease = l;
}, LEASE_WAIT_MS);

afterAll(async () => {
  if (child && child.c.exitCode === null && child.c.signalCode === null) child.c.kill('SIGKILL');
  await node?.stop();
  // A killed child's node when the run ended before the next start cleaned it.
  if (child) await child.exited;
  await cleanupAbandonedNode();
  await lease?.release();
}, 180_000);

const kubectl = (args: readonly string[], input?: string) => node!.kubectl(args, input);
const apply = (obj: unknown) => kubectl(['apply', '-f', '-'], JSON.stringify(obj));

/** A pod that runs `script` in the busybox image and ends; resolves its log once it Succeeded. */
async function runToCompletion(
  name: string,
  script: string,
  { image, ...extra }: { image?: string } & Record<string, unknown> = {},
): Promise<string> {
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: image ?? node!.images.busybox,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', script],
        },
      ],
      ...extra,
    },
  });
  const phase = await waitUntil(
    `pod ${name} to finish`,
    async () => {
      const p = (await kubectl(['-n', NS, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).trim();
      return p === 'Succeeded' || p === 'Failed' ? p : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  const logs = await kubectl(['-n', NS, 'logs', name]);
  if (phase !== 'Succeeded') throw new Error(`pod ${name} ${phase}; its log:\n${logs}`);
  return logs;
}

function shells(cmd: string): string {
  try {
    return execFileSync('sh', ['-c', cmd], { encoding: 'utf8' });
  } catch (err) {
    return (err as { stdout?: string }).stdout ?? '';
  }
}

/** The child that starts a node (test/harness/node/child.ts) and waits to be killed. */
function spawnChild(): NodeChild {
  const nodeChild = spawnNodeChild();
  child = nodeChild;
  return nodeChild;
}

describe('a real Kubernetes node', () => {
  it("refuses to start when the node's ranges overlap a route of the machine", async () => {
    // A route of our own making that nothing uses: an unreachable half of the node's subnet.
    const half = '10.217.0.0/25';
    execFileSync('ip', ['route', 'add', 'unreachable', half]);
    try {
      await expect(startNode()).rejects.toThrow(
        `refusing to start the Kubernetes node: node subnet 10.217.0.0/24 overlaps the route unreachable ${half}`,
      );
    } finally {
      execFileSync('ip', ['route', 'del', 'unreachable', half]);
    }
    expect(bridgeExists('novapos0')).toBe(false);
    expect(kubeIptablesLeft()).toEqual([]);
    expect(existsSync('/tmp/novapos-node')).toBe(false);
  }, 420_000); // the first start on a fresh machine also installs the node's Debian packages

  it('cleans up after a node killed while it was starting', async () => {
    // Killed once containerd runs (etcd, the apiserver and the bridge are up, the images are being imported):
    // the next start, in the following check, must put all that back first.
    const { c, exited, output } = spawnChild();
    const socket = '/tmp/novapos-node/run/containerd/containerd.sock';
    const seen = await waitUntil(
      "the child's containerd to run",
      () => (c.exitCode !== null || c.signalCode !== null ? 'exited' : existsSync(socket) && 'running'),
      { timeoutMs: 240_000, intervalMs: 50 },
    );
    if (seen === 'exited') throw new Error(`the child exited before its containerd ran:\n${output()}`);
    c.kill('SIGKILL');
    await exited;
    expect(bridgeExists('novapos0')).toBe(true);
    expect(existsSync('/tmp/novapos-node/host.json')).toBe(true);
    expect(nodeOwner()).toBeUndefined();
  }, 420_000);

  it('starts cleanly after a node whose owner was killed by SIGKILL', async () => {
    const { c, exited, output } = spawnChild();
    const stdout = () => output().split('\nstderr:\n')[0] ?? '';
    const stderr = () => output().split('\nstderr:\n')[1] ?? '';
    const line = await waitUntil(
      'the child to report a started node',
      () =>
        c.exitCode !== null || c.signalCode !== null
          ? 'exited'
          : stdout()
              .split('\n')
              .find((l) => l.startsWith('{')),
      { timeoutMs: 240_000, intervalMs: 200 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nchild stderr:\n${stderr().slice(-4000)}`);
    });
    if (line === 'exited')
      throw new Error(`the child exited before its node was up:\n${stderr().slice(-4000)}`);
    const report = JSON.parse(line) as { bridge: string; startSeconds: number };
    console.log(`[node] the child's node started in ${report.startSeconds.toFixed(1)} s`);
    // It found the node killed while starting, and put the machine back first.
    expect(stderr()).toContain('was not stopped: cleaning up');

    c.kill('SIGKILL');
    await exited;
    // What the kill left: the kernel's parent-death signal took the daemons, but not the containers (their
    // shims are not the owner's children), nor the bridge, the cgroups or the iptables rules.
    expect(bridgeExists(report.bridge)).toBe(true);
    expect(kubepodsLeft().length).toBeGreaterThan(0);
    expect(nodeOwner()).toBeUndefined();

    const started = Date.now();
    node = await startNode();
    console.log(
      `[node] cleaned up and started again in ${((Date.now() - started) / 1000).toFixed(1)} s (node Ready + CoreDNS: ${node.startSeconds.toFixed(1)} s)`,
    );
    // A fresh cluster: the killed node's pod is gone with its etcd.
    expect(await kubectl(['get', 'pods', '-A', '-o', 'name'])).not.toContain('left-behind');
    await kubectl(['create', 'namespace', NS]);
    await waitUntil(
      `the default ServiceAccount in ${NS}`,
      async () =>
        (await kubectl(['-n', NS, 'get', 'serviceaccount', 'default', '-o', 'name'])).includes('default'),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }, 420_000);

  it('runs a Pod from a locally imported image, and serves its log', async () => {
    const started = Date.now();
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hello', namespace: NS },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'hello',
            image: node!.images.busybox,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', 'echo hello from $(hostname); exec sleep 3600'],
          },
        ],
      },
    });
    await kubectl(['-n', NS, 'wait', '--for=condition=Ready', 'pod/hello', '--timeout=60s']);
    console.log(`[node] pod Ready ${((Date.now() - started) / 1000).toFixed(1)} s after apply`);
    // kubectl logs goes apiserver -> kubelet by the node's InternalIP with the apiserver's client certificate.
    await waitUntil(
      'the pod to have logged',
      async () => (await kubectl(['-n', NS, 'logs', 'hello'])).includes('hello from hello'),
      { timeoutMs: 15_000 },
    );
    const ip = (await kubectl(['-n', NS, 'get', 'pod', 'hello', '-o', 'jsonpath={.status.podIP}'])).trim();
    expect(ip.split('.').slice(0, 3)).toEqual(node!.network.nodeIp.split('.').slice(0, 3));
  }, 120_000);

  it('serves a 2-replica Deployment behind a ClusterIP Service, by name through CoreDNS', async () => {
    const labels = { app: 'web' };
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'web',
                image: node!.images.busybox,
                imagePullPolicy: 'Never',
                command: [
                  'sh',
                  '-c',
                  'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www',
                ],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: NS },
      spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await kubectl(['-n', NS, 'rollout', 'status', 'deployment/web', '--timeout=90s']);
    const replicas = (
      await kubectl(['-n', NS, 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name}'])
    )
      .trim()
      .split(/\s+/);
    expect(replicas).toHaveLength(2);
    const clusterIp = (
      await kubectl(['-n', NS, 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])
    ).trim();

    // Both endpoints ready in the Service's EndpointSlice; kube-proxy may still be a sync behind (under load the
    // full run saw all of 40 back-to-back requests on one replica), so the client spreads its requests over ~10 s.
    await waitUntil(
      'the Service to list both replicas ready',
      async () => {
        const ready = await kubectl([
          '-n',
          NS,
          'get',
          'endpointslices',
          '-l',
          'kubernetes.io/service-name=web',
          '-o',
          'jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].targetRef.name}',
        ]);
        return ready.trim().split(/\s+/).filter(Boolean).length === 2;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const fqdn = `web.${NS}.svc.cluster.local`;
    const logs = await runToCompletion(
      'web-client',
      `nslookup ${fqdn} && for i in $(seq 1 80); do wget -O- http://web/ 2>/dev/null; echo; sleep 0.1; done`,
    );
    expect(logs).toContain(clusterIp);
    // Both replicas answered through the one Service address.
    for (const r of replicas) expect(logs).toContain(r);
  }, 180_000);

  it('lets a pod use its ServiceAccount token against the API server', async () => {
    // kubectl in a pod: a real client that authenticates with the pod's token and checks the apiserver's
    // certificate against the CA the controller-manager published (in-cluster configuration).
    const image = 'novapos.local/kubectl:1';
    const work = mkdtempSync(path.join(os.tmpdir(), 'novapos-image-'));
    try {
      await node!.importImage(buildImageArchive(kubectlImage(image, node!.kube.kubectlPath), work));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: NS } });
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'reader-view', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: NS }],
    });
    const logs = await runToCompletion(
      'sa-client',
      [
        'export HOME=/tmp',
        'echo "--- ca"',
        'cat /var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
        'echo "--- whoami"',
        "kubectl auth whoami -o jsonpath='{.status.userInfo.username}'",
        'echo',
        'echo "--- pods"',
        `kubectl -n ${NS} get pods -o name`,
        'echo "--- secrets in kube-system"',
        'kubectl -n kube-system auth can-i list secrets || true',
      ].join('\n'),
      { serviceAccountName: 'reader', image },
    );
    // The CA the controller-manager published is the one that signed the apiserver's certificate.
    expect(logs).toContain(node!.kube.caCert.trim());
    expect(logs).toContain(`--- whoami\nsystem:serviceaccount:${NS}:reader\n`);
    expect(logs).toContain('pod/sa-client');
    expect(logs).toMatch(/--- secrets in kube-system\nno\n/);
  }, 120_000);

  it('runs a Node.js pod from an image built here (Debian base + the Node LTS) that uses its token', async () => {
    // The images' base: debootstrap from the machine's apt mirror and scripts/ensure-node.sh's Node, each a
    // cached layer; on top, one script that asks the API server who it is, verifying its certificate with
    // the CA mounted from the ServiceAccount (NODE_EXTRA_CA_CERTS) and reaching it by name through CoreDNS.
    const image = 'novapos.local/node-check:1';
    const work = mkdtempSync(path.join(os.tmpdir(), 'novapos-image-'));
    const started = Date.now();
    try {
      const script = [
        "import { readFileSync } from 'node:fs';",
        "const sa = '/var/run/secrets/kubernetes.io/serviceaccount';",
        "const res = await fetch('https://kubernetes.default.svc/apis/authentication.k8s.io/v1/selfsubjectreviews', {",
        "  method: 'POST',",
        "  headers: { authorization: 'Bearer ' + readFileSync(sa + '/token', 'utf8'), 'content-type': 'application/json' },",
        "  body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),",
        '});',
        'const body = await res.json();',
        "console.log('node', process.version, 'status', res.status, 'user', body.status?.userInfo?.username);",
      ].join('\n');
      const archive = buildImageArchive(
        {
          name: image,
          baseLayers: [debianBaseLayer(), nodeLtsLayer()],
          files: [{ path: '/app/whoami.mjs', content: `${script}\n` }],
          entrypoint: ['/usr/local/bin/node', '/app/whoami.mjs'],
          env: [
            'PATH=/usr/local/bin:/usr/bin:/bin',
            'NODE_EXTRA_CA_CERTS=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
          ],
          user: '10001:10001',
        },
        work,
      );
      await node!.importImage(archive);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    console.log(`[node] Node.js image built and imported in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'node-client', namespace: NS },
      spec: {
        restartPolicy: 'Never',
        serviceAccountName: 'reader',
        terminationGracePeriodSeconds: 1,
        securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 },
        containers: [
          {
            name: 'main',
            image,
            imagePullPolicy: 'Never',
            securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
          },
        ],
      },
    });
    await waitUntil(
      'the Node.js pod to finish',
      async () =>
        ['Succeeded', 'Failed'].includes(
          (await kubectl(['-n', NS, 'get', 'pod', 'node-client', '-o', 'jsonpath={.status.phase}'])).trim(),
        ),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const logs = await kubectl(['-n', NS, 'logs', 'node-client']);
    expect(logs).toMatch(
      new RegExp(`^node v24\\.\\S+ status 201 user system:serviceaccount:${NS}:reader$`, 'm'),
    );
  }, 420_000);

  // The product as a user installs it (test/cluster/product.ts): images, data stores, charts, examples.
  const product = productChecks(
    () => node!,
    // The harness's run directory (0755): PostgreSQL runs as the `postgres` account and must reach its files.
    () => (scratch ??= makeRunDir('product')),
  );
  afterAll(async () => {
    await product.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('rejected no packet leaving the bridge', () => {
    expect(egressRejected()).toBe(0);
  });

  it('changed what the kubelet changes on a host (so restoring it is tested)', () => {
    // The kubelet's kernel defaults; stop() must put the machine's own values back.
    expect(readSysctl('vm.overcommit_memory')).toBe('1');
    expect(readSysctl('kernel.panic_on_oops')).toBe('1');
    expect(kubeIptablesLeft().some((l) => l.includes('KUBE-FIREWALL'))).toBe(true);
  });

  it('stops leaving the machine as it found it', async () => {
    const n = node!;
    node = undefined;
    await n.stop();
    expect(
      shells('iptables -S; iptables -t nat -S; iptables -t mangle -S')
        .split('\n')
        .filter((l) => l.includes('KUBE-')),
    ).toEqual([]);
    expect(kubeIptablesLeft()).toEqual([]);
    expect(
      shells(
        // Running ones: a zombie of a killed child waits for PID 1 to reap it and holds nothing.
        "ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ && $3 ~ /^(kubelet|containerd|containerd-shim|kube-proxy)$/'",
      ).trim(),
    ).toBe('');
    expect(kubepodsLeft()).toEqual([]);
    expect(bridgeExists(n.network.bridge)).toBe(false);
    for (const name of [
      'vm.overcommit_memory',
      'kernel.panic',
      'kernel.panic_on_oops',
      'net.ipv4.ip_forward',
    ]) {
      expect(readSysctl(name), name).toBe(n.record.sysctls[name]);
    }
    for (const p of n.record.absentPaths) expect(existsSync(p), p).toBe(false);
  }, 180_000);
});
