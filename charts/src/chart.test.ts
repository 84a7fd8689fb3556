import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { App } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { distDir, synthesize } from './main.js';
import { OperatorChart } from './operator-chart.js';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML, read field by field
  [k: string]: any;
};

const files = synthesize();
// The operator's own manifests; the services' constructs have tests of their own.
const objects: Obj[] = parseAllDocuments(files['novapos-operator.yaml'] ?? '').map((d) => d.toJS() as Obj);
const one = (kind: string, name?: string) => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as Obj;
};

describe('the operator chart', () => {
  it('matches what is committed in charts/dist (run `npm run synth` after changing charts/src or crds/)', () => {
    const committed = readdirSync(distDir).filter((f) => f.endsWith('.yaml'));
    expect(committed.sort()).toEqual(Object.keys(files).sort());
    for (const [file, text] of Object.entries(files))
      expect(readFileSync(path.join(distDir, file), 'utf8'), file).toBe(text);
  });

  it('ships every CRD in crds/', () => {
    const crdFiles = readdirSync(path.join(distDir, '../../crds')).filter((f) => /\.ya?ml$/.test(f));
    expect(objects.filter((o) => o.kind === 'CustomResourceDefinition')).toHaveLength(crdFiles.length);
  });

  it('runs two hardened replicas with probes on 8081 and metrics on 8080', () => {
    const d = one('Deployment', 'novapos-operator');
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const c = pod.containers[0];
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.ports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'metrics', containerPort: 8080 }),
        expect.objectContaining({ name: 'probes', containerPort: 8081 }),
      ]),
    );
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'probes' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'probes' });
    expect(c.resources.requests).toBeDefined();
    expect(c.resources.limits).toBeDefined();
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30);
  });

  it("points the operator at the Vault the services chart uses, with the Kubernetes auth role (a SigningKeyRotation's `connection: local`)", () => {
    // Found by running the chart as pods (test/cluster): without VAULT_ADDR the operator has no local Vault
    // and examples/signingkeyrotation.yaml can never become Ready.
    const env = one('Deployment', 'novapos-operator').spec.template.spec.containers[0].env as {
      name: string;
      value?: string;
    }[];
    const services = parseAllDocuments(files['novapos-services.yaml'] ?? '').map((d) => d.toJS() as Obj);
    const authEnv = services.find((o) => o.kind === 'Deployment' && o.metadata.name === 'auth-service')?.spec
      .template.spec.containers[0].env as { name: string; value?: string }[];
    const value = (e: { name: string; value?: string }[], name: string) =>
      e.find((v) => v.name === name)?.value;
    expect(value(env, 'VAULT_ADDR')).toBe(value(authEnv, 'VAULT_ADDR'));
    expect(value(env, 'VAULT_ADDR')).toBe('http://vault.vault.svc:8200');
    expect(value(env, 'VAULT_KUBERNETES_ROLE')).toBe('novapos-operator');
  });

  it("caps the operator's young generation (RSS flat as objects grow: bench/README.md)", () => {
    const env = one('Deployment', 'novapos-operator').spec.template.spec.containers[0].env as {
      name: string;
      value?: string;
    }[];
    expect(env.find((v) => v.name === 'NODE_OPTIONS')?.value).toBe('--max-semi-space-size=8');
  });

  it('grants only what the runtime uses, and Secrets only in its own namespace', () => {
    const clusterRules = one('ClusterRole', 'novapos-operator').rules as {
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }[];
    const roleRules = [
      one('Role', 'novapos-operator-leader-election'),
      one('Role', 'novapos-operator-secrets'),
    ].flatMap((r) => r.rules) as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    for (const r of clusterRules) expect(r.resources.some((x) => x.startsWith('secrets'))).toBe(false);
    for (const r of [...clusterRules, ...roleRules]) {
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('*');
      // The one delete: drills remove the synthetic tenant's TenantRateLimit they created.
      if (r.verbs.includes('delete')) expect(r.resources).toEqual(['tenantratelimits']);
    }
    // As shipped, a drill set up as docs/drills.md says works: the synthetic admin's credentials and the
    // audit-service's admin token (auditCatchUp), by name only.
    const drillSecrets = one('Role', 'novapos-operator-drill-secrets');
    expect(drillSecrets.metadata.namespace).toBe('novapos');
    expect(drillSecrets.rules).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['drill-synthetic-credentials', 'drill-audit-admin'],
        verbs: ['get'],
      },
    ]);
    const secretsRole = one('Role', 'novapos-operator-secrets');
    expect(secretsRole.metadata.namespace).toBe('novapos-system');
    expect(secretsRole.rules).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['novapos-promotion-fingerprint-key'],
        verbs: ['get', 'update'],
      },
    ]);
    const leaseRole = one('Role', 'novapos-operator-leader-election');
    expect(leaseRole.metadata.namespace).toBe('novapos-system');
    expect(leaseRole.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    ]);
    const kinds = one('ClusterRole', 'novapos-operator').rules[0].resources;
    expect(kinds).toEqual([
      'disasterrecoverydrills',
      'secretpromotions',
      'signingkeyrotations',
      'tenantratelimits',
    ]);
  });

  it('reads, in each drill namespace, only the Secrets drills.credentialsSecrets names when it is set', () => {
    const chart = new OperatorChart(new App(), 'custom', {
      crdDir: path.join(distDir, '../../crds'),
      drills: { namespaces: ['drills-a', 'drills-b'], credentialsSecrets: ['team-drill-admin'] },
    });
    const roles = (chart.toJson() as Obj[]).filter(
      (o) => o.kind === 'Role' && o.metadata.name === 'novapos-operator-drill-secrets',
    );
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['drills-a', 'drills-b']);
    for (const r of roles) expect(r.rules[0].resourceNames).toEqual(['team-drill-admin']);
  });

  it('ships user roles for the documented groups: view and edit aggregated into the built-in roles, on-call patches', () => {
    type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
    const role = (r: string) => one('ClusterRole', `novapos-operator-${r}`);
    const kindRule = (r: string) =>
      (role(r).rules as Rule[]).find(
        (x) => x.apiGroups[0] === 'security.novapos.io' && !x.resources[0]?.includes('/'),
      );
    const aggregateTo = (r: string) =>
      Object.keys(role(r).metadata.labels ?? {})
        .filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-'))
        .map((l) => l.slice('rbac.authorization.k8s.io/aggregate-to-'.length))
        .sort();
    expect(aggregateTo('view')).toEqual(['admin', 'edit', 'view']);
    expect(aggregateTo('edit')).toEqual(['admin', 'edit']);
    expect(aggregateTo('oncall')).toEqual([]);
    expect(kindRule('view')?.verbs).toEqual(['get', 'list', 'watch']);
    // Bound directly to novapos:engineers, edit reads too: kubectl annotate/patch get the object first.
    expect(kindRule('edit')?.verbs).toEqual([
      'get',
      'list',
      'watch',
      'create',
      'update',
      'patch',
      'delete',
      'deletecollection',
    ]);
    expect(kindRule('oncall')?.verbs).toEqual(['get', 'list', 'watch', 'patch']);
    for (const r of ['view', 'edit', 'oncall'])
      for (const rule of role(r).rules as Rule[]) {
        expect(rule.resources.some((x) => x.startsWith('secrets'))).toBe(false);
        expect(rule.verbs).not.toContain('*');
      }
    const bound = (r: string) =>
      (one('ClusterRoleBinding', `novapos-operator-${r}`).subjects as { kind: string; name: string }[]).map(
        (s) => `${s.kind}:${s.name}`,
      );
    expect(bound('view')).toEqual(['Group:novapos:viewers']);
    expect(bound('edit')).toEqual(['Group:novapos:engineers']);
    expect(bound('oncall')).toEqual(['Group:novapos:oncall', 'Group:novapos:approvers']);
  });

  it('scrapes the metrics Service with a ServiceMonitor', () => {
    const svc = one('Service', 'novapos-operator-metrics');
    const sm = one('ServiceMonitor');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.spec.selector.matchLabels).toEqual(svc.metadata.labels);
    expect(sm.spec.endpoints[0].port).toBe(svc.spec.ports[0].name);
  });
});
