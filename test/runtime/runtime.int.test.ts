import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manager } from '../../operator/src/runtime/index.js';
import { waitUntil } from '../harness/wait.js';
import {
  allReady,
  installWidgetCrd,
  type Kubectl,
  kubectlFor,
  metricValue,
  testManager,
  widgets,
  widgetYaml,
} from './support.js';
import { widgetController } from './widget-controller.js';

// Runs against the shared apiserver: it only adds its own CRD (test.novapos.io, unused elsewhere) and
// works in its own namespace.
const env = inject('env');
const ns = `runtime-${process.pid}`;
let kubectl: Kubectl;
let manager: Manager;
let lines: string[];
const attempts: Record<string, number[]> = {};

beforeAll(async () => {
  if (!env.kube) throw new Error('the shared environment has no apiserver');
  kubectl = kubectlFor(env.kube.kubectlPath, env.kube.kubeconfig);
  await installWidgetCrd(kubectl);
  await kubectl(['create', 'namespace', ns]);
  ({ manager, lines } = testManager({
    kubeconfigPath: env.kube.kubeconfig,
    watchNamespaces: [ns],
    controllers: [
      widgetController({
        onReconcile: (key, at) => {
          attempts[key] ??= [];
          attempts[key].push(at);
        },
      }),
    ],
  }));
  await manager.start();
});

afterAll(async () => {
  await manager?.stop();
  await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
});

describe('operator runtime against a real apiserver', () => {
  it('is ready once the informers have synced, and serves controller-runtime metrics', async () => {
    await waitUntil('readyz', async () => (await fetch(`${manager.probesUrl}/readyz`)).status === 200);
    expect((await fetch(`${manager.probesUrl}/healthz`)).status).toBe(200);
    const text = await (await fetch(`${manager.metricsUrl}/metrics`)).text();
    for (const name of [
      'controller_runtime_reconcile_total',
      'controller_runtime_reconcile_errors_total',
      'controller_runtime_reconcile_time_seconds',
      'workqueue_depth',
      'workqueue_adds_total',
      'workqueue_queue_duration_seconds',
      'workqueue_retries_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('makes a Widget Ready on apply, and follows spec edits with observedGeneration', async () => {
    await kubectl(['apply', '-f', '-'], widgetYaml(ns, 'alpha', { size: 1 }));
    await waitUntil(
      'alpha Ready',
      async () =>
        allReady(
          (await widgets(kubectl, ns)).filter((w) => w.name === 'alpha'),
          1,
        ),
      { timeoutMs: 20_000 },
    );
    const [before] = (await widgets(kubectl, ns)).filter((w) => w.name === 'alpha');
    expect(before?.ready).toMatchObject({ status: 'True', reason: 'Reconciled', observedGeneration: 1 });

    await kubectl([
      'patch',
      'widgets.test.novapos.io',
      'alpha',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"size":2}}',
    ]);
    const after = await waitUntil(
      'alpha observedGeneration 2',
      async () =>
        (await widgets(kubectl, ns)).find(
          (w) =>
            w.name === 'alpha' &&
            w.generation === 2 &&
            w.observedGeneration === 2 &&
            w.ready?.observedGeneration === 2,
        ),
      { timeoutMs: 20_000 },
    );
    expect(after.ready?.status).toBe('True');

    const obj = JSON.parse(
      await kubectl(['get', 'widgets.test.novapos.io', 'alpha', '-n', ns, '-o', 'json']),
    );
    expect(obj.metadata.finalizers).toEqual(['test.novapos.io/cleanup']);
    const events = JSON.parse(await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']))
      .items as {
      reason: string;
      regarding: { name: string };
      reportingController: string;
    }[];
    expect(events.filter((e) => e.regarding.name === 'alpha' && e.reason === 'Ready')).toHaveLength(1);
    expect(events[0]?.reportingController).toBe('security.novapos.io/operator');
  });

  it('retries a failing reconcile with growing delays, says why in a condition, and recovers when fixed', async () => {
    await kubectl(['apply', '-f', '-'], widgetYaml(ns, 'needs-config', { dependsOn: 'widget-config' }));
    const key = `${ns}/needs-config`;
    await waitUntil('six attempts', () => (attempts[key]?.length ?? 0) >= 6, { timeoutMs: 30_000 });
    const state = (await widgets(kubectl, ns)).find((w) => w.name === 'needs-config');
    expect(state?.ready).toMatchObject({
      status: 'False',
      reason: 'DependencyMissing',
      message: 'configmap widget-config not found',
    });

    // Backoff 100 ms doubling: the gaps between attempts grow (the first two attempts may be event-driven).
    // Only the first six attempts: later ones reach the 5 s cap, and a loaded machine gets there before the
    // checks above return.
    const times = (attempts[key] ?? []).slice(0, 6);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    const lastGaps = gaps.slice(-3);
    expect(lastGaps[1]).toBeGreaterThan((lastGaps[0] as number) * 1.5);
    expect(lastGaps[2]).toBeGreaterThan((lastGaps[1] as number) * 1.5);
    expect(
      await metricValue(manager.metricsUrl as string, 'controller_runtime_reconcile_errors_total', {
        controller: 'widget',
      }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      await metricValue(manager.metricsUrl as string, 'workqueue_retries_total', { name: 'widget' }),
    ).toBeGreaterThanOrEqual(4);

    // Repeats of the same warning are one Event with a series, not one Event per attempt.
    const warnings = JSON.parse(
      await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']),
    ).items.filter(
      (e: { reason: string; regarding: { name: string } }) =>
        e.reason === 'DependencyMissing' && e.regarding.name === 'needs-config',
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0].series?.count).toBeGreaterThanOrEqual(2);

    await kubectl(['create', 'configmap', 'widget-config', '-n', ns]);
    await waitUntil(
      'needs-config Ready',
      async () =>
        (await widgets(kubectl, ns)).find((w) => w.name === 'needs-config')?.ready?.status === 'True',
      {
        timeoutMs: 30_000,
      },
    );
  });

  it('removes its finalizer when a Widget is deleted', async () => {
    await kubectl(['delete', 'widgets.test.novapos.io', 'alpha', '-n', ns, '--wait=true', '--timeout=30s']);
    expect((await widgets(kubectl, ns)).map((w) => w.name)).not.toContain('alpha');
  });

  it('never writes a credential into logs', () => {
    expect(lines.length).toBeGreaterThan(0);
    const all = lines.join('\n');
    expect(all).not.toContain(env.kube?.adminToken as string);
    // Every reconcile log line names its controller, object and reconcile id.
    const reconcileLines = lines
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg?.startsWith('reconcile failed'));
    expect(reconcileLines.length).toBeGreaterThan(0);
    expect(reconcileLines[0]).toMatchObject({
      component: 'operator',
      controller: 'widget',
      namespace: ns,
      name: 'needs-config',
    });
    expect(reconcileLines[0].reconcileId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
