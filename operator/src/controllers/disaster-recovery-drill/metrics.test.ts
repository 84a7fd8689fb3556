import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DrillMetrics } from './metrics.js';

const value = async (registry: Registry, name: string) =>
  (await registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels, v.value]);

describe('drill metrics', () => {
  it('export the creation time of a drill that never succeeded, so DrDrillOverdue can fire for it', async () => {
    const registry = new Registry();
    const metrics = new DrillMetrics(registry);
    metrics.observe('dr', 'never', {}, '2026-01-01T00:00:00Z');
    expect(await value(registry, 'novapos_drill_created_timestamp_seconds')).toEqual([
      [{ namespace: 'dr', name: 'never' }, Date.parse('2026-01-01T00:00:00Z') / 1000],
    ]);
    expect(await value(registry, 'novapos_drill_last_success_timestamp_seconds')).toEqual([]);
  });

  it('drop every series of a deleted drill', async () => {
    const registry = new Registry();
    const metrics = new DrillMetrics(registry);
    metrics.observe('dr', 'gone', { lastSuccessfulTime: '2026-02-01T00:00:00Z' }, '2026-01-01T00:00:00Z');
    metrics.forget('dr', 'gone');
    expect(await value(registry, 'novapos_drill_created_timestamp_seconds')).toEqual([]);
    expect(await value(registry, 'novapos_drill_last_success_timestamp_seconds')).toEqual([]);
  });
});
