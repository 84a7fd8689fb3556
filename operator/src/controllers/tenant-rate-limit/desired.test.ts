import { describe, expect, it } from 'vitest';
import { aTenantRateLimit } from '../../api/fixtures.js';
import type { TenantRateLimit } from '../../api/v1alpha1/index.js';
import {
  ACK_POLL_MS,
  ACK_SLOW_POLL_MS,
  CONFLICT_RECHECK_MS,
  limitDocument,
  ownerOf,
  planStatus,
  RESYNC_MS,
  samePublished,
  summarizeAcks,
  tenantOwnerNamespace,
  validateSpec,
} from './desired.js';

const NOW = new Date('2026-03-01T12:00:00Z');

function aResource(
  overrides: Parameters<typeof aTenantRateLimit>[0] = {},
  meta: Partial<TenantRateLimit['metadata']> = {},
  name = 'acme',
): TenantRateLimit {
  const t = aTenantRateLimit(overrides, name);
  return {
    ...t,
    metadata: { ...t.metadata, creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date, ...meta },
  };
}

const condition = (status: { conditions?: { type: string; message?: string }[] }, type: string) =>
  status.conditions?.find((c) => c.type === type);

describe('validateSpec', () => {
  it.each([
    ['a plain limit is valid', {}, []],
    [
      'localFallback mode without a fallback limit is refused',
      { redisFailureMode: 'localFallback' as const },
      ['spec.localFallback'],
    ],
    [
      'a fallback limit without localFallback mode is refused',
      { localFallback: { requestsPerMinute: 5, burst: 0 } },
      ['spec.localFallback'],
    ],
    [
      'a route prefix listed twice is refused',
      {
        routes: [
          { pathPrefix: '/a', requestsPerMinute: 1, burst: 0 },
          { pathPrefix: '/a', requestsPerMinute: 2, burst: 0 },
        ],
      },
      ['spec.routes'],
    ],
  ])('%s', (_name, overrides, fields) => {
    expect(validateSpec(aResource(overrides)).map((p) => p.field)).toEqual(fields);
  });
});

describe('ownerOf', () => {
  const older = aResource(
    {},
    { uid: 'old', creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date },
    'first',
  );
  const newer = aResource(
    {},
    { uid: 'new', creationTimestamp: '2026-02-01T00:00:00Z' as unknown as Date },
    'second',
  );
  const other = aResource({ tenant: 'globex' }, { uid: 'g' }, 'globex');

  it.each([
    ['the older of two resources for one tenant owns it', [newer, older, other], 'old'],
    [
      'a resource being deleted gives the tenant up to the next one',
      [{ ...older, metadata: { ...older.metadata, deletionTimestamp: NOW } }, newer],
      'new',
    ],
    ['a single resource owns its tenant', [newer], 'new'],
  ])('%s', (_name, all, uid) => {
    expect(ownerOf('acme', all)?.metadata.uid).toBe(uid);
  });
});

describe('limitDocument', () => {
  it('carries the generation, the limits with defaults filled in, and its owner', () => {
    const doc = limitDocument(
      aResource(
        { routes: [{ pathPrefix: '/api/exports', requestsPerMinute: 10, burst: 0 }] },
        { generation: 4 },
      ),
      NOW,
    );
    expect(doc).toMatchObject({
      tenant: 'acme',
      generation: 4,
      requestsPerMinute: 60,
      burst: 10,
      routes: [{ pathPrefix: '/api/exports', requestsPerMinute: 10, burst: 0 }],
      apiKeys: [],
      enforcement: 'enforce',
      redisFailureMode: 'failOpen',
      source: { namespace: 'novapos', name: 'acme', uid: 'uid-acme' },
      publishedAt: '2026-03-01T12:00:00Z',
    });
    expect(doc).not.toHaveProperty('localFallback');
  });

  it('is the same as what Redis holds when only publishedAt differs, and different on any limit change', () => {
    const a = limitDocument(aResource(), NOW);
    expect(samePublished({ ...a, publishedAt: 'earlier' }, a)).toBe(true);
    expect(samePublished({ ...a, burst: 11 }, a)).toBe(false);
    expect(samePublished(undefined, a)).toBe(false);
  });
});

describe('summarizeAcks', () => {
  it.each([
    [
      'every live replica on the generation is complete',
      { liveReplicas: ['a', 'b'], acked: { a: 3, b: 3 } },
      { complete: true, acknowledged: 2, pending: [] },
    ],
    [
      'a replica on an older generation is pending',
      { liveReplicas: ['a', 'b'], acked: { a: 3, b: 2 } },
      { complete: false, acknowledged: 1, pending: ['b'] },
    ],
    [
      'a replica that never acknowledged is pending',
      { liveReplicas: ['a', 'b'], acked: { a: 3 } },
      { complete: false, pending: ['b'] },
    ],
    ['no live replica is never complete', { liveReplicas: [], acked: {} }, { complete: false, live: 0 }],
  ])('%s', (_name, acks, expected) => {
    expect(summarizeAcks(acks, 3)).toMatchObject(expected);
  });
});

