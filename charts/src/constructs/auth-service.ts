import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import { httpProbe, restrictedContainerSecurityContext, restrictedPodSecurityContext } from './hardening.js';

export interface AuthServiceProps {
  /** Default `auth-service`. */
  readonly name?: string;
  readonly namespace: string;
  /** Container image, with tag or digest. */
  readonly image: string;
  /** Default 2. */
  readonly replicas?: number;
  /** Default 8085 (runbook). */
  readonly port?: number;
  /** Admin listener (/metrics, per-tenant gauges): default 9085 (docs/contracts.md, "Ports"). */
  readonly adminPort?: number;
  /**
   * Secret with key `REDIS_URL`: Redis shared with the gateway for session revocation (needed with more than
   * one replica, and for the gateway to see revocations). Default `auth-service-redis`, optional.
   */
  readonly redisSecretName?: string;
  /**
   * Secret with key `AUTH_BOOTSTRAP_TOKEN`, mounted as a file: when set, POST /register-first is enabled
   * (ALLOW_REGISTER_FIRST=true) for that one-time token. Default none: the route stays off.
   */
  readonly bootstrapTokenSecretName?: string;
  /** Vault address of this environment (`VAULT_ADDR`). */
  readonly vaultAddress: string;
  /** Vault Kubernetes auth role; default `auth-service`. */
  readonly vaultRole?: string;
  /** Mount of the Vault Kubernetes auth method; default `kubernetes`. */
  readonly vaultAuthMount?: string;
  /** Key tree of the SigningKeyRotation, e.g. `secret/novapos/signing-keys/novapos/auth-issuer`. */
  readonly signingKeysetPath: string;
  /** Secret with key `DATABASE_URL`; default `auth-service-database`. */
  readonly databaseSecretName?: string;
  /** Secret with `SECURITY_SUSPICIOUS_WEBHOOK_URL` / `_BEARER`; default none (webhook disabled). */
  readonly webhookSecretName?: string;
  /** CORS allowlist; default none. */
  readonly corsAllowedOrigins?: readonly string[];
  /** Extra plain settings (e.g. `MFA_REQUIRED: 'true'`); no secrets here. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default requests 250m / 256Mi, limits 1 CPU / 512Mi (argon2id uses 19 MiB per login in flight). */
  readonly resources?: k8s.ResourceRequirements;
  /** Default `30s`. */
  readonly scrapeInterval?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * auth-service: ServiceAccount (its token logs in to Vault), Deployment (non-root, read-only root
 * filesystem, probes on /health/live and /health), ClusterIP Service on the runbook port, and a
 * prometheus-operator ServiceMonitor for /metrics on the admin port (9085).
 */
export class AuthService extends Construct {
  readonly name: string;
  readonly serviceLabels: Record<string, string>;

