import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Annotations, APPROVERS_GROUP } from '../../operator/src/api/meta.js';
import type { SecretPromotion } from '../../operator/src/api/v1alpha1/secretpromotion.js';
import { secretPromotionController } from '../../operator/src/controllers/secret-promotion/index.js';
import type { Manager } from '../../operator/src/runtime/index.js';
import { type Kubectl, kubectlAs, secretPromotionEditorsRbac } from '../api/kubectl.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import { rootClient, startOperator } from '../promotion/support.js';
import { buildPlugin, type Run, repoRoot, runPlugin } from './support.js';

/**
 * plan, approve and rollback against the real SecretPromotion controller and the shared OpenBao servers
 * ("dev" and "staging"), on a private apiserver with the approval admission policies: the plugin approves
 * the hash it read, admission records alice, the controller applies exactly that plan, and rollback
 * --wait returns once the target is back. No secret value appears in anything the plugin prints.
 */
const users = [
  {
    name: 'alice',
    token: `alice-${process.pid}-${randomBytes(3).toString('hex')}`,
    groups: [APPROVERS_GROUP],
  },
];
const ns = 'promotions';
const operatorNs = 'novapos-system';
const run = `cli-${process.pid}-${randomBytes(3).toString('hex')}`;
const source = `${run}/dev/novapos/auth`;
const target = `${run}/staging/novapos/auth`;
const values = {
  REDIS_URL: `redis://dev-${run}:6379/0`,
  KAFKA_BOOTSTRAP: `kafka-dev-${run}:9092`,
};
const before = { REDIS_URL: `redis://staging-${run}:6379/0` };

let env: Env;
let admin: Kubectl;
let manager: Manager;
let bundle: string;
let aliceConfig: string;
const outputs: string[] = [];
const vaults = () => inject('env').vaults;

const plugin = async (args: readonly string[], kubeconfig = env.kube!.kubeconfig): Promise<Run> => {
  const r = await runPlugin(bundle, [...args, '-n', ns], { kubeconfig });
  outputs.push(r.stdout, r.stderr);
  return r;
};
const get = async (): Promise<SecretPromotion> =>
  JSON.parse(await admin(['get', 'spromo', 'auth', '-n', ns, '-o', 'json'])) as SecretPromotion;

beforeAll(async () => {
  const [devVault, stagingVault] = vaults();
  if (!devVault || !stagingVault) throw new Error('the shared environment must have two OpenBao servers');
  [env, bundle] = await Promise.all([startEnv({ label: 'cli-promotion', kube: { users } }), buildPlugin()]);
  const kube = env.kube!;
  admin = kubectlAs(kube.kubectlPath, kube.kubeconfig);
  aliceConfig = kube.kubeconfigFor('alice');
  await admin(['create', 'namespace', ns]);
  await admin(['create', 'namespace', operatorNs]);
  await admin(['apply', '-f', '-'], secretPromotionEditorsRbac);
  await admin(['apply', '--server-side', '-f', path.join(repoRoot, 'operator/admission')]);
  await kube.waitUntilServed();
  await rootClient(devVault).kvWrite('secret', source, values);
  await rootClient(stagingVault).kvWrite('secret', target, before);
  const policy = { source: false, target: false, protected: false, namespaces: [ns] };
  ({ manager } = await startOperator(
    kube.kubeconfig,
    secretPromotionController({
      operatorNamespace: operatorNs,
      connections: [
        {
          name: 'local',
          address: devVault.addr,
          auth: { method: 'token', token: devVault.rootToken },
          promotion: { ...policy, source: true },
        },
        {
          name: 'staging',
          address: stagingVault.addr,
          auth: { method: 'token', token: stagingVault.rootToken },
          promotion: { ...policy, target: true },
        },
      ],
    }),
  ));
  const applyPromotion = (name: string, spec: Record<string, unknown>) =>
    admin(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'security.novapos.io/v1alpha1',
        kind: 'SecretPromotion',
        metadata: { name, namespace: ns },
        spec: { source: { connection: 'local', mount: 'secret', path: source }, ...spec },
      }),
    );
  await applyPromotion('auth', {
    targets: [{ name: 'staging', connection: 'staging', mount: 'secret', path: target }],
    requireApproval: true,
  });
  await waitUntil('a plan', async () => !!(await get()).status?.plan, { timeoutMs: 60_000 });
  // The admission policies act asynchronously: wait until they stamp an approval (on another object).
  await applyPromotion('probe', {
    targets: [{ name: 'x', connection: 'staging', mount: 'secret', path: `${run}/probe` }],
    suspend: true,
  });
  let n = 0;
  const alice = kubectlAs(kube.kubectlPath, aliceConfig);
  await waitUntil(
    'the approved-by policy',
    async () => {
      await alice([
        'annotate',
        '--overwrite',
        'spromo',
        'probe',
        '-n',
        ns,
        `${Annotations.approvePlan}=p-${++n}`,
      ]);
      const a = JSON.parse(await admin(['get', 'spromo', 'probe', '-n', ns, '-o', 'json'])).metadata
        .annotations;
      return a[Annotations.approvedBy] === 'alice';
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  );
}, 180_000);

