import * as k8s from '@pulumi/kubernetes';
import type { RuleFile } from '../sources.js';
import { type KubeContext, MONITORING_SELECTOR, metadata } from './common.js';

/**
 * Prometheus through prometheus-operator: the Prometheus resource and its RBAC, one ServiceMonitor per
 * service (ports from docs/contracts.md), one PrometheusRule per alerts/*.rules.yaml file. The operator
 * itself (and its CRDs) is a prerequisite of the cluster, as for kube-prometheus.
 */

export const PROMETHEUS_NAME = 'novapos';

/** What is scraped: Service label `app.kubernetes.io/name` → metrics port (contracts: Ports). */
export const SCRAPE_TARGETS = [
  { name: 'auth-service', port: 9085, where: 'app' },
  { name: 'integration-gateway', port: 8083, where: 'app' },
  { name: 'novapos-operator', port: 8080, where: 'operator' },
] as const;

/** ServiceMonitors are selected by this label, so the ones the charts ship are scraped too. */
export const SERVICE_MONITOR_SELECTOR = {
  matchExpressions: [
    { key: 'app.kubernetes.io/part-of', operator: 'In', values: ['novapos', 'novapos-security'] },
  ],
};

/**
 * `scrapedByCharts`: the targets (by `app.kubernetes.io/name`) the applied charts already have a
 * ServiceMonitor for; this program adds one only for the others.
 */
export function createPrometheus(
  ctx: KubeContext,
  rules: readonly RuleFile[],
  scrapedByCharts: ReadonlySet<string>,
) {
  const { cfg, opts } = ctx;
  const sa = new k8s.core.v1.ServiceAccount('prometheus', { metadata: metadata(ctx, 'prometheus') }, opts);
  const role = new k8s.rbac.v1.ClusterRole(
    'prometheus',
    {
      metadata: { ...metadata(ctx, `novapos-prometheus-${cfg.monitoringNamespace}`), namespace: undefined },
      rules: [
        { apiGroups: [''], resources: ['services', 'endpoints', 'pods'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
        { nonResourceURLs: ['/metrics'], verbs: ['get'] },
      ],
    },
    opts,
  );
  new k8s.rbac.v1.ClusterRoleBinding(
    'prometheus',
    {
      metadata: { ...metadata(ctx, `novapos-prometheus-${cfg.monitoringNamespace}`), namespace: undefined },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name },
      subjects: [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: ctx.namespace }],
    },
    opts,
  );

  const prometheus = new k8s.apiextensions.CustomResource(
    'prometheus',
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'Prometheus',
      metadata: metadata(ctx, PROMETHEUS_NAME),
      spec: {
        replicas: cfg.prometheus.replicas,
        retention: cfg.prometheus.retention,
        scrapeInterval: cfg.prometheus.scrapeInterval,
        evaluationInterval: cfg.prometheus.scrapeInterval,
        serviceAccountName: sa.metadata.name,
        externalLabels: { environment: cfg.environment },
        serviceMonitorSelector: SERVICE_MONITOR_SELECTOR,
        serviceMonitorNamespaceSelector: {},
        ruleSelector: { matchLabels: MONITORING_SELECTOR },
        alerting: {
          alertmanagers: [{ namespace: ctx.namespace, name: 'alertmanager-operated', port: 'web' }],
        },
        ...(cfg.prometheus.storageSize
          ? {
              storage: {
                volumeClaimTemplate: {
                  spec: {
                    accessModes: ['ReadWriteOnce'],
                    resources: { requests: { storage: cfg.prometheus.storageSize } },
                  },
                },
              },
            }
          : {}),
      },
    },
    opts,
  );

  const serviceMonitors = SCRAPE_TARGETS.filter((t) => !scrapedByCharts.has(t.name)).map(
    (target) =>
      new k8s.apiextensions.CustomResource(
        `servicemonitor-${target.name}`,
        {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'ServiceMonitor',
          metadata: metadata(ctx, target.name, MONITORING_SELECTOR),
          spec: {
            jobLabel: 'app.kubernetes.io/name',
            selector: { matchLabels: { 'app.kubernetes.io/name': target.name } },
            namespaceSelector: {
              matchNames: target.where === 'operator' ? [cfg.operatorNamespace] : [...cfg.appNamespaces],
            },
            endpoints: [
              { targetPort: target.port, path: '/metrics', interval: cfg.prometheus.scrapeInterval },
            ],
          },
        },
        opts,
      ),
  );

  const prometheusRules = rules.map(
    (file) =>
      new k8s.apiextensions.CustomResource(
        `prometheusrule-${file.name}`,
        {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'PrometheusRule',
          metadata: metadata(ctx, `novapos-${file.name}`, {
            ...MONITORING_SELECTOR,
            'novapos.io/rules': file.name,
          }),
          spec: { groups: file.groups },
        },
        opts,
      ),
  );

  return { prometheus, serviceMonitors, prometheusRules };
}
