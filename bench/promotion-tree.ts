// SecretPromotion of a tree of 1,000 secrets, end to end: `npx tsx bench/promotion-tree.ts` (`--secrets 200`
// for a shorter run). Starts a private kube-apiserver and two OpenBao servers (dev and staging), seeds the
// tree in dev (plus a novapos/signing-keys/ subtree that must be skipped), runs the SecretPromotion
// controller in this process through the runtime Manager, and measures:
//   A. requireApproval: time to the plan, time from approval to Promoted (the apply reads the pinned
//      versions again before writing), Vault requests of each phase;
//   B. no approval: plan + apply in one reconcile, to another target;
//   C. re-plan after 10 source secrets changed (reconcile-now): only those are written.
// Vault requests are counted in the VaultConnections adapter (every HTTP request to each server).
// Figures go to stdout and bench/results/promotion.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { VaultClient } from '../lib/vault.js';
import { mapLimit, VaultConnections } from '../operator/src/adapters/vault-connections/index.js';
import { Annotations } from '../operator/src/api/meta.js';
import type { SecretPromotion } from '../operator/src/api/v1alpha1/secretpromotion.js';
import { secretPromotionController } from '../operator/src/controllers/secret-promotion/index.js';
import { Manager } from '../operator/src/runtime/index.js';
import { startEnv } from '../test/harness/env.js';
import { waitUntil } from '../test/harness/wait.js';
import { capturedLogger } from '../test/promotion/support.js';
import { required } from './support.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const secretsArg = process.argv.indexOf('--secrets');
const secretCount = secretsArg > 0 ? Number(process.argv[secretsArg + 1]) : 1000;
const keysPerSecret = 3;
const folders = 10;

