import { alert, type RecordingRule, type RuleArea, type Severity } from './model.js';

/**
 * Seed 001's SLOs as multi-window, multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs", table 5-8):
 * page when 2% of a 30-day budget burns in 1h (14.4x, checked over 1h and 5m) or 5% in 6h (6x, over 6h and
 * 30m); open a ticket (Slack) when 10% burns in 3 days (1x, over 3d and 6h). The short window makes the alert
 * resolve soon after the burn stops. Error ratios per window are recording rules.
 */
export const SLO_WINDOWS = ['5m', '30m', '1h', '6h', '3d'] as const;
type Window = (typeof SLO_WINDOWS)[number];

export interface Slo {
  /** Recording-rule stem: slo:<name>:error_ratio_rate<window>. */
  readonly name: string;
  readonly alertName: string;
  /** Fraction of good events promised, e.g. 0.995. */
  readonly objective: number;
  readonly team: 'security' | 'sre';
  readonly description: string;
  errorRatio(window: Window): string;
}

export const tokenValidationLatencySlo: Slo = {
  name: 'auth_token_validation_latency',
  alertName: 'AuthTokenValidationLatencyBudgetBurn',
  objective: 0.995,
  team: 'sre',
  description: '99.5% of token validations complete in under 200 ms',
  // The histogram must have a 0.2 s bucket (contracts: auth_jwt_validation_duration_seconds). Judged on
  // validations that checked a signature: the gateway's cache hits (`cache="hit"`, a hash and a lookup) would
  // make the SLO trivially green; auth-service's series have no cache label and all count.
  errorRatio: (w) =>
    `1 - (sum(rate(auth_jwt_validation_duration_seconds_bucket{le="0.2", cache!="hit"}[${w}])) / sum(rate(auth_jwt_validation_duration_seconds_count{cache!="hit"}[${w}])))`,
};

export const gatewayNotRateLimitedSlo: Slo = {
  name: 'gateway_requests_not_rate_limited',
  alertName: 'GatewayRateLimitBudgetBurn',
  objective: 0.99,
  team: 'sre',
  description: '99% of gateway requests are not rate limited',
  // `or vector(0)`: before the first rejection there is no rejected series, and the ratio is 0, not missing.
  errorRatio: (w) =>
    `(sum(rate(gateway_rate_limit_checks_total{outcome="rejected"}[${w}])) or vector(0)) / sum(rate(gateway_rate_limit_checks_total[${w}]))`,
};

export const slos: readonly Slo[] = [tokenValidationLatencySlo, gatewayNotRateLimitedSlo];

export function errorRatioRecord(slo: Slo, window: Window): string {
  return `slo:${slo.name}:error_ratio_rate${window}`;
}

const burnRates: readonly {
  severity: Severity;
  pairs: readonly { long: Window; short: Window; factor: number }[];
  for: string;
}[] = [
  {
    severity: 'critical',
    pairs: [
      { long: '1h', short: '5m', factor: 14.4 },
      { long: '6h', short: '30m', factor: 6 },
    ],
    for: '2m',
  },
  { severity: 'warning', pairs: [{ long: '3d', short: '6h', factor: 1 }], for: '15m' },
];

function budget(slo: Slo): string {
  // Written as 1 - objective so the rule reads like the SLO; rounded to avoid 0.0050000000000000044.
  return String(Math.round((1 - slo.objective) * 1e6) / 1e6);
}

function sloGroup(slo: Slo) {
  const records: RecordingRule[] = SLO_WINDOWS.map((w) => ({
    record: errorRatioRecord(slo, w),
    expr: slo.errorRatio(w),
    labels: { slo: slo.name },
  }));
  const alerts = burnRates.map((b) =>
    alert({
      name: slo.alertName,
      expr: b.pairs
        .map(
          (p) =>
            `(${errorRatioRecord(slo, p.long)} > (${p.factor} * ${budget(slo)}) and ${errorRatioRecord(slo, p.short)} > (${p.factor} * ${budget(slo)}))`,
        )
        .join(' or '),
      for: b.for,
      severity: b.severity,
      team: slo.team,
      labels: { slo: slo.name },
      summary:
        b.severity === 'critical'
          ? `Fast error-budget burn: ${slo.description} is at risk`
          : `Slow error-budget burn: ${slo.description} will be missed at this rate`,
      description:
        `Error ratio {{ $value | humanizePercentage }} against a budget of ${Number(budget(slo)) * 100}% ` +
        `(burn windows ${b.pairs.map((p) => `${p.long}/${p.short} at ${p.factor}x`).join(', ')}).`,
    }),
  );
  return { name: `novapos-slo-${slo.name.replaceAll('_', '-')}`, rules: [...records, ...alerts] };
}

export const sloRules: RuleArea = { area: 'slo', groups: slos.map(sloGroup) };
