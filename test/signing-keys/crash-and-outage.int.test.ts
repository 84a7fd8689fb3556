import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { Annotations, type SigningKeyRotation } from '../../operator/src/api/index.js';
import { type Env, startEnv } from '../harness/env.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aRotation,
  kubernetesVaultIdentity,
  leakedIn,
  privateValuesOf,
  repoRoot,
  type VaultIdentity,
} from './support.js';

const NS = 'skr-crash';
const NAME = 'auth';
// Lead 3 s; a retired key stays maxTokenTTL 2 s + jwksCacheTTL 2 s + skew 1 s.
const SPEC = { rotationInterval: '1h', leadTime: '3s', maxTokenTTL: '2s', jwksCacheTTL: '2s' } as const;
const TIMING = {
  clockSkewMs: 1_000,
  servicePollMs: 5_000,
  serviceWaitPollMs: 500,
  serviceLoadTimeoutMs: 10_000,
};
const STILL_VALID_MS = 4_000; // maxTokenTTL + jwksCacheTTL: a key that signed must stay published this long
const LEAD_MS = 3_000;
/** The issue's minute of OpenBao outage; SKR_VAULT_OUTAGE_SECONDS shortens it for a quick local run. */
const OUTAGE_MS = Number(process.env.SKR_VAULT_OUTAGE_SECONDS ?? 60) * 1000;

/**
 * Watches the key tree in Vault (root token, every 50 ms) and the resource's status, and records every
 * violation of the invariants: the active key's secret exists and says active; every published key has its
 * secret; a key that signed stays published for maxTokenTTL + jwksCacheTTL after it last signed; a key
 * signs only after it was published for the lead time; the status never lists two active keys.
 */
class InvariantWatch {
  readonly violations: string[] = [];
  readonly privateValues = new Set<string>();
  private readonly firstPublished = new Map<string, number>();
  private readonly lastActive = new Map<string, number>();
  private stopped = false;
  private loop?: Promise<void>;
  samples = 0;

  constructor(
    private readonly root: VaultClient,
    private readonly kubectl: Kubectl,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await this.sample();
        } catch {
          // Vault stopped on purpose (outage test): nothing to sample.
        }
        await sleep(50);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async sample(): Promise<void> {
    const base = `novapos/signing-keys/${NS}/${NAME}`;
    const now = Date.now();
    const doc = (await this.root.kvRead('secret', `${base}/keyset`))?.data as
      | { activeKid: string; jwks: { keys: { kid: string }[] } }
      | undefined;
    const names = (await this.root.kvList('secret', base)).filter((n) => n !== 'keyset');
    const secrets = new Map<string, Record<string, unknown>>();
    for (const n of names) {
      const s = (await this.root.kvRead('secret', `${base}/${n}`))?.data;
      if (s) secrets.set(n, s);
      const jwk = s?.['privateJwk'] as Record<string, string> | undefined;
      if (jwk) for (const v of privateValuesOf(jwk)) this.privateValues.add(v);
    }
    this.samples++;
    if (!doc) return;
    const published = doc.jwks.keys.map((k) => k.kid);
    const v = (m: string) => this.violations.push(`${new Date(now).toISOString()} ${m}`);
    // Read the key set again after the secrets: a write in between is not a violation.
    const again = (await this.root.kvRead('secret', `${base}/keyset`))?.data as typeof doc | undefined;
    if (JSON.stringify(again) !== JSON.stringify(doc)) return;
    for (const kid of published) if (!this.firstPublished.has(kid)) this.firstPublished.set(kid, now);
    const active = secrets.get(doc.activeKid);
    if (!active) v(`active key ${doc.activeKid} has no secret in Vault`);
    else if (active['state'] !== 'active')
      v(`active key ${doc.activeKid}'s secret says ${String(active['state'])}`);
    for (const kid of published) if (!secrets.has(kid)) v(`published key ${kid} has no secret`);
    if (!this.lastActive.has(doc.activeKid)) {
      const since = now - (this.firstPublished.get(doc.activeKid) ?? now);
      if (this.lastActive.size > 0 && since < LEAD_MS - 250)
        v(`key ${doc.activeKid} signs ${since} ms after it was first seen published`);
    }
    this.lastActive.set(doc.activeKid, now);
    for (const [kid, last] of this.lastActive) {
      if (!published.includes(kid) && now - last < STILL_VALID_MS)
        v(`key ${kid} left the JWKS ${now - last} ms after it last signed`);
    }
    const status = JSON.parse(
      await this.kubectl(['get', 'signingkeyrotation', NAME, '-n', NS, '-o', 'json']),
    ) as SigningKeyRotation;
    const actives = (status.status?.keys ?? []).filter((k) => k.state === 'active');
    if (actives.length > 1) v(`status lists ${actives.length} active keys`);
  }
}

