import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { VaultClient } from '../../lib/vault.js';
import {
  connectionsFromConfig,
  VaultConnections,
} from '../../operator/src/adapters/vault-connections/index.js';
import { Annotations, APPROVERS_GROUP } from '../../operator/src/api/meta.js';
import type { SecretPromotion } from '../../operator/src/api/v1alpha1/secretpromotion.js';
import type { PromotionPolicy } from '../../operator/src/connections-file.js';
import {
  Provenance,
  secretPromotionController,
} from '../../operator/src/controllers/secret-promotion/index.js';
import type { Manager } from '../../operator/src/runtime/index.js';
import { type Doc, type Kubectl, kubectlAs, repoRoot, secretPromotionEditorsRbac } from '../api/kubectl.js';
import { type Env, startEnv } from '../harness/env.js';
import { sleep, waitUntil } from '../harness/wait.js';
import {
  deletePolicy,
  leastPrivilegeToken,
  readOnlyRules,
  rootClient,
  runPrefix,
  startOperator,
  writeRules,
} from './support.js';

/**
 * SecretPromotion end to end: a private kube-apiserver (the admission policies are cluster-wide, so they
 * are installed there, not in the shared one) with users alice (approver) and mallory (engineer); the
 * shared environment's two OpenBao servers as "dev" (vaults[0], the operator's own Vault) and
 * "staging + prod" (vaults[1]), each reached with a least-privilege token; the controller in this process
 * through the runtime Manager. Every Vault path lives under a per-run prefix.
 */

const users = [
  {
    name: 'alice',
    token: `alice-${process.pid}-${randomBytes(4).toString('hex')}`,
    groups: [APPROVERS_GROUP],
  },
  {
    name: 'mallory',
    token: `mallory-${process.pid}-${randomBytes(4).toString('hex')}`,
    groups: ['novapos:engineers'],
  },
];
const ns = 'promotions';
/** A namespace whose engineers may promote to staging only (the promotion policy below). */
const teamNs = 'team-x';
const operatorNs = 'novapos-system';
const run = runPrefix('spromo');
const tag = randomBytes(3).toString('hex');

/** The seeds of the Vault bootstrap runbook (step 3), plus per-environment values; all must stay secret. */
const seedAuth = {
  KAFKA_BOOTSTRAP: 'kafka:9092',
  REDIS_URL: 'redis://redis:6379/0',
  SECURITY_MFA_ACTIVITY_TOPIC: 'security.mfa.activity',
};
const seedGateway = { SECURITY_ALERT_TOPIC: 'security.alerts.v1' };
const stagingRedis = `redis://staging-${tag}:6379/0`;
const prodBefore = { KAFKA_BOOTSTRAP: `kafka-prod-${tag}:9092`, PROD_ONLY: `prod-only-${tag}` };
const mfaTopicV2 = `security.mfa.activity.v2-${tag}`;
const hotfix = `kafka-hotfix-${tag}:9092`;
const alertTopicV2 = `security.alerts.v2-${tag}`;
const signingJwkD = `signing-private-d-${tag}`;
const treeValues = { A: `tree-a-${tag}`, B: `tree-b-${tag}` };
const secretValues = [
  ...Object.values(seedAuth),
  ...Object.values(seedGateway),
  stagingRedis,
  ...Object.values(prodBefore),
  mfaTopicV2,
  hotfix,
  alertTopicV2,
  signingJwkD,
  ...Object.values(treeValues),
];

let env: Env;
let admin: Kubectl;
const as: Record<string, Kubectl> = {};
let dev: VaultClient; // root, for setup and checks only
let envs: VaultClient; // root on the staging+prod server
let manager: Manager;
let stores: VaultConnections;
let logLines: string[];
const tokens: Record<string, string> = {};
const vaults = () => inject('env').vaults;

const p = (...parts: string[]) => [run, ...parts].join('/');

function promotion(name: string, spec: Doc, namespace = ns): string {
  return JSON.stringify({
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'SecretPromotion',
    metadata: { name, namespace },
    spec,
  });
}

async function get(name: string, namespace = ns): Promise<SecretPromotion> {
  return JSON.parse(await admin(['get', 'spromo', name, '-n', namespace, '-o', 'json'])) as SecretPromotion;
}

const condition = (sp: SecretPromotion, type: string) => sp.status?.conditions?.find((c) => c.type === type);

