/**
 * The process the node's crash test kills: starts the Kubernetes node, runs one pod on it (so a kill leaves
 * containers, shims and mounts behind), prints one JSON line, then waits to be killed by SIGKILL. What it
 * leaves is what the next `startNode()` must clean.
 */
import { startNode } from '../components/node.js';

const node = await startNode();
await node.kubectl(
  ['apply', '-f', '-'],
  JSON.stringify({
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
  }),
);
await node.kubectl(['wait', '--for=condition=Ready', 'pod/left-behind', '--timeout=60s']);
const report = {
  nodeIp: node.network.nodeIp,
  bridge: node.network.bridge,
  pids: Object.fromEntries(node.processes.map((p) => [p.name, p.pid])),
  startSeconds: node.startSeconds,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
// Keep running until killed.
setInterval(() => {}, 60_000);
