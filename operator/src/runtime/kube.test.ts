import { RequestContext } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LAST_APPLIED, stripForCache } from './informer.js';
import { ThrottleAwareKubeConfig, throttleWaitMs } from './kube.js';

describe('throttleWaitMs', () => {
  it("waits what a 429's Retry-After asks, 1 s without one, capped", () => {
    expect(throttleWaitMs(429, '3', 30_000)).toBe(3_000);
    expect(throttleWaitMs(429, undefined, 30_000)).toBe(1_000);
    expect(throttleWaitMs(429, 'Wed, 21 Oct 2015 07:28:00 GMT', 30_000)).toBe(1_000);
    expect(throttleWaitMs(429, '120', 30_000)).toBe(30_000);
  });

  it('retries a 5xx only when the server said when (it did not process it), never a 4xx or a success', () => {
    expect(throttleWaitMs(503, '2', 30_000)).toBe(2_000);
    expect(throttleWaitMs(503, undefined, 30_000)).toBeUndefined();
    expect(throttleWaitMs(409, '1', 30_000)).toBeUndefined();
    expect(throttleWaitMs(200, '1', 30_000)).toBeUndefined();
  });
});

describe('stripForCache', () => {
  it('drops managedFields and the last-applied annotation and keeps what reconcilers read', () => {
    const obj = {
      apiVersion: 'v1',
      kind: 'Widget',
      metadata: {
        name: 'w',
        namespace: 'ns',
        uid: 'u',
        resourceVersion: '7',
        generation: 2,
        finalizers: ['f'],
        labels: { a: 'b' },
        annotations: { [LAST_APPLIED]: '{"spec":{}}', keep: 'me' },
        managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
      },
      spec: { size: 1 },
      status: { ready: true },
    };
    const out = stripForCache(obj);
    expect(out.metadata).toEqual({
      name: 'w',
      namespace: 'ns',
      uid: 'u',
      resourceVersion: '7',
      generation: 2,
      finalizers: ['f'],
      labels: { a: 'b' },
      annotations: { keep: 'me' },
    });
    expect(out.spec).toEqual({ size: 1 });
    expect(out.status).toEqual({ ready: true });
    const onlyLastApplied = stripForCache({ metadata: { name: 'x', annotations: { [LAST_APPLIED]: '{}' } } });
    expect(onlyLastApplied.metadata).toEqual({ name: 'x' });
  });
});

describe('ThrottleAwareKubeConfig', () => {
  const load = (caData: string) => {
    const kc = new ThrottleAwareKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData, skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  };
  const dispatcherOf = async (kc: ThrottleAwareKubeConfig) => {
    const ctx = new RequestContext('https://127.0.0.1:6443/api', 'GET');
    await kc.applySecurityAuthentication(ctx);
    return ctx.getDispatcher();
  };

  it('reuses one connection pool for every request (client-node makes one per request)', async () => {
    const kc = load(Buffer.from('ca-one').toString('base64'));
    const first = await dispatcherOf(kc);
    expect(first).toBeDefined();
    expect(await dispatcherOf(kc)).toBe(first);
  });

  it('gets a new pool when the TLS material changes', async () => {
    const kc = load(Buffer.from('ca-one').toString('base64'));
    const first = await dispatcherOf(kc);
    const cluster = kc.getCurrentCluster() as { caData?: string };
    Object.assign(cluster, { caData: Buffer.from('ca-two').toString('base64') });
    expect(await dispatcherOf(kc)).not.toBe(first);
  });
});
