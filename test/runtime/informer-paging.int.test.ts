// An informer's list goes through every page. CustomObjectsApi returns the apiserver's JSON as is, whose
// continue token is metadata.continue; the informer read only client-node's typed name (_continue) and stopped
// after the first page: an operator restarted over more than 500 objects of a namespace reconciled 500 of
// them, and a relist after 410 Gone took the rest for deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { Informer, loadKubeConfig } from '../../operator/src/runtime/index.js';
import { type Env, startEnv } from '../harness/env.js';
import { widgetCrdDir } from './support.js';
import { widgetKind } from './widget-controller.js';

let env: Env;

beforeAll(async () => {
  env = await startEnv({ label: 'paging', kube: { crdDirs: [widgetCrdDir] } });
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('informer list paging', () => {
  it('caches every object of a list that spans several pages', async () => {
    const kube = env.kube as NonNullable<Env['kube']>;
    await kube.kubectl(['create', 'namespace', 'paged']);
    const items = Array.from({ length: 130 }, (_, i) => ({
      apiVersion: 'test.novapos.io/v1',
      kind: 'Widget',
      metadata: { name: `p-${String(i).padStart(3, '0')}`, namespace: 'paged' },
      spec: {},
    }));
    await kube.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    const added: string[] = [];
    const informer = new Informer(
      {
        kubeConfig: loadKubeConfig({ KUBECONFIG: kube.kubeconfig }),
        kind: widgetKind,
        namespace: 'paged',
        log: createLogger({ component: 'paging-test', level: 'warn' }),
        pageSize: 50,
        resyncPeriodMs: 0,
      },
      {
        onAdd: (o) => added.push(o.metadata?.name as string),
        onUpdate: () => {},
        onDelete: () => {},
        onResync: () => {},
      },
    );
    informer.start();
    try {
      await informer.waitForSync();
      expect(informer.size).toBe(130);
      expect(new Set(added).size).toBe(130);
    } finally {
      await informer.stop();
    }
  }, 120_000);
});
