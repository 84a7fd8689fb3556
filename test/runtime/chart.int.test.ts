import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { type Kubectl, kubectlFor, repoRoot } from './support.js';

// The committed chart output against the shared apiserver (which has the project's CRDs and
// prometheus-operator's): a server-side dry-run of everything, and the RBAC's real effect.
const env = inject('env');
const distDir = path.join(repoRoot, 'charts/dist');
type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML, read field by field
  [k: string]: any;
};
let kubectl: Kubectl;
let objects: Obj[];
const rbacNs = `chart-rbac-${process.pid}`;
const rbacName = `novapos-operator-rbac-test-${process.pid}`;

beforeAll(() => {
  if (!env.kube) throw new Error('the shared environment has no apiserver');
  kubectl = kubectlFor(env.kube.kubectlPath, env.kube.kubeconfig);
  objects = readdirSync(distDir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(path.join(distDir, f), 'utf8')).map((d) => d.toJS() as Obj),
    );
});

afterAll(async () => {
  await kubectl?.(['delete', 'clusterrole,clusterrolebinding', rbacName, '--ignore-not-found']).catch(
    () => {},
  );
  await kubectl?.(['delete', 'namespace', rbacNs, '--wait=false', '--ignore-not-found']).catch(() => {});
});

describe('charts/dist against a real apiserver', () => {
  it('passes a server-side dry-run apply', async () => {
    let toApply = objects;
    const hasServiceMonitorCrd = await kubectl([
      'get',
      'crd',
      'servicemonitors.monitoring.coreos.com',
      '-o',
      'name',
    ]).then(
      () => true,
      () => false,
    );
    if (!hasServiceMonitorCrd) {
      process.stderr.write(
        '[chart] SKIPPING ServiceMonitor objects in the dry-run: the apiserver has no monitoring.coreos.com CRDs\n',
      );
      toApply = objects.filter((o) => o.kind !== 'ServiceMonitor');
    }
    // A dry-run Namespace is not persisted, so the namespaced objects need it to exist for real.
    for (const ns of objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name as string)) {
      await kubectl(['create', 'namespace', ns]).catch((err: Error) => {
        if (!/AlreadyExists/.test(err.message)) throw err;
      });
    }
    const manifest = toApply.map((o) => stringify(o)).join('---\n');
    const out = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--field-manager=novapos-chart-check', '-f', '-'],
      manifest,
    );
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(toApply.length);
    for (const l of lines) expect(l).toMatch(/serverside-applied \(server dry run\)$/);
  });

  it('gives the operator exactly the access the runtime needs', async () => {
    // The chart's rules, bound to a ServiceAccount in a namespace of this test's own.
    await kubectl(['create', 'namespace', rbacNs]);
    await kubectl(['create', 'serviceaccount', 'operator', '-n', rbacNs]);
    const clusterRole = objects.find((o) => o.kind === 'ClusterRole') as Obj;
    const roles = objects.filter((o) => o.kind === 'Role' && o.metadata.namespace === 'novapos-system');
    const sa = { kind: 'ServiceAccount', name: 'operator', namespace: rbacNs };
    const manifest = [
      { ...clusterRole, metadata: { name: rbacName } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: rbacName },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: rbacName },
        subjects: [sa],
      },
      ...roles.flatMap((role) => [
        { ...role, metadata: { name: role.metadata.name, namespace: rbacNs } },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: role.metadata.name, namespace: rbacNs },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
          subjects: [sa],
        },
      ]),
    ]
      .map((o) => stringify(o))
      .join('---\n');
    await kubectl(['apply', '-f', '-'], manifest);
    const can = async (verb: string, resource: string, ns = 'default', sub?: string) => {
      const args = [
        'auth',
        'can-i',
        verb,
        resource,
        '-n',
        ns,
        `--as=system:serviceaccount:${rbacNs}:operator`,
      ];
      if (sub) args.push(`--subresource=${sub}`);
      const out = await kubectl(args).catch((err: Error) => err.message);
      return /^yes/m.test(out);
    };
    const allowed: [string, string, string?, string?][] = [
      ['watch', 'signingkeyrotations.security.novapos.io'],
      ['list', 'secretpromotions.security.novapos.io', 'team-a'],
      ['patch', 'tenantratelimits.security.novapos.io'],
      ['patch', 'disasterrecoverydrills.security.novapos.io', 'default', 'status'],
      ['create', 'events.events.k8s.io', 'team-b'],
      ['patch', 'events.events.k8s.io'],
      ['update', 'leases.coordination.k8s.io', rbacNs],
      ['create', 'leases.coordination.k8s.io', rbacNs],
      // The promotion fingerprint key, by name, in the operator's namespace only (the chart creates it).
      ['get', 'secrets/novapos-promotion-fingerprint-key', rbacNs],
      ['update', 'secrets/novapos-promotion-fingerprint-key', rbacNs],
    ];
    const denied: [string, string, string?][] = [
      // No Secret by any other name, and no create (issue 19).
      ['get', 'secrets', rbacNs],
      ['get', 'secrets/vault-prod-token', rbacNs],
      ['create', 'secrets', rbacNs],
      ['update', 'secrets/novapos-promotion-fingerprint-key', 'default'],
      ['get', 'secrets', 'default'],
      ['list', 'secrets', rbacNs],
      ['list', 'secrets', 'default'],
      ['delete', 'signingkeyrotations.security.novapos.io'],
      ['update', 'leases.coordination.k8s.io', 'default'],
      ['create', 'pods', rbacNs],
      ['get', 'configmaps', 'default'],
    ];
    for (const [verb, res, ns, sub] of allowed)
      expect(await can(verb, res, ns, sub), `${verb} ${res} ${sub ?? ''} in ${ns ?? 'default'}`).toBe(true);
    for (const [verb, res, ns] of denied)
      expect(await can(verb, res, ns), `${verb} ${res} in ${ns ?? 'default'}`).toBe(false);
  });
});
