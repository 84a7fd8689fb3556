import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import {
  adminServiceMonitor,
  kafkaClient,
  namedServicePort,
  resources,
  type SecretFile,
  secretFile,
  serviceDeployment,
  vaultKubernetesEnv,
} from './service-parts.js';

export interface AuditServiceProps {
  readonly namespace: string;
  /** Container image, with tag or digest. */
  readonly image: string;
  /** Default `audit-service`. */
  readonly name?: string;
  /** Default 2: both in the consumer group; appends are serialised by the chain's advisory lock. */
  readonly replicas?: number;
  /** Admin listener (/metrics, /healthz, /readyz, /audit/*): default 9087 (docs/contracts.md, "Ports"). */
  readonly adminPort?: number;
  /**
   * Secret with `DATABASE_URL` (the insert-only role, docs/audit-service.md) and `DATABASE_ADMIN_URL` (the
   * tables' owner: migrations and retention deletes). Default `audit-service-database`.
   */
  readonly databaseSecretName?: string;
  /** `KAFKA_BOOTSTRAP`: host:port[,host:port]. */
  readonly kafkaBootstrap: string;
  /**
   * Secret with key `KAFKA_PASSWORD`: the SCRAM password of principal `audit-service`, mounted as a file
   * (`KAFKA_PASSWORD_FILE`), never an env value. Default `audit-service-kafka`.
   */
  readonly kafkaSecretName?: string;
  /** auth-service's JWKS: user tokens for GET /audit/events (role auditor, MFA). */
  readonly jwksUrl: string;
  /** Default `https://auth.novapos.local`. */
  readonly issuer?: string;
  /** Default `novapos-api`. */
  readonly audience?: string;
  /**
   * Secret with key `AUDIT_ADMIN_TOKEN`, mounted as a file: the bearer of the pause/resume routes (the DR
   * drill) and of every tenant's events. Default none: those routes stay off.
   */
  readonly adminTokenSecretName?: string;
  /**
   * Vault of this environment (`VAULT_ADDR`): chain heads are signed with its transit key and kept in its KV
   * (tamper evidence, docs/audit-service.md "Signed heads"). The signer logs in with Kubernetes auth as the
   * pod's own ServiceAccount (`audit-service`, a projected token with audience `vault`).
   */
  readonly vaultAddress: string;
  /** Vault Kubernetes auth role, with policy operator/vault-policies/audit-service.hcl; default `audit-service`. */
  readonly vaultRole?: string;
  /** Mount of the Vault Kubernetes auth method; default `kubernetes`. */
  readonly vaultAuthMount?: string;
  /**
   * Where heads are signed and kept; the defaults are the policy's: transit mount `transit`, key
   * `novapos-audit-chain` (ed25519), checkpoints under `secret/novapos/audit-checkpoints`, every 60 s.
   */
  readonly signing?: {
    readonly transitMount?: string;
    readonly transitKey?: string;
    readonly checkpointMount?: string;
    readonly checkpointPath?: string;
    readonly intervalSeconds?: number;
  };
  /** `AUDIT_RETENTION_DAYS`: default 2555 (seed 004). */
  readonly retentionDays?: number;
  /** Extra plain settings (e.g. `AUDIT_GAP_SLO_SECONDS`); no secrets here. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default requests 100m / 128Mi, limits 1 / 512Mi. */
  readonly resources?: k8s.ResourceRequirements;
  /** Default `30s`. */
  readonly scrapeInterval?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export function auditSelectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'audit-service' };
}

const SECRETS_DIR = '/var/run/secrets/novapos';

/**
 * The audit-service (issue 20): its ServiceAccount (its token logs in to Vault to sign chain heads), a
 * Deployment (non-root, read-only root filesystem, no capabilities, probes on /healthz and /readyz of the admin
 * port; not ready while Vault refuses the signer), a ClusterIP Service with only the admin port `admin` (9087: it
 * serves nothing else; it consumes Kafka), and a prometheus-operator ServiceMonitor scraping it. Its
 * NetworkPolicy is the services chart's (services-chart.ts), with the other services'.
 */
export class AuditService extends Construct {
  readonly name: string;
  readonly selector: Record<string, string>;
  readonly adminPort: number;

