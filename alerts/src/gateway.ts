import { alert, type RuleArea } from './model.js';

/** Seed 000: "trigger when the 1m rate exceeds 5 for any tenant" (a count in the window, per contracts). */
export const REJECTIONS_PER_TENANT_1M = 5;
/** Seed 001: "signature verification failures exceed ten per minute". */
export const SIGNATURE_FAILURES_1M = 10;
/**
 * The `auth_jwt_validation_failures_total` reasons that mean a signature did not verify: a forged, tampered or
 * foreign token, or a key the gateway does not hold (lib/jwks-verifier.ts). Expired tokens and the like are not.
 */
export const SIGNATURE_FAILURE_REASONS = [
  'signature_invalid',
  'unknown_kid',
  'alg_not_allowed',
  'missing_kid',
  'malformed',
] as const;
/** The partner webhook outcomes that are signature failures (docs/contracts.md, "Partner webhooks"). */
export const WEBHOOK_SIGNATURE_OUTCOMES = ['signature_invalid', 'signature_missing'] as const;
/**
 * The gateway's signature failures in the trailing minute (the alert's left-hand side): access tokens and
 * partner webhooks, each side 0 when the gateway has no such series yet.
 */
export const GATEWAY_SIGNATURE_FAILURES_1M_EXPR =
  `(sum(increase(auth_jwt_validation_failures_total{job="integration-gateway", reason=~"${SIGNATURE_FAILURE_REASONS.join('|')}"}[1m])) or vector(0))` +
  ` + (sum(increase(gateway_partner_webhooks_total{job="integration-gateway", outcome=~"${WEBHOOK_SIGNATURE_OUTCOMES.join('|')}"}[1m])) or vector(0))`;
/** Seed 001: "a key bursts above three times its seven-day P95". */
export const API_KEY_BURST_FACTOR = 3;
/** Below this a key is too quiet for its P95 to mean anything (3x of nearly nothing is noise). */
export const API_KEY_BURST_MIN_RPS = 1;

export const gatewayRules: RuleArea = {
  area: 'gateway',
  groups: [
    {
      // Its own group so the 7-day quantile (thousands of samples per key) is computed every 5 minutes, not
      // on every evaluation.
      name: 'novapos-gateway-api-key-baseline',
      interval: '5m',
      rules: [
        {
          record: 'gateway:api_key_requests:rate5m:p95_7d',
          expr: 'quantile_over_time(0.95, gateway:api_key_requests:rate5m[7d])',
        },
      ],
    },
    {
      name: 'novapos-gateway',
      rules: [
        // In the group of the alert that reads it: rules of a group run in order, so GatewayApiKeyBurst sees this
        // evaluation's rate, not the previous one (groups run independently of each other).
        {
          record: 'gateway:api_key_requests:rate5m',
          expr: 'sum by (key_prefix) (rate(gateway_api_key_requests_total[5m]))',
        },
        alert({
          name: 'GatewayRateLimitRejections',
          expr: `sum by (tenant) (increase(gateway_rate_limit_rejections_total[1m])) > ${REJECTIONS_PER_TENANT_1M}`,
          for: '1m',
          severity: 'critical',
          team: 'security',
          summary: 'Gateway rejecting requests of tenant {{ $labels.tenant }}',
          description:
            '{{ $value | humanize }} requests of tenant {{ $labels.tenant }} rejected by the rate limiter in the last minute ' +
            `(threshold ${REJECTIONS_PER_TENANT_1M}).`,
        }),
        alert({
          name: 'GatewaySignatureVerificationFailures',
          // The fleet metric for tokens (docs/contracts.md, "Metrics") plus partner webhooks with a bad signature.
          expr: `${GATEWAY_SIGNATURE_FAILURES_1M_EXPR} > ${SIGNATURE_FAILURES_1M}`,
          for: '2m',
          severity: 'critical',
          team: 'security',
          summary: 'Gateway signature verification failures above 10 per minute',
          description:
            '{{ $value | humanize }} access tokens and partner webhooks refused by the gateway in the last minute because their ' +
            `signature, key or algorithm did not verify (threshold ${SIGNATURE_FAILURES_1M}): forged requests, or a key the gateway does not know.`,
        }),
        alert({
          name: 'GatewayApiKeyBurst',
          expr:
            `gateway:api_key_requests:rate5m > ${API_KEY_BURST_FACTOR} * gateway:api_key_requests:rate5m:p95_7d ` +
            `and gateway:api_key_requests:rate5m > ${API_KEY_BURST_MIN_RPS}`,
          for: '10m',
          severity: 'warning',
          team: 'security',
          summary: 'API key {{ $labels.key_prefix }} bursting above 3x its 7-day P95',
          description:
            'API key {{ $labels.key_prefix }} sends {{ $value | humanize }} requests/s, more than ' +
            `${API_KEY_BURST_FACTOR}x its 7-day P95 for 10 minutes: a leaked key or a partner batch job.`,
        }),
        alert({
          name: 'GatewayRateLimiterDegraded',
          expr: 'max by (job, mode) (gateway_rate_limit_mode{mode!="normal"}) > 0',
          for: '5m',
          severity: 'warning',
          team: 'sre',
          summary: 'Gateway rate limiter in {{ $labels.mode }} mode',
          description:
            'The integration gateway has limited in {{ $labels.mode }} mode for 5 minutes: Redis is unreachable, so ' +
            'limits are not shared between replicas (or not applied at all in fail_open).',
        }),
      ],
    },
  ],
};
