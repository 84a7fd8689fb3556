import { stringify } from 'yaml';
import { ALERTS_EXPLAINED_BY_A_DRILL_PAUSE, AUDIT_PAUSED_BY_DRILL_ALERT } from '../src/audit.js';

/**
 * Alertmanager configuration as code: severity decides who is woken up (contracts), the team decides which
 * Slack channel hears about a warning, and DR drills have a receiver of their own that never pages anyone.
 *
 * Grouping: one notification group per alert name and affected thing (tenant, resource, job). A tenant under
 * attack is one PagerDuty incident, not one per auth-service pod; two tenants are two incidents, so the one
 * that calms down resolves on its own.
 *
 * Inhibition:
 *  - critical inhibits warning for the same alert name and affected thing: an alert with two severities
 *    (SLO burn rates, overdue rotations) notifies once, at the worse one.
 *  - ServiceDown inhibits every other alert of the same job: when a service is down, its latency and
 *    target alerts are consequences, not news.
 *  - AuditConsumerPausedByDrill inhibits AuditChainGap and AuditConsumerLagHigh: the DR drill's audit catch-up
 *    step pauses the audit consumer on purpose, and the lag and any hole it shows are the drill, not news. The
 *    source alert is bounded by its rule (the pause and a catch-up window after, within a pause budget an hour,
 *    beyond which AuditConsumerPausedTooLong warns), so the pause route cannot silence them for long.
 *  Drill alerts (label `drill`: the synthetic DrDrillSyntheticAlert) neither inhibit nor get inhibited, so a
 *  synthetic alert cannot hide a real incident and an incident cannot make a drill's delivery check fail.
 *  (AuditConsumerPausedByDrill carries no `drill` label: it reaches nobody, not the drill webhook.)
 *
 * Secrets are never in this file: the PagerDuty routing key, the Slack webhook URLs and the drill webhook's
 * bearer token are read from files (mounted Kubernetes Secrets). `routing_key_file` and `api_url_file` exist in Alertmanager >= 0.25.
 */

export interface AlertmanagerTimings {
  readonly groupWait: string;
  readonly groupInterval: string;
  readonly repeatInterval: string;
}

export interface SlackChannel {
  /** File holding the incoming-webhook URL (the URL is the credential). */
  readonly apiUrlFile: string;
  readonly channel: string;
}

export interface AlertmanagerOptions {
  readonly pagerduty: {
    /** File holding the Events v2 routing (integration) key. */
    readonly routingKeyFile: string;
    /** Events v2 endpoint; PagerDuty's own by default. */
    readonly url?: string;
  };
  /** One incoming webhook per channel (a Slack app's webhook posts to the channel it was created for). */
  readonly slack: { readonly security: SlackChannel; readonly sre: SlackChannel };
  /** Where alerts with a `drill` label go: the operator's drill delivery endpoint. */
  readonly drillWebhookUrl: string;
  /** File holding the bearer token the drill endpoint requires (the operator's DRILL_WEBHOOK_TOKEN_FILE). */
  readonly drillWebhookTokenFile?: string;
  /** Alertmanager's own URL, shown in notifications. */
  readonly externalUrl?: string;
  readonly timings?: Partial<AlertmanagerTimings>;
}

export const PAGERDUTY_EVENTS_V2_URL = 'https://events.pagerduty.com/v2/enqueue';

/** Defaults for a cluster: secrets mounted by the monitoring stack, drill endpoint on the operator's Service. */
export const productionAlertmanagerOptions: AlertmanagerOptions = {
  pagerduty: { routingKeyFile: '/etc/alertmanager/secrets/novapos-pagerduty/routing-key' },
  slack: {
    security: {
      apiUrlFile: '/etc/alertmanager/secrets/novapos-slack/security-webhook-url',
      channel: '#security-alerts',
    },
    sre: { apiUrlFile: '/etc/alertmanager/secrets/novapos-slack/sre-webhook-url', channel: '#sre-alerts' },
  },
  drillWebhookUrl: 'http://novapos-operator.novapos-system.svc:8082/drills/alert-delivery',
  drillWebhookTokenFile: '/etc/alertmanager/secrets/novapos-drill-webhook/token',
};

const defaultTimings: AlertmanagerTimings = { groupWait: '30s', groupInterval: '5m', repeatInterval: '4h' };

/** Labels that name the affected thing; alerts that do not carry one share the empty value. */
export const GROUP_BY = ['alertname', 'tenant', 'namespace', 'name', 'job'] as const;

export const RECEIVERS = {
  pagerduty: 'pagerduty',
  slackSecurity: 'slack-security',
  slackSre: 'slack-sre',
  drill: 'drill',
  none: 'null',
} as const;