  constructor(scope: Construct, id: string, props: AuditServiceProps) {
    super(scope, id);
    const name = props.name ?? 'audit-service';
    const adminPort = props.adminPort ?? 9087;
    const selector = auditSelectorLabels(name);
    const labels = { ...props.labels, ...selector, 'app.kubernetes.io/part-of': 'novapos-security' };
    const metadata = { name, namespace: props.namespace, labels };
    this.name = name;
    this.selector = selector;
    this.adminPort = adminPort;
    const databaseSecret = props.databaseSecretName ?? 'audit-service-database';
    const signing = props.signing ?? {};
    const fromSecret = (key: string, secret = databaseSecret): k8s.EnvVar => ({
      name: key,
      valueFrom: { secretKeyRef: { name: secret, key } },
    });

    // Its own principal: the ACLs let it read the security topics and write none.
    const kafka = kafkaClient('audit-service', {
      bootstrap: props.kafkaBootstrap,
      secretName: props.kafkaSecretName ?? 'audit-service-kafka',
    });
    // Secrets read from files besides Kafka's password: the admin token when given (Vault: serviceDeployment).
    const files: SecretFile[] = [
      ...(props.adminTokenSecretName
        ? [
            secretFile({
              volume: 'admin-token',
              secretName: props.adminTokenSecretName,
              key: 'AUDIT_ADMIN_TOKEN',
              dir: `${SECRETS_DIR}/admin-token`,
              fileEnv: 'AUDIT_ADMIN_TOKEN_FILE',
            }),
          ]
        : []),
    ];

    const env: k8s.EnvVar[] = [
      { name: 'ADMIN_PORT', value: String(adminPort) },
      { name: 'LOG_LEVEL', value: 'info' },
      fromSecret('DATABASE_URL'),
      fromSecret('DATABASE_ADMIN_URL'),
      ...kafka.env,
      { name: 'AUDIT_JWKS_URL', value: props.jwksUrl },
      { name: 'JWT_ISSUER', value: props.issuer ?? 'https://auth.novapos.local' },
      { name: 'JWT_AUDIENCE', value: props.audience ?? 'novapos-api' },
      { name: 'AUDIT_RETENTION_DAYS', value: String(props.retentionDays ?? 2555) },
      // Signed heads: Vault's Kubernetes auth with the pod's ServiceAccount token (the policy's paths).
      ...vaultKubernetesEnv({
        address: props.vaultAddress,
        role: props.vaultRole ?? 'audit-service',
        mount: props.vaultAuthMount,
      }),
      { name: 'AUDIT_TRANSIT_MOUNT', value: signing.transitMount ?? 'transit' },
      { name: 'AUDIT_TRANSIT_KEY', value: signing.transitKey ?? 'novapos-audit-chain' },
      { name: 'AUDIT_CHECKPOINT_KV_MOUNT', value: signing.checkpointMount ?? 'secret' },
      { name: 'AUDIT_CHECKPOINT_PATH', value: signing.checkpointPath ?? 'novapos/audit-checkpoints' },
      { name: 'AUDIT_SIGN_INTERVAL_MS', value: String((signing.intervalSeconds ?? 60) * 1000) },
      ...files.map((f) => f.env),
      ...Object.entries(props.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
    ];

    serviceDeployment(this, {
      metadata,
      selector,
      replicas: props.replicas ?? 2,
      container: 'audit-service',
      image: props.image,
      env,
      ports: { admin: adminPort },
      resources: props.resources ?? resources(['100m', '128Mi'], ['1', '512Mi']),
      // Long enough for the batch in flight to commit and its offsets to follow.
      terminationGracePeriodSeconds: 30,
      spreadOverNodes: true,
      vaultLogin: true,
      volumeMounts: [kafka.volumeMount, ...files.map((f) => f.volumeMount)],
      volumes: [kafka.volume, ...files.map((f) => f.volume)],
    });

    new k8s.KubeService(this, 'Service', {
      metadata,
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [namedServicePort('admin', adminPort)],
      },
    });

    adminServiceMonitor(this, { metadata, selector, interval: props.scrapeInterval });
  }
}
