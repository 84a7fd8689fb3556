import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { stringify } from 'yaml';
import {
  DRILL_WEBHOOK_SECRET,
  DRILL_WEBHOOK_TOKEN_ITEM,
  PAGERDUTY_SECRET,
  routingKeyItem,
  SLACK_ITEMS,
  SLACK_SECRET,
} from '../alertmanager-config.js';
import type { TeamName } from '../config.js';
import { type KubeContext, metadata } from './common.js';

/**
 * Alertmanager through prometheus-operator: the Alertmanager resource, its configuration in the Secret
 * `alertmanager-<name>` (key `alertmanager.yaml`, the layout the operator reads), and the Secrets holding
 * the credentials the configuration refers to by file: the PagerDuty routing keys (one per team), the
 * Slack webhook URLs and the bearer token of the operator's drill webhook. Those values are Pulumi secrets:
 * encrypted in the state, masked in the CLI.
 */

export const ALERTMANAGER_NAME = 'novapos';

export interface AlertmanagerArgs {
  readonly config: Record<string, unknown>;
  /** Per team, the Events v2 routing key (a secret Output); absent when critical alerts do not page. */
  readonly routingKeys?: Readonly<Record<TeamName, pulumi.Output<string>>>;
  readonly slackWebhookUrls: {
    readonly security: pulumi.Output<string>;
    readonly sre: pulumi.Output<string>;
  };
  /** The bearer token the drill receiver sends to the operator's drill webhook (a secret Output). */
  readonly drillWebhookToken: pulumi.Output<string>;
}

export function createAlertmanager(ctx: KubeContext, args: AlertmanagerArgs) {
  const { cfg, opts } = ctx;
  const mounted: string[] = [SLACK_SECRET, DRILL_WEBHOOK_SECRET];

  const slack = new k8s.core.v1.Secret(
    'slack-webhooks',
    {
      metadata: metadata(ctx, SLACK_SECRET),
      type: 'Opaque',
      stringData: {
        [SLACK_ITEMS.security]: pulumi.secret(args.slackWebhookUrls.security),
        [SLACK_ITEMS.sre]: pulumi.secret(args.slackWebhookUrls.sre),
      },
    },
    opts,
  );

  const drillWebhook = new k8s.core.v1.Secret(
    'drill-webhook-token',
    {
      metadata: metadata(ctx, DRILL_WEBHOOK_SECRET),
      type: 'Opaque',
      stringData: { [DRILL_WEBHOOK_TOKEN_ITEM]: pulumi.secret(args.drillWebhookToken) },
    },
    opts,
  );

  let routing: k8s.core.v1.Secret | undefined;
  if (args.routingKeys) {
    mounted.unshift(PAGERDUTY_SECRET);
    routing = new k8s.core.v1.Secret(
      'pagerduty-routing-keys',
      {
        metadata: metadata(ctx, PAGERDUTY_SECRET),
        type: 'Opaque',
        stringData: {
          [routingKeyItem('security')]: pulumi.secret(args.routingKeys.security),
          [routingKeyItem('platform')]: pulumi.secret(args.routingKeys.platform),
        },
      },
      opts,
    );
  }

  const configSecret = new k8s.core.v1.Secret(
    'alertmanager-config',
    {
      metadata: metadata(ctx, `alertmanager-${ALERTMANAGER_NAME}`),
      type: 'Opaque',
      stringData: { 'alertmanager.yaml': stringify(args.config, { lineWidth: 0 }) },
    },
    opts,
  );

  const alertmanager = new k8s.apiextensions.CustomResource(
    'alertmanager',
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'Alertmanager',
      metadata: metadata(ctx, ALERTMANAGER_NAME),
      spec: {
        replicas: cfg.alertmanager.replicas,
        // Mounted at /etc/alertmanager/secrets/<name>/: the *_file settings of the config point there.
        secrets: mounted,
      },
    },
    { ...opts, dependsOn: [configSecret, slack, drillWebhook, ...(routing ? [routing] : [])] },
  );
  return { alertmanager, configSecret, routing, slack, drillWebhook };
}
