import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { aDrill, aPromotion, aRateLimit, aRotation } from '../../cli/src/fixtures.test-support.js';
import { Annotations, APPROVERS_GROUP } from '../../operator/src/api/meta.js';
import { examples, type Kubectl, kubectlAs, yaml } from '../api/kubectl.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import { buildPlugin, copyAlone, repoRoot, runPipedUntil, runPlugin, scratchDir } from './support.js';

/**
 * kubectl-novapos as a process against a real kube-apiserver with the CRDs from crds/, the admission
 * policies from operator/admission/ and RBAC for four users: alice approves, mallory is an engineer who
 * edits but may not approve, viewer only reads, nobody has no role. Status is written through the status
 * subresource as the operator would (the rotation suite, rotation.int.test.ts, runs the real operator).
 * A private apiserver: the policies and ClusterRoles are cluster-wide.
 */

const users = [
  { name: 'alice', token: `alice-${process.pid}`, groups: [APPROVERS_GROUP] },
  { name: 'mallory', token: `mallory-${process.pid}`, groups: ['novapos:engineers'] },
  { name: 'viewer', token: `viewer-${process.pid}`, groups: ['novapos:viewers'] },
  { name: 'nobody', token: `nobody-${process.pid}`, groups: [] },
];
const ns = 'oncall';

const rbac = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: novapos-viewer}
rules:
  - apiGroups: [security.novapos.io]
    resources: [signingkeyrotations, secretpromotions, tenantratelimits, disasterrecoverydrills]
    verbs: [get, list, watch]
  - apiGroups: ['']
    resources: [events]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: novapos-oncall}
rules:
  - apiGroups: [security.novapos.io]
    resources: [signingkeyrotations, secretpromotions, tenantratelimits, disasterrecoverydrills]
    verbs: [get, list, watch, patch, update]
  - apiGroups: ['']
    resources: [events]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: novapos-viewers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: novapos-viewer}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'novapos:viewers'}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: novapos-oncall}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: novapos-oncall}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: '${APPROVERS_GROUP}'}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'novapos:engineers'}
`;

let env: Env;
let admin: Kubectl;
let bundle: string;
let adminConfig: string;
const configOf: Record<string, string> = {};

/** The plugin as the admin kubeconfig's user (system:masters, so it may impersonate with --as). */
const plugin = (args: readonly string[], opts: Parameters<typeof runPlugin>[2] = {}) =>
  runPlugin(bundle, args, { kubeconfig: adminConfig, ...opts });

const annotationsOf = async (kind: string, name: string): Promise<Record<string, string>> =>
  JSON.parse(await admin(['get', kind, name, '-n', ns, '-o', 'json'])).metadata.annotations ?? {};

async function writeStatus(kind: string, name: string, status: unknown): Promise<void> {
  await admin([
    'patch',
    kind,
    name,
    '-n',
    ns,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  ]);
}

/**
 * The gateway's rate-limit counters for tenant acme as its admin listener serves them: 2 requests charged
 * a second, one rejected every other second (so 120/min and 30/min).
 */
const started = Date.now();
const gatewayMetrics = http.createServer((_req, res) => {
  const s = Math.floor((Date.now() - started) / 1000);
  res.setHeader('content-type', 'text/plain; version=0.0.4');
  res.end(
    `# TYPE gateway_rate_limit_hits_total counter\ngateway_rate_limit_hits_total{tenant="acme"} ${2 * s}\n` +
      `# TYPE gateway_rate_limit_rejections_total counter\ngateway_rate_limit_rejections_total{tenant="acme"} ${Math.floor(s / 2)}\n`,
  );
});

