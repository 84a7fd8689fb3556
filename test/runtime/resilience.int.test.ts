import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manager } from '../../operator/src/runtime/index.js';
import type { KubeInstance } from '../harness/components/kube.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import {
  allReady,
  apiserverWrites,
  type CountingKubeConfig,
  metricValue,
  testManager,
  widgetCrdDir,
  widgets,
} from './support.js';
import { widgetController } from './widget-controller.js';

// A private apiserver: these tests restart it and compact its etcd, and count every write it receives.
let env: Env;
let kubectl: KubeInstance['kubectl'];
let objects: CustomObjectsApi;

async function createWidgets(
  namespace: string,
  names: readonly string[],
  spec: Record<string, unknown> = {},
  concurrency = 16,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < names.length) {
        const name = names[next++] as string;
        await objects.createNamespacedCustomObject({
          group: 'test.novapos.io',
          version: 'v1',
          namespace,
          plural: 'widgets',
          body: { apiVersion: 'test.novapos.io/v1', kind: 'Widget', metadata: { name, namespace }, spec },
        });
      }
    }),
  );
}

async function patchWidget(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const { mergePatch } = await import('../../operator/src/runtime/index.js');
  await objects.patchNamespacedCustomObject(
    { group: 'test.novapos.io', version: 'v1', namespace, plural: 'widgets', name, body: { spec } },
    mergePatch,
  );
}

async function fresh(
  namespace: string,
  opts: Parameters<typeof testManager>[0] extends infer O ? Partial<O> : never = {},
) {
  await kubectl(['create', 'namespace', namespace]);
  const t = testManager({
    kubeconfigPath: env.kube?.kubeconfig as string,
    watchNamespaces: [namespace],
    controllers: [widgetController()],
    // Reconnects wait at least 2 s, so the test can change objects while the informer is away.
    informerBackoff: { baseMs: 2_000, maxMs: 4_000 },
    ...opts,
  });
  await t.manager.start();
  await waitUntil('informers synced', () => t.manager.ready);
  return t;
}

const names = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);

beforeAll(async () => {
  env = await startEnv({ label: 'runtime', kube: { crdDirs: [widgetCrdDir] } });
  kubectl = (env.kube as NonNullable<Env['kube']>).kubectl;
  const kc = new KubeConfig();
  kc.loadFromFile(env.kube?.kubeconfig as string);
  objects = kc.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  await env?.stop();
});

