import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { aSigningKey, startTestService, type TestService, uniquePrefix, writeKeyTree } from './helpers.js';

const run = promisify(execFile);

/**
 * The contract's Vault access in the integration tier: auth-service logs in with Kubernetes auth (a
 * ServiceAccount token checked by the real API server's TokenReview) and reads its key set.
 */
describe('auth-service with Vault Kubernetes auth', () => {
  const env = inject('env');
  const id = randomBytes(4).toString('hex');
  const namespace = `auth-k8s-${id}`;
  const mountPath = `kubernetes-auth-${id}`;
  let svc: TestService | undefined;
  let base: string;
  let saToken: string;
  let keyKid: string;

  const kubectl = async (args: string[]) =>
    (await run(env.kube!.kubectlPath, ['--kubeconfig', env.kube!.kubeconfig, ...args])).stdout.trim();

  beforeAll(async () => {
    const vault = env.vaults[0]!;
    const root = new VaultClient({ addr: vault.addr, auth: { method: 'token', token: vault.rootToken } });
    base = uniquePrefix('k8s');
    const key = await aSigningKey('ES256');
    keyKid = key.kid;
    await writeKeyTree(root, base, { keys: [{ key, state: 'active' }], activeKid: key.kid });

    await kubectl(['create', 'namespace', namespace]);
    await kubectl(['-n', namespace, 'create', 'serviceaccount', 'auth-service']);
    saToken = await kubectl(['-n', namespace, 'create', 'token', 'auth-service', '--duration=1h']);

    const call = async (method: string, p: string, body: unknown) => {
      const res = await fetch(`${vault.addr}/v1/${p}`, {
        method,
        headers: { 'x-vault-token': vault.rootToken, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, `${method} ${p}`).toBeLessThan(300);
    };
    const [mount, ...rest] = base.split('/');
    await call('PUT', `sys/policies/acl/${mountPath}`, {
      policy: `path "${mount}/data/${rest.join('/')}/*" { capabilities = ["read"] }`,
    });
    await call('POST', `sys/auth/${mountPath}`, { type: 'kubernetes' });
    await call('POST', `auth/${mountPath}/config`, {
      kubernetes_host: env.kube!.server,
      kubernetes_ca_cert: env.kube!.caCert,
      token_reviewer_jwt: env.kube!.adminToken,
      disable_local_ca_jwt: true,
    });
    await call('POST', `auth/${mountPath}/role/auth-service`, {
      bound_service_account_names: ['auth-service'],
      bound_service_account_namespaces: [namespace],
      token_policies: [mountPath],
      token_ttl: '1h',
    });
  });

  afterAll(async () => {
    await svc?.close();
    await kubectl(['delete', 'namespace', namespace, '--wait=false']).catch(() => {});
  });

  it('refuses a token of another ServiceAccount', async () => {
    const other = new VaultClient({
      addr: env.vaults[0]!.addr,
      auth: { method: 'kubernetes', role: 'auth-service', jwt: env.kube!.adminToken, mountPath },
    });
    await expect(other.login()).rejects.toMatchObject({ code: 'login_failed' });
  });

  it('logs in with the projected ServiceAccount token file and loads the key set', async () => {
    const tokenFile = path.join(os.tmpdir(), `auth-k8s-token-${id}`);
    writeFileSync(tokenFile, saToken, { mode: 0o600 });
    svc = await startTestService({
      VAULT_ADDR: env.vaults[0]!.addr,
      VAULT_AUTH_METHOD: 'kubernetes',
      VAULT_K8S_ROLE: 'auth-service',
      VAULT_K8S_MOUNT: mountPath,
      VAULT_K8S_TOKEN_PATH: tokenFile,
      SIGNING_KEYSET_PATH: base,
    });
    const status = (await (await fetch(`${svc.url}/keys/status`)).json()) as { activeKid: string };
    expect(status.activeKid).toBe(keyKid);
    expect(svc.logs.text).not.toContain(saToken);
  });
});
