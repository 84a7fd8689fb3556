import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { kubernetesVaultIdentity, type VaultIdentity, vaultAdmin } from '../signing-keys/support.js';

/**
 * The promotion roles against a real OpenBao with Kubernetes auth (the shared apiserver's TokenReview):
 * each of the repo's promotion policies (operator/vault-policies/secret-promotion-*.hcl) gets its own role,
 * separate from the signing-key rotation's, and is refused everywhere under novapos/signing-keys/, on
 * every KV v2 path form, while it can do its job on the promoted tree.
 */

const env = inject('env');
const ns = `promo-roles-${randomBytes(3).toString('hex')}`;
const tree = `novapos/signing-keys/${ns}/auth`;
const dir = mkdtempSync(path.join(tmpdir(), 'promo-roles-'));
const roles: Record<string, VaultIdentity> = {};
let root: VaultClient;

async function login(id: VaultIdentity): Promise<string> {
  const v = env.vaults[0]!;
  const res = await fetch(`${v.addr}/v1/auth/${id.mount}/login`, {
    method: 'POST',
    body: JSON.stringify({ role: id.role, jwt: readFileSync(id.jwtPath, 'utf8') }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { auth: { client_token: string } }).auth.client_token;
}

async function call(token: string, method: string, apiPath: string, body?: unknown): Promise<number> {
  const res = await fetch(`${env.vaults[0]!.addr}/v1/${apiPath}`, {
    method,
    headers: { 'x-vault-token': token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.body?.cancel();
  return res.status;
}

/** Every KV v2 form of a signing-key path, with the request each form takes. */
const signingKeyRequests: [method: string, path: string, body?: unknown][] = [
  ['GET', `secret/data/${tree}/keyset`],
  ['POST', `secret/data/${tree}/keyset`, { data: { activeKid: 'forged' } }],
  ['POST', `secret/data/${tree}/kid-new`, { data: { d: 'forged' } }],
  ['GET', `secret/metadata/${tree}/keyset`],
  ['POST', `secret/metadata/${tree}/keyset`, { custom_metadata: { x: 'y' } }],
  ['DELETE', `secret/metadata/${tree}/keyset`],
  ['LIST', `secret/metadata/${tree}/`],
  ['LIST', 'secret/metadata/novapos/signing-keys/'],
  ['LIST', 'secret/metadata/novapos/signing-keys'],
  ['POST', `secret/delete/${tree}/keyset`, { versions: [1] }],
  ['POST', `secret/undelete/${tree}/keyset`, { versions: [1] }],
  ['POST', `secret/destroy/${tree}/keyset`, { versions: [1] }],
  ['GET', `secret/subkeys/${tree}/keyset`],
];

beforeAll(async () => {
  const kube = env.kube!;
  const v = env.vaults[0]!;
  root = new VaultClient({ addr: v.addr, auth: { method: 'token', token: v.rootToken } });
  await root.kvWrite('secret', `${tree}/keyset`, { activeKid: 'kid-1' });
  await root.kvWrite('secret', `novapos/${ns}/auth`, { A: '1' });
  for (const [name, policyFile] of [
    ['source', 'secret-promotion-source.hcl'],
    ['target', 'secret-promotion-target.hcl'],
    ['signing', 'signing-key-operator.hcl'],
  ] as const) {
    roles[name] = await kubernetesVaultIdentity(vaultAdmin(v.addr, v.rootToken), kube, {
      mount: `k8s-${ns}`,
      namespace: ns,
      serviceAccount: 'novapos-operator',
      policyFile,
      dir,
    });
  }
});

afterAll(async () => {
  await root?.kvDeleteAll('secret', `${tree}/keyset`).catch(() => {});
  await root?.kvDeleteAll('secret', `${tree}/kid-new`).catch(() => {});
  await root?.kvDeleteAll('secret', `novapos/${ns}/auth`).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('the promotion roles (issue 19: local promotion reused the signing-key role)', () => {
  it('are roles of their own, not the signing-key rotation role', () => {
    expect(new Set(Object.values(roles).map((r) => r.role)).size).toBe(3);
  });

  it.each(['source', 'target'])(
    'the %s role is refused on every KV v2 path form under novapos/signing-keys/',
    async (name) => {
      const token = await login(roles[name]!);
      const answers: string[] = [];
      for (const [method, apiPath, body] of signingKeyRequests) {
        const status = await call(token, method, apiPath, body);
        if (status !== 403) answers.push(`${method} ${apiPath} answered ${status}`);
      }
      expect(answers).toEqual([]);
      // Nothing changed there.
      expect((await root.kvRead('secret', `${tree}/keyset`))?.data).toEqual({ activeKid: 'kid-1' });
      expect(await root.kvRead('secret', `${tree}/kid-new`)).toBeUndefined();
    },
  );

  it('each does its own job on the promoted tree', async () => {
    const source = await login(roles.source!);
    const target = await login(roles.target!);
    expect(await call(source, 'GET', `secret/data/novapos/${ns}/auth`)).toBe(200);
    expect(await call(source, 'POST', `secret/data/novapos/${ns}/auth`, { data: { A: '2' } })).toBe(403);
    expect(await call(target, 'POST', `secret/data/novapos/${ns}/copy`, { data: { A: '1' } })).toBe(200);
    // The signing-key role cannot read what promotions read.
    const signing = await login(roles.signing!);
    expect(await call(signing, 'GET', `secret/data/novapos/${ns}/auth`)).toBe(403);
    await root.kvDeleteAll('secret', `novapos/${ns}/copy`);
  });
});