describe('informers survive a broken apiserver', () => {
  let manager: Manager | undefined;
  afterAll(async () => manager?.stop());

  it('makes no write at all in steady state with 1,000 Ready objects, across a resync', async () => {
    const ns = 'steady';
    const resyncPeriodMs = 8_000;
    const t = await fresh(ns, { resyncPeriodMs });
    manager = t.manager;
    const started = Date.now();
    await createWidgets(ns, names('w', 1000));
    await waitUntil('1,000 widgets Ready', async () => allReady(await widgets(kubectl, ns), 1000), {
      timeoutMs: 110_000,
      intervalMs: 1_000,
    });
    const readyMs = Date.now() - started;
    process.stderr.write(`[runtime] 1,000 widgets created and Ready in ${readyMs} ms\n`);

    // Let the last events settle, then watch one full resync period (and a bit) for writes.
    await new Promise((r) => setTimeout(r, 2_000));
    const kc = t.kc as CountingKubeConfig;
    const clientWritesBefore = kc.writes.length;
    const k = env.kube as NonNullable<Env['kube']>;
    const serverWritesBefore = await apiserverWrites(k.server, k.caCert, k.adminToken, ['widgets', 'events']);
    // The counter is live: creating 1,000 objects took thousands of writes (create, finalizer, status, Event).
    expect(serverWritesBefore).toBeGreaterThanOrEqual(3000);
    const reconcilesBefore = await metricValue(
      t.manager.metricsUrl as string,
      'controller_runtime_reconcile_total',
      { controller: 'widget' },
    );
    await new Promise((r) => setTimeout(r, resyncPeriodMs + 3_000));
    const reconciles =
      (await metricValue(t.manager.metricsUrl as string, 'controller_runtime_reconcile_total', {
        controller: 'widget',
      })) - reconcilesBefore;
    const serverWrites =
      (await apiserverWrites(k.server, k.caCert, k.adminToken, ['widgets', 'events'])) - serverWritesBefore;
    const clientWrites = kc.writes.slice(clientWritesBefore);
    process.stderr.write(
      `[runtime] steady state over ${resyncPeriodMs + 3_000} ms: ${reconciles} reconciles, ${clientWrites.length} client writes, ${serverWrites} apiserver writes\n`,
    );
    expect(reconciles).toBeGreaterThanOrEqual(1000); // the resync re-reconciled every object...
    expect(clientWrites).toEqual([]); // ...and none of them wrote anything
    expect(serverWrites).toBe(0);
    await t.manager.stop();
    manager = undefined;
  }, 360_000);

  it('loses no event when the apiserver restarts mid-watch', async () => {
    const ns = 'restart';
    const t = await fresh(ns);
    manager = t.manager;
    await createWidgets(ns, names('before', 10));
    await waitUntil('before-* Ready', async () => allReady(await widgets(kubectl, ns), 10), {
      timeoutMs: 30_000,
    });

    await env.kube?.restartApiserver();
    // The informer is reconnecting with backoff: change things it has not seen yet.
    await createWidgets(ns, names('after', 10));
    for (const name of names('before', 5)) await patchWidget(ns, name, { size: 7 });
    await waitUntil(
      'all 20 Ready at their latest generation',
      async () => allReady(await widgets(kubectl, ns), 20),
      { timeoutMs: 60_000 },
    );
    expect(
      await metricValue(t.manager.metricsUrl as string, 'novapos_operator_informer_restarts_total', {
        kind: 'Widget',
      }),
    ).toBeGreaterThan(0);
    await t.manager.stop();
    manager = undefined;
  }, 120_000);

  it('relists after 410 Gone (etcd compacted past the informer resourceVersion) and loses no event', async () => {
    const ns = 'gone';
    const t = await fresh(ns);
    manager = t.manager;
    await createWidgets(ns, names('old', 10));
    await waitUntil('old-* Ready', async () => allReady(await widgets(kubectl, ns), 10), {
      timeoutMs: 30_000,
    });
    const goneBefore = await metricValue(
      t.manager.metricsUrl as string,
      'novapos_operator_informer_restarts_total',
      { kind: 'Widget', reason: 'gone' },
    );

    // Break the watch, then, while the informer waits to reconnect, add, change and delete objects and
    // compact etcd: its resourceVersion is now older than anything the apiserver can replay.
    await env.kube?.restartApiserver();
    await createWidgets(ns, names('new', 10));
    for (const name of names('old', 3)) await patchWidget(ns, name, { size: 9 });
    await objects.deleteNamespacedCustomObject({
      group: 'test.novapos.io',
      version: 'v1',
      namespace: ns,
      plural: 'widgets',
      name: 'old-0009',
    });
    await env.kube?.compactEtcd();

    await waitUntil(
      '19 widgets Ready at their latest generation',
      async () => allReady(await widgets(kubectl, ns), 19),
      { timeoutMs: 60_000 },
    );
    const gone =
      (await metricValue(t.manager.metricsUrl as string, 'novapos_operator_informer_restarts_total', {
        kind: 'Widget',
        reason: 'gone',
      })) - goneBefore;
    expect(gone).toBeGreaterThan(0);
    // The deleted object went through the finalizer path and is gone.
    expect((await widgets(kubectl, ns)).map((w) => w.name)).not.toContain('old-0009');
    await t.manager.stop();
    manager = undefined;
  }, 120_000);
});
