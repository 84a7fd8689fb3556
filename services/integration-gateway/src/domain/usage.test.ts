import { describe, expect, it } from 'vitest';
import type { EventPublisher, SecurityEvent } from '../../../../lib/events.js';
import { type UsageDelta, UsageTracker } from './usage.js';

function setup(failWrites = false) {
  let clock = 1_000_000;
  const written: UsageDelta[][] = [];
  const events: SecurityEvent[] = [];
  const publisher: EventPublisher = { publish: async (_t, e) => void events.push(e), close: async () => {} };
  const tracker = new UsageTracker({
    store: {
      insertDeltas: async (rows) => {
        if (failWrites) throw new Error('db down');
        written.push([...rows]);
      },
    },
    events: publisher,
    topic: 'audit.events.v1',
    replicaId: 'gw-1',
    now: () => clock,
  });
  return {
    tracker,
    written,
    events,
    tick: (ms: number) => (clock += ms),
    setFail: (v: boolean) => (failWrites = v),
  };
}

const key = { id: 'k1', tenant: 'acme', prefix: 'abcdefghijk2' };

describe('UsageTracker', () => {
  it('writes per-key deltas for each window and nothing when idle', async () => {
    const { tracker, written, tick } = setup();
    tracker.record(key, false);
    tracker.record(key, true);
    tick(300_000);
    expect(await tracker.flush()).toBe(1);
    expect(written[0]![0]).toMatchObject({
      apiKeyId: 'k1',
      tenantId: 'acme',
      keyPrefix: 'abcdefghijk2',
      requests: 2,
      rejected: 1,
    });
    expect(await tracker.flush()).toBe(0);
  });

  it('keeps the counts of a failed write for the next flush', async () => {
    const s = setup(true);
    s.tracker.record(key, false);
    await s.tracker.flush();
    s.setFail(false);
    s.tracker.record(key, false);
    await s.tracker.flush();
    expect(s.written[0]![0]!.requests).toBe(2);
  });

  it('publishes an hourly summary per tenant and key prefix, without any key material', async () => {
    const { tracker, events, tick } = setup();
    tracker.record(key, false);
    tick(3_600_000);
    await tracker.summarize();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'api_key_usage_summary',
      tenant_id: 'acme',
      key_prefix: 'abcdefghijk2',
      requests: 1,
    });
    expect(JSON.stringify(events)).not.toMatch(/npk_/);
  });
});
