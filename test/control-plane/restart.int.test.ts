import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Env, startEnv } from '../harness/env.js';

// Restarting components breaks them for everyone else: this suite has its own.
describe('restarting the control plane from a test', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv({ kube: { crdDirs: [] }, vault: 1, label: 'restart' });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('restarts kube-apiserver on the same address with its data in etcd', async () => {
    const kube = env.kube!;
    await kube.kubectl(['create', 'configmap', 'survivor', '--from-literal=k=v']);
    const before = kube.apiserver.pid;
    await kube.restartApiserver();
    expect(kube.apiserver.pid).not.toBe(before);
    expect(await kube.kubectl(['get', 'configmap', 'survivor', '-o', 'jsonpath={.data.k}'])).toBe('v');
  });

  it('compacts etcd so that an old resourceVersion is Gone (410)', async () => {
    const kube = env.kube!;
    const rv = (
      await kube.kubectl(['get', 'configmap', 'survivor', '-o', 'jsonpath={.metadata.resourceVersion}'])
    ).trim();
    for (let i = 0; i < 3; i++) await kube.kubectl(['create', 'configmap', `churn-${i}`]);
    const compactedAt = await kube.compactEtcd();
    expect(compactedAt).toBeGreaterThan(Number(rv));
    const out = await kube
      .kubectl([
        'get',
        '--raw',
        `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=1`,
      ])
      .catch((err: Error) => err.message);
    expect(out).toMatch(/too old resource version|"code":410|Expired/);
  });

  it('restarts OpenBao with its secrets kept and unsealed again', async () => {
    const vault = env.vault!;
    await vault.request('POST', 'secret/data/restart/keep', { data: { v: '1' } });
    await vault.restart();
    const read = await vault.request<{ data: { data: { v: string } } }>('GET', 'secret/data/restart/keep');
    expect(read.status).toBe(200);
    expect(read.body.data.data.v).toBe('1');
  });

  it('stops OpenBao for an outage and brings it back', async () => {
    const vault = env.vault!;
    await vault.stopServer();
    await expect(fetch(`${vault.addr}/v1/sys/health`)).rejects.toThrow();
    await vault.startServer();
    expect((await fetch(`${vault.addr}/v1/sys/health`)).status).toBe(200);
  });
});
