import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../../infra/sources.js';
import {
  kubernetesObjects,
  runStackWithMocks,
  stackFile,
  stackFileConfig,
} from '../../infra/testing/mock-stack.js';
import { type Env, startEnv } from '../harness/env.js';
import { prometheusOperatorCrdDir } from '../harness/prometheus-operator-crds.js';

/**
 * Every Kubernetes object the Pulumi program emits for dev, staging and prod (captured from Pulumi's runtime
 * mocks: exactly the inputs the provider would send) is server-side dry-run applied against a real
 * kube-apiserver with the operator's and prometheus-operator's CRDs, so a schema error in any of them (a
 * wrong field in a Prometheus, a ServiceMonitor, a PrometheusRule, a Deployment...) fails here.
 *
 * A private apiserver: the namespaces of the three stacks are created for real (a dry-run of an object in
 * a namespace that does not exist is refused), and the shared one is not the place for them.
 */

const STACKS = ['dev', 'staging', 'prod'] as const;
let env: Env;
const kubectl = (args: string[], input?: string) => env.kube!.kubectl(args, input);

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
const label = (o: Obj) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

beforeAll(async () => {
  env = await startEnv({
    kube: { crdDirs: [path.join(REPO_ROOT, 'crds'), prometheusOperatorCrdDir] },
    label: 'infra-manifests',
  });
});

afterAll(async () => {
  await env?.stop();
});

describe.each(STACKS)('the %s stack manifests', (stack) => {
  let objects: Obj[] = [];

  beforeAll(async () => {
    const run = await runStackWithMocks({ stack, config: stackFileConfig(stackFile(stack)) });
    objects = kubernetesObjects(run) as Obj[];
    // Namespaces for real, so the namespaced objects can be dry-run into them.
    const namespaces = objects.filter((o) => o.kind === 'Namespace');
    await kubectl(
      ['apply', '--server-side', '--field-manager=infra-test', '-f', '-'],
      namespaces.map((o) => stringify(o)).join('---\n'),
    );
  });

  it('emits the monitoring stack, the operator CRDs and the charts', () => {
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of [
      'Prometheus',
      'Alertmanager',
      'ServiceMonitor',
      'PrometheusRule',
      'Secret',
      'ConfigMap',
      'Deployment',
      'CustomResourceDefinition',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
  });

  it('passes a server-side dry-run apply of every object against the real apiserver', async () => {
    const failures: string[] = [];
    // One object per call, so a failure names its object; CRDs first (cluster-scoped, others may need them).
    const ordered = [...objects].sort(
      (a, b) => Number(b.kind === 'CustomResourceDefinition') - Number(a.kind === 'CustomResourceDefinition'),
    );
    for (const o of ordered) {
      await kubectl(
        ['apply', '--server-side', '--dry-run=server', '--field-manager=infra-test', '-f', '-'],
        stringify(o),
      ).catch((err: Error) => failures.push(`${label(o)}: ${err.message}`));
    }
    expect(failures).toEqual([]);
    expect(ordered.length).toBeGreaterThan(30);
  }, 240_000);
});

describe('the dry-run check itself', () => {
  it('rejects an object that breaks its schema (so the test above can fail)', async () => {
    await kubectl(['create', 'namespace', 'infra-negative']);
    const broken = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'Prometheus',
      metadata: { name: 'broken', namespace: 'infra-negative' },
      spec: { replicas: 'two', retention: 7 },
    };
    await expect(
      kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], stringify(broken)),
    ).rejects.toThrow(/replicas|Invalid value/);
  });
});
