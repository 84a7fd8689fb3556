import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import { kubeletProbes } from './service-network-policy.js';
import {
  adminServiceMonitor,
  type KafkaClientProps,
  kafkaClient,
  namedServicePort,
  resources,
  serviceDeployment,
} from './service-parts.js';

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
  /** Default 8083 (the runbooks' port): the API, `/healthz`, `/readyz`, `/keys/status`. */
  readonly port?: number;
  /** Default 9083 (docs/contracts.md, "Ports"): `/metrics` and `POST /keys/reload`, Service port `admin`. */
  readonly adminPort?: number;
  /**
   * Namespaces whose pods may reach the admin port (Prometheus, the operator's reload notification).
   * Default `monitoring` and `novapos-system`.
   */
  readonly adminClientNamespaces?: readonly string[];
  /**
   * The nodes' address blocks: the kubelet probes `/healthz` and `/readyz` on the admin port from its node's
   * address (services-chart.ts `network.nodeCidrs`). Default none: only a CNI that admits a pod's own node
   * lets the probes through.
   */
  readonly probeSourceCidrs?: readonly string[];
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
  /** Where allowed requests go, an origin (`http://orders.novapos.svc:8080`); default none (only the gateway's own routes answer). */
  readonly upstreamUrl?: string;
  /** `GATEWAY_ROUTE_SCOPES`: the scope each route needs (docs/integration-gateway.md, "Scopes"). Default none: API keys reach the ping only. */
  readonly routeScopes?: string;
  /** `GATEWAY_ROLE_SCOPES`: the scopes of JWT roles. Default none. */
  readonly roleScopes?: string;
  /** `GATEWAY_RATE_LIMIT_RPM` for tenants without a TenantRateLimit. Default 600. */
  readonly defaultRequestsPerMinute?: number;
  /** Tenants that get their own metric label besides those with a TenantRateLimit. Default none. */
  readonly metricTenants?: readonly string[];
  /**
   * Its Kafka client (principal `integration-gateway`): security alerts and audit events go to Kafka through
   * its outbox (docs/contracts.md, "Events"). Omitted: events are log lines only.
   */
  readonly kafka?: KafkaClientProps;
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
 * RuntimeDefault seccomp, liveness on /healthz, readiness on /readyz, both on the admin port), a ClusterIP
 * Service with the API port `http` (8083) and the admin port `admin` (9083: /metrics, POST /keys/reload,
 * the probes), a prometheus-operator ServiceMonitor scraping `admin`, and a NetworkPolicy that lets only the
 * monitoring and operator namespaces (and the kubelet, from `probeSourceCidrs`) reach `admin`. Each pod's
 * name is its replica id in the acknowledgement hashes the
 * TenantRateLimit controller reads.
 */
export class IntegrationGateway extends Construct {
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: IntegrationGatewayProps) {
    super(scope, id);
    const name = props.name ?? 'integration-gateway';
    const port = props.port ?? 8083;
    const adminPort = props.adminPort ?? 9083;
    const selector = gatewaySelectorLabels(name);
    const labels = { ...props.labels, ...selector };
    this.serviceName = name;
    if (props.redisUrl && props.redisUrlSecret)
      throw new Error('IntegrationGateway: set redisUrl or redisUrlSecret, not both');

    const kafka = props.kafka && kafkaClient('integration-gateway', props.kafka);
    const env: k8s.EnvVar[] = [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'PORT', value: String(port) },
      { name: 'ADMIN_PORT', value: String(adminPort) },
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
      ...(props.routeScopes ? [{ name: 'GATEWAY_ROUTE_SCOPES', value: props.routeScopes }] : []),
      ...(props.roleScopes ? [{ name: 'GATEWAY_ROLE_SCOPES', value: props.roleScopes }] : []),
      ...(props.metricTenants?.length
        ? [{ name: 'GATEWAY_METRIC_TENANTS', value: props.metricTenants.join(',') }]
        : []),
      ...(kafka?.env ?? []),
    ];

    serviceDeployment(this, {
      metadata: { name, namespace: props.namespace, labels },
      selector,
      replicas: props.replicas ?? 2,
      container: 'gateway',
      image: props.image,
      env,
      ports: { http: port, admin: adminPort },
      resources: props.resources ?? resources(['100m', '128Mi'], ['1', '512Mi']),
      // Longer than a request's upstream timeout would be wasteful; long enough to flush usage counts.
      terminationGracePeriodSeconds: 30,
      spreadOverNodes: true,
      ...(kafka ? { volumeMounts: [kafka.volumeMount], volumes: [kafka.volume] } : {}),
    });

    new k8s.KubeService(this, 'Service', {
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [namedServicePort('http', port), namedServicePort('admin', adminPort)],
      },
    });

    adminServiceMonitor(this, {
      metadata: { name, namespace: props.namespace, labels },
      selector,
      interval: props.scrapeInterval,
    });

    // The API port is open to whoever reaches the Service; the admin port only to the listed namespaces.
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: [
          { ports: [{ port: k8s.IntOrString.fromNumber(port), protocol: 'TCP' }] },
          {
            from: (props.adminClientNamespaces ?? ['monitoring', 'novapos-system']).map((ns) => ({
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
            })),
            ports: [{ port: k8s.IntOrString.fromNumber(adminPort), protocol: 'TCP' }],
          },
          // The kubelet's probes, from the nodes' addresses (validated: never every address).
          ...kubeletProbes(props.probeSourceCidrs ?? [], adminPort).map((r) => ({
            from: r.peers?.flatMap((p) => p.cidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
            ports: [{ port: k8s.IntOrString.fromNumber(adminPort), protocol: 'TCP' }],
          })),
        ],
      },
    });
  }
}