async function main(): Promise<void> {
  const env = await startEnv({ label: 'bench-promotion', kube: true, vault: 2 });
  let manager: Manager | undefined;
  try {
    const kube = env.kube as NonNullable<typeof env.kube>;
    const [devVault, stagingVault] = env.vaults;
    if (!devVault || !stagingVault) throw new Error('two OpenBao servers expected');
    const dev = new VaultClient({
      addr: devVault.addr,
      auth: { method: 'token', token: devVault.rootToken },
    });
    const staging = new VaultClient({
      addr: stagingVault.addr,
      auth: { method: 'token', token: stagingVault.rootToken },
    });
    await kube.kubectl(['create', 'namespace', 'bench']);
    await kube.kubectl(['create', 'namespace', 'novapos-system']);

    const paths = Array.from(
      { length: secretCount },
      (_, i) => `bench/tree/svc-${i % folders}/secret-${String(i).padStart(4, '0')}`,
    );
    const seedStart = Date.now();
    await mapLimit(paths, 16, (p) =>
      dev.kvWrite(
        'secret',
        p,
        Object.fromEntries(Array.from({ length: keysPerSecret }, (_, k) => [`KEY_${k}`, `${p}-value-${k}`])),
      ),
    );
    for (const kid of ['kid-1', 'kid-2', 'keyset']) {
      await dev.kvWrite('secret', `bench/tree/novapos/signing-keys/bench/auth/${kid}`, {
        kid,
        privateJwk: { d: 'x' },
      });
    }
    process.stderr.write(`[bench] seeded ${secretCount} secrets in ${Date.now() - seedStart} ms\n`);

    const connections = new VaultConnections({
      connections: [
        {
          name: 'local',
          address: devVault.addr,
          auth: { method: 'token', token: devVault.rootToken },
          promotion: { source: true, target: false, protected: false, namespaces: ['bench'] },
        },
        {
          name: 'staging',
          address: stagingVault.addr,
          auth: { method: 'token', token: stagingVault.rootToken },
          promotion: { source: false, target: true, protected: false, namespaces: ['bench'] },
        },
      ],
    });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kube.kubeconfig);
    const { log } = capturedLogger(process.env.BENCH_LOG_LEVEL ?? 'info');
    manager = new Manager({
      kubeConfig,
      log,
      identity: 'bench',
      leaderElection: false,
      shutdownTimeoutMs: 5_000,
    });
    // No admission policies in this apiserver: the approval is taken without the approved-by stamp.
    manager.register(
      secretPromotionController({
        operatorNamespace: 'novapos-system',
        stores: connections,
        policies: new Map(connections.definitions().map((c) => [c.name, c.promotion])),
        requireApproverStamp: false,
      }),
    );
    await manager.start();

    const get = async (name: string) =>
      JSON.parse(await kube.kubectl(['get', 'spromo', name, '-n', 'bench', '-o', 'json'])) as SecretPromotion;
    const apply = (name: string, targetPath: string, requireApproval: boolean) =>
      kube.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'security.novapos.io/v1alpha1',
          kind: 'SecretPromotion',
          metadata: { name, namespace: 'bench' },
          spec: {
            source: { prefix: 'bench/tree' },
            targets: [{ name: 'staging', connection: 'staging', path: targetPath }],
            requireApproval,
          },
        }),
      );
    const until = (name: string, what: string, check: (sp: SecretPromotion) => boolean) =>
      waitUntil(
        `${name}: ${what}`,
        async () => {
          const sp = await get(name);
          return check(sp) ? sp : undefined;
        },
        { timeoutMs: 600_000, intervalMs: 100 },
      );
    const requests = () => connections.requestCounts();
    const delta = (a: Record<string, number>, b: Record<string, number>) =>
      Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));
    const total = (r: Record<string, number>) => Object.values(r).reduce((n, x) => n + x, 0);
    const per = (n: number, d: number) => Math.round((n / d) * 100) / 100;

    // A. With approval.
    let r0 = requests();
    let t0 = Date.now();
    await apply('tree-approved', 'bench/staging-a', true);
    const planned = await until('tree-approved', 'plan', (s) => s.status?.phase === 'AwaitingApproval');
    const planMs = Date.now() - t0;
    const planRequests = delta(r0, requests());
    const planBytes = Buffer.byteLength(JSON.stringify(planned.status?.plan));
    r0 = requests();
    t0 = Date.now();
    await kube.kubectl([
      'annotate',
      'spromo',
      'tree-approved',
      '-n',
      'bench',
      `${Annotations.approvePlan}=${required(planned.status?.plan?.hash, 'the plan hash of tree-approved')}`,
    ]);
    const promoted = await until('tree-approved', 'promoted', (s) => s.status?.phase === 'Promoted');
    const applyMs = Date.now() - t0;
    const applyRequests = delta(r0, requests());
    const written = await staging.kvList('secret', 'bench/staging-a/svc-0');
    const skipped = promoted.status?.conditions
      ?.find((c) => c.type === 'Planned')
      ?.message.match(/skipped (\d+)/)?.[1];

    // B. Without approval: plan and apply in one reconcile.
    r0 = requests();
    t0 = Date.now();
    await apply('tree-auto', 'bench/staging-b', false);
    await until('tree-auto', 'promoted', (s) => s.status?.phase === 'Promoted' && !!s.status.lastPromotion);
    const autoMs = Date.now() - t0;
    const autoRequests = delta(r0, requests());

    // C. Ten source secrets change; a re-plan writes only those.
    await mapLimit(paths.slice(0, 10), 10, (p) => dev.kvWrite('secret', p, { KEY_0: `${p}-changed` }));
    r0 = requests();
    t0 = Date.now();
    await kube.kubectl(['annotate', 'spromo', 'tree-auto', '-n', 'bench', `${Annotations.reconcileNow}=c1`]);
    const again = await until('tree-auto', 're-promoted', (s) => (s.status?.history?.length ?? 0) >= 2);
    const replanMs = Date.now() - t0;
    const replanRequests = delta(r0, requests());

    const result = {
      when: new Date().toISOString(),
      machine: '2 shared cores; kube-apiserver, etcd and two OpenBao servers on loopback',
      secrets: secretCount,
      keysPerSecret,
      signingKeyPathsSkipped: Number(skipped ?? 0),
      planStatusBytes: planBytes,
      withApproval: {
        planMs,
        approvalToPromotedMs: applyMs,
        planRequests: total(planRequests),
        applyRequests: total(applyRequests),
        requestsPerSecret: per(total(planRequests) + total(applyRequests), secretCount),
        requestsPerKey: per(total(planRequests) + total(applyRequests), secretCount * keysPerSecret),
        byConnection: { plan: planRequests, apply: applyRequests },
        writes: promoted.status?.lastPromotion?.writes.length,
      },
      withoutApproval: {
        createToPromotedMs: autoMs,
        requests: total(autoRequests),
        requestsPerSecret: per(total(autoRequests), secretCount),
        requestsPerKey: per(total(autoRequests), secretCount * keysPerSecret),
        byConnection: autoRequests,
      },
      replanAfter10Changes: {
        ms: replanMs,
        requests: total(replanRequests),
        writes: again.status?.lastPromotion?.writes.length,
        byConnection: replanRequests,
      },
      check: { firstFolderWritten: written.length },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
    writeFileSync(
      path.join(repoRoot, 'bench/results/promotion.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  } finally {
    await manager?.stop();
    await env.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
