/**
 * A suite's handle on the run's shared Kubernetes node (test/harness/shared-node.ts has the rules):
 *
 *   const lease = await nodeLease('shared', import.meta.url);   // in beforeAll, with a long hook timeout
 *   if (typeof lease === 'string') ... skip, printing the reason (not root)
 *   const ns = await lease.namespace('my-suite');
 *   ...
 *   await lease.release();                                       // in afterAll
 *
 * 'cluster' for suites that install or delete cluster-wide things, 'own' for suites that start a node of
 * their own with startNode() (the shared one is stopped first).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { type LeaseMode, leaseNode, type NodeLease } from './shared-node.js';

/** How long a suite may wait for its lease: other suites' exclusive leases go first. */
export const LEASE_WAIT_MS = 20 * 60_000;

/** Why this machine cannot run the node, or undefined. */
export function nodeUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `the Kubernetes node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the Kubernetes node needs root (bridge, iptables, containerd)';
  return undefined;
}

/** The lease, or the reason there is no node on this machine (for a skip that prints it). */
export async function nodeLease(mode: LeaseMode, suiteUrl: string): Promise<NodeLease | string> {
  const why = nodeUnavailable();
  if (why) return why;
  const suite = path.relative(process.cwd(), fileURLToPath(suiteUrl));
  return leaseNode(inject('nodeBroker'), mode, suite);
}
