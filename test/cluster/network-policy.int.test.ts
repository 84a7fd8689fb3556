import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type NodeInstance, networkPolicyUnsupported, startNode } from '../harness/components/node.js';
import {
  cleanupAbandonedNode,
  egressRejected,
  kubeIpsetsLeft,
  kubeIptablesLeft,
  nodeOwner,
} from '../harness/node/host.js';
import { spawnNodeChild } from '../harness/node/spawn-child.js';
import { LEASE_WAIT_MS, nodeLease } from '../harness/node-lease.js';
import type { NodeLease } from '../harness/shared-node.js';
import { waitUntil } from '../harness/wait.js';

/**
 * The charts' NetworkPolicies as shipped (charts/dist), enforced by packets (issue 19): a node of its own with
 * the NetworkPolicy enforcer on (kube-router's firewall, `startNode({ networkPolicy: true })`; kube-network-
 * policies cannot run on this kernel: docs/adr/0006-networkpolicy-enforcer.md). Pods carry the
 * labels of the operator, auth-service, the gateway, Redis, Prometheus and Alertmanager in their namespaces
 * and answer HTTP on those components' ports (busybox httpd), so each flow of charts/src/network-flows.ts is
 * a real TCP connection here: the declared flows connect, the closed ones are refused (kube-router REJECTs a
 * packet no policy allows). Before the policies are applied every one of them connects (the refusals are the
 * policies', not the network's).
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let node: NodeInstance | undefined;
let lease: NodeLease | undefined;
let skipped: string | undefined;
let child: ChildProcess | undefined;

type Obj = {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: { podSelector: { matchLabels: Record<string, string> } };
};
const shipped = ['novapos-operator.yaml', 'novapos-services.yaml']
  .flatMap((f) => parseAllDocuments(readFileSync(path.join(repoRoot, 'charts/dist', f), 'utf8')))
  .map((d) => d.toJS() as Obj)
  .filter((o) => o?.kind === 'NetworkPolicy');
/** The labels a shipped policy selects: the pod here gets exactly those (and so the policy applies to it). */
const selectedBy = (name: string): Record<string, string> => {
  const p = shipped.find((o) => o.metadata.name === name);
  if (!p) throw new Error(`charts/dist has no NetworkPolicy ${name}`);
  return p.spec.podSelector.matchLabels;
};

