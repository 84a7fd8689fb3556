import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import {
  adminServiceMonitor,
  type KafkaClientProps,
  kafkaClient,
  namedServicePort,
  resources,
  secretFile,
  serviceDeployment,
  vaultKubernetesEnv,
} from './service-parts.js';

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
  /**
   * Its Kafka client (principal `auth-service`): sign-in, MFA and admin events go to Kafka through its outbox
   * (docs/contracts.md, "Events"). Omitted: events are log lines only.
   */
  readonly kafka?: KafkaClientProps;
  readonly env?: Readonly<Record<string, string>>;
  /** Default requests 250m / 256Mi, limits 1 CPU / 512Mi (argon2id uses 19 MiB per login in flight). */
  readonly resources?: k8s.ResourceRequirements;
  /** Default `30s`. */
  readonly scrapeInterval?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * auth-service: ServiceAccount (its token logs in to Vault), Deployment (non-root, read-only root
 * filesystem, probes on /healthz and /readyz of the admin port), ClusterIP Service on the runbook port, and a
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

    const kafka = props.kafka && kafkaClient('auth-service', props.kafka);
    const { webhookSecretName } = props;
    const bootstrapToken =
      props.bootstrapTokenSecretName !== undefined
        ? secretFile({
            volume: 'bootstrap-token',
            secretName: props.bootstrapTokenSecretName,
            key: 'AUTH_BOOTSTRAP_TOKEN',
            dir: '/var/run/secrets/novapos/bootstrap',
            fileEnv: 'AUTH_BOOTSTRAP_TOKEN_FILE',
          })
        : undefined;
    const env: k8s.EnvVar[] = [
      { name: 'PORT', value: String(port) },
      { name: 'ADMIN_PORT', value: String(adminPort) },
      // Bootstrap of the first admin: off unless a bootstrap-token Secret is given (then one use only).
      { name: 'ALLOW_REGISTER_FIRST', value: props.bootstrapTokenSecretName ? 'true' : 'false' },
      ...(bootstrapToken ? [bootstrapToken.env] : []),
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
      ...vaultKubernetesEnv({
        address: props.vaultAddress,
        role: props.vaultRole ?? 'auth-service',
        mount: props.vaultAuthMount,
      }),
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
      ...(webhookSecretName
        ? ['SECURITY_SUSPICIOUS_WEBHOOK_URL', 'SECURITY_SUSPICIOUS_WEBHOOK_BEARER'].map((key) => ({
            name: key,
            valueFrom: { secretKeyRef: { name: webhookSecretName, key } },
          }))
        : []),
      ...(kafka?.env ?? []),
      ...Object.entries(props.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
    ];
    const secretFiles = [...(bootstrapToken ? [bootstrapToken] : []), ...(kafka ? [kafka] : [])];

    serviceDeployment(this, {
      metadata,
      selector,
      replicas: props.replicas ?? 2,
      container: 'auth-service',
      image: props.image,
      env,
      ports: { http: port, admin: adminPort },
      // Ready only with the database reachable and a signing key set loaded (/readyz on admin).
      resources: props.resources ?? resources(['250m', '256Mi'], ['1', '512Mi']),
      vaultLogin: true,
      volumeMounts: secretFiles.map((f) => f.volumeMount),
      volumes: secretFiles.map((f) => f.volume),
    });

    new k8s.KubeService(this, 'Service', {
      metadata,
      spec: {
        type: 'ClusterIP',
        selector,
        // Metrics and the per-tenant gauges: scraped on `admin`, never on the API port.
        ports: [namedServicePort('http', port), namedServicePort('admin', adminPort)],
      },
    });

    adminServiceMonitor(this, { metadata, selector, interval: props.scrapeInterval });
  }
}
