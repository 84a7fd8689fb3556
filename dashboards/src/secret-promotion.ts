import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { finish, newDashboard, statPanel, timeseriesPanel } from './panels.js';

export function secretPromotionDashboard(): Dashboard {
  return finish(
    newDashboard({
      uid: 'novapos-secret-promotion',
      title: 'NovaPOS / Secret promotion',
      description: 'SecretPromotion resources: results, conflicts and freshness of promoted secrets.',
      tags: ['secrets', 'operator'],
    })
      .withPanel(
        timeseriesPanel({
          title: 'Promotions by result (1h)',
          description: 'Promotion applies in the last hour by result.',
          queries: [
            { expr: 'sum by (result) (increase(novapos_secret_promotion_total[1h]))', legend: '{{result}}' },
          ],
        }),
      )
      .withPanel(
        statPanel({
          title: 'Conflicts (24h)',
          description:
            'Applies refused because a target changed after the plan (check-and-set failed). Any conflict raises ' +
            'SecretPromotionConflict.',
          queries: [{ expr: 'sum(increase(novapos_secret_promotion_conflicts_total[24h]))' }],
          threshold: 1,
        }),
      )
      .withPanel(
        statPanel({
          title: 'Time since last successful promotion',
          description: 'Per promotion: how stale the promoted secrets may be.',
          queries: [
            {
              expr: 'time() - max by (namespace, name) (novapos_secret_promotion_last_success_timestamp_seconds)',
              legend: '{{namespace}}/{{name}}',
            },
          ],
          unit: 's',
        }),
      ),
  );
}