interface TestPod {
  readonly namespace: string;
  readonly labels: Record<string, string>;
  /** Ports it serves HTTP on (none: a client only). */
  readonly ports: readonly number[];
}
const pods: Record<string, TestPod> = {
  operator: { namespace: 'novapos-system', labels: selectedBy('novapos-operator'), ports: [8080, 8082] },
  gateway: { namespace: 'novapos', labels: selectedBy('integration-gateway'), ports: [8083, 9083] },
  'auth-service': { namespace: 'novapos', labels: selectedBy('auth-service'), ports: [8085, 9085] },
  redis: { namespace: 'novapos', labels: { 'app.kubernetes.io/name': 'redis' }, ports: [6379] },
  // Another pod of the services' namespace that happens to listen on Redis's port.
  other: { namespace: 'novapos', labels: { 'app.kubernetes.io/name': 'postgresql' }, ports: [6379] },
  prometheus: { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' }, ports: [9093] },
  alertmanager: {
    namespace: 'monitoring',
    labels: { 'app.kubernetes.io/name': 'alertmanager' },
    ports: [9093],
  },
  'team-pod': { namespace: 'team-x', labels: { app: 'anything' }, ports: [] },
};
const ip: Record<string, string> = {};

/** [what, from, to, port, connects under the shipped policies] — the flows of charts/src/network-flows.ts. */
const flows: readonly (readonly [string, string, string, number, boolean])[] = [
  ['Prometheus scrapes the operator', 'prometheus', 'operator', 8080, true],
  ['Alertmanager posts a drill alert to the operator', 'alertmanager', 'operator', 8082, true],
  ['the operator posts /keys/reload to the gateway (admin)', 'operator', 'gateway', 9083, true],
  ['the operator posts /keys/reload to auth-service (admin)', 'operator', 'auth-service', 9085, true],
  ['the operator reads /keys/status of auth-service', 'operator', 'auth-service', 8085, true],
  ['the operator reaches Redis', 'operator', 'redis', 6379, true],
  ['the operator fires a drill alert at Alertmanager', 'operator', 'alertmanager', 9093, true],
  ['a client calls the gateway API', 'team-pod', 'gateway', 8083, true],
  ['a pod of another namespace reads the operator metrics', 'team-pod', 'operator', 8080, false],
  ['a pod of another namespace forges a drill delivery', 'team-pod', 'operator', 8082, false],
  ['a pod of another namespace calls the gateway admin port', 'team-pod', 'gateway', 9083, false],
  ['a pod of another namespace calls auth-service admin', 'team-pod', 'auth-service', 9085, false],
  ["the operator reaches another novapos pod on Redis's port", 'operator', 'other', 6379, false],
  ['the operator reaches Prometheus (only Alertmanager is allowed)', 'operator', 'prometheus', 9093, false],
];

/** The enforcer's log tail, for a failure's message. */
const enforcerLog = () =>
  node?.processes.find((p) => p.name === 'kube-router')?.logTail(80) ?? '(no enforcer process)';

const kubectl = (args: readonly string[], input?: string) => node!.kubectl(args, input);

/** Whether `from` opens a TCP connection to `to`:port and gets the page (4 s, then it counts as refused). */
async function connects(from: string, to: string, port: number): Promise<boolean> {
  const f = pods[from]!;
  const out = await kubectl([
    'exec',
    '-n',
    f.namespace,
    from,
    '--',
    'sh',
    '-c',
    `timeout 4 wget -O- http://${ip[to]}:${port}/ 2>/dev/null || echo refused`,
  ]);
  return out.trim() === 'ok';
}

beforeAll(async () => {
  // A kernel without ipset or the iptables matches kube-router uses cannot run it: say so (with what is missing).
  skipped = networkPolicyUnsupported();
  if (skipped) return;
  const l = await nodeLease('own', import.meta.url);
  if (typeof l === 'string') {
    skipped = l;
    return;
  }
  lease = l;
}, LEASE_WAIT_MS);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await cleanupAbandonedNode();
  await lease?.release();
}, 180_000);

const skipIfUnavailable = (ctx: { skip(): void }) => {
  if (skipped) {
    console.log(`skipped: ${skipped}`);
    ctx.skip();
  }
};

