import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeConfigFrom } from '../harness/vault-kube-auth.js';
import { waitUntil } from '../harness/wait.js';

const run = promisify(execFile);
const env = inject('env');
const kube = env.kube!;
const ns = `cp-smoke-${process.pid}`;
const crdFile = path.join(import.meta.dirname, 'fixtures/gadgets.example.com.yaml');

async function kubectl(args: string[]): Promise<string> {
  const { stdout } = await run(kube.kubectlPath, ['--kubeconfig', kube.kubeconfig, ...args]);
  return stdout;
}

describe('kube-apiserver and etcd built from the Go module proxy', () => {
  const kc = kubeConfigFrom(kube);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const group = 'smoke.novapos.io';

  beforeAll(async () => {
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['apply', '--server-side', '-f', crdFile]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', crdFile]);
  });

  afterAll(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  });

  it('answers /version with the built release and /readyz with ok', async () => {
    const version = JSON.parse(await kubectl(['get', '--raw', '/version'])) as {
      gitVersion: string;
      major: string;
    };
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(await kubectl(['get', '--raw', '/readyz'])).toBe('ok');
  });

  it('serves kubectl through the generated kubeconfig, with RBAC denying an unknown user', async () => {
    expect(await kubectl(['get', 'namespace', ns, '-o', 'jsonpath={.metadata.name}'])).toBe(ns);
    const anonymous = run(kube.kubectlPath, [
      '--server',
      kube.server,
      '--insecure-skip-tls-verify',
      '--token',
      'not-a-user',
      'get',
      'pods',
    ]);
    await expect(anonymous).rejects.toThrow(/Unauthorized|must be logged in/);
  });

  it('creates, watches and patches a custom object with a merge patch and a server-side apply', async () => {
    const events: string[] = [];
    const watch = new k8s.Watch(kc);
    // A watch on a just-established CRD can get 429 while its watch cache initialises: retry, as informers do.
    let failed: unknown;
    const req = await waitUntil('a watch on gadgets to be accepted', async () => {
      failed = undefined;
      const started = await watch.watch(
        `/apis/${group}/v1/namespaces/${ns}/gadgets`,
        {},
        (type, obj: { metadata: { name: string }; spec?: { size?: number; color?: string } }) =>
          events.push(`${type}:${obj.metadata.name}:${obj.spec?.size}:${obj.spec?.color ?? ''}`),
        (err) => {
          failed = err;
        },
      );
      await new Promise((r) => setTimeout(r, 300));
      return failed ? undefined : started;
    });
    try {
      await custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns,
        plural: 'gadgets',
        body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 1 } },
      });
      await custom.patchNamespacedCustomObject(
        { group, version: 'v1', namespace: ns, plural: 'gadgets', name: 'g1', body: { spec: { size: 2 } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await custom.patchNamespacedCustomObject(
        {
          group,
          version: 'v1',
          namespace: ns,
          plural: 'gadgets',
          name: 'g1',
          fieldManager: 'smoke-test',
          force: true,
          body: {
            apiVersion: `${group}/v1`,
            kind: 'Gadget',
            metadata: { name: 'g1' },
            spec: { color: 'teal' },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      );
      await waitUntil(`three watch events for g1 (got ${events.length})`, () => events.length >= 3, {
        timeoutMs: 10_000,
      }).catch((err) => {
        throw new Error(`${err.message}: ${JSON.stringify(events)}`);
      });
      expect(events).toEqual(['ADDED:g1:1:', 'MODIFIED:g1:2:', 'MODIFIED:g1:2:teal']);
      const got = (await custom.getNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns,
        plural: 'gadgets',
        name: 'g1',
      })) as {
        metadata: { managedFields: { manager: string }[] };
      };
      expect(got.metadata.managedFields.map((f) => f.manager)).toContain('smoke-test');
    } finally {
      req.abort();
    }
  });

  it('rejects an object that breaks the CRD schema', async () => {
    const bad = custom.createNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: ns,
      plural: 'gadgets',
      body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'bad' }, spec: { size: -1 } },
    });
    await expect(bad).rejects.toMatchObject({ code: 422 });
  });

  it('has the prometheus-operator CRDs from the pinned Go module installed', async () => {
    const out = await kubectl([
      'get',
      'crd',
      'servicemonitors.monitoring.coreos.com',
      'prometheusrules.monitoring.coreos.com',
      '-o',
      'name',
    ]);
    expect(out.trim().split('\n')).toHaveLength(2);
  });
});