beforeAll(async () => {
  await new Promise<void>((r) => gatewayMetrics.listen(0, '127.0.0.1', r));
  const port = (gatewayMetrics.address() as AddressInfo).port;
  [env, bundle] = await Promise.all([
    startEnv({
      label: 'cli',
      kube: { users },
      prometheus: { scrape: { 'integration-gateway': [`127.0.0.1:${port}`] }, scrapeInterval: '1s' },
    }),
    buildPlugin(),
  ]);
  const kube = env.kube!;
  adminConfig = kube.kubeconfig;
  admin = kubectlAs(kube.kubectlPath, adminConfig);
  for (const u of users) configOf[u.name] = kube.kubeconfigFor(u.name);
  await admin(['create', 'namespace', ns]);
  await admin(['create', 'namespace', 'novapos-system']);
  await admin(['apply', '-f', '-'], rbac);
  await admin(['apply', '--server-side', '-f', path.join(repoRoot, 'operator/admission')]);
  await kube.waitUntilServed();
  for (const doc of examples(ns).values()) await admin(['apply', '--server-side', '-f', '-'], yaml(doc));
  await writeStatus('skr', 'auth', aRotation().status);
  await writeStatus('spromo', 'auth-to-staging', aPromotion().status);
  await writeStatus('trl', 'acme', { ...aRateLimit().status, appliedGeneration: 1 });
  await writeStatus('drdrill', 'quarterly', aDrill().status);
  // The operator's leader lease, renewed just now.
  await admin(
    ['apply', '-f', '-'],
    stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'novapos-operator', namespace: 'novapos-system' },
      spec: {
        holderIdentity: 'novapos-operator-0',
        leaseDurationSeconds: 3600,
        // A MicroTime: microseconds.
        renewTime: new Date().toISOString().replace('Z', '000Z'),
      },
    }),
  );
  // The approval policies act asynchronously: wait until a non-approver's approval is refused.
  let n = 0;
  await waitUntil(
    'the approvers-only policy',
    () =>
      kubectlAs(
        kube.kubectlPath,
        configOf.mallory!,
      )([
        'annotate',
        '--overwrite',
        'spromo',
        'auth-to-staging',
        '-n',
        ns,
        `${Annotations.approvePlan}=probe-${++n}`,
      ]).then(
        () => false,
        (e: Error) => /only members of/.test(e.message),
      ),
    { timeoutMs: 60_000, intervalMs: 300 },
  );
  await admin(['annotate', 'spromo', 'auth-to-staging', '-n', ns, `${Annotations.approvePlan}-`]);
}, 180_000);

afterAll(async () => {
  await env?.stop();
  gatewayMetrics.close();
});

