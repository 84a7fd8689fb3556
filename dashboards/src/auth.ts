import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  AUTH_LATENCY_P95_SECONDS,
  FAILED_LOGINS_FLEET_5M,
  FAILED_LOGINS_PER_TENANT_5M,
  MFA_INVALID_PER_TENANT_5M,
} from '../../alerts/src/auth.js';
import { barGaugePanel, finish, newDashboard, row, statPanel, timeseriesPanel } from './panels.js';
import { SEED_LOGIN_OUTCOMES, SEED_MFA_EVENTS } from './seed-panels.js';

export function authDashboard(): Dashboard {
  return finish(
    newDashboard({
      uid: 'novapos-auth',
      title: 'NovaPOS / Auth service security',
      description: 'Logins, MFA and token validation of auth-service; the panels behind the Auth* alerts.',
      tags: ['auth'],
      tenantFrom: 'auth_login_attempts_total',
    })
      .withRow(row('Logins and MFA (runbook panels)'))
      .withPanel(
        timeseriesPanel({
          title: 'Login attempts by outcome',
          description:
            'Seed 000 panel. Logins per second by outcome (success, invalid_credentials, mfa_required, mfa_invalid, locked, rate_limited...). ' +
            'A rising invalid_credentials line with flat success is an attack; both falling is an outage.',
          queries: [{ expr: SEED_LOGIN_OUTCOMES, legend: '{{outcome}}' }],
          unit: 'reqps',
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'MFA events by outcome and route',
          description:
            'Seed 000 panel. MFA events per second by outcome (success, mfa_invalid, replay, bypass_attempt, enrolled...) and route.',
          queries: [{ expr: SEED_MFA_EVENTS, legend: '{{outcome}} {{route}}' }],
          unit: 'reqps',
        }),
      )
      .withRow(row('Failed-login spikes (what the alerts see)'))
      .withPanel(
        timeseriesPanel({
          title: `Failed logins per tenant, 5m count (alert at ${FAILED_LOGINS_PER_TENANT_5M})`,
          description:
            'Logins with invalid credentials in the trailing 5 minutes, per tenant: exactly the AuthFailedLoginSpike ' +
            'expression. The dashed line is the alert threshold.',
          queries: [
            {
              expr: 'sum by (tenant) (increase(auth_login_attempts_total{outcome="invalid_credentials", tenant=~"$tenant"}[5m]))',
              legend: '{{tenant}}',
            },
          ],
          threshold: FAILED_LOGINS_PER_TENANT_5M,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: `Failed logins, all tenants, 5m count (P0 at ${FAILED_LOGINS_FLEET_5M})`,
          description:
            'The AuthFailedLoginsFleetCritical expression: invalid-credential logins of every tenant in 5 minutes.',
          queries: [
            {
              expr: 'sum(increase(auth_login_attempts_total{outcome="invalid_credentials"}[5m]))',
              legend: 'all tenants',
            },
          ],
          threshold: FAILED_LOGINS_FLEET_5M,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: `Invalid MFA codes per tenant, 5m count (alert at ${MFA_INVALID_PER_TENANT_5M})`,
          description:
            'The AuthMfaInvalidSpike expression: wrong TOTP codes per tenant in the trailing 5 minutes.',
          queries: [
            {
              expr: 'sum by (tenant) (increase(auth_mfa_events_total{outcome="mfa_invalid", tenant=~"$tenant"}[5m]))',
              legend: '{{tenant}}',
            },
          ],
          threshold: MFA_INVALID_PER_TENANT_5M,
        }),
      )
      .withPanel(
        barGaugePanel({
          title: 'Top tenants by MFA bypass attempts (24h)',
          description:
            'Requests that tried to reach an MFA-protected route without MFA, per tenant, over the last day; the ten largest.',
          queries: [
            {
              expr: 'topk(10, sum by (tenant) (increase(auth_mfa_events_total{outcome="bypass_attempt", tenant=~"$tenant"}[24h])))',
              legend: '{{tenant}}',
            },
          ],
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Account lockouts per tenant (1h)',
          description:
            'Accounts locked after repeated password or MFA failures, per tenant, in the trailing hour: the MFA ' +
            'lockout playbook in docs/security/README.md starts here.',
          queries: [
            {
              expr: 'sum by (tenant) (increase(auth_account_lockouts_total{tenant=~"$tenant"}[1h]))',
              legend: '{{tenant}}',
            },
          ],
        }),
      )
      .withRow(row('MFA adoption'))
      .withPanel(
        statPanel({
          title: 'MFA adoption, all tenants',
          description: 'Share of users with MFA enrolled (compliance evidence, seed 001).',
          queries: [{ expr: 'sum(auth_mfa_enrolled_users) / sum(auth_users)' }],
          unit: 'percentunit',
        }),
      )
      .withPanel(
        barGaugePanel({
          title: 'MFA adoption by tenant',
          description:
            'Share of each tenant’s users with MFA enrolled; the low bars are where MFA lockouts will come from.',
          queries: [
            {
              expr: 'sum by (tenant) (auth_mfa_enrolled_users{tenant=~"$tenant"}) / sum by (tenant) (auth_users{tenant=~"$tenant"})',
              legend: '{{tenant}}',
            },
          ],
          unit: 'percentunit',
          width: 18,
        }),
      )
      .withRow(row('Tokens and latency'))
      .withPanel(
        timeseriesPanel({
          title: `Response time p95 (alert at ${AUTH_LATENCY_P95_SECONDS * 1000} ms)`,
          description:
            'The AuthLatencyHigh expression over 5 minutes: 95th percentile of auth-service HTTP responses.',
          queries: [
            {
              expr: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="auth-service"}[5m])))',
              legend: 'p95',
            },
          ],
          unit: 's',
          threshold: AUTH_LATENCY_P95_SECONDS,
        }),
      )
      .withPanel(
        timeseriesPanel({
          title: 'Token validation failures by reason',
          description:
            'JWT validations that failed, per reason (expired, bad signature, unknown kid, audience...).',
          queries: [
            { expr: 'sum by (reason) (rate(auth_jwt_validation_failures_total[5m]))', legend: '{{reason}}' },
          ],
          unit: 'reqps',
        }),
      ),
  );
}