describe("the charts' NetworkPolicies, enforced on the node (kube-router's firewall)", () => {
  beforeAll(async () => {
    if (skipped) return;
    node = await startNode({ networkPolicy: true });
    const namespaces = [...new Set(Object.values(pods).map((p) => p.namespace))];
    for (const ns of namespaces) await kubectl(['create', 'namespace', ns]);
    for (const ns of namespaces)
      await waitUntil(
        `the default ServiceAccount in ${ns}`,
        async () =>
          (await kubectl(['-n', ns, 'get', 'serviceaccount', 'default', '-o', 'name'])).includes('default'),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    for (const [name, p] of Object.entries(pods)) {
      const serve = p.ports.map((port) => `httpd -p ${port} -h /www`).join('; ');
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: p.namespace, labels: p.labels },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: node.images.busybox,
                imagePullPolicy: 'Never',
                command: [
                  'sh',
                  '-c',
                  `mkdir -p /www && echo ok > /www/index.html; ${serve}${serve ? ';' : ''} exec sleep 100000`,
                ],
              },
            ],
          },
        }),
      );
    }
    for (const [name, p] of Object.entries(pods)) {
      ip[name] = await waitUntil(
        `pod ${p.namespace}/${name} Running`,
        async () => {
          const out = (
            await kubectl([
              '-n',
              p.namespace,
              'get',
              'pod',
              name,
              '-o',
              'jsonpath={.status.phase} {.status.podIP}',
            ])
          ).trim();
          const [phase, podIp] = out.split(' ');
          return phase === 'Running' && podIp ? podIp : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 250 },
      );
    }
  }, 300_000);

  afterAll(async () => {
    // stop() fails on a chain, an ipset or anything else of the node left, and on a packet that left the bridge.
    await node?.stop();
  }, 180_000);

  it('without the policies every one of these flows connects (the pods serve; the network is open)', async (ctx) => {
    skipIfUnavailable(ctx);
    const results = await Promise.all(flows.map(([, from, to, port]) => connects(from, to, port)));
    expect(flows.filter((_, i) => !results[i]).map(([what]) => what)).toEqual([]);
  }, 120_000);

  it('with the policies as shipped: the declared flows connect, the closed ones are dropped', async (ctx) => {
    skipIfUnavailable(ctx);
    const yaml = shipped.map((p) => JSON.stringify(p)).join('\n---\n');
    await kubectl(['apply', '-f', '-'], yaml);
    // The enforcer applies a policy within a second or two of the apiserver having it.
    await waitUntil(
      'the enforcer to drop a pod of another namespace reading the operator metrics',
      async () => !(await connects('team-pod', 'operator', 8080)),
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- kube-router ---\n${enforcerLog()}`);
    });
    const results = await Promise.all(flows.map(([, from, to, port]) => connects(from, to, port)));
    const got = flows.map(([what, , , , expected], i) => ({ what, expected, got: results[i] }));
    expect(got.filter((r) => r.got !== r.expected)).toEqual([]);
  }, 180_000);

  it("kube-router's sockets: its watches on the node's apiserver, nothing off the bridge or loopback", async (ctx) => {
    skipIfUnavailable(ctx);
    // Its kubeconfig names the apiserver by address, so it resolves nothing; a snapshot of every socket it holds.
    const sockets = execFileSync('ss', ['-tunapH'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('(("kube-router",'));
    const peers = sockets
      .map((l) => l.trim().split(/\s+/)[5] ?? '')
      .filter((p) => !/^(\*|0\.0\.0\.0|\[::\]):\*$/.test(p));
    expect(peers.filter((p) => p.startsWith(`${node!.network.nodeIp}:`)).length).toBeGreaterThan(0);
    expect(
      peers.filter((p) => !p.startsWith(`${node!.network.nodeIp}:`) && !p.startsWith('127.0.0.1:')),
    ).toEqual([]);
  });

  it('removing the policies opens the flows again', async (ctx) => {
    skipIfUnavailable(ctx);
    for (const p of shipped)
      await kubectl(['-n', p.metadata.namespace!, 'delete', 'networkpolicy', p.metadata.name]);
    await waitUntil('the closed flow to connect again', async () => connects('team-pod', 'operator', 8080), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
  }, 120_000);
});

describe('a node killed while its enforcer runs', () => {
  it("leaves kube-router's chains and ipsets, which the next start's host cleanup removes", async (ctx) => {
    skipIfUnavailable(ctx);
    // test/harness/node/child.ts: a node with the enforcer and a policy selecting a pod, then SIGKILLed.
    const nodeChild = spawnNodeChild({ NOVAPOS_NODE_CHILD_NETWORK_POLICY: '1' });
    child = nodeChild.c;
    await nodeChild.report();
    nodeChild.c.kill('SIGKILL');
    await nodeChild.exited;
    expect(nodeOwner()).toBeUndefined();
    // What the kill left of the enforcer: its chains (filter) and the guard's mangle copy, its ipsets.
    const rules = kubeIptablesLeft();
    expect(rules.some((l) => l.includes('-N KUBE-ROUTER-FORWARD'))).toBe(true);
    expect(rules.some((l) => l.startsWith('iptables -t mangle') && l.includes('NOVAPOS-NODE-EGRESS'))).toBe(
      true,
    );
    expect(kubeIpsetsLeft().length).toBeGreaterThan(0);
    expect(egressRejected()).toBe(0);

    // What the next startNode() runs first (and cleanupAbandonedNode() alone).
    expect(await cleanupAbandonedNode()).toBe(true);
    expect(kubeIptablesLeft()).toEqual([]);
    expect(kubeIpsetsLeft()).toEqual([]);
  }, 420_000);
});
