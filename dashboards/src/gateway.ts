import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  API_KEY_BURST_FACTOR,
  REJECTIONS_PER_TENANT_1M,
  SIGNATURE_FAILURES_1M,
} from '../../alerts/src/gateway.js';
import { finish, newDashboard, row, stateTimelinePanel, timeseriesPanel } from './panels.js';
import { SEED_GATEWAY_CHECKS, SEED_GATEWAY_REJECTIONS } from './seed-panels.js';

export function gatewayDashboard(): Dashboard {
  return finish(
    newDashboard({
      uid: 'novapos-gateway',
      title: 'NovaPOS / Integration gateway security',
      description:
        'Rate limiting, API keys and signature checks of the integration gateway; the panels behind the Gateway* alerts.',
      tags: ['gateway'],
      tenantFrom: 'gateway_rate_limit_hits_total',
    })
      .withRow(row('Rate limiting (runbook panels)'))
      .withPanel(
        timeseriesPanel({
          title: 'Rate-limit checks by outcome',
          description:
            'Seed 000 panel. Every limiter decision per second: allowed, rejected, shadow_rejected (would have been ' +
            'rejected in shadow mode) and error (Redis unreachable).',
          queries: [{ expr: SEED_GATEWAY_CHECKS, legend: '{{outcome}}' }],
          unit: 'reqps',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Rejections, all tenants',
          description: 'Seed 000 panel. Requests rejected by the limiter per second, all tenants together.',
          queries: [{ expr: SEED_GATEWAY_REJECTIONS, legend: 'rejected' }],
          unit: 'reqps',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: `Rejections per tenant, 1m count (alert at ${REJECTIONS_PER_TENANT_1M})`,
          description:
            'The GatewayRateLimitRejections expression: rejected requests per tenant in the trailing minute.',
          queries: [
            {
              expr: 'sum by (tenant) (increase(gateway_rate_limit_rejections_total{tenant=~"$tenant"}[1m]))',
              legend: '{{tenant}}',
            },
          ],
          threshold: REJECTIONS_PER_TENANT_1M,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Requests charged to each tenant’s limit',
          description:
            'Requests per second counted against each tenant’s limit: compare with its TenantRateLimit.',
          queries: [
            {
              expr: 'sum by (tenant) (rate(gateway_rate_limit_hits_total{tenant=~"$tenant"}[5m]))',
              legend: '{{tenant}}',
            },
          ],
          unit: 'reqps',
        }),
      )
      .withPanel(
        stateTimelinePanel({
          title: 'Limiter mode',
          description:
            'Which mode the limiter runs in (1 = current): normal, or fail_open / fail_closed / local_fallback while ' +
            'Redis is unreachable. Anything but normal for 5 minutes raises GatewayRateLimiterDegraded.',
          queries: [{ expr: 'max by (mode) (gateway_rate_limit_mode)', legend: '{{mode}}' }],
          width: 24,
          height: 6,
        }),
      )
      .withRow(row('API keys and signatures'))
      .withPanel(
        timeseriesPanel({
          title: 'API key usage by key prefix',
          description: 'Requests per second per issued API key (by its public prefix).',
          queries: [
            {
              expr: 'sum by (key_prefix) (rate(gateway_api_key_requests_total[5m]))',
              legend: '{{key_prefix}}',
            },
          ],
          unit: 'reqps',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: `API key rate against its 7-day P95 (alert above ${API_KEY_BURST_FACTOR}x)`,
          description:
            'Current 5-minute rate of each key divided by its 7-day P95 (recording rules). Above the dashed line for ' +
            '10 minutes (and above 1 request/s) raises GatewayApiKeyBurst.',
          queries: [
            {
              expr: 'gateway:api_key_requests:rate5m / gateway:api_key_requests:rate5m:p95_7d',
              legend: '{{key_prefix}}',
            },
          ],
          threshold: API_KEY_BURST_FACTOR,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: `Signature verification failures, 1m count (alert above ${SIGNATURE_FAILURES_1M})`,
          description:
            'The GatewaySignatureVerificationFailures expression: failed signature checks in the trailing minute.',
          queries: [
            { expr: 'sum(increase(gateway_signature_verification_failures_total[1m]))', legend: 'failures' },
          ],
          threshold: SIGNATURE_FAILURES_1M,
          width: 24,
        }),
      ),
  );
}
