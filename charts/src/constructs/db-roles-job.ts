import { createHash } from 'node:crypto';
import { k8s } from 'cdk8s-plus-34';
import { Construct } from 'constructs';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './hardening.js';

export interface SecretKey {
  readonly name: string;
  readonly key: string;
}

/** One login role the Job creates or updates: where (an admin connection) and its password (a Secret). */
export interface DbRoleSpec {
  /** A connection string with CREATEROLE on the database (`postgres://admin:…@host/db`), from a Secret. */
  readonly adminUrl: SecretKey;
  /** The role's password, from a Secret (mounted as a file); the service's `DATABASE_URL` carries the same. */
  readonly password: SecretKey;
  /** The role's name; default `novapos_gateway` / `novapos_audit`. */
  readonly role?: string;
}

export interface DbRolesJobProps {
  readonly namespace: string;
  /** The `db-roles` image (scripts/db-roles.ts, built by scripts/build-app.mjs like the services'). */
  readonly image: string;
  /** Default `novapos-db-roles`; the Job's name ends with a hash of its spec. */
  readonly name?: string;
  /** The gateway's read-only role in auth-service's database (services/auth-service/src/storage/roles.ts). */
  readonly gateway?: DbRoleSpec;
  /** The audit-service's insert-only role (services/audit-service/src/storage/roles.ts). */
  readonly audit?: DbRoleSpec;
  /** How long the run waits for auth-service's migrations (the view the gateway reads); default 300. */
  readonly waitSeconds?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

const SECRETS_DIR = '/var/run/secrets/novapos';

/**
 * The privileged bootstrap of the services' PostgreSQL roles (issue 18), as a Job: creates the roles that are
 * missing and sets their passwords and grants again (idempotent), with admin credentials only this Job gets.
 * The Job's name carries a hash of its spec, so a change (an image, a Secret name) makes a new Job instead of
 * an update Kubernetes refuses (a Job's template is immutable); a finished Job is removed after a day, and
 * applying the chart again then runs it again, harmlessly. The password rotates by changing the Secret and
 * deleting the finished Job (or waiting for it to go) before the next apply.
 */
export class DbRolesJob extends Construct {
  readonly selector: Record<string, string>;
  readonly jobName: string;

  constructor(scope: Construct, id: string, props: DbRolesJobProps) {
    super(scope, id);
    if (!props.gateway && !props.audit) throw new Error('DbRolesJob: give gateway, audit, or both');
    const base = props.name ?? 'novapos-db-roles';
    this.selector = { 'app.kubernetes.io/name': base, 'app.kubernetes.io/component': 'db-roles' };
    const labels = { ...props.labels, ...this.selector, 'app.kubernetes.io/part-of': 'novapos-security' };

    const parts = [
      ...(props.gateway ? [{ prefix: 'GATEWAY', admin: 'DATABASE_ADMIN_URL', spec: props.gateway }] : []),
      ...(props.audit ? [{ prefix: 'AUDIT', admin: 'AUDIT_DATABASE_ADMIN_URL', spec: props.audit }] : []),
    ];
    const env: k8s.EnvVar[] = parts.flatMap((p) => [
      { name: p.admin, valueFrom: { secretKeyRef: { ...p.spec.adminUrl } } },
      ...(p.spec.role ? [{ name: `${p.prefix}_DB_ROLE`, value: p.spec.role }] : []),
      {
        name: `${p.prefix}_DB_PASSWORD_FILE`,
        value: `${SECRETS_DIR}/${p.prefix.toLowerCase()}-password/password`,
      },
    ]);
    env.push({ name: 'DB_ROLES_WAIT_SECONDS', value: String(props.waitSeconds ?? 300) });

    const podSpec: k8s.PodSpec = {
      restartPolicy: 'OnFailure',
      automountServiceAccountToken: false,
      securityContext: restrictedPodSecurityContext(),
      containers: [
        {
          name: 'db-roles',
          image: props.image,
          imagePullPolicy: 'IfNotPresent',
          env,
          resources: {
            requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') },
            limits: { cpu: k8s.Quantity.fromString('500m'), memory: k8s.Quantity.fromString('256Mi') },
          },
          securityContext: restrictedContainerSecurityContext(),
          volumeMounts: parts.map((p) => ({
            name: `${p.prefix.toLowerCase()}-password`,
            mountPath: `${SECRETS_DIR}/${p.prefix.toLowerCase()}-password`,
            readOnly: true,
          })),
        },
      ],
      volumes: parts.map((p) => ({
        name: `${p.prefix.toLowerCase()}-password`,
        secret: {
          secretName: p.spec.password.name,
          items: [{ key: p.spec.password.key, path: 'password' }],
        },
      })),
    };
    const hash = createHash('sha256').update(JSON.stringify(podSpec)).digest('hex').slice(0, 8);
    this.jobName = `${base}-${hash}`;

    new k8s.KubeJob(this, 'Job', {
      metadata: { name: this.jobName, namespace: props.namespace, labels },
      spec: {
        // A few tries with backoff (auth-service may still be migrating), bounded in time.
        backoffLimit: 6,
        activeDeadlineSeconds: 1800,
        ttlSecondsAfterFinished: 86_400,
        template: { metadata: { labels }, spec: podSpec },
      },
    });
  }
}
