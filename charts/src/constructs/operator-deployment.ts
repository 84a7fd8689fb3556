import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import {
  httpProbe,
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
  spreadOverNodes,
} from './hardening.js';
import { selectorLabels } from './labels.js';

/** Where the operator reads the drill webhook's bearer token (Secret `<name>-drill-webhook`, key `token`). */
const DRILL_WEBHOOK_DIR = '/etc/novapos/drill-webhook';
/** Where the operator reads its connections file (OPERATOR_CONNECTIONS_FILE), from the connections Secret. */
const CONNECTIONS_DIR = '/etc/novapos/connections';
const CONNECTIONS_FILE_NAME = 'connections.yaml';
export const CONNECTIONS_FILE = `${CONNECTIONS_DIR}/${CONNECTIONS_FILE_NAME}`;

export interface OperatorDeploymentProps {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccountName: string;
  /** Container image, with tag or digest. */
  readonly image: string;
  /** Default 2: one leader, one warm standby. */
  readonly replicas?: number;
  /** Default 8080. */
  readonly metricsPort?: number;
  /** Default 8081. */
  readonly probesPort?: number;
  /** Namespaces to reconcile; default all. */
  readonly watchNamespaces?: readonly string[];
  /** Default `info`. */
  readonly logLevel?: string;
  /** This environment's Vault address (`VAULT_ADDR`); default none. */
  readonly vaultAddress?: string;
  /** Vault Kubernetes auth role; default `novapos-operator` when `vaultAddress` is set. */
  readonly vaultRole?: string;
  /**
   * The operator's connections file (named Vault connections, promotion policy, keyStatusEndpoints,
   * tenantOwners: operator/src/connections-file.ts) from a Secret the user creates, or External Secrets /
   * the Vault Secrets Operator syncs; the chart names it, never holds it. Mounted optional: without the
   * Secret the operator runs as without a file and logs so; it reads the file at start (restart it after a
   * change). Default none.
   */
  readonly connectionsSecret?: {
    readonly name: string /** Default `connections.yaml`. */;
    readonly key?: string;
  };
  /** Further plain settings (drill endpoints, ALERTMANAGER_URL); default none. */
  readonly env?: Readonly<Record<string, string>>;
  /** Secret with key `REDIS_URL` (TenantRateLimits, drills); optional in the pod. Default `<name>-redis`. */
  readonly redisUrlSecret?: string;
  /** Port of the drill webhook (Alertmanager's drill receiver). Default 8082. */
  readonly drillWebhookPort?: number;
  /** Default requests 100m / 256Mi (measured: ~250-360 MiB RSS at 1,000-10,000 objects), limits 500m / 512Mi. */
  readonly resources?: k8s.ResourceRequirements;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The operator pods: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp. */
export class OperatorDeployment extends Construct {
  constructor(scope: Construct, id: string, props: OperatorDeploymentProps) {
    super(scope, id);
    const metricsPort = props.metricsPort ?? 8080;
    const probesPort = props.probesPort ?? 8081;
    const selector = selectorLabels(props.name);
    const env: k8s.EnvVar[] = [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'OPERATOR_LEASE_NAME', value: props.name },
      { name: 'OPERATOR_METRICS_PORT', value: String(metricsPort) },
      { name: 'OPERATOR_PROBES_PORT', value: String(probesPort) },
      { name: 'LOG_LEVEL', value: props.logLevel ?? 'info' },
      ...(props.watchNamespaces?.length
        ? [{ name: 'OPERATOR_WATCH_NAMESPACES', value: props.watchNamespaces.join(',') }]
        : []),
      ...(props.vaultAddress
        ? [
            { name: 'VAULT_ADDR', value: props.vaultAddress },
            { name: 'VAULT_KUBERNETES_ROLE', value: props.vaultRole ?? 'novapos-operator' },
          ]
        : []),
      ...(props.connectionsSecret
        ? [
            { name: 'OPERATOR_CONNECTIONS_FILE', value: CONNECTIONS_FILE },
            { name: 'OPERATOR_CONNECTIONS_FILE_OPTIONAL', value: 'true' },
          ]
        : []),
      {
        name: 'REDIS_URL',
        valueFrom: {
          secretKeyRef: {
            name: props.redisUrlSecret ?? `${props.name}-redis`,
            key: 'REDIS_URL',
            optional: true,
          },
        },
      },
      { name: 'DRILL_WEBHOOK_PORT', value: String(props.drillWebhookPort ?? 8082) },
      { name: 'DRILL_WEBHOOK_TOKEN_FILE', value: `${DRILL_WEBHOOK_DIR}/token` },
      ...Object.entries(props.env ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, value]) => ({ name, value })),
    ];
    const volumes: k8s.Volume[] = [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }];
    const mounts: k8s.VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
    // The bearer token Alertmanager's drill receiver sends (the Pulumi program creates the Secret). Optional:
    // the pod starts without it and the kubelet fills the file in when the Secret appears; until then the
    // operator refuses every drill delivery.
    volumes.push({
      name: 'drill-webhook',
      secret: { secretName: `${props.name}-drill-webhook`, optional: true, defaultMode: 0o440 },
    });
    mounts.push({ name: 'drill-webhook', mountPath: DRILL_WEBHOOK_DIR, readOnly: true });
    if (props.connectionsSecret) {
      // Group-readable by the pod's fsGroup (10001), the file name fixed whatever the Secret's key.
      volumes.push({
        name: 'connections',
        secret: {
          secretName: props.connectionsSecret.name,
          optional: true,
          defaultMode: 0o440,
          items: [{ key: props.connectionsSecret.key ?? 'connections.yaml', path: CONNECTIONS_FILE_NAME }],
        },
      });
      mounts.push({ name: 'connections', mountPath: CONNECTIONS_DIR, readOnly: true });
    }
    new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        replicas: props.replicas ?? 2,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...props.labels, ...selector } },
          spec: {
            serviceAccountName: props.serviceAccountName,
            automountServiceAccountToken: true,
            // Longer than the operator's 30 s drain, so SIGTERM always ends in a released lease.
            terminationGracePeriodSeconds: 40,
            securityContext: restrictedPodSecurityContext(),
            affinity: spreadOverNodes(selector),
            containers: [
              {
                name: 'operator',
                image: props.image,
                imagePullPolicy: 'IfNotPresent',
                env,
                ports: [
                  { name: 'metrics', containerPort: metricsPort, protocol: 'TCP' },
                  { name: 'probes', containerPort: probesPort, protocol: 'TCP' },
                  { name: 'drill-webhook', containerPort: props.drillWebhookPort ?? 8082, protocol: 'TCP' },
                ],
                livenessProbe: httpProbe('/healthz', 'probes', 10),
                readinessProbe: httpProbe('/readyz', 'probes', 5),
                resources: props.resources ?? {
                  requests: {
                    cpu: k8s.Quantity.fromString('100m'),
                    memory: k8s.Quantity.fromString('256Mi'),
                  },
                  limits: { cpu: k8s.Quantity.fromString('500m'), memory: k8s.Quantity.fromString('512Mi') },
                },
                securityContext: restrictedContainerSecurityContext(),
                volumeMounts: mounts,
              },
            ],
            volumes,
          },
        },
      },
    });
  }
}
