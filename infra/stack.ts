import path from 'node:path';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import {
  type AlertmanagerConfigFn,
  buildAlertmanagerConfig,
  DRILL_WEBHOOK_TOKEN_ITEM,
} from './alertmanager-config.js';
import { CONFIG_NAMESPACE, SECRET_KEYS, type StackConfig, StackConfigError } from './config.js';
import { createAlertmanager } from './kube/alertmanager.js';
import { annotations, type KubeContext, PART_OF } from './kube/common.js';
import { createGrafana } from './kube/grafana.js';
import { applyManifests } from './kube/manifests.js';
import { createPrometheus } from './kube/prometheus.js';
import { createPagerDuty } from './pagerduty.js';
import {
  appliesService,
  isDatabaseRoleSetup,
  logsInAsDatabaseRole,
  type Sources,
  scrapedBy,
  withoutObjectsIn,
} from './sources.js';

/**
 * The whole stack, built from the validated config, the secrets, the project's rendered files and the
 * Alertmanager routing code. Nothing in here reads the stack's name: two stacks with the same config are the
 * same resource graph, so every difference between dev, staging and prod is a config value.
 */

/** The Secret (item `token`) the operator reads its drill webhook's bearer token from. */
export const OPERATOR_DRILL_WEBHOOK_SECRET = 'novapos-operator-drill-webhook';

export interface StackSecrets {
  readonly slackSecurityWebhookUrl: pulumi.Output<string>;
  readonly slackSreWebhookUrl: pulumi.Output<string>;
  readonly grafanaAdminPassword: pulumi.Output<string>;
  /** Bearer token of the operator's drill webhook: sent by Alertmanager, checked by the operator. */
  readonly drillWebhookToken: pulumi.Output<string>;
}

/** Reads the secrets with requireSecret, after checking they are all set (one error listing the missing). */
export function readSecrets(config: pulumi.Config, cfg: StackConfig): StackSecrets {
  const required: string[] = [
    SECRET_KEYS.slackSecurityWebhookUrl,
    SECRET_KEYS.slackSreWebhookUrl,
    SECRET_KEYS.drillWebhookToken,
  ];
  if (cfg.grafana.enabled) required.push(SECRET_KEYS.grafanaAdminPassword);
  const missing = required.filter((key) => config.getSecret(key) === undefined);
  if (cfg.pagerduty.enabled && new pulumi.Config('pagerduty').getSecret('token') === undefined) {
    missing.push('pagerduty:token');
  }
  if (missing.length > 0) {
    throw new StackConfigError(
      missing.map(
        (key) =>
          `${key.includes(':') ? key : `${CONFIG_NAMESPACE}:${key}`}: missing secret (set it with pulumi config set --secret)`,
      ),
    );
  }
  return {
    slackSecurityWebhookUrl: config.requireSecret(SECRET_KEYS.slackSecurityWebhookUrl),
    slackSreWebhookUrl: config.requireSecret(SECRET_KEYS.slackSreWebhookUrl),
    drillWebhookToken: config.requireSecret(SECRET_KEYS.drillWebhookToken),
    grafanaAdminPassword: cfg.grafana.enabled
      ? config.requireSecret(SECRET_KEYS.grafanaAdminPassword)
      : pulumi.secret(''),
  };
}

export interface StackInputs {
  readonly cfg: StackConfig;
  readonly secrets: StackSecrets;
  readonly sources: Sources;
  readonly alertmanagerConfig: AlertmanagerConfigFn;
}

/** The services chart in charts/dist; `features.services` says which of it is applied. */
export const SERVICES_CHART_FILE = 'novapos-services.yaml';

