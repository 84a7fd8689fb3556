import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeInstance } from './components/node.js';
import { leaseNode, type NodeBroker, type NodeLease, startNodeBroker } from './shared-node.js';

// The broker's lease rules, with a stand-in for startNode (the real node is the cluster suites' business):
// shared leases together, cluster and own alone, waiting exclusive leases before new shared ones, the node
// started on first use and stopped for an own lease, a dead holder's lease released.

let broker: NodeBroker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

function fakeNodes() {
  const events: string[] = [];
  let n = 0;
  const start = async () => {
    n += 1;
    const id = n;
    events.push(`start ${id}`);
    return {
      nodeName: `node-${id}`,
      network: {
        nodeIp: '10.217.0.1',
        bridge: 'novapos0',
        subnet: '10.217.0.0/24',
        serviceRange: '10.217.128.0/24',
      },
      kube: { server: 'https://10.217.0.1:1', kubeconfig: '/k', kubectlPath: '/bin/false', caCert: 'ca' },
      images: { busybox: 'b', coredns: 'c', sandbox: 's' },
      startSeconds: 1,
      stop: async () => {
        events.push(`stop ${id}`);
      },
    } as unknown as NodeInstance;
  };
  return { events, start };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('the shared node broker', () => {
  it('starts the node once for concurrent shared leases, and stops it at the end', async () => {
    const { events, start } = fakeNodes();
    broker = await startNodeBroker(start, () => {});
    const [a, b] = await Promise.all([
      leaseNode(broker.url, 'shared', 'a.int.test.ts'),
      leaseNode(broker.url, 'shared', 'b.int.test.ts'),
    ]);
    expect(a.node?.nodeName).toBe('node-1');
    expect(b.node?.nodeName).toBe('node-1');
    expect(events).toEqual(['start 1']);
    await a.release();
    await b.release();
    await broker.stop();
    broker = undefined;
    expect(events).toEqual(['start 1', 'stop 1']);
  });

  it('grants a cluster lease alone, before shared leases asked after it', async () => {
    const { start } = fakeNodes();
    broker = await startNodeBroker(start, () => {});
    const order: string[] = [];
    const first = await leaseNode(broker.url, 'shared', 'first');
    const cluster = leaseNode(broker.url, 'cluster', 'pulumi').then((l) => {
      order.push('cluster');
      return l;
    });
    await settle();
    const later = leaseNode(broker.url, 'shared', 'later').then((l) => {
      order.push('later shared');
      return l;
    });
    await settle();
    expect(order).toEqual([]);
    await first.release();
    const c = await cluster;
    await settle();
    expect(order).toEqual(['cluster']);
    await c.release();
    const l = await later;
    expect(order).toEqual(['cluster', 'later shared']);
    await l.release();
  });

  it('stops the shared node for an own lease and starts a new one after it', async () => {
    const { events, start } = fakeNodes();
    broker = await startNodeBroker(start, () => {});
    const s = await leaseNode(broker.url, 'shared', 's');
    await s.release();
    const own: NodeLease = await leaseNode(broker.url, 'own', 'node suite');
    expect(own.node).toBeUndefined();
    expect(events).toEqual(['start 1', 'stop 1']);
    await own.release();
    const again = await leaseNode(broker.url, 'shared', 'again');
    expect(again.node?.nodeName).toBe('node-2');
    expect(again.node?.startSeconds).toBe(1);
    await again.release();
  });

  it('frees a lease whose holder died without releasing it', async () => {
    const { start } = fakeNodes();
    broker = await startNodeBroker(start, () => {});
    // Another process takes a cluster lease, then is SIGKILLed: the broker sees its connection close.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require('node:http').request(${JSON.stringify(`${broker.url}/lease?mode=cluster&holder=doomed`)}, { method: 'POST' }, (r) => r.on('data', () => console.log('granted'))).end(); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    let granted = false;
    const next = leaseNode(broker.url, 'cluster', 'next').then((l) => {
      granted = true;
      return l;
    });
    await settle();
    expect(granted).toBe(false);
    holder.kill('SIGKILL');
    await (await next).release();
    expect(granted).toBe(true);
  });
});
