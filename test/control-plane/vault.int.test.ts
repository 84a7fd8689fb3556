import * as k8s from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';
import type { VaultInstance } from '../harness/components/vault.js';
import {
  enableVaultKubernetesAuth,
  kubeConfigFrom,
  serviceAccountToken,
  vaultKubernetesRole,
} from '../harness/vault-kube-auth.js';
import { waitUntil } from '../harness/wait.js';

const env = inject('env');
const prefix = `cp-smoke-${process.pid}`;

async function call(
  addr: string,
  token: string | undefined,
  method: string,
  apiPath: string,
  body?: unknown,
) {
  const res = await fetch(`${addr}/v1/${apiPath}`, {
    method,
    headers: { ...(token ? { 'x-vault-token': token } : {}), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The descriptor carries plain data; this gives the harness's request helper back for setup calls. */
function rootClient(index: number): Pick<VaultInstance, 'request'> {
  const v = env.vaults[index]!;
  return { request: (method, apiPath, body) => call(v.addr, v.rootToken, method, apiPath, body) as never };
}

describe('OpenBao built from the Go module proxy', () => {
  it('runs two independent servers (two environments for promotion tests)', async () => {
    expect(env.vaults).toHaveLength(2);
    const [a, b] = env.vaults;
    await call(a!.addr, a!.rootToken, 'POST', `secret/data/${prefix}/only-in-a`, { data: { k: 'v' } });
    const inB = await call(b!.addr, b!.rootToken, 'GET', `secret/data/${prefix}/only-in-a`);
    expect(inB.status).toBe(404);
  });

  it('writes and reads KV v2 at secret/, and check-and-set rejects a stale version', async () => {
    const v = env.vaults[0]!;
    const path = `secret/data/${prefix}/cas`;
    const first = await call(v.addr, v.rootToken, 'POST', path, {
      options: { cas: 0 },
      data: { api_key: 'one' },
    });
    expect(first.status).toBe(200);
    expect(first.body.data.version).toBe(1);
    const second = await call(v.addr, v.rootToken, 'POST', path, {
      options: { cas: 1 },
      data: { api_key: 'two' },
    });
    expect(second.body.data.version).toBe(2);
    const stale = await call(v.addr, v.rootToken, 'POST', path, {
      options: { cas: 1 },
      data: { api_key: 'lost' },
    });
    expect(stale.status).toBe(400);
    expect(JSON.stringify(stale.body.errors)).toMatch(/check-and-set/);
    const read = await call(v.addr, v.rootToken, 'GET', path);
    expect(read.body.data).toMatchObject({ data: { api_key: 'two' }, metadata: { version: 2 } });
  });

  it('accepts a ServiceAccount token from the real apiserver through the Kubernetes auth method', async () => {
    const kube = env.kube!;
    const v = env.vaults[0]!;
    const vault = rootClient(0) as VaultInstance;
    await enableVaultKubernetesAuth(vault, kube, `k8s-${prefix}`);
    await vaultKubernetesRole(vault, {
      mount: `k8s-${prefix}`,
      name: 'reader',
      policyName: `${prefix}-reader`,
      policy: `path "secret/data/${prefix}/readable" { capabilities = ["read"] }`,
      namespace: prefix,
      serviceAccount: 'reader',
    });
    await call(v.addr, v.rootToken, 'POST', `secret/data/${prefix}/readable`, {
      data: { greeting: 'hello' },
    });
    await call(v.addr, v.rootToken, 'POST', `secret/data/${prefix}/forbidden`, { data: { greeting: 'no' } });

    const jwt = await serviceAccountToken(kube, prefix, 'reader');
    const login = await call(v.addr, undefined, 'POST', `auth/k8s-${prefix}/login`, { role: 'reader', jwt });
    expect(login.status).toBe(200);
    const token = login.body.auth.client_token as string;
    expect(login.body.auth.metadata).toMatchObject({
      service_account_name: 'reader',
      service_account_namespace: prefix,
    });

    expect((await call(v.addr, token, 'GET', `secret/data/${prefix}/readable`)).body.data.data).toEqual({
      greeting: 'hello',
    });
    expect((await call(v.addr, token, 'GET', `secret/data/${prefix}/forbidden`)).status).toBe(403);
    expect(
      (await call(v.addr, token, 'POST', `secret/data/${prefix}/readable`, { data: { x: 'y' } })).status,
    ).toBe(403);

    // A token for another ServiceAccount is refused by the role, and a forged JWT by TokenReview.
    const other = await serviceAccountToken(kube, prefix, 'someone-else');
    expect(
      (await call(v.addr, undefined, 'POST', `auth/k8s-${prefix}/login`, { role: 'reader', jwt: other }))
        .status,
    ).toBe(403);
    const forged = `${jwt.split('.').slice(0, 2).join('.')}.${'A'.repeat(40)}`;
    expect(
      (await call(v.addr, undefined, 'POST', `auth/k8s-${prefix}/login`, { role: 'reader', jwt: forged }))
        .status,
    ).toBeGreaterThanOrEqual(400);

    // The ServiceAccount deleted: its token no longer logs in.
    const core = kubeConfigFrom(kube).makeApiClient(k8s.CoreV1Api);
    await core.deleteNamespacedServiceAccount({ name: 'reader', namespace: prefix });
    // The apiserver's ServiceAccount lookup is informer-backed: allow it to observe the deletion.
    await waitUntil(
      'login with the deleted ServiceAccount to be refused',
      async () =>
        (await call(v.addr, undefined, 'POST', `auth/k8s-${prefix}/login`, { role: 'reader', jwt })).status >=
        400,
      { timeoutMs: 15_000, intervalMs: 250 },
    );
  });
});
