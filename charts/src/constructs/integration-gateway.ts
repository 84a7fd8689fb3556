import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import {
  httpProbe,
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
  spreadOverNodes,
} from './hardening.js';

export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

export interface IntegrationGatewayProps {
  readonly namespace: string;
  /** Container image, with tag or digest. */
  readonly image: string;
  /** Default `integration-gateway`. */
  readonly name?: string;
  /** Default 2. */
  readonly replicas?: number;
  /** Default 8083 (the runbooks' port). */
  readonly port?: number;
  /** `REDIS_URL` as a plain value (no password in it); or use `redisUrlSecret`. */
  readonly redisUrl?: string;
  /** `REDIS_URL` from a Secret (when the URL carries a password). */
  readonly redisUrlSecret?: SecretKeyRef;
  /** `DATABASE_URL` from a Secret: auth-service's database (api_keys) where the gateway also keeps api_key_usage. */
  readonly databaseUrlSecret?: SecretKeyRef;
  /** auth-service's JWKS, e.g. `http://auth-service:8085/.well-known/jwks.json`. */
  readonly jwksUrl: string;
  /** Default `https://auth.novapos.local`. */
  readonly issuer?: string;
  /** Default `novapos-api`. */
  readonly audience?: string;
  /** Where allowed requests go; default none (only the gateway's own routes answer). */
  readonly upstreamUrl?: string;
  /** `GATEWAY_RATE_LIMIT_RPM` for tenants without a TenantRateLimit. Default 600. */
  readonly defaultRequestsPerMinute?: number;
  /** Tenants that get their own metric label besides those with a TenantRateLimit. Default none. */
  readonly metricTenants?: readonly string[];
  /** Default `info`. */
  readonly logLevel?: string;
  /** Default requests 100m / 128Mi, limits 1 / 512Mi. */
  readonly resources?: k8s.ResourceRequirements;
  /** Default `30s`. */
  readonly scrapeInterval?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export function gatewaySelectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'gateway' };
}

/**
 * The integration gateway: a Deployment (non-root, read-only root filesystem, no capabilities,
 * RuntimeDefault seccomp, liveness on /healthz, readiness on /readyz), a ClusterIP Service on 8083 and a
 * prometheus-operator ServiceMonitor for /metrics. Each pod's name is its replica id in the
 * acknowledgement hashes the TenantRateLimit controller reads.
 */
export class IntegrationGateway extends Construct {
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: IntegrationGatewayProps) {
    super(scope, id);
    const name = props.name ?? 'integration-gateway';
    const port = props.port ?? 8083;
    const selector = gatewaySelectorLabels(name);
    const labels = { ...props.labels, ...selector };
    this.serviceName = name;
    if (props.redisUrl && props.redisUrlSecret)
      throw new Error('IntegrationGateway: set redisUrl or redisUrlSecret, not both');

    const env: k8s.EnvVar[] = [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'PORT', value: String(port) },
      { name: 'LOG_LEVEL', value: props.logLevel ?? 'info' },
      { name: 'JWKS_URL', value: props.jwksUrl },
      { name: 'JWT_ISSUER', value: props.issuer ?? 'https://auth.novapos.local' },
      { name: 'JWT_AUDIENCE', value: props.audience ?? 'novapos-api' },
      { name: 'GATEWAY_RATE_LIMIT_RPM', value: String(props.defaultRequestsPerMinute ?? 600) },
      ...(props.redisUrl ? [{ name: 'REDIS_URL', value: props.redisUrl }] : []),
      ...(props.redisUrlSecret
        ? [{ name: 'REDIS_URL', valueFrom: { secretKeyRef: { ...props.redisUrlSecret } } }]
        : []),
      ...(props.databaseUrlSecret
        ? [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { ...props.databaseUrlSecret } } }]
        : []),
      ...(props.upstreamUrl ? [{ name: 'GATEWAY_UPSTREAM_URL', value: props.upstreamUrl }] : []),
      ...(props.metricTenants?.length
        ? [{ name: 'GATEWAY_METRIC_TENANTS', value: props.metricTenants.join(',') }]
        : []),
    ];

    new k8s.KubeDeployment(this, 'Deployment', {
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        replicas: props.replicas ?? 2,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            // Longer than a request's upstream timeout would be wasteful; long enough to flush usage counts.
            terminationGracePeriodSeconds: 30,
            securityContext: restrictedPodSecurityContext(),
            affinity: spreadOverNodes(selector),
            containers: [
              {
                name: 'gateway',
                image: props.image,
                imagePullPolicy: 'IfNotPresent',
                env,
                ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
                livenessProbe: httpProbe('/healthz', 'http', 10),
                readinessProbe: httpProbe('/readyz', 'http', 5),
                resources: props.resources ?? {
                  requests: {
                    cpu: k8s.Quantity.fromString('100m'),
                    memory: k8s.Quantity.fromString('128Mi'),
                  },
                  limits: { cpu: k8s.Quantity.fromString('1'), memory: k8s.Quantity.fromString('512Mi') },
                },
                securityContext: restrictedContainerSecurityContext(),
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              },
            ],
            volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }],
          },
        },
      },
    });

    new k8s.KubeService(this, 'Service', {
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'http', port, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
      },
    });

    new ApiObject(this, 'ServiceMonitor', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        selector: { matchLabels: selector },
        namespaceSelector: { matchNames: [props.namespace] },
        endpoints: [{ port: 'http', path: '/metrics', interval: props.scrapeInterval ?? '30s' }],
      },
    });
  }
}