const firstAlert = '(index .Alerts 0)';

function slackReceiver(name: string, { apiUrlFile, channel }: SlackChannel): Record<string, unknown> {
  return {
    name,
    slack_configs: [
      {
        api_url_file: apiUrlFile,
        channel,
        send_resolved: true,
        title: '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})',
        title_link: `{{ ${firstAlert}.Annotations.runbook_url }}`,
        text:
          '{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n' +
          'Runbook: {{ .Annotations.runbook_url }}\n{{ end }}',
      },
    ],
  };
}

export function alertmanagerConfig(opts: AlertmanagerOptions): Record<string, unknown> {
  const t = { ...defaultTimings, ...opts.timings };
  const timings = {
    group_wait: t.groupWait,
    group_interval: t.groupInterval,
    repeat_interval: t.repeatInterval,
  };
  const notDrill = 'drill=""';
  return {
    global: { resolve_timeout: '5m' },
    route: {
      // Anything that slips through the routes below (an alert without severity) is seen, not lost.
      receiver: RECEIVERS.slackSre,
      group_by: [...GROUP_BY],
      ...timings,
      routes: [
        {
          // Drill alerts first: whatever their severity, they only prove delivery and never page a person.
          matchers: ['drill=~".+"'],
          receiver: RECEIVERS.drill,
          group_by: ['alertname', 'drill'],
          group_wait: '0s',
          // A drill waits for its resolve within its step timeout (2m): the default 5m group interval
          // would deliver the resolve too late and fail a drill whose delivery works.
          group_interval: '10s',
          repeat_interval: '24h',
        },
        { matchers: ['severity="critical"'], receiver: RECEIVERS.pagerduty },
        { matchers: ['severity="warning"', 'team="security"'], receiver: RECEIVERS.slackSecurity },
        { matchers: ['severity="warning"'], receiver: RECEIVERS.slackSre },
        { matchers: ['severity="info"'], receiver: RECEIVERS.none },
      ],
    },
    inhibit_rules: [
      {
        source_matchers: ['severity="critical"', notDrill],
        target_matchers: ['severity="warning"', notDrill],
        equal: ['alertname', 'tenant', 'namespace', 'name'],
      },
      {
        source_matchers: ['alertname="ServiceDown"', notDrill],
        target_matchers: ['alertname!="ServiceDown"', notDrill],
        equal: ['job'],
      },
      {
        // No `equal`: one audit-service chain; the gap and lag alerts carry producer and topic, the source neither.
        source_matchers: [`alertname="${AUDIT_PAUSED_BY_DRILL_ALERT}"`, notDrill],
        target_matchers: [`alertname=~"${ALERTS_EXPLAINED_BY_A_DRILL_PAUSE.join('|')}"`, notDrill],
      },
    ],
    receivers: [
      {
        name: RECEIVERS.pagerduty,
        pagerduty_configs: [
          {
            routing_key_file: opts.pagerduty.routingKeyFile,
            url: opts.pagerduty.url ?? PAGERDUTY_EVENTS_V2_URL,
            send_resolved: true,
            severity: '{{ .CommonLabels.severity }}',
            description: `{{ .CommonLabels.alertname }}: {{ ${firstAlert}.Annotations.summary }}`,
            class: '{{ .CommonLabels.alertname }}',
            component: '{{ .CommonLabels.job }}',
            group: '{{ .CommonLabels.team }}',
            ...(opts.externalUrl ? { client: 'NovaPOS Alertmanager', client_url: opts.externalUrl } : {}),
            links: [{ href: `{{ ${firstAlert}.Annotations.runbook_url }}`, text: 'Runbook' }],
            details: {
              runbook_url: `{{ ${firstAlert}.Annotations.runbook_url }}`,
              summary: `{{ ${firstAlert}.Annotations.summary }}`,
              description: `{{ ${firstAlert}.Annotations.description }}`,
              tenant: '{{ .CommonLabels.tenant }}',
              team: '{{ .CommonLabels.team }}',
              firing: '{{ .Alerts.Firing | len }}',
              resolved: '{{ .Alerts.Resolved | len }}',
            },
          },
        ],
      },
      slackReceiver(RECEIVERS.slackSecurity, opts.slack.security),
      slackReceiver(RECEIVERS.slackSre, opts.slack.sre),
      {
        name: RECEIVERS.drill,
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
      { name: RECEIVERS.none },
    ],
  };
}

export function alertmanagerYaml(opts: AlertmanagerOptions): string {
  return (
    '# Generated by scripts/render-monitoring.ts from alerts/alertmanager/config.ts; edit the TypeScript.\n' +
    stringify(alertmanagerConfig(opts), { lineWidth: 0 })
  );
}
