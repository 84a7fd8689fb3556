import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { type Env, type EnvDescriptor, startEnv } from './env.js';
import { prometheusOperatorCrdDir } from './prometheus-operator-crds.js';
import { type NodeBroker, startNodeBroker } from './shared-node.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

declare module 'vitest' {
  export interface ProvidedContext {
    env: EnvDescriptor;
    /** The shared Kubernetes node's broker (test/harness/shared-node.ts): suites lease the node from it. */
    nodeBroker: string;
  }
}

let env: Env | undefined;
let broker: NodeBroker | undefined;

/**
 * The shared environment of the integration tier: one of each real component, started once. Suites that
 * restart, kill or break a component start their own with `startEnv` instead.
 */
export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  env = await startEnv({
    label: 'shared',
    redis: true,
    postgres: true,
    prometheus: true,
    alertmanager: true,
    // The project's CRDs, and prometheus-operator's so ServiceMonitor/PrometheusRule manifests dry-run.
    kube: { crdDirs: [path.join(repoRoot, 'crds'), prometheusOperatorCrdDir] },
    vault: 2,
  });
  process.stderr.write(`[harness] shared environment up in ${Date.now() - started} ms (${env.dir})\n`);
  project.provide('env', env.describe());
  // The node starts only when a suite first leases it (test/harness/node-lease.ts).
  broker = await startNodeBroker();
  project.provide('nodeBroker', broker.url);
}

export async function teardown(): Promise<void> {
  await broker?.stop();
  await env?.stop();
}
