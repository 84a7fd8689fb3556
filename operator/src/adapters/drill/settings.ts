import { type Env, envReader } from '../../../../lib/service-kit/env.js';

/**
 * What the drill controller needs from the operator's configuration, read from an env object (the lead
 * folds this into operator/src/config.ts). Undefined when the drill endpoints are not configured: the
 * operator then runs without the DisasterRecoveryDrill controller.
 */
export interface DrillSettings {
  readonly authServiceUrl: string;
  readonly gatewayUrl: string;
  readonly gatewayMetricsUrls: readonly string[];
  readonly alertmanagerUrl: string;
  /** The audit-service's admin port (9087), for the auditCatchUp step's pause/resume; optional. */
  readonly auditServiceUrl?: string;
  /** Port of the drill webhook (Alertmanager's drill receiver), 8082. */
  readonly webhookPort: number;
  /** Bearer token Alertmanager's drill receiver sends, if configured. */
  readonly webhookToken?: string;
  /** A file holding that token (a mounted Secret), re-read while running; takes precedence. */
  readonly webhookTokenFile?: string;
}

const isUrl = (text: string): string => {
  new URL(text);
  return text.replace(/\/+$/, '');
};

/** The drill settings, read with lib/service-kit/env.ts (a ConfigError naming the variable on a bad value). */
export function drillSettingsFromEnv(env: Env): DrillSettings | undefined {
  const r = envReader(env);
  const url = (name: string) => r.parsed<string | undefined>(name, undefined, isUrl, 'must be a URL');
  const authServiceUrl = url('DRILL_AUTH_SERVICE_URL');
  const gatewayUrl = url('DRILL_GATEWAY_URL');
  const alertmanagerUrl = url('ALERTMANAGER_URL');
  const auditServiceUrl = url('DRILL_AUDIT_SERVICE_URL');
  if (!authServiceUrl || !gatewayUrl || !alertmanagerUrl) return undefined;
  const metrics = r.parsed(
    'DRILL_GATEWAY_METRICS_URLS',
    [] as string[],
    (text) =>
      text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map(isUrl),
    'must be a comma-separated list of URLs',
  );
  return {
    authServiceUrl,
    gatewayUrl,
    gatewayMetricsUrls: metrics.length ? metrics : [`${gatewayUrl}/metrics`],
    alertmanagerUrl,
    ...(auditServiceUrl ? { auditServiceUrl } : {}),
    webhookPort: r.port('DRILL_WEBHOOK_PORT', 8082),
    webhookToken: r.optional('DRILL_WEBHOOK_TOKEN'),
    webhookTokenFile: r.optional('DRILL_WEBHOOK_TOKEN_FILE'),
  };
}
