import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TeamName } from './config.js';

/**
 * The Alertmanager configuration this program deploys.
 *
 * The routing itself is the alerts part's code (alerts/alertmanager/config.ts: severity decides who is
 * woken up, team decides the Slack channel, drills never page). This program adds what depends on the
 * stack: the Slack channels, the timings, the drill endpoint's namespace and the file holding its bearer
 * token (Secret `novapos-drill-webhook`, mounted like the others), and where critical alerts go:
 *  - paging on: one PagerDuty receiver per team (security, platform), each reading the routing key of its
 *    team's Events v2 integration from a file; the key itself is in a Kubernetes Secret that the Alertmanager
 *    CR mounts (`spec.secrets`), so it never appears in the config text.
 *  - paging off (dev, or PagerDuty not managed by the stack): critical alerts go to the team's Slack channel.
 * If alerts/alertmanager/config.ts is missing, a minimal configuration of the same shape is used instead.
 */

export interface AlertmanagerOptions {
  readonly pagerduty: { readonly routingKeyFile: string; readonly url?: string };
  readonly slack: {
    readonly security: { readonly apiUrlFile: string; readonly channel: string };
    readonly sre: { readonly apiUrlFile: string; readonly channel: string };
  };
  readonly drillWebhookUrl: string;
  /** File holding the bearer token the drill receiver sends to the operator's drill webhook. */
  readonly drillWebhookTokenFile?: string;
  readonly externalUrl?: string;
  readonly timings?: { groupWait?: string; groupInterval?: string; repeatInterval?: string };
}

export type AlertmanagerConfigFn = (opts: AlertmanagerOptions) => Record<string, unknown>;

/** Kubernetes Secrets the Alertmanager pods mount at /etc/alertmanager/secrets/<name>/. */
export const PAGERDUTY_SECRET = 'novapos-pagerduty';
export const SLACK_SECRET = 'novapos-slack';
/** The bearer token of the operator's drill webhook (item `token`). */
export const DRILL_WEBHOOK_SECRET = 'novapos-drill-webhook';
export const DRILL_WEBHOOK_TOKEN_ITEM = 'token';
const secretsDir = '/etc/alertmanager/secrets';

export const routingKeyFile = (team: TeamName): string =>
  `${secretsDir}/${PAGERDUTY_SECRET}/${routingKeyItem(team)}`;
export const routingKeyItem = (team: TeamName): string => `${team}-routing-key`;
export const SLACK_ITEMS = { security: 'security-webhook-url', sre: 'sre-webhook-url' } as const;

export interface RoutingChoices {
  readonly securityChannel: string;
  readonly sreChannel: string;
  /** Critical alerts page PagerDuty (per team); otherwise they go to the team's Slack channel. */
  readonly page: boolean;
  readonly drillWebhookUrl: string;
  readonly timings?: AlertmanagerOptions['timings'];
}

export class AlertmanagerConfigError extends Error {
  readonly code = 'ALERTMANAGER_CONFIG_SHAPE';
  constructor(message: string) {
    super(`alertmanager config: ${message}`);
    this.name = 'AlertmanagerConfigError';
  }
}

type Route = { receiver?: string; matchers?: string[]; routes?: Route[]; [k: string]: unknown };
type Receiver = { name: string; pagerduty_configs?: Record<string, unknown>[]; [k: string]: unknown };

/** A minimal configuration with the shape of the alerts part's, for when that code is not there. */
export const minimalAlertmanagerConfig: AlertmanagerConfigFn = (opts) => ({
  global: { resolve_timeout: '5m' },
  route: {
    receiver: 'slack-sre',
    group_by: ['alertname', 'tenant', 'namespace', 'name', 'job'],
    group_wait: opts.timings?.groupWait ?? '30s',
    group_interval: opts.timings?.groupInterval ?? '5m',
    repeat_interval: opts.timings?.repeatInterval ?? '4h',
    routes: [
      { matchers: ['drill=~".+"'], receiver: 'drill', group_by: ['alertname', 'drill'], group_wait: '0s' },
      { matchers: ['severity="critical"'], receiver: 'pagerduty' },
      { matchers: ['severity="warning"', 'team="security"'], receiver: 'slack-security' },
      { matchers: ['severity="warning"'], receiver: 'slack-sre' },
      { matchers: ['severity="info"'], receiver: 'null' },
    ],
  },
  receivers: [
    {
      name: 'pagerduty',
      pagerduty_configs: [
        {
          routing_key_file: opts.pagerduty.routingKeyFile,
          send_resolved: true,
          severity: '{{ .CommonLabels.severity }}',
          description: '{{ .CommonLabels.alertname }}: {{ (index .Alerts 0).Annotations.summary }}',
          links: [{ href: '{{ (index .Alerts 0).Annotations.runbook_url }}', text: 'Runbook' }],
        },
      ],
    },
    {
      name: 'slack-security',
      slack_configs: [{ api_url_file: opts.slack.security.apiUrlFile, channel: opts.slack.security.channel }],
    },
    {
      name: 'slack-sre',
      slack_configs: [{ api_url_file: opts.slack.sre.apiUrlFile, channel: opts.slack.sre.channel }],
    },
    {
      name: 'drill',
      webhook_configs: [
        {
          url: opts.drillWebhookUrl,
          send_resolved: true,
          ...(opts.drillWebhookTokenFile
            ? {
                http_config: {
                  authorization: { type: 'Bearer', credentials_file: opts.drillWebhookTokenFile },
                },
              }
            : {}),
        },
      ],
    },
    { name: 'null' },
  ],
});

