import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';
import { AdmissionPolicies } from './constructs/admission-policies.js';
import { CrdManifests } from './constructs/crd-manifests.js';
import { commonLabels, selectorLabels } from './constructs/labels.js';
import { OperatorDeployment, type OperatorDeploymentProps } from './constructs/operator-deployment.js';
import { OperatorDisruptionBudget } from './constructs/operator-disruption-budget.js';
import { OperatorDrillWebhookService } from './constructs/operator-drill-webhook-service.js';
import { OperatorFingerprintKey } from './constructs/operator-fingerprint-key.js';
import { OperatorMetricsService } from './constructs/operator-metrics-service.js';
import { OperatorNamespace } from './constructs/operator-namespace.js';
import {
  OperatorNetworkPolicy,
  type OperatorNetworkPolicyProps,
} from './constructs/operator-network-policy.js';
import { OperatorRbac } from './constructs/operator-rbac.js';
import { OperatorServiceAccount } from './constructs/operator-service-account.js';
import { OperatorServiceMonitor } from './constructs/operator-service-monitor.js';

/** The operator's kinds; the RBAC covers these even before crds/ is generated. */
export const OPERATOR_RESOURCES = [
  'disasterrecoverydrills',
  'secretpromotions',
  'signingkeyrotations',
  'tenantratelimits',
] as const;

/**
 * The Secrets a drill reads in its namespace, as docs/drills.md sets them up: the synthetic tenant admin's
 * credentials (syntheticTenant.credentialsSecretRef) and the audit-service's admin token for the auditCatchUp
 * step's pause/resume (steps.auditCatchUp.adminTokenSecretRef). A drill that names other Secrets needs
 * `drills.credentialsSecrets`.
 */
export const DEFAULT_DRILL_CREDENTIALS_SECRETS = [
  'drill-synthetic-credentials',
  'drill-audit-admin',
] as const;

export interface OperatorChartProps extends ChartProps {
  /** Folder of the CRDs to ship (the repository's `crds/`). */
  readonly crdDir: string;
  /** Folder of the admission policies to ship (the repository's `operator/admission/`); none when absent. */
  readonly admissionDir?: string;
  /** Default `novapos-system`. */
  readonly operatorNamespace?: string;
  /** Name of the Deployment, ServiceAccount, RBAC and Lease. Default `novapos-operator`. */
  readonly name?: string;
  /** Default `ghcr.io/novapos/security-operator:<version>`. */
  readonly image?: string;
  /** Default `0.1.0`. */
  readonly version?: string;
  /**
   * Where DisasterRecoveryDrills reach the services and Alertmanager, and the namespaces whose drills keep
   * credentials Secrets. Defaults: the services chart's Services in `novapos`, prometheus-operator's
   * `alertmanager-operated` in `monitoring`, drills in `novapos`.
   */
  readonly drills?: {
    readonly authServiceUrl?: string;
    readonly gatewayUrl?: string;
    readonly alertmanagerUrl?: string;
    /** The audit-service's admin port, for the auditCatchUp step's pause/resume (DRILL_AUDIT_SERVICE_URL). */
    readonly auditServiceUrl?: string;
    readonly namespaces?: readonly string[];
    /**
     * Names of the Secrets the operator may read in those namespaces (get, by name only); default
     * DEFAULT_DRILL_CREDENTIALS_SECRETS: `drill-synthetic-credentials` and `drill-audit-admin`.
     */
    readonly credentialsSecrets?: readonly string[];
  };
  /**
   * This environment's Vault (`VAULT_ADDR`: a SigningKeyRotation's and a promotion's `connection: local`), reached
   * with the Kubernetes auth role `novapos-operator`. Default `http://vault.vault.svc:8200`, as the services chart.
   */
  readonly vaultAddress?: string;
  /**
   * The Secret in the operator's namespace holding its connections file (OPERATOR_CONNECTIONS_FILE: Vault
   * connections with their promotion policy, keyStatusEndpoints, tenantOwners), under `key`. Default
   * `<name>-connections`, key `connections.yaml`, mounted optional; `false`: none mounted.
   */
  readonly connections?: { readonly secretName?: string; readonly key?: string } | false;
  /** Secrets in the operator's namespace holding Vault connection tokens (connections file, tokenSecret). */
  readonly connectionTokenSecrets?: readonly string[];
  /** Default true; off where prometheus-operator is not installed. */
  readonly serviceMonitor?: boolean;
  /** Where the operator's egress may go (Vault, Redis, the apiserver's addresses); defaults in the construct. */
  readonly network?: Partial<
    Omit<OperatorNetworkPolicyProps, 'name' | 'namespace' | 'podSelector' | 'labels'>
  >;
  readonly deployment?: Partial<
    Omit<OperatorDeploymentProps, 'name' | 'namespace' | 'serviceAccountName' | 'image'>
  >;
}