  constructor(scope: Construct, id: string, props: AuthServiceProps) {
    super(scope, id);
    const name = props.name ?? 'auth-service';
    const port = props.port ?? 8085;
    const adminPort = props.adminPort ?? 9085;
    this.name = name;
    const selector = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'auth-service' };
    const labels = { ...props.labels, ...selector, 'app.kubernetes.io/part-of': 'novapos-security' };
    this.serviceLabels = labels;
    const metadata = { name, namespace: props.namespace, labels };

    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata, automountServiceAccountToken: false });

    const env: k8s.EnvVar[] = [
      { name: 'PORT', value: String(port) },
      { name: 'ADMIN_PORT', value: String(adminPort) },
      // Bootstrap of the first admin: off unless a bootstrap-token Secret is given (then one use only).
      { name: 'ALLOW_REGISTER_FIRST', value: props.bootstrapTokenSecretName ? 'true' : 'false' },
      ...(props.bootstrapTokenSecretName
        ? [
            {
              name: 'AUTH_BOOTSTRAP_TOKEN_FILE',
              value: '/var/run/secrets/novapos/bootstrap/AUTH_BOOTSTRAP_TOKEN',
            },
          ]
        : []),
      {
        name: 'REDIS_URL',
        valueFrom: {
          secretKeyRef: {
            name: props.redisSecretName ?? 'auth-service-redis',
            key: 'REDIS_URL',
            optional: true,
          },
        },
      },
      { name: 'VAULT_ADDR', value: props.vaultAddress },
      { name: 'VAULT_AUTH_METHOD', value: 'kubernetes' },
      { name: 'VAULT_K8S_ROLE', value: props.vaultRole ?? 'auth-service' },
      { name: 'VAULT_K8S_MOUNT', value: props.vaultAuthMount ?? 'kubernetes' },
      { name: 'VAULT_K8S_TOKEN_PATH', value: '/var/run/secrets/vault/token' },
      { name: 'SIGNING_KEYSET_PATH', value: props.signingKeysetPath },
      {
        name: 'DATABASE_URL',
        valueFrom: {
          secretKeyRef: { name: props.databaseSecretName ?? 'auth-service-database', key: 'DATABASE_URL' },
        },
      },
      ...(props.corsAllowedOrigins?.length
        ? [{ name: 'CORS_ALLOWED_ORIGINS', value: props.corsAllowedOrigins.join(',') }]
        : []),
      ...(props.webhookSecretName
        ? ['SECURITY_SUSPICIOUS_WEBHOOK_URL', 'SECURITY_SUSPICIOUS_WEBHOOK_BEARER'].map((key) => ({
            name: key,
            valueFrom: { secretKeyRef: { name: props.webhookSecretName!, key } },
          }))
        : []),
      ...Object.entries(props.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
    ];

    new k8s.KubeDeployment(this, 'Deployment', {
      metadata,
      spec: {
        replicas: props.replicas ?? 2,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: false,
            securityContext: restrictedPodSecurityContext(),
            containers: [
              {
                name: 'auth-service',
                image: props.image,
                imagePullPolicy: 'IfNotPresent',
                env,
                ports: [
                  { name: 'http', containerPort: port, protocol: 'TCP' },
                  { name: 'admin', containerPort: adminPort, protocol: 'TCP' },
                ],
                livenessProbe: httpProbe('/health/live', 'http', 10),
                // Ready only with the database reachable and a signing key set loaded.
                readinessProbe: httpProbe('/health', 'http', 5),
                startupProbe: httpProbe('/health/live', 'http', 2, 30),
                resources: props.resources ?? {
                  requests: {
                    cpu: k8s.Quantity.fromString('250m'),
                    memory: k8s.Quantity.fromString('256Mi'),
                  },
                  limits: { cpu: k8s.Quantity.fromString('1'), memory: k8s.Quantity.fromString('512Mi') },
                },
                securityContext: restrictedContainerSecurityContext(),
                volumeMounts: [
                  { name: 'vault-token', mountPath: '/var/run/secrets/vault', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                  ...(props.bootstrapTokenSecretName
                    ? [
                        {
                          name: 'bootstrap-token',
                          mountPath: '/var/run/secrets/novapos/bootstrap',
                          readOnly: true,
                        },
                      ]
                    : []),
                ],
              },
            ],
            volumes: [
              // A short-lived, audience-bound token for Vault only (not the API server's default token).
              {
                name: 'vault-token',
                projected: {
                  sources: [
                    { serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 3600 } },
                  ],
                },
              },
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
              ...(props.bootstrapTokenSecretName
                ? [{ name: 'bootstrap-token', secret: { secretName: props.bootstrapTokenSecretName } }]
                : []),
            ],
          },
        },
      },
    });

    new k8s.KubeService(this, 'Service', {
      metadata,
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'http', port, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' },
          // Metrics and the per-tenant gauges: scraped here, never on the API port.
          {
            name: 'admin',
            port: adminPort,
            targetPort: k8s.IntOrString.fromString('admin'),
            protocol: 'TCP',
          },
        ],
      },
    });

    new ApiObject(this, 'ServiceMonitor', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata,
      spec: {
        selector: { matchLabels: selector },
        namespaceSelector: { matchNames: [props.namespace] },
        endpoints: [{ port: 'admin', path: '/metrics', interval: props.scrapeInterval ?? '30s' }],
      },
    });
  }
}
