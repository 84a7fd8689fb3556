import { execFile } from 'node:child_process';
import https from 'node:https';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);
const env = inject('env');

describe('kube-apiserver', () => {
  it('serves the API to kubectl with the admin kubeconfig and stores objects in etcd', async () => {
    const kube = env.kube!;
    const kubectl = async (...args: string[]) =>
      (await run(kube.kubectlPath, ['--kubeconfig', kube.kubeconfig, ...args], { timeout: 60_000 })).stdout;
    const version = JSON.parse(await kubectl('version', '-o', 'json')) as {
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    const name = `smoke-${process.pid}-${Date.now()}`;
    await kubectl('create', 'configmap', name, '-n', 'default', '--from-literal=hello=world');
    expect(await kubectl('get', 'configmap', name, '-n', 'default', '-o', 'jsonpath={.data.hello}')).toBe(
      'world',
    );
    await kubectl('delete', 'configmap', name, '-n', 'default');
  });

  it('enforces RBAC: an anonymous request is forbidden', async () => {
    const kube = env.kube!;
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get(`${kube.server}/api/v1/namespaces`, { ca: kube.caCert }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('system:anonymous');
  });
});

describe('OpenBao (Vault API)', () => {
  it.each([0, 1])('server %i is unsealed and round-trips a KV v2 secret', async (i) => {
    const vault = env.vaults[i]!;
    const headers = { 'x-vault-token': vault.rootToken, 'content-type': 'application/json' };
    const health = (await (await fetch(`${vault.addr}/v1/sys/health`)).json()) as {
      sealed: boolean;
      initialized: boolean;
    };
    expect(health).toMatchObject({ sealed: false, initialized: true });
    const path = `smoke/${process.pid}-${Date.now()}`;
    const write = await fetch(`${vault.addr}/v1/secret/data/${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ data: { greeting: 'hello' } }),
    });
    expect(write.status).toBe(200);
    const read = (await (await fetch(`${vault.addr}/v1/secret/data/${path}`, { headers })).json()) as {
      data: { data: { greeting: string }; metadata: { version: number } };
    };
    expect(read.data.data.greeting).toBe('hello');
    expect(read.data.metadata.version).toBe(1);
    const denied = await fetch(`${vault.addr}/v1/secret/data/${path}`);
    expect(denied.status).toBe(403);
    await fetch(`${vault.addr}/v1/secret/metadata/${path}`, { method: 'DELETE', headers });
  });

  it('runs two separate servers', () => {
    expect(env.vaults).toHaveLength(2);
    expect(env.vaults[0]!.addr).not.toBe(env.vaults[1]!.addr);
  });
});
