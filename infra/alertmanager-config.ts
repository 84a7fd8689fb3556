import type { AlertmanagerOptions, alertmanagerConfig } from '../alerts/alertmanager/config.js';
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
 * The routing has one source, alerts/alertmanager/config.ts, which npm start and the delivery tests use too.
 */

/** The alerts part's `alertmanagerConfig` (tests pass a variant to check the shape checks). */
export type AlertmanagerConfigFn = typeof alertmanagerConfig;

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
