import { describe, expect, it } from 'vitest';
import { promqlSyntaxErrors } from '../../alerts/src/promql.js';
import { dashboards } from './index.js';
import { DATASOURCE } from './panels.js';
import { panelQueries, substituteVariables } from './queries.js';
import { SEED_PANEL_QUERIES } from './seed-panels.js';

const all = dashboards();
const queries = panelQueries(all);

describe('dashboards', () => {
  it('cover the audit chain, auth, gateway, key rotation, secret promotion, operator health and SLOs', () => {
    expect(Object.keys(all).sort()).toEqual([
      'audit',
      'auth',
      'gateway',
      'key-rotation',
      'operator',
      'secret-promotion',
      'slo',
    ]);
  });

  it.each(queries.map((q) => [`${q.dashboard} / ${q.panel}: ${q.expr}`, q.expr] as const))(
    '%s parses as PromQL',
    (_, expr) => {
      const concrete = substituteVariables(expr);
      expect(concrete).not.toMatch(/\$/);
      expect(promqlSyntaxErrors(concrete)).toEqual([]);
    },
  );

  it.each(SEED_PANEL_QUERIES)('include the seed 000 panel query exactly as written: %s', (expr) => {
    expect(queries.map((q) => q.expr)).toContain(expr);
  });

  it('have unique uids, unique panel ids and a description on every panel', () => {
    const uids = Object.values(all).map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const d of Object.values(all)) {
      const panels = (d.panels ?? []) as { id?: number; type?: string; description?: string }[];
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size, d.uid).toBe(ids.length);
      for (const p of panels.filter((x) => x.type !== 'row'))
        expect(p.description, `${d.uid} panel ${p.id}`).toBeTruthy();
    }
  });

  it('send every query to the selected Prometheus data source', () => {
    expect(DATASOURCE.uid).toBe(`\${datasource}`);
    for (const d of Object.values(all)) {
      for (const p of (d.panels ?? []) as { targets?: { datasource?: unknown; refId?: string }[] }[]) {
        for (const t of p.targets ?? []) {
          expect(t.datasource).toEqual(DATASOURCE);
          expect(t.refId).toMatch(/^[A-Z]$/);
        }
      }
    }
  });

  it('render the same JSON twice (deterministic)', () => {
    expect(JSON.stringify(dashboards())).toBe(JSON.stringify(all));
  });

  it('substitute variables the way Grafana does with "All" selected', () => {
    expect(substituteVariables('sum(rate(x{tenant=~"$tenant"}[$__rate_interval]))')).toBe(
      'sum(rate(x{tenant=~".*"}[1m]))',
    );
  });
});
