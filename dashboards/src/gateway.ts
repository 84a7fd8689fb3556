import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  API_KEY_BURST_FACTOR,
  GATEWAY_SIGNATURE_FAILURES_1M_EXPR,
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
          title: `Token signature failures, 1m count (alert above ${SIGNATURE_FAILURES_1M})`,
          description:
            'The GatewaySignatureVerificationFailures expression: access tokens the gateway refused in the trailing ' +
            'minute because their signature, key or algorithm did not verify (auth_jwt_validation_failures_total).',
          queries: [{ expr: GATEWAY_SIGNATURE_FAILURES_1M_EXPR, legend: 'failures' }],
          threshold: SIGNATURE_FAILURES_1M,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Refused access tokens by reason',
          description:
            'Access tokens the gateway refused per second, by reason (auth_jwt_validation_failures_total): ' +
            'signature_invalid / unknown_kid / alg_not_allowed / missing_kid / malformed count toward the alert; ' +
            'expired, session_revoked and the like do not.',
          queries: [
            {
              expr: 'sum by (reason) (rate(auth_jwt_validation_failures_total{job="integration-gateway"}[5m]))',
              legend: '{{reason}}',
            },
          ],
          unit: 'reqps',
        }),
      )
      .withRow(row('Requests and token validation'))
      .withPanel(
        timeseriesPanel({
          title: 'Requests by route and status',
          description:
            'Requests answered per second by route (ping, proxy, health, ...) and status code (http_requests_total).',
          queries: [
            {
              expr: 'sum by (route, status) (rate(http_requests_total{job="integration-gateway"}[5m]))',
              legend: '{{route}} {{status}}',
            },
          ],
          unit: 'reqps',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Request latency p99 by route',
          description:
            'The 99th percentile of the time to answer, by route (http_request_duration_seconds): proxied routes ' +
            'include the upstream.',
          queries: [
            {
              expr: 'histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{job="integration-gateway"}[5m])))',
              legend: '{{route}}',
            },
          ],
          unit: 's',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Token validation p99, cache hits and misses (SLO: 200 ms, judged on misses)',
          description:
            'auth_jwt_validation_duration_seconds at the gateway: a miss checks the signature, a hit (a token ' +
            'verified before, until its exp) is a hash and a lookup. The SLO counts misses only.',
          queries: [
            {
              expr: 'histogram_quantile(0.99, sum by (cache, le) (rate(auth_jwt_validation_duration_seconds_bucket{job="integration-gateway"}[5m])))',
              legend: '{{cache}}',
            },
          ],
          unit: 's',
          threshold: 0.2,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Token validations per second, cache hits and misses',
          description:
            'How many validations the token cache answered (hit) and how many checked a signature (miss).',
          queries: [
            {
              expr: 'sum by (cache) (rate(auth_jwt_validation_duration_seconds_count{job="integration-gateway"}[5m]))',
              legend: '{{cache}}',
            },
          ],
          unit: 'reqps',
        }),
      ),
  );
}
