/**
 * The process the node's crash test kills: starts the Kubernetes node, runs one pod on it (so a kill leaves
 * containers, shims and mounts behind), prints one JSON line, then waits to be killed by SIGKILL. What it
 * leaves is what the next `startNode()` must clean. With NOVAPOS_NODE_CHILD_NETWORK_POLICY=1 the node runs
 * its NetworkPolicy enforcer and a policy selects the pod, so the kill also leaves the enforcer's chains and
 * ipsets (test/cluster/network-policy.int.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { startNode } from '../components/node.js';
import { waitUntil } from '../wait.js';

const networkPolicy = process.env.NOVAPOS_NODE_CHILD_NETWORK_POLICY === '1';
const node = await startNode({ networkPolicy });
const apply = (obj: unknown) => node.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
await apply({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'left-behind', namespace: 'default' },
  spec: {
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'sleep',
        image: node.images.busybox,
        imagePullPolicy: 'Never',
        command: ['sleep', '3600'],
      },
    ],
  },
});
await node.kubectl(['wait', '--for=condition=Ready', 'pod/left-behind', '--timeout=60s']);
if (networkPolicy) {
  await apply({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'left-behind', namespace: 'default' },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  });
  // kube-router keeps the policy's pods in an ipset: wait for it, so the kill leaves one.
  await waitUntil(
    "kube-router's ipset for the policy",
    () => /^KUBE-DST-/m.test(execFileSync('ipset', ['list', '-n'], { encoding: 'utf8' })),
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}
const report = {
  nodeIp: node.network.nodeIp,
  bridge: node.network.bridge,
  pids: Object.fromEntries(node.processes.map((p) => [p.name, p.pid])),
  startSeconds: node.startSeconds,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
// Keep running until killed.
setInterval(() => {}, 60_000);
