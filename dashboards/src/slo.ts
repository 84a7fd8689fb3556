import type { Dashboard, DashboardBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { errorRatioRecord, type Slo, slos } from '../../alerts/src/slo.js';
import { finish, newDashboard, row, statPanel, timeseriesPanel } from './panels.js';

function budget(slo: Slo): number {
  return Math.round((1 - slo.objective) * 1e6) / 1e6;
}

function sloPanels(d: DashboardBuilder, slo: Slo): DashboardBuilder {
  return d
    .withRow(row(`SLO: ${slo.description}`))
    .withPanel(
      statPanel({
        title: 'SLI over 3 days',
        description: `Share of good events over the last 3 days; the objective is ${slo.objective * 100}%.`,
        queries: [{ expr: `1 - ${errorRatioRecord(slo, '3d')}` }],
        unit: 'percentunit',
      }),
    )
    .withPanel(
      statPanel({
        title: 'Error budget left (3-day window)',
        description:
          'The share of the error budget not yet spent over the last 3 days; below 0 the SLO is missed.',
        queries: [{ expr: `1 - ${errorRatioRecord(slo, '3d')} / ${budget(slo)}` }],
        unit: 'percentunit',
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Burn rate by window',
        description:
          'Error ratio divided by the budget: 1 spends the budget exactly over 30 days. The page fires when 1h and 5m ' +
          'both exceed 14.4, or 6h and 30m both exceed 6; the ticket when 3d and 6h both exceed 1.',
        queries: (['5m', '30m', '1h', '6h', '3d'] as const).map((w) => ({
          expr: `${errorRatioRecord(slo, w)} / ${budget(slo)}`,
          legend: w,
        })),
        threshold: 14.4,
      }),
    );
}

export function sloDashboard(): Dashboard {
  const d = newDashboard({
    uid: 'novapos-slo',
    title: 'NovaPOS / SLOs',
    description:
      'Seed 001 SLOs: token validation latency and gateway requests not rate limited, with burn rates.',
    tags: ['slo'],
  });
  return finish(slos.reduce(sloPanels, d));
}