describe('the bundle', () => {
  it('runs on its own, outside the repository', async () => {
    const alone = copyAlone(bundle);
    const r = await runPlugin(alone, ['--version'], { cwd: tmpdir() });
    expect(r).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it('says in one line that it needs Node 24 on an older Node', () => {
    let out = '';
    let code = 0;
    try {
      execFileSync(
        process.execPath,
        [
          '--import',
          'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"22.11.0"})',
          bundle,
          '--help',
        ],
        { stdio: 'pipe' },
      );
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      code = e.status;
      out = e.stderr.toString();
    }
    expect(code).toBe(1);
    expect(out).toBe('kubectl-novapos needs Node.js 24 or newer; this is Node.js 22.11.0\n');
  });

  it('prints a bash completion script that bash parses', async () => {
    const r = await plugin(['completion', 'bash']);
    expect(r.code).toBe(0);
    execFileSync('bash', ['-n'], { input: r.stdout });
  });
});

describe('status', () => {
  it('lists every resource of the namespace on one screen, plain when piped', async () => {
    const r = await plugin(['status', '-n', ns]);
    expect(r.code).toBe(0);
    for (const ref of ['skr/auth', 'spromo/auth-to-staging', 'trl/acme', 'drdrill/quarterly'])
      expect(r.stdout).toContain(ref);
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('-A lists across namespaces with a NAMESPACE column', async () => {
    const r = await plugin(['status', '-A', 'skr']);
    expect(r.stdout).toMatch(/^NAMESPACE\s+RESOURCE/);
    expect(r.stdout).toMatch(/oncall\s+skr\/auth/);
  });

  it.each([
    [
      'skr/auth',
      [
        /k2\s+active/,
        /k3\s+next.*signs in/,
        /Timeline/,
        /integration-gateway\s+no/,
        /ServicesLoaded\s+False/,
      ],
    ],
    [
      'spromo/auth-to-staging',
      [
        /Plan plan-abc123/,
        /DB_PASSWORD\s+~ change\s+hmac-sha256:/,
        /Approval: waiting for approval of the current plan/,
      ],
    ],
    ['trl/acme', [/tenant acme/, /Limit: 60\/min \+ burst 10/, /generation 1 acknowledged/]],
    ['drdrill/quarterly', [/Run run-2 \(runNow\) Failed/, /alertDelivery\s+Failed/]],
  ])('%s: one screen for the kind', async (ref, patterns) => {
    const r = await plugin(['status', ref, '-n', ns]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const p of patterns) expect(r.stdout).toMatch(p);
  });

  it("a TenantRateLimit's live usage comes from Prometheus", async () => {
    const prometheus = env.prometheus!.url;
    await waitUntil(
      'three scrapes of the gateway',
      async () =>
        Number(
          (await env.prometheus!.query('count_over_time(gateway_rate_limit_hits_total[5m])'))[0]?.value[1] ??
            0,
        ) >= 3,
    );
    const r = await plugin(['status', 'trl/acme', '-n', ns, '--prometheus', prometheus]);
    expect(r.stderr).toBe('');
    // Per minute over 5 minutes: with only seconds of samples the rates are small, but their ratio is the
    // counters' (one rejection for every four charged requests).
    const m = r.stdout.match(
      /Live usage: ([\d.]+)\/min of 60 \(\d+%\), ([\d.]+) rejected\/min \(5m average\)/,
    );
    expect(m, r.stdout).not.toBeNull();
    const [requests, rejected] = [Number(m![1]), Number(m![2])];
    expect(requests).toBeGreaterThan(0);
    // Around 0.25; a few seconds of scrapes under load put the two counters' last samples one increment
    // apart (0.14 seen in a full run), so the band is wide: what it tells apart is the right counter (0 or 1).
    expect(rejected / requests).toBeGreaterThan(0.1);
    expect(rejected / requests).toBeLessThan(0.4);
    const viaEnv = await plugin(['status', 'trl/acme', '-n', ns], {
      env: { NOVAPOS_PROMETHEUS_URL: prometheus },
    });
    expect(viaEnv.stdout).toMatch(/Live usage: [\d.]+\/min of 60/);
    // Without Prometheus it reads the gateway replicas through the apiserver (test/cli/live.int.test.ts);
    // here there is no gateway Service, and it says so.
    const without = await plugin(['status', 'trl/acme', '-n', ns]);
    expect(without.code).toBe(0);
    expect(without.stdout).toContain(
      'Live usage: not shown: no ready replica of Service novapos/integration-gateway with a port named admin (pass --gateway NAMESPACE/SERVICE, or --prometheus URL)',
    );
  });

  it('-o json and -o yaml print the object as the apiserver has it', async () => {
    const json = JSON.parse((await plugin(['status', 'skr/auth', '-n', ns, '-o', 'json'])).stdout);
    expect(json.status.activeKid).toBe('k2');
    expect(json.metadata.managedFields).toBeUndefined();
    const y = parseYaml((await plugin(['status', 'trl', 'acme', '-n', ns, '-o', 'yaml'])).stdout);
    expect(y.spec.tenant).toBe('acme');
    const list = JSON.parse((await plugin(['status', '-n', ns, '-o', 'json'])).stdout);
    expect(list.items.map((o: { kind: string }) => o.kind).sort()).toEqual([
      'DisasterRecoveryDrill',
      'SecretPromotion',
      'SigningKeyRotation',
      'TenantRateLimit',
    ]);
  });

  it('--watch when piped prints each changed screen after a --- line, without colour', async () => {
    let changed = false;
    const out = await runPipedUntil(
      bundle,
      ['status', 'trl/acme', '-n', ns, '--watch', '--interval', '300ms'],
      {
        kubeconfig: adminConfig,
        onOutput: (text) => {
          if (!changed && text.includes('Live usage')) {
            changed = true;
            void writeStatus('trl', 'acme', { acknowledgedReplicas: 3 });
          }
        },
        until: (text) => text.includes('acknowledged by 3 replica'),
      },
    );
    const frames = out.split('\n---\n');
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0]).toContain('acknowledged by 2 replica');
    expect(frames.at(-1)).toContain('acknowledged by 3 replica');
    expect(out).not.toContain('\x1b[');
    await writeStatus('trl', 'acme', { acknowledgedReplicas: 2 });
  });

  it('a missing resource is one line with exit 5', async () => {
    const r = await plugin(['status', 'skr/nope', '-n', ns]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^error: skr\/nope not found in namespace oncall \(list them with .*\)\n$/);
  });
});

describe('who the user is', () => {
  it('a user without RBAC gets one forbidden line and exit 4 (--as)', async () => {
    const r = await plugin(['status', 'skr/auth', '-n', ns, '--as', 'nobody']);
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .*"nobody" cannot get resource "signingkeyrotations"/);
  });

  it('a viewer reads but may not rotate (--as with --as-group)', async () => {
    const asViewer = ['--as', 'viewer', '--as-group', 'novapos:viewers', '-n', ns];
    expect((await plugin(['status', 'skr/auth', ...asViewer])).code).toBe(0);
    const r = await plugin(['rotate', 'skr/auth', ...asViewer]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cannot patch resource "signingkeyrotations"/);
    expect((await annotationsOf('skr', 'auth'))[Annotations.rotateNow]).toBeUndefined();
  });

  it('KUBECONFIG with two files merges them, and --context picks one', async () => {
    const merged = `${configOf.nobody}:${adminConfig}`;
    expect((await runPlugin(bundle, ['status', 'skr/auth', '-n', ns], { kubeconfig: merged })).code).toBe(4);
    expect(
      (
        await runPlugin(bundle, ['status', 'skr/auth', '-n', ns, '--context', 'admin'], {
          kubeconfig: merged,
        })
      ).code,
    ).toBe(0);
    const r = await runPlugin(bundle, ['status', '--context', 'nope'], { kubeconfig: merged });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no context "nope" in the kubeconfig \(known: nobody, admin\)/);
  });

  it('gets its token from an exec credential plugin', async () => {
    const dir = scratchDir('cli-exec-');
    const helper = path.join(dir, 'credential-helper');
    const token = env.kube!.adminToken;
    writeFileSync(
      helper,
      `#!/bin/sh\nprintf '%s' '${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } })}'\n`,
    );
    chmodSync(helper, 0o755);
    const config = parseYaml(execFileSync('cat', [adminConfig]).toString());
    config.users = [
      {
        name: 'admin',
        user: {
          exec: { apiVersion: 'client.authentication.k8s.io/v1', command: helper, interactiveMode: 'Never' },
        },
      },
    ];
    const file = path.join(dir, 'config');
    writeFileSync(file, stringify(config));
    const r = await runPlugin(bundle, ['status', 'skr/auth', '-n', ns, '-o', 'json'], { kubeconfig: file });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).metadata.name).toBe('auth');
  });
});