describe('signing keys: operator killed at every step, and Vault down', () => {
  let env: Env;
  let kubectl: Kubectl;
  let root: VaultClient;
  let identity: VaultIdentity;
  let watch: InvariantWatch;
  let child: ChildProcess | undefined;
  const output: string[] = [];
  const get = async () =>
    JSON.parse(
      await kubectl(['get', 'signingkeyrotation', NAME, '-n', NS, '-o', 'json']),
    ) as SigningKeyRotation;
  const condition = (o: SigningKeyRotation, type: string) =>
    o.status?.conditions?.find((c) => c.type === type);

  function startOperator(crashAt?: string): ChildProcess {
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'test/signing-keys/operator-child.ts')],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          KUBECONFIG: env.kube!.kubeconfig,
          VAULT_ADDR: env.vault!.addr,
          SKR_VAULT_ROLE: identity.role,
          SKR_VAULT_MOUNT: identity.mount,
          SKR_VAULT_JWT_PATH: identity.jwtPath,
          SKR_NAMESPACE: NS,
          SKR_TIMING: JSON.stringify(TIMING),
          NOVAPOS_CRASH_AT: crashAt ?? '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    p.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    p.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    child = p;
    return p;
  }

  const exited = (p: ChildProcess, timeoutMs: number) =>
    new Promise<number | null>((resolve, reject) => {
      if (p.exitCode !== null) return resolve(p.exitCode);
      const t = setTimeout(
        () => reject(new Error(`operator did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
      p.once('exit', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });

  async function stopOperator(): Promise<void> {
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    await exited(child, 15_000);
  }

  /** Converged: the rotation for `value` is done and the retired key is gone from the key set and Vault. */
  async function converged(value: string): Promise<SigningKeyRotation> {
    return waitUntil(
      `convergence after rotate-now=${value}`,
      async () => {
        const o = await get();
        const tree = await root.kvList('secret', `novapos/signing-keys/${NS}/${NAME}`);
        const doc = (await root.kvRead('secret', `novapos/signing-keys/${NS}/${NAME}/keyset`))?.data as
          | { activeKid: string; jwks: { keys: unknown[] } }
          | undefined;
        const done =
          o.status?.lastHandled?.rotateNow === value &&
          condition(o, 'Rotating')?.status === 'False' &&
          o.status.keys?.length === 1 &&
          o.status.keys[0]!.state === 'active' &&
          doc?.activeKid === o.status.activeKid &&
          doc?.jwks.keys.length === 1 &&
          tree.filter((n) => n !== 'keyset').join() === o.status.activeKid;
        if (done) return o;
        // Not yet: what it looks like now, so a timeout says where it stopped.
        const conds = (o.status?.conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason})`).join(' ');
        const keys = (o.status?.keys ?? []).map((k) => `${k.kid.slice(0, 6)}:${k.state}`).join(' ');
        throw new Error(
          `lastHandled.rotateNow=${o.status?.lastHandled?.rotateNow} keys=[${keys}] ${conds}; Vault activeKid=${doc?.activeKid?.slice(0, 6)} jwks=${doc?.jwks.keys.length} versions=[${tree.map((n) => n.slice(0, 6)).join()}]; operator ${child?.exitCode === null ? 'running' : `exited ${child?.exitCode}`}`,
        );
      },
      // The bound is on correctness, not speed (the times are printed as figures: 2.7–12 s on a quiet
      // machine). A restarted operator process (tsx, informer sync) took over 40 s with three integration
      // files at once on 2 saturated cores.
      { timeoutMs: 90_000, intervalMs: 200 },
    ).catch((err: unknown) => {
      // The operator's own last lines (its logs hold no key material: the last test checks) say what it was doing.
      process.stderr.write(
        `[signing-keys] operator output before the timeout:\n${output.join('').split('\n').slice(-40).join('\n')}\n`,
      );
      throw err;
    });
  }

  beforeAll(async () => {
    env = await startEnv({ label: 'skr-crash', kube: true, vault: 1 });
    const kube = env.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    root = new VaultClient({ addr: env.vault!.addr, auth: { method: 'token', token: env.vault!.rootToken } });
    identity = await kubernetesVaultIdentity(
      env.vault!,
      { ...kube, kubectlPath: kube.kubectlPath },
      {
        mount: 'kubernetes',
        namespace: NS,
        serviceAccount: 'novapos-operator',
        policyFile: 'signing-key-operator.hcl',
        dir: env.dir,
      },
    );
    await kubectl(['apply', '-f', '-'], JSON.stringify(aRotation(NS, NAME, SPEC)));
    startOperator();
    await waitUntil('Ready', async () => condition(await get(), 'Ready')?.status === 'True', {
      timeoutMs: 60_000,
    });
    watch = new InvariantWatch(root, kubectl);
    watch.start();
  }, 180_000);

  afterAll(async () => {
    await watch?.stop();
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await env?.stop();
  });

  const CRASH_POINTS = [
    'generate:1',
    'publish:1',
    'prepare-active:1',
    'publish:2',
    'sync-state:1',
    'publish:3',
    'destroy:1',
    'status:3',
  ];

  it('killed right after each step of a rotation, restarted: one active key, nothing lost, left behind or unpublished early', async () => {
    await stopOperator();
    const figures: Record<string, number> = {};
    for (const point of CRASH_POINTS) {
      const value = `crash-${point.replace(':', '-')}`;
      const p = startOperator(point);
      await kubectl([
        'annotate',
        '--overwrite',
        'signingkeyrotation',
        NAME,
        '-n',
        NS,
        `${Annotations.rotateNow}=${value}`,
      ]);
      expect(await exited(p, 40_000), `exit code at ${point}`).toBe(137);
      const restarted = Date.now();
      const o0 = await get();
      expect(
        (o0.status?.keys ?? []).filter((k) => k.state === 'active').length,
        `after crash at ${point}`,
      ).toBeLessThanOrEqual(1);
      startOperator();
      const o = await converged(value);
      figures[point] = Date.now() - restarted;
      expect(
        o.status!.keys!.filter((k) => k.state === 'active'),
        point,
      ).toHaveLength(1);
      expect(condition(o, 'Ready')?.status, point).toBe('True');
      await stopOperator();
    }
    process.stderr.write(
      `[signing-keys] crash points, ms from restart to converged: ${JSON.stringify(figures)}; invariant samples: ${watch.samples}\n`,
    );
    expect(watch.violations).toEqual([]);
    expect(watch.samples).toBeGreaterThan(100);
  }, 600_000);

  it(
    `Vault down for ${OUTAGE_MS / 1000} s: Degraded, no partial state, then the pending rotation completes`,
    async () => {
      startOperator();
      const before = await waitUntil('settled', async () => {
        const o = await get();
        return condition(o, 'Ready')?.status === 'True' && condition(o, 'Rotating')?.status === 'False' && o;
      });
      await env.vault!.stopServer();
      const down = Date.now();
      await kubectl([
        'annotate',
        '--overwrite',
        'signingkeyrotation',
        NAME,
        '-n',
        NS,
        `${Annotations.rotateNow}=during-outage`,
      ]);
      const degraded = await waitUntil(
        'Degraded=True VaultUnavailable',
        async () => {
          const o = await get();
          return (
            condition(o, 'Degraded')?.status === 'True' &&
            condition(o, 'Degraded')?.reason === 'VaultUnavailable' &&
            o
          );
        },
        { timeoutMs: 20_000 },
      );
      const degradedAfterMs = Date.now() - down;
      expect(condition(degraded, 'Ready')).toMatchObject({ status: 'False', reason: 'VaultUnavailable' });
      expect(condition(degraded, 'Degraded')!.message).not.toMatch(/token|hvs\.|s\.[A-Za-z0-9]{20}/);
      // Nothing moved while Vault was away: same keys, same active key, the trigger not yet handled.
      while (Date.now() - down < OUTAGE_MS) {
        const o = await get();
        expect(o.status?.activeKid).toBe(before.status?.activeKid);
        expect(o.status?.keys?.map((k) => [k.kid, k.state])).toEqual(
          before.status?.keys?.map((k) => [k.kid, k.state]),
        );
        expect(o.status?.lastHandled?.rotateNow).toBe(before.status?.lastHandled?.rotateNow);
        await sleep(1_000);
      }
      const events = await kubectl(['get', 'events.events.k8s.io', '-n', NS, '-o', 'json']);
      expect(events).toContain('VaultUnavailable');
      await env.vault!.startServer();
      const up = Date.now();
      await waitUntil('Degraded=False', async () => condition(await get(), 'Degraded')?.status === 'False', {
        timeoutMs: 30_000,
      });
      const recoveredAfterMs = Date.now() - up;
      const o = await converged('during-outage');
      expect(o.status!.activeKid).not.toBe(before.status!.activeKid);
      process.stderr.write(
        `[signing-keys] Vault outage ${OUTAGE_MS} ms: Degraded after ${degradedAfterMs} ms, recovered ${recoveredAfterMs} ms after Vault was back, rotation completed ${Date.now() - up} ms after\n`,
      );
      await stopOperator();
      expect(watch.violations).toEqual([]);
    },
    OUTAGE_MS + 180_000,
  );

  it("no private key material in the operator processes' logs or the status and Events", async () => {
    const secrets = [...watch.privateValues];
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    const events = await kubectl(['get', 'events.events.k8s.io', '-n', NS, '-o', 'json']);
    const status = JSON.stringify((await get()).status);
    expect(leakedIn({ operatorOutput: output.join(''), status, events }, secrets)).toEqual([]);
    expect(output.join('').length).toBeGreaterThan(1000);
  });
});
