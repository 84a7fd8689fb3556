import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { computeKeysetHash } from '../../lib/keyset.js';
import { VaultClient } from '../../lib/vault.js';
import { Annotations, type SigningKeyRotation } from '../../operator/src/api/index.js';
import { waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor, metricValue } from '../runtime/support.js';
import {
  type InProcessOperator,
  kubernetesVaultIdentity,
  leakedIn,
  privateValuesOf,
  readKeyTree,
  repoRoot,
  startInProcessOperator,
  vaultAdmin,
} from './support.js';

/**
 * The SigningKeyRotation controller end to end on the shared apiserver and OpenBao: the operator logs in
 * to Vault with the Kubernetes auth method (TokenReview against the real apiserver) under the policy in
 * operator/vault-policies, and a copy of examples/signingkeyrotation.yaml with short durations goes
 * through its whole lifecycle.
 */
describe('SigningKeyRotation lifecycle', () => {
  const env = inject('env');
  const ns = `skr-life-${randomBytes(3).toString('hex')}`;
  const name = 'auth';
  const dir = mkdtempSync(path.join(tmpdir(), 'skr-life-'));
  let kubectl: Kubectl;
  let root: VaultClient;
  let operator: InProcessOperator;
  const get = async (): Promise<SigningKeyRotation> =>
    JSON.parse(
      await kubectl(['get', 'signingkeyrotation', name, '-n', ns, '-o', 'json']),
    ) as SigningKeyRotation;
  const annotate = (key: string, value: string) =>
    kubectl(['annotate', '--overwrite', 'signingkeyrotation', name, '-n', ns, `${key}=${value}`]);
  const tree = () => readKeyTree(root, 'secret', ns, name);

  beforeAll(async () => {
    const kube = env.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    const v = env.vaults[0]!;
    root = new VaultClient({ addr: v.addr, auth: { method: 'token', token: v.rootToken } });
    const identity = await kubernetesVaultIdentity(vaultAdmin(v.addr, v.rootToken), kube, {
      mount: `k8s-${ns}`,
      namespace: ns,
      serviceAccount: 'novapos-operator',
      policyFile: 'signing-key-operator.hcl',
      dir,
    });
    operator = await startInProcessOperator({
      kubeconfig: kube.kubeconfig,
      namespaces: [ns],
      vault: identity.client,
      controller: { timing: { clockSkewMs: 1_000, servicePollMs: 2_000, serviceWaitPollMs: 300 } },
    });
  });

  afterAll(async () => {
    await operator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies the example with short durations: a key in OpenBao, the key set with its JWKS, Ready, printer columns', async () => {
    const example = parseYaml(
      readFileSync(path.join(repoRoot, 'examples/signingkeyrotation.yaml'), 'utf8'),
    ) as SigningKeyRotation;
    const obj = {
      ...example,
      metadata: { name, namespace: ns },
      spec: {
        ...example.spec,
        rotationInterval: '1h',
        leadTime: '4s',
        maxTokenTTL: '3s',
        jwksCacheTTL: '2s',
        services: [],
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(obj));
    const ready = await waitUntil('Ready=True', async () => {
      const o = await get();
      return o.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && o;
    });
    const kid = ready.status!.activeKid!;
    const t = await tree();
    expect([...t.secrets.keys()]).toEqual([kid]);
    expect(t.secrets.get(kid)!.data).toMatchObject({ kid, alg: 'ES256', state: 'active' });
    expect(t.keyset).toMatchObject({
      issuer: 'https://auth.novapos.local',
      audiences: ['novapos-api'],
      activeKid: kid,
      nextKid: '',
      jwksCacheTTLSeconds: 2,
      maxTokenTTLSeconds: 3,
    });
    const jwks = t.keyset!.jwks;
    expect(jwks.keys.map((k) => k.kid)).toEqual([kid]);
    expect(jwks.keys[0]).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: expect.any(String),
      y: expect.any(String),
      kid,
      alg: 'ES256',
      use: 'sig',
    });
    expect(t.keyset!.keysetHash).toBe(computeKeysetHash(jwks, kid));
    expect(ready.status).toMatchObject({
      keysetHash: t.keyset!.keysetHash,
      keysetPath: `secret/novapos/signing-keys/${ns}/${name}/keyset`,
      lastRotationReason: 'initial',
    });
    expect(ready.metadata.finalizers).toContain('security.novapos.io/signing-keys');

    const table = await kubectl(['get', 'signingkeyrotations', '-n', ns]);
    const [header, row] = table.trim().split('\n');
    expect(header).toMatch(/NAME\s+ACTIVE KID\s+NEXT ROTATION\s+READY\s+AGE/);
    expect(row).toContain(kid);
    expect(row).toContain(ready.status!.nextRotationTime!);
    expect(row).toMatch(/\bTrue\b/);
  });

  it('rotate-now publishes a next key, makes it sign after the lead time, and removes the retired key after its window', async () => {
    const before = await get();
    const first = before.status!.activeKid!;
    const firstVersions = (await tree()).secrets.get(first)!.versions;
    const rotatedAt = Date.now();
    await annotate(Annotations.rotateNow, 'r1');
    const published = await waitUntil('a next key in the key set', async () => {
      const t = await tree();
      return t.keyset?.nextKid && t.keyset.activeKid === first ? t : undefined;
    });
    const next = published.keyset!.nextKid;
    expect(published.keyset!.jwks.keys.map((k) => k.kid).sort()).toEqual([first, next].sort());
    expect(published.secrets.get(next)!.data['state']).toBe('next');
    await waitUntil('the next key to sign', async () => (await tree()).keyset?.activeKid === next, {
      timeoutMs: 20_000,
    });
    const signing = await get();
    const k = signing.status!.keys!.find((x) => x.kid === next)!;
    expect(Date.parse(k.activatedAt!) - Date.parse(k.publishedAt!)).toBeGreaterThanOrEqual(4_000);
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(4_000);
    expect(signing.status!.keys!.find((x) => x.kid === first)!.state).toBe('retired');
    const retiredTree = await tree();
    expect(retiredTree.keyset!.jwks.keys.map((x) => x.kid)).toContain(first);
    expect(retiredTree.secrets.get(first)!.data['state']).toBe('retired');
    const allVersions = retiredTree.secrets.get(first)!.versions;
    expect(allVersions.length).toBeGreaterThan(firstVersions.length);

    // Removed after maxTokenTTL 3s + jwksCacheTTL 2s + skew 1s (counted from the retirement).
    const retiredAt = Date.parse(signing.status!.keys!.find((x) => x.kid === first)!.retiredAt!);
    await waitUntil(
      'the retired key to leave the key set',
      async () => !(await tree()).keyset?.jwks.keys.some((x) => x.kid === first),
      { timeoutMs: 30_000 },
    );
    expect(Date.now() - retiredAt).toBeGreaterThanOrEqual(6_000);
    await waitUntil('the retired key to be destroyed', async () => !(await tree()).secrets.has(first));
    // No version of the removed key can be read: destroyed, and the metadata deleted.
    for (const version of allVersions) {
      expect(
        await root.kvRead('secret', `novapos/signing-keys/${ns}/${name}/${first}`, version),
      ).toBeUndefined();
    }
    expect(await root.kvMetadata('secret', `novapos/signing-keys/${ns}/${name}/${first}`)).toBeUndefined();
    const after = await get();
    expect(after.status!.keys!.map((x) => x.kid)).toEqual([next]);
    expect(after.status!.lastHandled?.rotateNow).toBe('r1');
    expect(after.status!.lastRotationReason).toBe('manual');
  });

  it('revoke-kid of the active key: out of the key set at once, a new key signs, every version destroyed', async () => {
    const victim = (await get()).status!.activeKid!;
    const t0 = await tree();
    const versions = t0.secrets.get(victim)!.versions;
    const start = Date.now();
    await annotate(Annotations.revokeKid, victim);
    const t = await waitUntil('the revoked key out of the key set', async () => {
      const x = await tree();
      return !x.keyset?.jwks.keys.some((k) => k.kid === victim) && x;
    });
    const took = Date.now() - start;
    expect(took).toBeLessThan(5_000);
    expect(t.keyset!.activeKid).not.toBe(victim);
    await waitUntil('the revoked key destroyed', async () => !(await tree()).secrets.has(victim));
    for (const version of versions) {
      expect(
        await root.kvRead('secret', `novapos/signing-keys/${ns}/${name}/${victim}`, version),
      ).toBeUndefined();
    }
    const o = await waitUntil('revocation recorded', async () => {
      const x = await get();
      return x.status?.lastHandled?.revokeKid === victim && x;
    });
    expect(o.status!.keys!.find((k) => k.kid === victim)).toMatchObject({
      state: 'revoked',
      revokedAt: expect.any(String),
    });
    expect(o.status!.keys!.filter((k) => k.state === 'active')).toHaveLength(1);
    expect(o.status!.lastRotationReason).toBe('emergency');
    process.stderr.write(`[signing-keys] revoke of the active key: out of the key set after ${took} ms\n`);
  });

  it('records Events for each transition and the per-kind metrics', async () => {
    const events = JSON.parse(await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json'])) as {
      items: { reason: string; type: string; note: string; regarding: { name: string } }[];
    };
    const reasons = new Set(events.items.filter((e) => e.regarding.name === name).map((e) => e.reason));
    for (const r of [
      'KeyGenerated',
      'KeyPublished',
      'Rotated',
      'KeyRemoved',
      'KeyRevoked',
      'EmergencyRotated',
    ])
      expect(reasons).toContain(r);
    const url = operator.manager.metricsUrl!;
    expect(
      await metricValue(url, 'novapos_signing_key_rotations_total', { namespace: ns, reason: 'manual' }),
    ).toBe(1);
    expect(
      await metricValue(url, 'novapos_signing_key_rotations_total', { namespace: ns, reason: 'emergency' }),
    ).toBe(1);
    expect(
      await metricValue(url, 'novapos_signing_key_next_rotation_timestamp_seconds', { namespace: ns }),
    ).toBeGreaterThan(Date.now() / 1000);
    expect(
      await metricValue(url, 'novapos_signing_key_age_seconds', { namespace: ns, state: 'active' }),
    ).toBeGreaterThanOrEqual(0);
  });

  it('the operator policy is least privilege: nothing outside the signing-key tree', async () => {
    const v = env.vaults[0]!;
    const identity = await kubernetesVaultIdentity(vaultAdmin(v.addr, v.rootToken), env.kube!, {
      mount: `k8s-${ns}`,
      namespace: ns,
      serviceAccount: 'novapos-operator',
      policyFile: 'signing-key-operator.hcl',
      dir,
    });
    await expect(identity.client.kvWrite('secret', `novapos/other/${ns}`, { a: '1' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(identity.client.kvRead('secret', `novapos/promoted/${ns}`)).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(
      identity.client.kvWrite('secret', `novapos/signing-keys/${ns}/probe`, { a: '1' }),
    ).resolves.toMatchObject({ version: 1 });
    await identity.client.kvDeleteAll('secret', `novapos/signing-keys/${ns}/probe`);
  });

  it('no private key material in logs, status, Events or error messages', async () => {
    const secrets = operator.keys.keys.flatMap((k) => privateValuesOf(k.privateJwk));
    expect(operator.keys.keys.length).toBeGreaterThanOrEqual(3);
    expect(secrets.length).toBe(operator.keys.keys.length); // ES256: d only
    const events = await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    const status = JSON.stringify((await get()).status);
    expect(leakedIn({ logs: operator.lines.join('\n'), status, events }, secrets)).toEqual([]);
    expect(operator.lines.length).toBeGreaterThan(10);
  });

  it('deleting the resource destroys its key tree in Vault (finalizer)', async () => {
    const kids = [...(await tree()).secrets.keys()];
    expect(kids.length).toBeGreaterThan(0);
    await kubectl(['delete', 'signingkeyrotation', name, '-n', ns, '--wait=true', '--timeout=30s']);
    const t = await tree();
    expect(t.secrets.size).toBe(0);
    expect(t.keyset).toBeUndefined();
  });
});