describe('plan and approve', () => {
  const ref = 'spromo/auth-to-staging';

  it('plan shows the diff table and -o json the plan', async () => {
    const r = await plugin(['plan', ref, '-n', ns]);
    expect(r.stdout).toMatch(
      /target staging: novapos\/auth\/config v3 → novapos\/auth\/config \(target at v2\)/,
    );
    expect(JSON.parse((await plugin(['plan', ref, '-n', ns, '-o', 'json'])).stdout).hash).toBe('plan-abc123');
  });

  it('refuses a hash that is no longer the current plan, and changes nothing (exit 3)', async () => {
    const r = await plugin([
      'approve',
      ref,
      '-n',
      ns,
      '--hash',
      'plan-old',
      '--as',
      'alice',
      '--as-group',
      APPROVERS_GROUP,
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^error: plan plan-old is not the current plan of spromo\/auth-to-staging \(the current plan is plan-abc123\)/,
    );
    expect((await annotationsOf('spromo', 'auth-to-staging'))[Annotations.approvePlan]).toBeUndefined();
  });

  it('an engineer outside the approvers group is refused by admission (exit 4)', async () => {
    const r = await runPlugin(bundle, ['approve', ref, '-n', ns], { kubeconfig: configOf.mallory });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /only members of novapos:approvers may set security\.novapos\.io\/approve-plan; mallory is not one/,
    );
  });

  it('alice approves the hash read from status; admission records alice as the approver', async () => {
    const r = await plugin([
      'approve',
      ref,
      '-n',
      ns,
      '--hash',
      'plan-abc123',
      '--as',
      'alice',
      '--as-group',
      APPROVERS_GROUP,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Plan plan-abc123');
    expect(r.stdout).toMatch(/spromo\/auth-to-staging: approved plan plan-abc123 as alice\n$/);
    expect(await annotationsOf('spromo', 'auth-to-staging')).toMatchObject({
      [Annotations.approvePlan]: 'plan-abc123',
      [Annotations.approvedBy]: 'alice',
    });
  });

  it('approving again says who already approved', async () => {
    const r = await runPlugin(bundle, ['approve', ref, '-n', ns], { kubeconfig: configOf.alice });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already approved by alice/);
  });

  it('rollback without a promotion is refused (exit 3)', async () => {
    const r = await plugin(['rollback', ref, '-n', ns, '--yes']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/has no promotion to roll back/);
  });
});

describe('revoke refusals', () => {
  it('refuses the active kid without --emergency (exit 3)', async () => {
    const r = await plugin(['revoke', 'skr/auth', 'k2', '-n', ns, '--yes']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /k2 is the active signing key of skr\/auth.*\(add --emergency if that is what you want\)/,
    );
  });

  it('asks for confirmation; without a terminal it needs --yes (exit 2)', async () => {
    const r = await plugin(['revoke', 'skr/auth', 'k1', '-n', ns]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not confirmed: standard input is not a terminal \(add --yes to confirm\)/);
    expect((await annotationsOf('skr', 'auth'))[Annotations.revokeKid]).toBeUndefined();
  });

  it('refuses a kid that is not in the set (exit 3)', async () => {
    const r = await plugin(['revoke', 'skr/auth', 'nope', '-n', ns, '--yes']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /nope is not a key of skr\/auth \(its keys: k1 \(retired\), k2 \(active\), k3 \(next\)\)/,
    );
  });
});

describe('drills', () => {
  it('drill report prints the last run step by step; -o json the run', async () => {
    const r = await plugin(['drill', 'report', 'drdrill/quarterly', '-n', ns]);
    expect(r.stdout).toMatch(/keyRotation\s+Passed\s+1m\s+failedRequests=0 requests=1200/);
    expect(
      JSON.parse((await plugin(['drill', 'report', 'drdrill/quarterly', '-n', ns, '-o', 'json'])).stdout).id,
    ).toBe('run-2');
  });

  it('drill run sets a fresh run-now value', async () => {
    const r = await plugin(['drill', 'run', 'drdrill/quarterly', '-n', ns]);
    expect(r.code).toBe(0);
    expect((await annotationsOf('drdrill', 'quarterly'))[Annotations.runNow]).toMatch(
      /^kubectl-novapos-\d{4}-\d\d-\d\dT/,
    );
  });
});

describe('check', () => {
  it('passes for the admin: CRDs match this plugin, the operator leads, the policies are active, RBAC allows every verb', async () => {
    const r = await plugin(['check', '-n', ns]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /CRD signingkeyrotations\.security\.novapos\.io\s+ok\s+v1alpha1 served, schema matches this plugin/,
    );
    expect(r.stdout).toMatch(/operator is leading\s+ok\s+novapos-operator-0 renewed/);
    expect(r.stdout).toMatch(/admission secretpromotion-approvers-only\.security\.novapos\.io\s+ok/);
    expect(r.stdout).toContain('all checks passed');
    const json = JSON.parse((await plugin(['check', '-n', ns, '-o', 'json'])).stdout);
    expect(json.checks.every((c: { state: string }) => c.state === 'ok')).toBe(true);
  });

  it('tells a viewer which verbs their RBAC denies; a user who cannot read fails (exit 1)', async () => {
    const viewer = await plugin(['check', '-n', ns, '--as', 'viewer', '--as-group', 'novapos:viewers']);
    expect(viewer.stdout).toMatch(
      /RBAC: rotate, revoke \(patch signingkeyrotations in oncall\)\s+warn\s+denied for you/,
    );
    expect(viewer.stdout).toMatch(/RBAC: status \(get signingkeyrotations in oncall\)\s+ok/);
    expect(viewer.stdout).toMatch(
      /RBAC: revoke --wait, live usage \(get pods\/proxy in oncall\)\s+warn\s+denied for you/,
    );
    const nobody = await plugin(['check', '-n', ns, '--as', 'nobody']);
    expect(nobody.code).toBe(1);
    expect(nobody.stdout).toMatch(
      /RBAC: status \(get signingkeyrotations in oncall\)\s+FAIL\s+denied for you/,
    );
  });
});
