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
  /** Port of the drill webhook (Alertmanager's drill receiver), 8082. */
  readonly webhookPort: number;
  /** Bearer token Alertmanager's drill receiver sends, if configured. */
  readonly webhookToken?: string;
  /** A file holding that token (a mounted Secret), re-read while running; takes precedence. */
  readonly webhookTokenFile?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function url(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  if (!v) return undefined;
  try {
    new URL(v);
  } catch {
    throw new Error(`${name} must be a URL`);
  }
  return v.replace(/\/+$/, '');
}

export function drillSettingsFromEnv(env: Env): DrillSettings | undefined {
  const authServiceUrl = url(env, 'DRILL_AUTH_SERVICE_URL');
  const gatewayUrl = url(env, 'DRILL_GATEWAY_URL');
  const alertmanagerUrl = url(env, 'ALERTMANAGER_URL');
  if (!authServiceUrl || !gatewayUrl || !alertmanagerUrl) return undefined;
  const metrics = (env['DRILL_GATEWAY_METRICS_URLS'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const m of metrics) {
    try {
      new URL(m);
    } catch {
      throw new Error('DRILL_GATEWAY_METRICS_URLS must be a comma-separated list of URLs');
    }
  }
  const port = Number(env['DRILL_WEBHOOK_PORT'] ?? 8082);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error('DRILL_WEBHOOK_PORT must be a port number');
  return {
    authServiceUrl,
    gatewayUrl,
    gatewayMetricsUrls: metrics.length ? metrics : [`${gatewayUrl}/metrics`],
    alertmanagerUrl,
    webhookPort: port,
    webhookToken: env['DRILL_WEBHOOK_TOKEN']?.trim() || undefined,
    webhookTokenFile: env['DRILL_WEBHOOK_TOKEN_FILE']?.trim() || undefined,
  };
}
