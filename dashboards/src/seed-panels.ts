/**
 * The four PromQL panels of the "Grafana and PagerDuty Wiring Checklist" (seed 000), exactly as written there.
 * A unit test checks that each appears verbatim in a rendered dashboard.
 */
export const SEED_LOGIN_OUTCOMES = 'sum by (outcome) (rate(auth_login_attempts_total[5m]))';
export const SEED_MFA_EVENTS = 'sum by (outcome, route) (rate(auth_mfa_events_total[5m]))';
export const SEED_GATEWAY_CHECKS = 'sum by (outcome) (rate(gateway_rate_limit_checks_total[5m]))';
export const SEED_GATEWAY_REJECTIONS = 'sum(rate(gateway_rate_limit_rejections_total[5m]))';

export const SEED_PANEL_QUERIES = [
  SEED_LOGIN_OUTCOMES,
  SEED_MFA_EVENTS,
  SEED_GATEWAY_CHECKS,
  SEED_GATEWAY_REJECTIONS,
] as const;
