import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadKubeConfig } from './kube.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cli-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(file: string, user: string, server: string): string {
  const p = path.join(dir, file);
  writeFileSync(
    p,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'shared', cluster: { server } }],
      users: [{ name: user, user: { token: user } }],
      contexts: [{ name: user, context: { cluster: 'shared', user, namespace: `${user}-ns` } }],
      'current-context': user,
    }),
  );
  return p;
}

describe('loadKubeConfig reads KUBECONFIG as kubectl does', () => {
  const first = kubeconfig('first', 'alice', 'https://first.test');
  const second = kubeconfig('second', 'bob', 'https://second.test');

  it('merges every file: the first name and the first current-context win', () => {
    const kc = loadKubeConfig(undefined, [first, second].join(path.delimiter));
    expect(kc.getCurrentContext()).toBe('alice');
    expect(kc.getContexts().map((c) => c.name)).toEqual(['alice', 'bob']);
    expect(kc.getCluster('shared')?.server).toBe('https://first.test');
  });

  it('skips a file of KUBECONFIG that does not exist, as kubectl does', () => {
    const kc = loadKubeConfig(undefined, [path.join(dir, 'missing'), second].join(path.delimiter));
    expect(kc.getCurrentContext()).toBe('bob');
  });

  it('--kubeconfig wins over KUBECONFIG', () => {
    expect(loadKubeConfig(second, first).getCurrentContext()).toBe('bob');
  });
});