/** Everything the operator needs in a cluster: CRDs, namespace, identity, RBAC, pods, metrics scraping. */
export class OperatorChart extends Chart {
  constructor(scope: Construct, id: string, props: OperatorChartProps) {
    super(scope, id, props);
    const name = props.name ?? 'novapos-operator';
    const namespace = props.operatorNamespace ?? 'novapos-system';
    const version = props.version ?? '0.1.0';
    const labels = commonLabels(name, version);

    const crds = new CrdManifests(this, 'Crds', { dir: props.crdDir });
    if (props.admissionDir) new AdmissionPolicies(this, 'Admission', { dir: props.admissionDir });
    new OperatorNamespace(this, 'Namespace', {
      name: namespace,
      labels: { 'app.kubernetes.io/part-of': 'novapos-security' },
    });
    const sa = new OperatorServiceAccount(this, 'ServiceAccount', { name, namespace, labels });
    const resources = new Set<string>(OPERATOR_RESOURCES);
    for (const r of crds.resources) if (r.group === 'security.novapos.io') resources.add(r.plural);
    const fingerprintKey = new OperatorFingerprintKey(this, 'FingerprintKey', { namespace, labels });
    new OperatorRbac(this, 'Rbac', {
      name,
      namespace,
      serviceAccountName: sa.name,
      resources: [...resources],
      drillNamespaces: props.drills?.namespaces ?? ['novapos'],
      drillCredentialsSecrets: props.drills?.credentialsSecrets ?? [...DEFAULT_DRILL_CREDENTIALS_SECRETS],
      fingerprintKeySecret: fingerprintKey.name,
      connectionTokenSecrets: props.connectionTokenSecrets,
      labels,
    });
    new OperatorDeployment(this, 'Deployment', {
      vaultAddress: props.vaultAddress ?? 'http://vault.vault.svc:8200',
      ...(props.connections === false
        ? {}
        : {
            connectionsSecret: {
              name: props.connections?.secretName ?? `${name}-connections`,
              key: props.connections?.key,
            },
          }),
      ...props.deployment,
      name,
      namespace,
      serviceAccountName: sa.name,
      image: props.image ?? `ghcr.io/novapos/security-operator:${version}`,
      env: {
        DRILL_AUTH_SERVICE_URL: props.drills?.authServiceUrl ?? 'http://auth-service.novapos.svc:8085',
        DRILL_GATEWAY_URL: props.drills?.gatewayUrl ?? 'http://integration-gateway.novapos.svc:8083',
        // The gateway's /metrics is on its admin port (docs/contracts.md, "Ports").
        DRILL_GATEWAY_METRICS_URLS: 'http://integration-gateway.novapos.svc:9083/metrics',
        ALERTMANAGER_URL: props.drills?.alertmanagerUrl ?? 'http://alertmanager-operated.monitoring.svc:9093',
        DRILL_AUDIT_SERVICE_URL: props.drills?.auditServiceUrl ?? 'http://audit-service.novapos.svc:9087',
        // V8 grows its young generation to 128 MiB in a burst of events and keeps it: with 8 MiB semi-spaces the
        // operator's RSS stays flat as objects grow (bench/README.md, "Operator throughput and memory").
        NODE_OPTIONS: '--max-semi-space-size=8',
        ...props.deployment?.env,
      },
      labels,
    });
    // Alertmanager's drill receiver posts here (alerts/alertmanager/config.ts: novapos-operator...:8082).
    new OperatorDrillWebhookService(this, 'DrillWebhookService', { name, namespace, labels });
    new OperatorDisruptionBudget(this, 'DisruptionBudget', { name, namespace, labels });
    new OperatorNetworkPolicy(this, 'NetworkPolicy', {
      ...props.network,
      name,
      namespace,
      podSelector: selectorLabels(name),
      labels,
    });
    new OperatorMetricsService(this, 'MetricsService', {
      name,
      namespace,
      port: props.deployment?.metricsPort,
      labels,
    });
    if (props.serviceMonitor ?? true) {
      new OperatorServiceMonitor(this, 'ServiceMonitor', { name, namespace, serviceLabels: labels, labels });
    }
  }
}