describe('planStatus', () => {
  const trl = aResource({}, { generation: 3 });
  const complete = { live: 2, acknowledged: 2, complete: true, pending: [] };
  const waiting = { live: 2, acknowledged: 1, complete: false, pending: ['gw-2'] };

  it('records the acknowledged generation, when and by how many replicas; Ready and Applied True; resync in a minute', () => {
    const plan = planStatus(
      trl,
      { kind: 'applied', publishedNow: true, publishedAt: '2026-03-01T12:00:00Z', acks: complete },
      NOW,
    );
    expect(plan.status).toMatchObject({
      observedGeneration: 3,
      appliedGeneration: 3,
      acknowledgedReplicas: 2,
      acknowledgedAt: '2026-03-01T12:00:00Z',
    });
    expect(condition(plan.status, 'Applied')).toMatchObject({
      status: 'True',
      reason: 'Acknowledged',
      observedGeneration: 3,
    });
    expect(condition(plan.status, 'Ready')).toMatchObject({ status: 'True' });
    expect(plan).toMatchObject({ applied: 1, requeueAfterMs: RESYNC_MS });
  });

  it('a tenant no namespace owns: Ready=False saying which tenantOwners entry would let this namespace set it', () => {
    const plan = planStatus(trl, { kind: 'notOwned', ownerNamespace: undefined, withdrawn: false }, NOW);
    const ready = condition(plan.status, 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TenantNotOwned' });
    expect(ready?.message).toContain(
      `add { namespace: ${trl.metadata.namespace}, tenants: [${trl.spec.tenant}] } to tenantOwners`,
    );
    expect(condition(plan.status, 'TenantOwned')?.message).toBe(ready?.message);
    // Owned elsewhere: the owner is named, and no entry is suggested (one owner per tenant).
    const elsewhere = planStatus(trl, { kind: 'notOwned', ownerNamespace: 'novapos', withdrawn: false }, NOW);
    expect(condition(elsewhere.status, 'Ready')?.message).not.toContain('add {');
  });

  it('keeps acknowledgedAt from an earlier reconcile of the same generation (no status churn)', () => {
    const first = planStatus(
      trl,
      { kind: 'applied', publishedNow: true, publishedAt: '2026-03-01T12:00:00Z', acks: complete },
      NOW,
    );
    const later = planStatus(
      { ...trl, status: first.status },
      { kind: 'applied', publishedNow: false, publishedAt: '2026-03-01T12:00:00Z', acks: complete },
      new Date('2026-03-01T12:05:00Z'),
    );
    expect(later.status).toEqual(first.status);
  });

  it('polls every second while replicas have not acknowledged, then every ten seconds after a minute', () => {
    const soon = planStatus(
      trl,
      { kind: 'applied', publishedNow: true, publishedAt: '2026-03-01T12:00:00Z', acks: waiting },
      NOW,
    );
    expect(soon).toMatchObject({ applied: 0, requeueAfterMs: ACK_POLL_MS });
    expect(condition(soon.status, 'Applied')).toMatchObject({
      status: 'False',
      reason: 'WaitingForAcknowledgement',
    });
    expect(condition(soon.status, 'Applied')!).toHaveProperty('message', expect.stringContaining('gw-2'));
    expect(soon.status.acknowledgedAt).toBeUndefined();
    const late = planStatus(
      trl,
      { kind: 'applied', publishedNow: false, publishedAt: '2026-03-01T11:58:00Z', acks: waiting },
      NOW,
    );
    expect(late.requeueAfterMs).toBe(ACK_SLOW_POLL_MS);
  });

  it('marks a second resource for the same tenant Conflict, naming the owner, and applies nothing', () => {
    const owner = aResource({}, { name: 'acme-first', uid: 'o' });
    const plan = planStatus(trl, { kind: 'conflict', owner }, NOW);
    expect(condition(plan.status, 'Conflict')).toMatchObject({ status: 'True', reason: 'DuplicateTenant' });
    expect(condition(plan.status, 'Conflict')!).toHaveProperty(
      'message',
      expect.stringContaining('novapos/acme-first'),
    );
    expect(condition(plan.status, 'Ready')).toMatchObject({ status: 'False' });
    expect(plan.status.appliedGeneration).toBeUndefined();
    expect(plan).toMatchObject({ applied: 0, requeueAfterMs: CONFLICT_RECHECK_MS });
  });

  it('clears Conflict once the resource owns its tenant', () => {
    const conflicted = planStatus(trl, { kind: 'conflict', owner: aResource({}, { uid: 'o' }) }, NOW);
    const plan = planStatus(
      { ...trl, status: conflicted.status },
      { kind: 'applied', publishedNow: true, publishedAt: '2026-03-01T12:00:00Z', acks: complete },
      NOW,
    );
    expect(condition(plan.status, 'Conflict')).toMatchObject({ status: 'False' });
  });

  it('reports an invalid spec on Ready with the field to fix and does not requeue', () => {
    const plan = planStatus(
      trl,
      { kind: 'invalid', problems: [{ field: 'spec.localFallback', message: 'required' }] },
      NOW,
    );
    expect(condition(plan.status, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: 'spec.localFallback: required',
    });
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it('reports Redis being unavailable on Ready', () => {
    const plan = planStatus(trl, { kind: 'redisUnavailable', error: 'connect ECONNREFUSED' }, NOW);
    expect(condition(plan.status, 'Ready')).toMatchObject({ status: 'False', reason: 'RedisUnavailable' });
  });

  it('records the reconcile-now value it handled', () => {
    const plan = planStatus(
      trl,
      { kind: 'applied', publishedNow: true, publishedAt: '2026-03-01T12:00:00Z', acks: complete },
      NOW,
      'x1',
    );
    expect(plan.status.lastHandled).toEqual({ reconcileNow: 'x1' });
  });
});

describe('which namespace owns a tenant (tenantOwners)', () => {
  const owners = [
    { namespace: 'novapos', tenants: ['acme', 'drill-*'] },
    { namespace: 'drills-east', tenants: ['drill-east-*'] },
  ];
  it.each([
    ['acme', 'novapos'],
    ['drill-abc', 'novapos'],
    ['drill-east-1', 'drills-east'],
    ['acme-2', undefined],
    ['globex', undefined],
  ])('%s is owned by %s', (tenant, namespace) => {
    expect(tenantOwnerNamespace(tenant, owners)).toBe(namespace);
  });
});
