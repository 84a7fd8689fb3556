import * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';
import { stringify } from 'yaml';
import type { Dashboard } from '../sources.js';
import { type KubeContext, metadata } from './common.js';

/**
 * Grafana with file provisioning: a Prometheus datasource, a dashboard provider, and one ConfigMap per
 * dashboard (dashboards/*.json), mounted into /var/lib/grafana/dashboards. The dashboard ConfigMaps also carry
 * the `grafana_dashboard: "1"` label, so a Grafana with the k8s-sidecar (kube-prometheus-stack) picks them up
 * as well.
 */

export const DASHBOARD_LABEL = { grafana_dashboard: '1' } as const;
const labels = { 'app.kubernetes.io/name': 'grafana' };

export function createGrafana(
  ctx: KubeContext,
  args: { readonly dashboards: readonly Dashboard[]; readonly adminPassword: pulumi.Output<string> },
) {
  const { cfg, opts } = ctx;
  const prometheusUrl = `http://prometheus-operated.${cfg.monitoringNamespace}.svc:9090`;

  const dashboardMaps = args.dashboards.map(
    (d) =>
      new k8s.core.v1.ConfigMap(
        `dashboard-${d.name}`,
        {
          metadata: metadata(ctx, `grafana-dashboard-${d.name}`, {
            ...DASHBOARD_LABEL,
            'novapos.io/dashboard-uid': d.uid,
          }),
          data: { [`${d.name}.json`]: d.json },
        },
        opts,
      ),
  );
  if (!cfg.grafana.enabled) return { dashboardMaps };

  const provisioning = new k8s.core.v1.ConfigMap(
    'grafana-provisioning',
    {
      metadata: metadata(ctx, 'grafana-provisioning'),
      data: {
        'datasources.yaml': stringify({
          apiVersion: 1,
          datasources: [
            {
              name: 'Prometheus',
              uid: 'prometheus',
              type: 'prometheus',
              access: 'proxy',
              url: prometheusUrl,
              isDefault: true,
            },
          ],
        }),
        'dashboards.yaml': stringify({
          apiVersion: 1,
          providers: [
            {
              name: 'novapos',
              folder: 'NovaPOS',
              type: 'file',
              disableDeletion: true,
              allowUiUpdates: false,
              options: { path: '/var/lib/grafana/dashboards' },
            },
          ],
        }),
      },
    },
    opts,
  );
  const admin = new k8s.core.v1.Secret(
    'grafana-admin',
    {
      metadata: metadata(ctx, 'grafana-admin'),
      type: 'Opaque',
      stringData: { 'admin-password': args.adminPassword },
    },
    opts,
  );

  const deployment = new k8s.apps.v1.Deployment(
    'grafana',
    {
      metadata: metadata(ctx, 'grafana', labels),
      spec: {
        replicas: cfg.grafana.replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 472, fsGroup: 472 },
            containers: [
              {
                name: 'grafana',
                image: cfg.grafana.image,
                ports: [{ name: 'http', containerPort: 3000 }],
                env: [
                  { name: 'GF_SECURITY_ADMIN_USER', value: 'admin' },
                  {
                    name: 'GF_SECURITY_ADMIN_PASSWORD',
                    valueFrom: { secretKeyRef: { name: admin.metadata.name, key: 'admin-password' } },
                  },
                  { name: 'GF_AUTH_ANONYMOUS_ENABLED', value: 'false' },
                ],
                readinessProbe: { httpGet: { path: '/api/health', port: 'http' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: false },
                volumeMounts: [
                  {
                    name: 'provisioning',
                    mountPath: '/etc/grafana/provisioning/datasources/novapos.yaml',
                    subPath: 'datasources.yaml',
                  },
                  {
                    name: 'provisioning',
                    mountPath: '/etc/grafana/provisioning/dashboards/novapos.yaml',
                    subPath: 'dashboards.yaml',
                  },
                  { name: 'dashboards', mountPath: '/var/lib/grafana/dashboards', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'provisioning', configMap: { name: provisioning.metadata.name } },
              {
                name: 'dashboards',
                projected: { sources: dashboardMaps.map((m) => ({ configMap: { name: m.metadata.name } })) },
              },
            ],
          },
        },
      },
    },
    opts,
  );
  const service = new k8s.core.v1.Service(
    'grafana',
    {
      metadata: metadata(ctx, 'grafana', labels),
      spec: { selector: labels, ports: [{ name: 'http', port: 3000, targetPort: 'http' }] },
    },
    opts,
  );
  return { dashboardMaps, provisioning, deployment, service };
}
