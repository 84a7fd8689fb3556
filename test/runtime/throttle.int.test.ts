// The operator's kube client against an apiserver that turns requests away: a private kube-apiserver with
// --max-mutating-requests-inflight=1 and --max-requests-inflight=1 (priority and fairness off, as in the
// harness, so the max-in-flight filter answers 429 with Retry-After: 1). The operator runs as a user outside
// system:masters (which those limits exempt), bound to cluster-admin.
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import { allReady, apiserverGet, metricValue, testManager, widgetCrdDir, widgets } from './support.js';
import { widgetController } from './widget-controller.js';

let env: Env;
let kube: NonNullable<Env['kube']>;
let operatorKubeconfig: string;
let objects: CustomObjectsApi;

async function createWidgets(namespace: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const name = `w-${String(i).padStart(3, '0')}`;
    await objects.createNamespacedCustomObject({
      group: 'test.novapos.io',
      version: 'v1',
      namespace,
      plural: 'widgets',
      body: { apiVersion: 'test.novapos.io/v1', kind: 'Widget', metadata: { name, namespace }, spec: {} },
    });
  }
}

/** apiserver_request_total answers with code 429 (the apiserver's own count). */
async function served429(): Promise<number> {
  const text = await apiserverGet(kube.server, kube.caCert, kube.adminToken, '/metrics');
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('apiserver_request_total{') && line.includes('code="429"'))
      total += Number(line.split(' ').pop());
  return total;
}

beforeAll(async () => {
  env = await startEnv({
    label: 'throttle',
    kube: {
      crdDirs: [widgetCrdDir],
      users: [{ name: 'novapos-operator', token: `op-${Math.random().toString(36).slice(2)}`, groups: [] }],
      extraArgs: ['--max-mutating-requests-inflight=1', '--max-requests-inflight=1'],
    },
  });
  kube = env.kube as NonNullable<Env['kube']>;
  await kube.kubectl([
    'create',
    'clusterrolebinding',
    'novapos-operator-admin',
    '--clusterrole=cluster-admin',
    '--user=novapos-operator',
  ]);
  operatorKubeconfig = kube.kubeconfigFor('novapos-operator');
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfig);
  objects = kc.makeApiClient(CustomObjectsApi);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('kube client under the apiserver limits', () => {
  it("retries 429s after the server's Retry-After: every Widget Ready, no reconcile failed", async () => {
    const ns = 'throttled';
    await kube.kubectl(['create', 'namespace', ns]);
    await createWidgets(ns, 40);
    const before429 = await served429();
    const { manager, kc } = testManager({
      kubeconfigPath: operatorKubeconfig,
      watchNamespaces: [ns],
      controllers: [widgetController()],
      maxConcurrentReconciles: 16,
      rateLimit: false,
    });
    const waits: { status: number; waitMs: number; retried: boolean; at: number }[] = [];
    kc.onThrottled((e) => waits.push({ ...e, at: Date.now() }));
    await manager.start();
    try {
      await waitUntil(
        '40 widgets Ready',
        async () => allReady(await widgets(kube.kubectl, ns), 40) || undefined,
        {
          timeoutMs: 90_000,
          intervalMs: 1_000,
        },
      );
      const throttled = await metricValue(
        manager.metricsUrl as string,
        'novapos_operator_kube_throttled_total',
        {
          code: '429',
          outcome: 'retried',
        },
      );
      expect(throttled).toBeGreaterThan(0);
      expect(throttled).toBe(waits.filter((w) => w.retried).length);
      expect(waits.every((w) => w.status === 429 && w.retried && w.waitMs === 1_000)).toBe(true);
      expect(await served429()).toBeGreaterThan(before429);
      // The 429s never reached a reconciler: none failed.
      expect(
        await metricValue(manager.metricsUrl as string, 'controller_runtime_reconcile_errors_total', {
          controller: 'widget',
        }),
      ).toBe(0);
    } finally {
      await manager.stop();
    }
  }, 210_000);

  it('waits as long as Retry-After says before sending again', async () => {
    const kc = testManager({ kubeconfigPath: operatorKubeconfig, controllers: [] }).kc;
    const api = kc.makeApiClient(CustomObjectsApi);
    const sent: number[] = [];
    const retriedAt: number[] = [];
    kc.onThrottled((e) => {
      if (e.retried) retriedAt.push(Date.now());
    });
    await kube.kubectl(['create', 'namespace', 'burst']);
    // 24 creates at once against one mutating slot: some are turned away, and every one still lands.
    await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        sent.push(Date.now());
        await api.createNamespacedCustomObject({
          group: 'test.novapos.io',
          version: 'v1',
          namespace: 'burst',
          plural: 'widgets',
          body: {
            apiVersion: 'test.novapos.io/v1',
            kind: 'Widget',
            metadata: { name: `b-${i}`, namespace: 'burst' },
            spec: {},
          },
        });
      }),
    );
    expect(retriedAt.length).toBeGreaterThan(0);
    const listed = JSON.parse(
      await kube.kubectl(['get', 'widgets.test.novapos.io', '-n', 'burst', '-o', 'json']),
    );
    expect(listed.items).toHaveLength(24);
    // The first retry of a request goes no sooner than 1 s (Retry-After: 1) after the burst started.
    const firstSent = Math.min(...sent);
    const done = Date.now();
    expect(done - firstSent).toBeGreaterThanOrEqual(1_000);
  }, 60_000);

  it('with OPERATOR_KUBE_MAX_RETRIES=0 a 429 reaches the caller (what the retries spare the reconcilers)', async () => {
    const kc = testManager({ kubeconfigPath: operatorKubeconfig, controllers: [] }).kc;
    kc.throttle = { maxRetries: 0, maxWaitMs: 30_000 };
    const api = kc.makeApiClient(CustomObjectsApi);
    await kube.kubectl(['create', 'namespace', 'noretry']);
    const results = await Promise.allSettled(
      Array.from({ length: 24 }, (_, i) =>
        api.createNamespacedCustomObject({
          group: 'test.novapos.io',
          version: 'v1',
          namespace: 'noretry',
          plural: 'widgets',
          body: {
            apiVersion: 'test.novapos.io/v1',
            kind: 'Widget',
            metadata: { name: `n-${i}`, namespace: 'noretry' },
            spec: {},
          },
        }),
      ),
    );
    const codes = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => (r.reason as { code?: number }).code);
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set([429]));
  }, 60_000);
});