export function createStack({ cfg, secrets, sources, alertmanagerConfig }: StackInputs) {
  for (const line of sources.missing) pulumi.log.warn(line);
  const problems: string[] = [];
  if (cfg.features.crds && sources.crds.length === 0)
    problems.push('features.crds is on but crds/*.yaml is empty');
  if (cfg.features.charts && sources.charts.length === 0) {
    problems.push(
      'features.charts is on but charts/dist/*.yaml is missing (synthesize the charts, or set novapos:features.charts false)',
    );
  }
  if (problems.length > 0) throw new StackConfigError(problems);

  const namespace = new k8s.core.v1.Namespace('monitoring', {
    metadata: { name: cfg.monitoringNamespace, labels: { ...PART_OF }, annotations: annotations(cfg) },
  });
  const ctx: KubeContext = { cfg, namespace: namespace.metadata.name, opts: { dependsOn: [namespace] } };

  const paging = createPagerDuty(cfg);
  const page = cfg.alerting.pageOnCritical && paging !== undefined;
  if (cfg.alerting.pageOnCritical && !paging) {
    pulumi.log.warn(
      'alerting.pageOnCritical is on but pagerduty.enabled is off: critical alerts go to Slack',
    );
  }

  const amConfig = buildAlertmanagerConfig(alertmanagerConfig, {
    securityChannel: cfg.alerting.slackSecurityChannel,
    sreChannel: cfg.alerting.slackSreChannel,
    page,
    drillWebhookUrl: `http://novapos-operator.${cfg.operatorNamespace}.svc:8082/drills/alert-delivery`,
    timings: {
      ...(cfg.alerting.groupWait ? { groupWait: cfg.alerting.groupWait } : {}),
      ...(cfg.alerting.groupInterval ? { groupInterval: cfg.alerting.groupInterval } : {}),
      ...(cfg.alerting.repeatInterval ? { repeatInterval: cfg.alerting.repeatInterval } : {}),
    },
  });

  const crds = cfg.features.crds ? applyManifests('crds', sources.crds, cfg.skipAwait, {}) : undefined;
  // The charts ship a copy of the CRDs and their own ServiceMonitors: each object gets one owner here.
  // Without the services, their chart's Namespace stays: the operator's chart grants Roles in it.
  const chartSources = sources.charts.map((f) =>
    path.basename(f.file) === SERVICES_CHART_FILE
      ? { ...f, objects: f.objects.filter((o) => appliesService(cfg.features.services, o)) }
      : f,
  );
  const chartFiles = cfg.features.crds ? withoutObjectsIn(chartSources, sources.crds) : chartSources;
  const prom = createPrometheus(ctx, sources.rules, cfg.features.charts ? scrapedBy(chartFiles) : new Set());
  const am = createAlertmanager(ctx, {
    config: amConfig,
    ...(page && paging
      ? { routingKeys: { security: paging.security.routingKey, platform: paging.platform.routingKey } }
      : {}),
    slackWebhookUrls: { security: secrets.slackSecurityWebhookUrl, sre: secrets.slackSreWebhookUrl },
    drillWebhookToken: secrets.drillWebhookToken,
  });
  const grafana = createGrafana(ctx, {
    dashboards: sources.dashboards,
    adminPassword: secrets.grafanaAdminPassword,
  });
  const charts = cfg.features.charts
    ? applyManifests(
        'charts',
        chartFiles,
        cfg.skipAwait,
        crds ? { dependsOn: [crds.group] } : {},
        // docs/deploying.md's order: the database-role Job once auth-service has migrated (it grants on
        // auth-service's tables), then the gateway and the audit-service, which log in as its roles: with
        // await on, each step starts once the one before is ready (no crash loop meanwhile).
        [isDatabaseRoleSetup, logsInAsDatabaseRole],
      )
    : undefined;
  // The operator's side of the drill webhook token, in the namespace the charts create (hence after them).
  // The operator Deployment mounts this Secret as an optional volume and re-reads the file, so the Secret
  // does not have to exist before the Deployment.
  if (charts) {
    const operatorAnnotations = annotations(cfg);
    new k8s.core.v1.Secret(
      'operator-drill-webhook-token',
      {
        metadata: {
          name: OPERATOR_DRILL_WEBHOOK_SECRET,
          namespace: cfg.operatorNamespace,
          labels: { ...PART_OF },
          ...(Object.keys(operatorAnnotations).length > 0 ? { annotations: operatorAnnotations } : {}),
        },
        type: 'Opaque',
        stringData: { [DRILL_WEBHOOK_TOKEN_ITEM]: pulumi.secret(secrets.drillWebhookToken) },
      },
      { dependsOn: [charts.group] },
    );
  }

  return {
    environment: cfg.environment,
    monitoringNamespace: namespace.metadata.name,
    prometheus: prom.prometheus.metadata.name,
    alertmanager: am.alertmanager.metadata.name,
    paging: page ? 'pagerduty' : 'slack',
    crds: crds?.applied ?? [],
    charts: charts?.applied ?? [],
    dashboards: grafana.dashboardMaps.map((m) => m.metadata.name),
    prometheusRules: prom.prometheusRules.map((r) => r.metadata.name),
    pagerdutyServices: paging
      ? { security: paging.security.serviceId, platform: paging.platform.serviceId }
      : undefined,
    /** Secret outputs: shown as [secret] unless `pulumi stack output --show-secrets`. */
    pagerdutyRoutingKeys: paging
      ? { security: paging.security.routingKey, platform: paging.platform.routingKey }
      : undefined,
  };
}
