import { alert, type RuleArea } from './model.js';

/** Seed 000 "PagerDuty alert thresholds" and seed 002 "Alert Thresholds", as counts in the window (contracts). */
export const FAILED_LOGINS_PER_TENANT_5M = 50;
export const FAILED_LOGINS_PER_SOURCE_5M = 100;
export const FAILED_LOGINS_FLEET_5M = 1000;
export const MFA_INVALID_PER_TENANT_5M = 10;
export const MFA_FAILURES_FLEET_5M = 50;
export const AUTH_LATENCY_P95_SECONDS = 0.5;

/** A failed login is a login refused for a wrong password; MFA failures have their own alerts. */
const failedLogins = 'auth_login_attempts_total{outcome="invalid_credentials"}';
const mfaInvalid = 'auth_mfa_events_total{outcome="mfa_invalid"}';

export const authRules: RuleArea = {
  area: 'auth',
  groups: [
    {
      name: 'novapos-auth',
      rules: [
        alert({
          name: 'AuthFailedLoginSpike',
          expr: `sum by (tenant) (increase(${failedLogins}[5m])) > ${FAILED_LOGINS_PER_TENANT_5M}`,
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'Failed logins spiking for tenant {{ $labels.tenant }}',
          description:
            '{{ $value | humanize }} logins with invalid credentials in the last 5 minutes for tenant {{ $labels.tenant }} ' +
            `(threshold ${FAILED_LOGINS_PER_TENANT_5M}): credential stuffing or a broken client.`,
        }),
        alert({
          // Seed 002 wants "> 100 in 5 minutes from a single IP". Metric labels are bounded (no ip label), so the
          // nearest bounded source is the tenant; the runbook page explains how to find the IP from the logs.
          name: 'AuthFailedLoginsTenantBurst',
          expr: `sum by (tenant) (increase(${failedLogins}[5m])) > ${FAILED_LOGINS_PER_SOURCE_5M}`,
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'Failed-login burst for tenant {{ $labels.tenant }} (per-source threshold)',
          description:
            '{{ $value | humanize }} logins with invalid credentials in the last 5 minutes for tenant {{ $labels.tenant }} ' +
            `(seed 002 single-source threshold ${FAILED_LOGINS_PER_SOURCE_5M}, applied per tenant because metrics carry no ip label).`,
        }),
        alert({
          name: 'AuthFailedLoginsFleetCritical',
          expr: `sum(increase(${failedLogins}[5m])) > ${FAILED_LOGINS_FLEET_5M}`,
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'More than 1000 failed logins in 5 minutes across all tenants',
          description:
            '{{ $value | humanize }} logins with invalid credentials in the last 5 minutes across the fleet ' +
            `(P0 threshold ${FAILED_LOGINS_FLEET_5M}).`,
        }),
        alert({
          name: 'AuthMfaInvalidSpike',
          expr: `sum by (tenant) (increase(${mfaInvalid}[5m])) > ${MFA_INVALID_PER_TENANT_5M}`,
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'Invalid MFA codes spiking for tenant {{ $labels.tenant }}',
          description:
            '{{ $value | humanize }} invalid MFA codes in the last 5 minutes for tenant {{ $labels.tenant }} ' +
            `(threshold ${MFA_INVALID_PER_TENANT_5M}): MFA brute force or clock drift.`,
        }),
        alert({
          name: 'AuthMfaFailuresHigh',
          expr: `sum(increase(${mfaInvalid}[5m])) > ${MFA_FAILURES_FLEET_5M}`,
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'More than 50 MFA failures in 5 minutes across all tenants',
          description:
            '{{ $value | humanize }} invalid MFA codes in the last 5 minutes across the fleet ' +
            `(threshold ${MFA_FAILURES_FLEET_5M}).`,
        }),
        alert({
          name: 'AuthLatencyHigh',
          expr:
            'histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket{job="auth-service"}[1m]))) ' +
            `> ${AUTH_LATENCY_P95_SECONDS}`,
          for: '2m',
          severity: 'critical',
          team: 'sre',
          summary: 'auth-service p95 response time above 500 ms',
          description:
            'auth-service answers in {{ $value | humanizeDuration }} at the 95th percentile (threshold 500ms for 2m).',
        }),
      ],
    },
  ],
};