afterAll(async () => {
  await manager?.stop();
  await env?.stop();
});

describe('plan, approve and rollback with the SecretPromotion controller', () => {
  it('plan shows what applying changes, with fingerprints', async () => {
    const sp = await get();
    const r = await plugin(['plan', 'spromo/auth']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Plan ${sp.status!.plan!.hash}`);
    expect(r.stdout).toMatch(/KAFKA_BOOTSTRAP\s+\+ add/);
    expect(r.stdout).toMatch(/REDIS_URL\s+~ change/);
  });

  it('alice approves; the controller applies exactly that plan and records her', async () => {
    const hash = (await get()).status!.plan!.hash;
    const r = await plugin(['approve', 'spromo/auth'], aliceConfig);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`approved plan ${hash} as alice`);
    const done = await waitUntil(
      'the promotion',
      async () => {
        const sp = await get();
        return sp.status?.lastPromotion?.planHash === hash && sp;
      },
      { timeoutMs: 60_000 },
    );
    expect(done.status!.lastPromotion!.approvedBy).toBe('alice');
    expect((await rootClient(vaults()[1]!).kvRead('secret', target))?.data).toEqual(values);
    const status = await plugin(['status', 'spromo/auth']);
    expect(status.stdout).toMatch(new RegExp(`promote\\s+${hash.slice(0, 12)}…\\s+Succeeded\\s+alice`));
  });

  it('rollback --wait returns with the rollback plan to approve; approving it restores the target', async () => {
    const r = await plugin(['rollback', 'spromo/auth', '--yes', '--wait', '--timeout', '60s']);
    expect(r.code, r.stderr).toBe(0);
    const hash = (await get()).status!.plan!.hash;
    expect(hash).toMatch(/^rollback-/);
    expect(r.stdout).toBe(
      `rollback plan ${hash} is ready: review and approve it with kubectl novapos approve spromo/auth\n`,
    );
    const approve = await plugin(['approve', 'spromo/auth', '--hash', hash], aliceConfig);
    expect(approve.code, approve.stderr).toBe(0);
    await waitUntil(
      'the rollback applied',
      async () =>
        (await get()).status?.history?.some((h) => h.action === 'rollback' && h.result === 'Succeeded'),
      { timeoutMs: 60_000 },
    );
    expect((await rootClient(vaults()[1]!).kvRead('secret', target))?.data).toEqual(before);
    const status = await plugin(['status', 'spromo/auth']);
    expect(status.stdout).toMatch(/rollback\s+rollback-\S*\s+Succeeded\s+alice/);
  });

  it('prints no secret value', () => {
    const text = outputs.join('\n');
    for (const v of [...Object.values(values), ...Object.values(before)]) expect(text).not.toContain(v);
  });
});