async function waitFor(
  name: string,
  what: string,
  check: (sp: SecretPromotion) => boolean,
  timeoutMs = 30_000,
  namespace = ns,
): Promise<SecretPromotion> {
  return waitUntil(
    `${name}: ${what}`,
    async () => {
      const sp = await get(name, namespace);
      return check(sp) ? sp : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

const annotate = (user: 'alice' | 'mallory' | 'admin', name: string, ...pairs: string[]) =>
  (user === 'admin' ? admin : as[user]!)(['annotate', '--overwrite', 'spromo', name, '-n', ns, ...pairs]);

/** The data of a KV v2 secret under `secret/` (root token); undefined when absent or deleted. */
const data = async (client: VaultClient, secretPath: string, version?: number) =>
  (await client.kvRead('secret', secretPath, version))?.data;

/** Every secret under a folder (relative paths), with the root token. */
async function tree(client: VaultClient, folder: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await client.kvList('secret', folder)) {
    if (name.endsWith('/'))
      out.push(...(await tree(client, `${folder}/${name.slice(0, -1)}`)).map((x) => `${name}${x}`));
    else out.push(name);
  }
  return out.sort();
}

beforeAll(async () => {
  const [devVault, envVault] = vaults();
  if (!devVault || !envVault)
    throw new Error('the shared environment must have two OpenBao servers (vault: 2)');
  dev = rootClient(devVault);
  envs = rootClient(envVault);

  env = await startEnv({ label: 'promotion', kube: { users } });
  const kube = env.kube!;
  admin = kubectlAs(kube.kubectlPath, kube.kubeconfig);
  for (const u of users) as[u.name] = kubectlAs(kube.kubectlPath, kube.kubeconfigFor(u.name));
  await admin(['create', 'namespace', ns]);
  await admin(['create', 'namespace', operatorNs]);
  await admin(['create', 'namespace', teamNs]);
  await admin(['apply', '-f', '-'], secretPromotionEditorsRbac);
  await admin(['apply', '--server-side', '-f', path.join(repoRoot, 'operator/admission')]);
  await kube.waitUntilServed();

  // Least privilege: the operator reads dev, writes only staging paths with the staging token and only
  // prod paths with the prod token.
  tokens.local = await leastPrivilegeToken(devVault, `${run}-source`, readOnlyRules(run));
  tokens.staging = await leastPrivilegeToken(
    envVault,
    `${run}-staging`,
    `${writeRules(p('staging'))}\npath "secret/data/${p('staging-overrides')}/*" { capabilities = ["read"] }\n`,
  );
  tokens.prod = await leastPrivilegeToken(envVault, `${run}-prod`, writeRules(p('prod')));
  for (const name of ['staging', 'prod']) {
    await admin([
      'create',
      'secret',
      'generic',
      `vault-${name}-token`,
      '-n',
      operatorNs,
      `--from-literal=token=${tokens[name]}`,
    ]);
  }

  // The seeds (runbook step 3) in dev, per-environment values in staging/prod.
  await dev.kvWrite('secret', p('novapos/auth'), seedAuth);
  await dev.kvWrite('secret', p('novapos/integration-gateway'), seedGateway);
  await envs.kvWrite('secret', p('staging-overrides/novapos/auth'), { REDIS_URL: stagingRedis });
  await envs.kvWrite('secret', p('prod/novapos/auth'), prodBefore);
  // A tree with signing keys inside it.
  await dev.kvWrite('secret', p('tree/novapos/auth'), { A: treeValues.A });
  await dev.kvWrite('secret', p('tree/novapos/payments/api'), { B: treeValues.B });
  await dev.kvWrite('secret', p('tree/novapos/signing-keys/promotions/auth/kid-1'), {
    kid: 'kid-1',
    state: 'active',
    privateJwk: { kty: 'EC', d: signingJwkD },
  });
  await dev.kvWrite('secret', p('tree/novapos/signing-keys/promotions/auth/keyset'), { activeKid: 'kid-1' });

  // The promotion policy of the runbook: dev (local) is read from `promotions` only; staging may be
  // written from `promotions` and `team-x`; prod is protected (always approved) and written only from
  // `promotions`; prod is never a source.
  const policy = (p: Partial<PromotionPolicy> & { namespaces: string[] }): PromotionPolicy => ({
    source: false,
    target: false,
    protected: false,
    ...p,
  });
  const definitions = connectionsFromConfig(
    {
      vault: {
        address: devVault.addr,
        token: tokens.local,
        auth: { method: 'token', tokenEnv: 'VAULT_TOKEN' },
      },
      connections: new Map([
        ['local', { name: 'local', promotion: policy({ source: true, namespaces: [ns] }) }],
      ]),
    },
    {},
    [
      {
        name: 'staging',
        address: envVault.addr,
        auth: { method: 'tokenSecret', name: 'vault-staging-token' },
        promotion: policy({ target: true, namespaces: [ns, teamNs] }),
      },
      {
        name: 'prod',
        address: envVault.addr,
        auth: { method: 'tokenSecret', name: 'vault-prod-token' },
        promotion: policy({ target: true, protected: true, namespaces: [ns] }),
      },
      // prod once more, under a name only the refused promotions below use: its request count must not move.
      {
        name: 'prod-archive',
        address: envVault.addr,
        auth: { method: 'tokenSecret', name: 'vault-prod-token' },
        promotion: policy({ target: true, protected: true, namespaces: [ns] }),
      },
    ],
  );
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfig);
  stores = new VaultConnections({
    connections: definitions,
    core: kc.makeApiClient(CoreV1Api),
    operatorNamespace: operatorNs,
  });
  const started = await startOperator(
    kube.kubeconfig,
    secretPromotionController({ operatorNamespace: operatorNs, connections: definitions, stores }),
  );
  manager = started.manager;
  logLines = started.lines;

  // The policies take effect asynchronously: wait until an approval by alice gets stamped.
  const probe = promotion('probe', {
    source: { path: p('novapos/auth') },
    targets: [{ name: 'x', connection: 'staging', path: p('staging/probe') }],
    suspend: true,
  });
  // The CRDs were just installed: discovery may take a moment to serve the kind.
  await waitUntil(
    'the SecretPromotion kind to be served',
    () => admin(['apply', '-f', '-'], probe).then(() => true),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  let n = 0;
  await waitUntil(
    'the approved-by policy to stamp approvals',
    async () => {
      await annotate('alice', 'probe', `${Annotations.approvePlan}=probe-${++n}`);
      return (await get('probe')).metadata.annotations?.[Annotations.approvedBy] === 'alice';
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  await waitUntil(
    'the approvers-only policy to refuse mallory',
    () =>
      annotate('mallory', 'probe', `${Annotations.approvePlan}=m-${++n}`).then(
        () => false,
        (e: Error) => /only members of/.test(e.message),
      ),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  await admin(['delete', 'spromo', 'probe', '-n', ns]);
}, 180_000);

afterAll(async () => {
  await manager?.stop();
  await env?.stop();
  const [devVault, envVault] = vaults();
  if (devVault && envVault) {
    for (const [v, name] of [
      [devVault, 'source'],
      [envVault, 'staging'],
      [envVault, 'prod'],
    ] as const)
      await deletePolicy(v, `${run}-${name}`);
    for (const client of [dev, envs]) {
      for (const secret of await tree(client, run).catch(() => []))
        await client.kvDeleteAll('secret', `${run}/${secret}`);
    }
  }
});

describe('least-privilege tokens', () => {
  it('the staging token cannot write prod, the source token cannot write at all', async () => {
    const { VaultClient } = await import('../../lib/vault.js');
    const [devVault, envVault] = vaults();
    const staging = new VaultClient({
      addr: envVault!.addr,
      auth: { method: 'token', token: tokens.staging! },
    });
    const source = new VaultClient({ addr: devVault!.addr, auth: { method: 'token', token: tokens.local! } });
    await expect(staging.kvWrite('secret', p('prod/novapos/auth'), { X: '1' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(source.kvWrite('secret', p('novapos/auth'), { X: '1' })).rejects.toMatchObject({
      code: 'forbidden',
    });
  });
});

describe('promoting the seeds: plan, approval, apply', () => {
  beforeAll(async () => {
    await admin(
      ['apply', '-f', '-'],
      promotion('auth', {
        source: { connection: 'local', mount: 'secret', path: p('novapos/auth') },
        targets: [
          {
            name: 'staging',
            connection: 'staging',
            path: p('staging/novapos/auth'),
            overrides: [
              {
                key: 'REDIS_URL',
                valueFrom: { mount: 'secret', path: p('staging-overrides/novapos/auth'), key: 'REDIS_URL' },
              },
            ],
          },
          { name: 'prod', connection: 'prod', path: p('prod/novapos/auth') },
        ],
        requireApproval: true,
      }),
    );
    await admin(
      ['apply', '-f', '-'],
      promotion('integration-gateway', {
        source: { path: p('novapos/integration-gateway') },
        targets: [
          { name: 'staging', connection: 'staging', path: p('staging/novapos/integration-gateway') },
          { name: 'prod', connection: 'prod', path: p('prod/novapos/integration-gateway') },
        ],
        requireApproval: true,
        mode: 'continuous',
        interval: '1s',
      }),
    );
  });

  it('shows a plan of fingerprints and waits for approval without touching the targets', async () => {
    const sp = await waitFor(
      'auth',
      'a plan awaiting approval',
      (s) => s.status?.phase === 'AwaitingApproval',
    );
    const plan = sp.status!.plan!;
    expect(plan.hash).toMatch(/^promote-[0-9a-f]{32}$/);
    const staging = plan.entries.find((e) => e.target === 'staging')!;
    const prod = plan.entries.find((e) => e.target === 'prod')!;
    expect(staging).toMatchObject({ sourceVersion: 1, targetVersion: 0 });
    expect(staging.changes.map((c) => [c.key, c.action])).toEqual([
      ['KAFKA_BOOTSTRAP', 'add'],
      ['REDIS_URL', 'add'],
      ['SECURITY_MFA_ACTIVITY_TOPIC', 'add'],
    ]);
    expect(prod).toMatchObject({ targetVersion: 1 });
    expect(prod.changes.map((c) => [c.key, c.action])).toEqual([
      ['KAFKA_BOOTSTRAP', 'change'],
      ['REDIS_URL', 'add'],
      ['SECURITY_MFA_ACTIVITY_TOPIC', 'add'],
    ]);
    // The staging override gives REDIS_URL another value than the source: another fingerprint.
    const fp = (e: typeof staging, k: string) => e.changes.find((c) => c.key === k)!.sourceFingerprint;
    expect(fp(staging, 'REDIS_URL')).not.toBe(fp(prod, 'REDIS_URL'));
    expect(fp(staging, 'KAFKA_BOOTSTRAP')).toBe(fp(prod, 'KAFKA_BOOTSTRAP'));
    expect(condition(sp, 'Approved')).toMatchObject({ status: 'False', reason: 'AwaitingApproval' });
    expect(await data(envs, p('staging/novapos/auth'))).toBeUndefined();
    expect(await data(envs, p('prod/novapos/auth'))).toEqual(prodBefore);

    const table = await admin(['get', 'secretpromotions', '-n', ns]);
    expect(table).toMatch(new RegExp(`auth\\s+${p('novapos/auth')}\\s+${plan.hash}\\s+AwaitingApproval`));
  });

  it('refuses an approval from someone outside novapos:approvers', async () => {
    const sp = await get('auth');
    await expect(
      annotate('mallory', 'auth', `${Annotations.approvePlan}=${sp.status!.plan!.hash}`),
    ).rejects.toThrow(/only members of novapos:approvers/);
  });

  it('applies the plan alice approves, records her, and writes provenance', async () => {
    for (const name of ['auth', 'integration-gateway']) {
      const sp = await waitFor(name, 'a plan', (s) => s.status?.phase === 'AwaitingApproval');
      await annotate('alice', name, `${Annotations.approvePlan}=${sp.status!.plan!.hash}`);
    }
    const sp = await waitFor('auth', 'promoted', (s) => s.status?.phase === 'Promoted');
    expect(sp.status?.approval).toMatchObject({ planHash: sp.status!.plan!.hash, approvedBy: 'alice' });
    expect(sp.status?.history?.[0]).toMatchObject({
      action: 'promote',
      result: 'Succeeded',
      approvedBy: 'alice',
      planHash: sp.status!.plan!.hash,
    });
    expect(condition(sp, 'Ready')).toMatchObject({ status: 'True', reason: 'Promoted' });

    expect(await data(envs, p('staging/novapos/auth'))).toEqual({ ...seedAuth, REDIS_URL: stagingRedis });
    // prod keeps its own PROD_ONLY key (prune is off) and gets the source values.
    expect(await data(envs, p('prod/novapos/auth'))).toEqual({
      ...seedAuth,
      PROD_ONLY: prodBefore.PROD_ONLY,
    });
    const meta = await envs.kvMetadata('secret', p('prod/novapos/auth'));
    expect(meta?.customMetadata).toMatchObject({
      [Provenance.promotion]: `${ns}/auth`,
      [Provenance.plan]: sp.status!.plan!.hash,
      [Provenance.source]: `local:secret/${p('novapos/auth')}`,
      [Provenance.sourceVersion]: '1',
      [Provenance.version]: '2',
    });
    expect(sp.status?.lastPromotion?.writes).toEqual([
      { target: 'prod', path: p('prod/novapos/auth'), previousVersion: 1, version: 2 },
      { target: 'staging', path: p('staging/novapos/auth'), previousVersion: 0, version: 1 },
    ]);

    await waitFor('integration-gateway', 'promoted', (s) => s.status?.phase === 'Promoted');
    expect(await data(envs, p('prod/novapos/integration-gateway'))).toEqual(seedGateway);

    const table = await admin(['get', 'secretpromotions', '-n', ns]);
    expect(table).toMatch(
      new RegExp(`auth\\s+${p('novapos/auth')}\\s+${sp.status!.plan!.hash}\\s+Promoted\\s+alice\\s`),
    );
    process.stderr.write(`\n[promotion] kubectl get secretpromotions -n ${ns}\n${table}\n`);
  });
});

describe('a target edited between plan and apply', () => {
  it('is a Conflict: nothing is overwritten and nothing is re-planned on its own', async () => {
    await dev.kvWrite(
      'secret',
      p('novapos/auth'),
      { ...seedAuth, SECURITY_MFA_ACTIVITY_TOPIC: mfaTopicV2 },
      { cas: 1 },
    );
    await annotate('admin', 'auth', `${Annotations.reconcileNow}=c1`);
    const planned = await waitFor(
      'auth',
      'a plan for source v2',
      (s) => s.status?.phase === 'AwaitingApproval' && s.status.plan?.entries[0]?.sourceVersion === 2,
    );
    const hash = planned.status!.plan!.hash;

    // Someone hot-fixes staging after the plan was made.
    const stagingNow = (await envs.kvRead('secret', p('staging/novapos/auth')))!;
    await envs.kvWrite(
      'secret',
      p('staging/novapos/auth'),
      { ...stagingNow.data, KAFKA_BOOTSTRAP: hotfix },
      { cas: stagingNow.version },
    );
    const prodVersion = (await envs.kvMetadata('secret', p('prod/novapos/auth')))!.currentVersion;

    await annotate('alice', 'auth', `${Annotations.approvePlan}=${hash}`);
    const sp = await waitFor('auth', 'a conflict', (s) => s.status?.phase === 'Conflict');
    expect(sp.status?.conflicts).toEqual([
      {
        target: 'staging',
        path: p('staging/novapos/auth'),
        plannedVersion: stagingNow.version,
        currentVersion: stagingNow.version + 1,
        changedKeys: ['KAFKA_BOOTSTRAP'],
      },
    ]);
    expect(condition(sp, 'Conflict')).toMatchObject({ status: 'True', reason: 'TargetChanged' });
    expect(condition(sp, 'Conflict')?.message).toContain(
      `planned v${stagingNow.version}, now v${stagingNow.version + 1}`,
    );
    expect(sp.status?.history?.[0]).toMatchObject({ result: 'Conflict', planHash: hash });
    expect((await data(envs, p('staging/novapos/auth')))?.KAFKA_BOOTSTRAP).toBe(hotfix);
    // No target was written: prod did not move either.
    expect((await envs.kvMetadata('secret', p('prod/novapos/auth')))!.currentVersion).toBe(prodVersion);

    await sleep(2500);
    const later = await get('auth');
    expect(later.status?.plan?.hash).toBe(hash);
    expect(later.status?.phase).toBe('Conflict');
  });

  it('a re-plan asked for by a person shows the overwrite, and applies once approved', async () => {
    await annotate('admin', 'auth', `${Annotations.reconcileNow}=c2`);
    const sp = await waitFor('auth', 'a new plan', (s) => s.status?.phase === 'AwaitingApproval');
    const staging = sp.status!.plan!.entries.find((e) => e.target === 'staging')!;
    expect(staging.changes.find((c) => c.key === 'KAFKA_BOOTSTRAP')?.action).toBe('change');
    await annotate('alice', 'auth', `${Annotations.approvePlan}=${sp.status!.plan!.hash}`);
    await waitFor('auth', 'promoted', (s) => s.status?.phase === 'Promoted');
    expect(await data(envs, p('staging/novapos/auth'))).toEqual({
      ...seedAuth,
      REDIS_URL: stagingRedis,
      SECURITY_MFA_ACTIVITY_TOPIC: mfaTopicV2,
    });
  });
});

describe('continuous promotion', () => {
  it('propagates a source change without approval when none is required; with approval it waits for a new one', async () => {
    await admin(
      ['apply', '-f', '-'],
      promotion('gateway-auto', {
        source: { path: p('novapos/integration-gateway') },
        targets: [{ name: 'staging', connection: 'staging', path: p('staging/auto/integration-gateway') }],
        requireApproval: false,
        mode: 'continuous',
        interval: '1s',
      }),
    );
    await waitFor(
      'gateway-auto',
      'promoted',
      (s) => s.status?.phase === 'Promoted' && !!s.status.lastPromotion,
    );
    expect(await data(envs, p('staging/auto/integration-gateway'))).toEqual(seedGateway);
    // The approval in force names the plan that was applied (the plan in status has moved on to a
    // no-change plan pinned at the versions the promotion wrote).
    const approvedBefore = (await get('integration-gateway')).metadata.annotations![Annotations.approvePlan]!;
    expect((await get('integration-gateway')).status?.lastPromotion?.planHash).toBe(approvedBefore);

    await dev.kvWrite(
      'secret',
      p('novapos/integration-gateway'),
      { SECURITY_ALERT_TOPIC: alertTopicV2 },
      { cas: 1 },
    );
    await waitUntil(
      'the change to reach staging',
      async () =>
        (await data(envs, p('staging/auto/integration-gateway')))?.SECURITY_ALERT_TOPIC === alertTopicV2,
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    const blocked = await waitFor(
      'integration-gateway',
      'a new plan needing approval',
      (s) => s.status?.phase === 'AwaitingApproval' && s.status.plan?.hash !== approvedBefore,
    );
    expect(condition(blocked, 'Approved')).toMatchObject({ status: 'False', reason: 'ApprovalStale' });
    expect(condition(blocked, 'Approved')?.message).toContain(
      `names ${approvedBefore}, not the current plan ${blocked.status!.plan!.hash}`,
    );
    expect(blocked.status!.plan!.entries[0]?.sourceVersion).toBe(2);
    await sleep(2000);
    expect(await data(envs, p('prod/novapos/integration-gateway'))).toEqual(seedGateway);

    await annotate(
      'alice',
      'integration-gateway',
      `${Annotations.approvePlan}=${blocked.status!.plan!.hash}`,
    );
    await waitFor(
      'integration-gateway',
      'promoted again',
      (s) =>
        s.status?.phase === 'Promoted' && s.status.lastPromotion?.planHash === blocked.status!.plan!.hash,
    );
    expect(await data(envs, p('prod/novapos/integration-gateway'))).toEqual({
      SECURITY_ALERT_TOPIC: alertTopicV2,
    });
  });
});

describe('rollback', () => {
  it('restores every target to the exact version before the last promotion, through plan and approval', async () => {
    const before = await get('auth');
    const writes = before.status!.lastPromotion!.writes;
    expect(writes.length).toBe(2);
    const expected = new Map<string, unknown>();
    for (const w of writes) expected.set(w.path, await data(envs, w.path, w.previousVersion));

    await annotate('admin', 'auth', `${Annotations.rollback}=r1`);
    const planned = await waitFor(
      'auth',
      'a rollback plan',
      (s) => s.status?.plan?.hash.startsWith('rollback-') === true && s.status.phase === 'AwaitingApproval',
    );
    await annotate('alice', 'auth', `${Annotations.approvePlan}=${planned.status!.plan!.hash}`);
    const sp = await waitFor(
      'auth',
      'rolled back',
      (s) => s.status?.phase === 'Promoted' && condition(s, 'Ready')?.reason === 'RolledBack',
    );
    for (const w of writes) expect(await data(envs, w.path)).toEqual(expected.get(w.path));
    // staging goes back to the hot-fixed version, prod to what the promotion of source v2 replaced.
    expect((await data(envs, p('staging/novapos/auth')))?.KAFKA_BOOTSTRAP).toBe(hotfix);
    expect(sp.status?.history?.[0]).toMatchObject({
      action: 'rollback',
      result: 'Succeeded',
      approvedBy: 'alice',
    });
  });
});

describe('signing keys', () => {
  it('a promotion of a tree that contains novapos/signing-keys/ copies none of it', async () => {
    await admin(
      ['apply', '-f', '-'],
      promotion('tree', {
        source: { prefix: p('tree') },
        targets: [{ name: 'staging', connection: 'staging', path: p('staging/tree') }],
        requireApproval: false,
        deletionPolicy: 'Delete',
      }),
    );
    const sp = await waitFor(
      'tree',
      'promoted',
      (s) => s.status?.phase === 'Promoted' && !!s.status.lastPromotion,
    );
    expect(await tree(envs, p('staging/tree'))).toEqual(['novapos/auth', 'novapos/payments/api']);
    expect(await data(envs, p('staging/tree/novapos/payments/api'))).toEqual({ B: treeValues.B });
    expect(condition(sp, 'Planned')?.message).toContain('skipped 1 path under novapos/signing-keys/');
    expect(sp.status!.plan!.entries.map((e) => e.sourcePath)).toEqual([
      p('tree/novapos/auth'),
      p('tree/novapos/payments/api'),
    ]);
  });

  it('deletionPolicy Delete soft-deletes what the promotion created when the resource goes', async () => {
    await admin(['delete', 'spromo', 'tree', '-n', ns, '--timeout=30s']);
    expect(await data(envs, p('staging/tree/novapos/auth'))).toBeUndefined();
    const meta = await envs.kvMetadata('secret', p('staging/tree/novapos/auth'));
    expect(meta?.versions['1']?.deletionTime).not.toBe('');
    // Retain (the default) leaves targets alone.
    await admin(['delete', 'spromo', 'gateway-auto', '-n', ns, '--timeout=30s']);
    expect(await data(envs, p('staging/auto/integration-gateway'))).toEqual({
      SECURITY_ALERT_TOPIC: alertTopicV2,
    });
  });
});

describe('the fingerprint key', () => {
  it('is created once: replicas racing on a fresh namespace converge on one key, stable across restarts', async () => {
    const { CoreV1Api, KubeConfig } = await import('@kubernetes/client-node');
    const { KubernetesSecretFingerprintKey } = await import('../../operator/src/adapters/hmac-key/index.js');
    const kc = new KubeConfig();
    kc.loadFromFile(env.kube!.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const name = `fp-race-${tag}`;
    const replicas = Array.from(
      { length: 5 },
      () => new KubernetesSecretFingerprintKey({ core, namespace: operatorNs, name }),
    );
    const keys = await Promise.all(replicas.map((r) => r.get()));
    expect(new Set(keys.map((k) => k.id)).size).toBe(1);
    expect(new Set(keys.map((k) => k.fingerprint('probe'))).size).toBe(1);
    const restarted = await new KubernetesSecretFingerprintKey({ core, namespace: operatorNs, name }).get();
    expect(restarted.fingerprint('probe')).toBe(keys[0]!.fingerprint('probe'));
    const secret = await core.readNamespacedSecret({ name, namespace: operatorNs });
    expect(secret.immutable).toBe(true);
    // As the chart ships it: the Secret exists empty (the operator has get/update on it by name, no create);
    // racing replicas fill it exactly once and it becomes immutable.
    const chartName = `fp-chart-${tag}`;
    await core.createNamespacedSecret({
      namespace: operatorNs,
      body: { metadata: { name: chartName, namespace: operatorNs }, type: 'Opaque' },
    });
    const filling = Array.from(
      { length: 5 },
      () => new KubernetesSecretFingerprintKey({ core, namespace: operatorNs, name: chartName }),
    );
    const filled = await Promise.all(filling.map((r) => r.get()));
    expect(new Set(filled.map((k) => k.fingerprint('probe'))).size).toBe(1);
    const chartSecret = await core.readNamespacedSecret({ name: chartName, namespace: operatorNs });
    expect(chartSecret.immutable).toBe(true);
    const again = await new KubernetesSecretFingerprintKey({
      core,
      namespace: operatorNs,
      name: chartName,
    }).get();
    expect(again.fingerprint('probe')).toBe(filled[0]!.fingerprint('probe'));
    // The operator's own key is the one the plans name.
    const operatorKey = await new KubernetesSecretFingerprintKey({ core, namespace: operatorNs }).get();
    expect((await get('auth')).status?.plan?.fingerprintKeyId).toBe(operatorKey.id);
  });
});

describe('the promotion policy (issue 19: approval could be skipped, any namespace could copy prod)', () => {
  const archiveRequests = () => stores.requestCounts()['prod-archive'] ?? 0;

  it('a protected target waits for an approved plan even with requireApproval: false', async () => {
    await as.mallory!(
      ['apply', '-f', '-'],
      promotion('skip-approval', {
        source: { connection: 'local', path: p('novapos/auth') },
        targets: [{ name: 'prod', connection: 'prod', path: p('prod/skip/novapos/auth') }],
        requireApproval: false,
      }),
    );
    const sp = await waitFor(
      'skip-approval',
      'a plan awaiting approval',
      (s) => s.status?.phase === 'AwaitingApproval',
    );
    expect(condition(sp, 'PolicyAllowed')).toMatchObject({ status: 'True', reason: 'PolicyAllows' });
    expect(condition(sp, 'PolicyAllowed')?.message).toContain('protected target(s) prod');
    expect(condition(sp, 'Approved')).toMatchObject({ status: 'False', reason: 'AwaitingApproval' });
    await sleep(1_500);
    expect(await data(envs, p('prod/skip/novapos/auth'))).toBeUndefined();
    // Only an approver's approval applies it.
    await annotate('alice', 'skip-approval', `${Annotations.approvePlan}=${sp.status!.plan!.hash}`);
    await waitFor('skip-approval', 'promoted', (s) => s.status?.phase === 'Promoted');
    expect(await data(envs, p('prod/skip/novapos/auth'))).toEqual(await data(dev, p('novapos/auth')));
    await admin(['delete', 'spromo', 'skip-approval', '-n', ns]);
  });

  it.each([
    [
      'prod read as a source from another namespace, into staging',
      teamNs,
      { source: { connection: 'prod-archive', path: p('prod/novapos/auth') } },
      'connections.prod-archive.promotion.source',
    ],
    [
      'prod read as a source from the allowed namespace',
      ns,
      { source: { connection: 'prod-archive', path: p('prod/novapos/auth') } },
      'connections.prod-archive.promotion.source',
    ],
    [
      'dev read from a namespace the policy does not list',
      teamNs,
      { source: { connection: 'local', path: p('novapos/auth') } },
      'connections.local.promotion.namespaces',
    ],
    [
      'an override that reads prod into a staging target',
      ns,
      {
        source: { connection: 'local', path: p('novapos/auth') },
        overrides: [
          {
            key: 'KAFKA_BOOTSTRAP',
            valueFrom: {
              connection: 'prod-archive',
              mount: 'secret',
              path: p('prod/novapos/auth'),
              key: 'PROD_ONLY',
            },
          },
        ],
      },
      'connections.prod-archive.promotion.source',
    ],
  ])(
    'refuses %s: a condition names the rule, nothing is read or written',
    async (_why, namespace, spec, rule) => {
      const name = `exfil-${randomBytes(2).toString('hex')}`;
      const targetPath = p('staging/exfil', name);
      const before = archiveRequests();
      const { overrides, ...rest } = spec as { overrides?: Doc[]; source: Doc };
      await as.mallory!(
        ['apply', '-f', '-'],
        promotion(
          name,
          {
            ...rest,
            targets: [
              {
                name: 'staging',
                connection: 'staging',
                path: targetPath,
                ...(overrides ? { overrides } : {}),
              },
            ],
            requireApproval: false,
          },
          namespace,
        ),
      );
      const sp = await waitFor(name, 'refused', (s) => s.status?.phase === 'Failed', 30_000, namespace);
      expect(condition(sp, 'PolicyAllowed')).toMatchObject({ status: 'False', reason: 'PolicyDenied' });
      expect(condition(sp, 'PolicyAllowed')?.message).toContain(`${rule}:`);
      expect(condition(sp, 'Ready')).toMatchObject({ status: 'False', reason: 'PolicyDenied' });
      expect(sp.status?.plan).toBeUndefined();
      await sleep(1_000);
      expect(archiveRequests()).toBe(before);
      expect(await data(envs, targetPath)).toBeUndefined();
      const events = await admin(['get', 'events.events.k8s.io', '-n', namespace, '-o', 'json']);
      expect(events).toContain('PolicyDenied');
      await admin(['delete', 'spromo', name, '-n', namespace]);
    },
  );

  it('a plan in status that names a signing-key path is refused at apply (recheck checks status paths too)', async () => {
    const target = p('staging/forged/novapos/auth');
    await admin(
      ['apply', '-f', '-'],
      promotion('forged', {
        source: { connection: 'local', path: p('novapos/auth') },
        targets: [{ name: 'staging', connection: 'staging', path: target }],
        requireApproval: true,
      }),
    );
    const sp = await waitFor('forged', 'a plan', (s) => s.status?.phase === 'AwaitingApproval');
    // Someone who may write status points the approved plan at the signing-key tree.
    const forged = p('staging/forged/novapos/signing-keys/promotions/auth/keyset');
    const plan = structuredClone(sp.status!.plan!);
    for (const e of plan.entries) e.targetPath = forged;
    await admin([
      'patch',
      'spromo',
      'forged',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { plan } }),
    ]);
    await annotate('alice', 'forged', `${Annotations.approvePlan}=${plan.hash}`);
    const failed = await waitFor(
      'forged',
      'refused',
      (s) => condition(s, 'Ready')?.reason === 'ForbiddenPath',
    );
    expect(condition(failed, 'Ready')?.message).toContain('novapos/signing-keys/');
    expect(await data(envs, forged)).toBeUndefined();
    expect(await data(envs, target)).toBeUndefined();
    await admin(['delete', 'spromo', 'forged', '-n', ns]);
  });
});

describe('secret values', () => {
  it('a Vault refusal is a clear Failed status naming the path, retried with backoff', async () => {
    // The staging token may not touch prod paths.
    await admin(
      ['apply', '-f', '-'],
      promotion('forbidden', {
        source: { path: p('novapos/auth') },
        targets: [{ name: 'staging', connection: 'staging', path: p('prod/forbidden') }],
        requireApproval: false,
      }),
    );
    const sp = await waitFor('forbidden', 'failed', (s) => s.status?.phase === 'Failed');
    expect(condition(sp, 'Ready')).toMatchObject({ status: 'False', reason: 'VaultUnavailable' });
    expect(condition(sp, 'Ready')?.message).toContain(`secret/data/${p('prod/forbidden')} answered 403`);
    expect(await data(envs, p('prod/forbidden'))).toBeUndefined();
  });

  it('appear in no log line, status, Event, error or metric', async () => {
    const statuses = await admin(['get', 'spromo', '-n', ns, '-o', 'json']);
    const table = await admin(['get', 'spromo', '-n', ns, '-o', 'wide']);
    const events = await admin(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    const metrics = await (await fetch(`${manager.metricsUrl}/metrics`)).text();
    const logs = logLines.join('\n');
    expect(JSON.parse(events).items.length).toBeGreaterThan(5);
    expect(logLines.length).toBeGreaterThan(10);
    for (const [where, text] of Object.entries({ statuses, table, events, metrics, logs })) {
      for (const value of secretValues) {
        if (text.includes(value)) throw new Error(`a secret value appears in ${where}`);
      }
    }
    expect(metrics).toMatch(
      /novapos_secret_promotion_total\{namespace="promotions",name="auth",result="applied"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /novapos_secret_promotion_total\{namespace="promotions",name="auth",result="rolled_back"\} 1/,
    );
    expect(metrics).toMatch(
      /novapos_secret_promotion_conflicts_total\{namespace="promotions",name="auth"\} 1/,
    );
    expect(metrics).toMatch(
      /novapos_secret_promotion_last_success_timestamp_seconds\{namespace="promotions",name="auth"\} \d/,
    );
    expect(metrics).toMatch(
      /novapos_secret_promotion_keys_changed_total\{namespace="promotions",name="auth",action="add"\} \d/,
    );
  });
});
