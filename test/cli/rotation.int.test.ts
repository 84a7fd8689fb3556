import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Annotations, type SigningKeyRotation } from '../../operator/src/api/index.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aRotation,
  type InProcessOperator,
  kubernetesVaultIdentity,
  leakedIn,
  startInProcessOperator,
  vaultAdmin,
} from '../signing-keys/support.js';
import { buildPlugin, type Run, runInTerminal, runPlugin } from './support.js';

/**
 * kubectl-novapos against the real SigningKeyRotation controller (in this process, with its Vault login
 * through the Kubernetes auth method) on the shared apiserver and OpenBao: rotate, rotate --emergency,
 * revoke, each with --wait ending when the state is reached, and status --watch redrawing in a terminal.
 */
describe('kubectl novapos with the SigningKeyRotation controller', () => {
  const env = inject('env');
  const ns = `cli-skr-${randomBytes(3).toString('hex')}`;
  const name = 'auth';
  const ref = `skr/${name}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-skr-'));
  let kubectl: Kubectl;
  let operator: InProcessOperator;
  let bundle: string;
  const outputs: Record<string, string> = {};
  const plugin = async (label: string, args: readonly string[]): Promise<Run> => {
    const r = await runPlugin(bundle, [...args, '-n', ns], { kubeconfig: env.kube!.kubeconfig });
    outputs[label] = r.stdout + r.stderr;
    return r;
  };
  const get = async (): Promise<SigningKeyRotation> =>
    JSON.parse(await kubectl(['get', 'skr', name, '-n', ns, '-o', 'json'])) as SigningKeyRotation;

  beforeAll(async () => {
    const kube = env.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    const v = env.vaults[0]!;
    const [identity, built] = await Promise.all([
      kubernetesVaultIdentity(vaultAdmin(v.addr, v.rootToken), kube, {
        mount: `k8s-${ns}`,
        namespace: ns,
        serviceAccount: 'novapos-operator',
        policyFile: 'signing-key-operator.hcl',
        tree: { namespace: ns, name },
        dir,
      }),
      buildPlugin(),
    ]);
    bundle = built;
    operator = await startInProcessOperator({
      kubeconfig: kube.kubeconfig,
      namespaces: [ns],
      vault: identity.client,
      controller: { timing: { clockSkewMs: 1_000, servicePollMs: 2_000, serviceWaitPollMs: 300 } },
    });
    // Lead time long enough that --wait sees it start before the key signs.
    const skr = aRotation(ns, name, {
      rotationInterval: '1h',
      leadTime: '10m',
      maxTokenTTL: '3s',
      jwksCacheTTL: '2s',
    });
    await kubectl(['apply', '-f', '-'], JSON.stringify(skr));
    await waitUntil('the first key', async () => !!(await get()).status?.activeKid, { timeoutMs: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rotate --wait returns once the lead time has started: a next key published, the old key still signing', async () => {
    const before = (await get()).status!.activeKid!;
    const r = await plugin('rotate', ['rotate', ref, '--wait', '--timeout', '60s']);
    expect(r.code, r.stderr).toBe(0);
    const after = await get();
    expect(after.status!.activeKid).toBe(before);
    expect(after.status!.nextKid).toBeDefined();
    expect(r.stdout).toContain(`lead time started: key ${after.status!.nextKid} is published and signs in`);
    // The progress line, one line per change when piped.
    expect(r.stderr).toMatch(/^skr\/auth: rotation requested \(rotate-now=kubectl-novapos-/);
    expect(r.stderr).toMatch(/skr\/auth: lead time started/);
    const annotations = after.metadata.annotations ?? {};
    expect(annotations[Annotations.rotateNow]).toBe(after.status!.lastHandled!.rotateNow);
    expect(annotations[Annotations.emergency]).toBeUndefined();
  });

  it('rotate --emergency --wait returns once a new key signs; emergency names this rotation only', async () => {
    const before = await get();
    const r = await plugin('emergency', ['rotate', ref, '--emergency', '--wait', '--timeout', '60s']);
    expect(r.code, r.stderr).toBe(0);
    const after = await get();
    expect(after.status!.activeKid).not.toBe(before.status!.activeKid);
    expect(after.status!.activeKid).not.toBe(before.status!.nextKid);
    expect(after.status!.lastRotationReason).toBe('emergency');
    expect(r.stdout).toContain(`new key ${after.status!.activeKid} signs (emergency rotation, no lead time)`);
    const a = after.metadata.annotations ?? {};
    expect(a[Annotations.emergency]).toBe(a[Annotations.rotateNow]);
  });

  it('the emergency annotation left behind does not make the next routine rotate-now skip the lead time', async () => {
    const before = await get();
    expect(before.metadata.annotations?.[Annotations.emergency]).toBeDefined();
    // A routine rotation with plain kubectl, the emergency annotation still on the resource.
    await kubectl([
      'annotate',
      '--overwrite',
      'skr',
      name,
      '-n',
      ns,
      `${Annotations.rotateNow}=routine-by-hand`,
    ]);
    const after = await waitUntil('the routine rotate-now handled', async () => {
      const x = await get();
      return x.status?.lastHandled?.rotateNow === 'routine-by-hand' && !!x.status.nextKid && x;
    });
    expect(after.status!.activeKid).toBe(before.status!.activeKid);
    expect(after.status!.lastRotationReason).toBe('manual');
    const events = JSON.parse(
      await kubectl([
        'get',
        'events',
        '-n',
        ns,
        '--field-selector',
        'reason=EmergencyNotForThisRotation',
        '-o',
        'json',
      ]),
    ) as { items: { type: string; message: string }[] };
    expect(events.items[0]).toMatchObject({
      type: 'Warning',
      message: expect.stringContaining('rotating with the lead time'),
    });
  });

  it('a routine rotate through the plugin removes the stale emergency annotation', async () => {
    const r = await plugin('routine', ['rotate', ref]);
    expect(r.code).toBe(0);
    expect((await get()).metadata.annotations?.[Annotations.emergency]).toBeUndefined();
  });

  it('revoke --wait returns once the kid is out of the JWKS', async () => {
    const next = await waitUntil('a next key', async () => (await get()).status?.nextKid);
    const r = await plugin('revoke', ['revoke', ref, next, '--yes', '--wait', '--timeout', '60s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${next} is revoked and out of the JWKS`);
    const after = await get();
    expect(after.status!.keys!.find((k) => k.kid === next)?.state ?? 'revoked').toBe('revoked');
  });

  it('status --watch redraws in a terminal, in colour, when the key set changes', async () => {
    const before = (await get()).status!.activeKid!;
    let triggered = false;
    const out = await runInTerminal(bundle, ['status', ref, '-n', ns, '--watch', '--interval', '500ms'], {
      kubeconfig: env.kube!.kubeconfig,
      onOutput: (text) => {
        if (!triggered && text.includes('Keys:')) {
          triggered = true;
          void runPlugin(bundle, ['rotate', ref, '--emergency', '-n', ns], {
            kubeconfig: env.kube!.kubeconfig,
          });
        }
      },
      until: (text) => {
        const frames = text.split('\x1b[H\x1b[2J');
        return (
          frames.length > 2 &&
          /Active kid:\S*\s+(\S+)/.test(frames.at(-1)!) &&
          !frames.at(-1)!.includes(`Active kid:\x1b[22m ${before}`) &&
          frames.at(-1)!.includes('Recent events')
        );
      },
      timeoutMs: 60_000,
    });
    expect(out.split('\x1b[H\x1b[2J').length).toBeGreaterThan(2);
    expect(out).toContain('\x1b[32mactive');
    outputs.watch = out;
  });

  it('--wait under a terminal rewrites one progress line in place, with the time waited', async () => {
    const out = await runInTerminal(bundle, ['rotate', ref, '-n', ns, '--wait', '--timeout', '60s'], {
      kubeconfig: env.kube!.kubeconfig,
      until: (text) => /lead time started: key \S+ is published/.test(text.split('\r\x1b[2K').at(-1) ?? ''),
      timeoutMs: 60_000,
    });
    const rewrites = out.split('\r\x1b[2K');
    expect(rewrites.length).toBeGreaterThanOrEqual(2);
    // Each rewrite is the progress line with how long it has waited, not a new line per poll.
    expect(rewrites.slice(1).every((l) => /^skr\/auth: .* \[(\d+[dhms] ?)+\]/.test(l))).toBe(true);
    outputs.waitTerminal = out;
  });

  it('prints no private key material anywhere', () => {
    expect(leakedIn(outputs, operator.keys.privateValues())).toEqual([]);
  });
});
