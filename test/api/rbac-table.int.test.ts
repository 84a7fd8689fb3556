import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { type Env, startEnv } from '../harness/env.js';
import { type Kubectl, kubectlAs, repoRoot } from './kubectl.js';

/**
 * What each of the charts' ServiceAccounts (and the documented user groups) may do, per namespace, as
 * `kubectl auth can-i --list` reports it from a real apiserver with the charts' RBAC applied: diffed against
 * the committed tables in test/api/can-i/ (issue 19). A change of RBAC shows up here as a diff to review;
 * `npx vitest run --project integration test/api/rbac-table.int.test.ts -u` rewrites the tables.
 */

const RBAC_KINDS = new Set([
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
]);
const namespaces = ['novapos-system', 'novapos', 'team-x'];
const subjects: { file: string; as: string[] }[] = [
  { file: 'operator', as: ['--as=system:serviceaccount:novapos-system:novapos-operator'] },
  { file: 'auth-service', as: ['--as=system:serviceaccount:novapos:auth-service'] },
  // The gateway runs as its namespace's default ServiceAccount (the chart gives it no RBAC of its own).
  { file: 'integration-gateway', as: ['--as=system:serviceaccount:novapos:default'] },
  { file: 'group-engineers', as: ['--as=engineer', '--as-group=novapos:engineers'] },
  { file: 'group-approvers', as: ['--as=approver', '--as-group=novapos:approvers'] },
  { file: 'group-viewers', as: ['--as=viewer', '--as-group=novapos:viewers'] },
  { file: 'group-oncall', as: ['--as=oncall', '--as-group=novapos:oncall'] },
];

let env: Env;
let admin: Kubectl;

beforeAll(async () => {
  env = await startEnv({ label: 'rbac-table', kube: true });
  admin = kubectlAs(env.kube!.kubectlPath, env.kube!.kubeconfig);
  const objects = ['novapos-operator.yaml', 'novapos-services.yaml']
    .flatMap((f) => parseAllDocuments(readFileSync(path.join(repoRoot, 'charts/dist', f), 'utf8')))
    .map((d) => d.toJS() as { kind?: string })
    .filter((o) => o && RBAC_KINDS.has(o.kind ?? ''));
  const ordered = [
    ...objects.filter((o) => o.kind === 'Namespace'),
    ...objects.filter((o) => o.kind !== 'Namespace'),
  ];
  await admin(['apply', '-f', '-'], ordered.map((o) => stringify(o)).join('---\n'));
  await admin(['create', 'namespace', 'team-x']);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('RBAC of the charts, per subject and namespace (kubectl auth can-i --list)', () => {
  it.each(subjects)('$file', async ({ file, as }) => {
    const sections: string[] = [];
    for (const ns of namespaces) {
      const out = await admin(['auth', 'can-i', '--list', '-n', ns, ...as]);
      sections.push(`# namespace ${ns}\n${out.trim()}\n`);
    }
    await expect(sections.join('\n')).toMatchFileSnapshot(`./can-i/${file}.txt`);
  });
});

describe('the user roles the operator chart binds (SelfSubjectAccessReview as each group, via kubectl auth can-i --as)', () => {
  // `can-i` exits 0 for yes and 1 for no (the kinds' names are the same in the 'yes' rows, so a typo shows).
  const can = (as: readonly string[], verb: string, resource: string, ns: string) =>
    admin(['auth', 'can-i', verb, resource, '-n', ns, '--quiet', ...as]).then(
      () => 'yes',
      () => 'no',
    );
  const viewer = ['--as=viewer', '--as-group=novapos:viewers'];
  const engineer = ['--as=engineer', '--as-group=novapos:engineers'];
  const oncall = ['--as=oncall', '--as-group=novapos:oncall'];
  const approver = ['--as=approver', '--as-group=novapos:approvers'];
  const nobody = ['--as=nobody'];
  const kinds = ['signingkeyrotations', 'secretpromotions', 'tenantratelimits', 'disasterrecoverydrills'];

  // Who may do what to every kind, in an ordinary namespace (the bindings are cluster-wide). kubectl
  // annotate/patch read the object first: an editor that cannot get cannot edit at all.
  const table: [who: string, as: readonly string[], verbs: Record<string, boolean>][] = [
    ['viewer', viewer, { list: true, patch: false, create: false }],
    ['engineer', engineer, { get: true, create: true, delete: true }],
    ['oncall', oncall, { patch: true, create: false, delete: false }],
    ['approver', approver, { patch: true, delete: false }],
    ['nobody', nobody, { get: false }],
  ];
  const rows = table.flatMap(([who, as, verbs]) =>
    Object.entries(verbs).map(([verb, expected]) => [who, as, verb, expected] as const),
  );

  it.each(rows)('%s: %s every kind -> %s', async (_who, as, verb, expected) => {
    for (const kind of kinds)
      expect(await can(as, verb, `${kind}.security.novapos.io`, 'team-x'), `${verb} ${kind}`).toBe(
        expected ? 'yes' : 'no',
      );
  });

  it('no user role reads a Secret or changes a status', async () => {
    for (const as of [viewer, engineer, oncall, approver]) {
      expect(await can(as, 'get', 'secrets', 'novapos')).toBe('no');
      expect(
        await can([...as, '--subresource=status'], 'patch', 'secretpromotions.security.novapos.io', 'team-x'),
      ).toBe('no');
    }
    expect(await can(viewer, 'list', 'events', 'team-x')).toBe('yes');
  });
});