export interface LoadedConfigFn {
  readonly fn: AlertmanagerConfigFn;
  /** Where it came from, for the program's log. */
  readonly source: string;
}

/** Loads `alertmanagerConfig` from alerts/alertmanager/config.ts, or the minimal one when it is missing. */
export async function loadAlertmanagerConfigFn(root: string): Promise<LoadedConfigFn> {
  const file = path.join(root, 'alerts/alertmanager/config.ts');
  if (!existsSync(file)) {
    return { fn: minimalAlertmanagerConfig, source: 'infra (alerts/alertmanager/config.ts not found)' };
  }
  const mod = (await import(pathToFileURL(file).href)) as { alertmanagerConfig?: unknown };
  if (typeof mod.alertmanagerConfig !== 'function') {
    throw new AlertmanagerConfigError(
      `${path.relative(root, file)} does not export a function alertmanagerConfig`,
    );
  }
  return { fn: mod.alertmanagerConfig as AlertmanagerConfigFn, source: 'alerts/alertmanager/config.ts' };
}

/** The Alertmanager configuration for a stack. Pure: the same choices give the same config. */
export function buildAlertmanagerConfig(
  fn: AlertmanagerConfigFn,
  choices: RoutingChoices,
): Record<string, unknown> {
  const base = fn({
    pagerduty: { routingKeyFile: routingKeyFile('platform') },
    slack: {
      security: {
        apiUrlFile: `${secretsDir}/${SLACK_SECRET}/${SLACK_ITEMS.security}`,
        channel: choices.securityChannel,
      },
      sre: { apiUrlFile: `${secretsDir}/${SLACK_SECRET}/${SLACK_ITEMS.sre}`, channel: choices.sreChannel },
    },
    drillWebhookUrl: choices.drillWebhookUrl,
    drillWebhookTokenFile: `${secretsDir}/${DRILL_WEBHOOK_SECRET}/${DRILL_WEBHOOK_TOKEN_ITEM}`,
    ...(choices.timings ? { timings: choices.timings } : {}),
  });
  return routeCriticalAlerts(structuredClone(base), choices.page);
}

const CRITICAL = 'severity="critical"';

/**
 * Rewrites the single `severity="critical"` → `pagerduty` route of the base config into one route per team:
 * to that team's PagerDuty service when paging, else to its Slack channel. Fails loudly when the base config
 * does not have the shape this relies on, rather than deploying a config that pages nobody.
 */
export function routeCriticalAlerts(config: Record<string, unknown>, page: boolean): Record<string, unknown> {
  const route = config['route'] as Route | undefined;
  const receivers = config['receivers'] as Receiver[] | undefined;
  if (!route?.routes || !receivers) throw new AlertmanagerConfigError('no route.routes or receivers');
  const index = route.routes.findIndex((r) => r.matchers?.length === 1 && r.matchers[0] === CRITICAL);
  const critical = route.routes[index];
  if (!critical) throw new AlertmanagerConfigError(`no route matching only ${CRITICAL}`);
  const pagerduty = receivers.find((r) => r.name === critical.receiver);
  if (!pagerduty?.pagerduty_configs?.[0]) {
    throw new AlertmanagerConfigError(`the ${CRITICAL} route's receiver has no pagerduty_configs`);
  }
  const teamRoutes: Route[] = page
    ? [
        { ...critical, matchers: [CRITICAL, 'team="security"'], receiver: 'pagerduty-security' },
        { ...critical, matchers: [CRITICAL], receiver: 'pagerduty-platform' },
      ]
    : [
        { ...critical, matchers: [CRITICAL, 'team="security"'], receiver: 'slack-security' },
        { ...critical, matchers: [CRITICAL], receiver: 'slack-sre' },
      ];
  route.routes.splice(index, 1, ...teamRoutes);

  const others = receivers.filter((r) => r !== pagerduty);
  const template = pagerduty.pagerduty_configs[0];
  const perTeam = (team: TeamName): Receiver => ({
    name: `pagerduty-${team}`,
    pagerduty_configs: [{ ...template, routing_key_file: routingKeyFile(team) }],
  });
  config['receivers'] = page ? [perTeam('security'), perTeam('platform'), ...others] : others;
  const unknown = findUnknownReceivers(
    route,
    new Set((config['receivers'] as Receiver[]).map((r) => r.name)),
  );
  if (unknown.length > 0)
    throw new AlertmanagerConfigError(`routes name unknown receivers: ${unknown.join(', ')}`);
  return config;
}

function findUnknownReceivers(route: Route, names: ReadonlySet<string>): string[] {
  const own = route.receiver && !names.has(route.receiver) ? [route.receiver] : [];
  return [...own, ...(route.routes ?? []).flatMap((r) => findUnknownReceivers(r, names))];
}
