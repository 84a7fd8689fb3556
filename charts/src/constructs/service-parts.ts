import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-34';
import type { Construct } from 'constructs';
import {
  KAFKA_CREDENTIAL_ENV,
  KAFKA_SASL_MECHANISM,
  type KafkaService,
  SECURITY_TOPICS,
} from '../../../lib/kafka-topics.js';
import {
  adminProbes,
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
  spreadOverNodes,
} from './hardening.js';

/** A Service port that targets the container port of the same name. */
export function namedServicePort(name: string, port: number): k8s.ServicePort {
  return { name, port, targetPort: k8s.IntOrString.fromString(name), protocol: 'TCP' };
}

/** Requests and limits from plain quantities: `resources(['100m', '128Mi'], ['1', '512Mi'])`. */
export function resources(
  requests: readonly [cpu: string, memory: string],
  limits: readonly [cpu: string, memory: string],
): k8s.ResourceRequirements {
  const q = k8s.Quantity.fromString;
  return {
    requests: { cpu: q(requests[0]), memory: q(requests[1]) },
    limits: { cpu: q(limits[0]), memory: q(limits[1]) },
  };
}

/**
 * The prometheus-operator ServiceMonitor of a service: `/metrics` on its Service's `admin` port (never the API
 * port), in its own namespace. Prometheus (infra/) selects monitors by the `part-of` label of `metadata`.
 */
export function adminServiceMonitor(
  scope: Construct,
  o: {
    readonly metadata: { name: string; namespace: string; labels: Record<string, string> };
    readonly selector: Record<string, string>;
    readonly interval?: string;
  },
): ApiObject {
  return new ApiObject(scope, 'ServiceMonitor', {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: o.metadata,
    spec: {
      selector: { matchLabels: o.selector },
      namespaceSelector: { matchNames: [o.metadata.namespace] },
      endpoints: [{ port: 'admin', path: '/metrics', interval: o.interval ?? '30s' }],
    },
  });
}

/** A service's Kafka client (docs/contracts.md, "Events"): where the broker is and whose password to mount. */
export interface KafkaClientProps {
  /** `KAFKA_BOOTSTRAP`: host:port[,host:port]. */
  readonly bootstrap: string;
  /** Secret with key `KAFKA_PASSWORD`: the SCRAM password of the service's principal. */
  readonly secretName: string;
}

const KAFKA_SECRET_DIR = '/var/run/secrets/novapos/kafka';

/** A Secret's key as a read-only file in the pod, and the `*_FILE` variable that tells the service where. */
export interface SecretFile {
  readonly env: k8s.EnvVar;
  readonly volumeMount: k8s.VolumeMount;
  readonly volume: k8s.Volume;
}

/**
 * Mounts key `key` of Secret `secretName` as `<dir>/<key>` (only that key: other keys of the Secret stay out
 * of the pod) and names the file in env `fileEnv`. Secrets reach the services as files, never as env values
 * (docs/contracts.md): the Kafka password, auth-service's bootstrap token, the audit-service's admin token.
 */
export function secretFile(o: {
  readonly volume: string;
  readonly secretName: string;
  readonly key: string;
  readonly dir: string;
  readonly fileEnv: string;
}): SecretFile {
  return {
    env: { name: o.fileEnv, value: `${o.dir}/${o.key}` },
    volumeMount: { name: o.volume, mountPath: o.dir, readOnly: true },
    volume: { name: o.volume, secret: { secretName: o.secretName, items: [{ key: o.key, path: o.key }] } },
  };
}

/**
 * The env, mount and volume of a service's Kafka client as principal `service` (lib/kafka-topics.ts: its ACLs
 * let it write or read only its own topics): the bootstrap, the SASL mechanism, the names of the topics it
 * writes or reads, and the password as a file (`KAFKA_PASSWORD_FILE`), never an env value.
 */
export function kafkaClient(
  service: KafkaService,
  o: KafkaClientProps,
): { env: k8s.EnvVar[]; volumeMount: k8s.VolumeMount; volume: k8s.Volume } {
  const password = secretFile({
    volume: 'kafka',
    secretName: o.secretName,
    key: 'KAFKA_PASSWORD',
    dir: KAFKA_SECRET_DIR,
    fileEnv: KAFKA_CREDENTIAL_ENV.passwordFile,
  });
  const topics = Object.values(SECURITY_TOPICS).filter(
    (t) =>
      (t.writers as readonly string[]).includes(service) ||
      (t.readers as readonly string[]).includes(service),
  );
  return {
    env: [
      { name: KAFKA_CREDENTIAL_ENV.bootstrap, value: o.bootstrap },
      { name: KAFKA_CREDENTIAL_ENV.username, value: service },
      { name: KAFKA_CREDENTIAL_ENV.mechanism, value: KAFKA_SASL_MECHANISM },
      ...topics.map((t) => ({ name: t.env, value: t.name })),
      password.env,
    ],
    volumeMount: password.volumeMount,
    volume: password.volume,
  };
}

/** Where a service's projected ServiceAccount token for Vault is mounted (`VAULT_K8S_TOKEN_PATH`). */
export const VAULT_TOKEN_DIR = '/var/run/secrets/vault';

/**
 * The env of a Vault login with Kubernetes auth (lib/service-kit/vault-env.ts, docs/contracts.md "Vault
 * access"): the pod's projected ServiceAccount token (`serviceDeployment`'s `vaultLogin`) for `role`.
 */
export function vaultKubernetesEnv(o: {
  readonly address: string;
  readonly role: string;
  readonly mount?: string;
}): k8s.EnvVar[] {
  return [
    { name: 'VAULT_ADDR', value: o.address },
    { name: 'VAULT_AUTH_METHOD', value: 'kubernetes' },
    { name: 'VAULT_K8S_ROLE', value: o.role },
    { name: 'VAULT_K8S_MOUNT', value: o.mount ?? 'kubernetes' },
    { name: 'VAULT_K8S_TOKEN_PATH', value: `${VAULT_TOKEN_DIR}/token` },
  ];
}

export interface ServiceDeploymentOptions {
  readonly metadata: { name: string; namespace: string; labels: Record<string, string> };
  readonly selector: Record<string, string>;
  readonly replicas: number;
  /** The container's name. */
  readonly container: string;
  readonly image: string;
  readonly env: k8s.EnvVar[];
  /** Container ports by name, in order (`admin` carries the probes). */
  readonly ports: Readonly<Record<string, number>>;
  readonly resources: k8s.ResourceRequirements;
  /**
   * The pod logs in to Vault as its own ServiceAccount (named as the service, created here, no API token
   * mounted): a projected token with audience `vault` for one hour at `VAULT_TOKEN_DIR` (the kubelet renews
   * it; the services read it at each login). Default false: no ServiceAccount of its own.
   */
  readonly vaultLogin?: boolean;
  readonly terminationGracePeriodSeconds?: number;
  /** Prefer replicas on different nodes. Default false. */
  readonly spreadOverNodes?: boolean;
  /** Besides `tmp` (and the Vault token): mounts and their volumes. */
  readonly volumeMounts?: readonly k8s.VolumeMount[];
  readonly volumes?: readonly k8s.Volume[];
}

/**
 * A service's Deployment as the three services run (auth-service, the gateway, the audit-service): the
 * `restricted` Pod Security settings with a read-only root filesystem and a writable `/tmp`, no automounted
 * API token, probes on the admin port, and with `vaultLogin` its own ServiceAccount and Vault token.
 */
export function serviceDeployment(scope: Construct, o: ServiceDeploymentOptions): k8s.KubeDeployment {
  if (o.vaultLogin)
    new k8s.KubeServiceAccount(scope, 'ServiceAccount', {
      metadata: o.metadata,
      automountServiceAccountToken: false,
    });
  const vaultToken = o.vaultLogin ? 'vault-token' : undefined;
  return new k8s.KubeDeployment(scope, 'Deployment', {
    metadata: o.metadata,
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: o.selector },
      template: {
        metadata: { labels: o.metadata.labels },
        spec: {
          ...(o.vaultLogin ? { serviceAccountName: o.metadata.name } : {}),
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
          securityContext: restrictedPodSecurityContext(),
          affinity: o.spreadOverNodes ? spreadOverNodes(o.selector) : undefined,
          containers: [
            {
              name: o.container,
              image: o.image,
              imagePullPolicy: 'IfNotPresent',
              env: o.env,
              ports: Object.entries(o.ports).map(([name, containerPort]) => ({
                name,
                containerPort,
                protocol: 'TCP',
              })),
              ...adminProbes(),
              resources: o.resources,
              securityContext: restrictedContainerSecurityContext(),
              volumeMounts: [
                ...(vaultToken ? [{ name: vaultToken, mountPath: VAULT_TOKEN_DIR, readOnly: true }] : []),
                { name: 'tmp', mountPath: '/tmp' },
                ...(o.volumeMounts ?? []),
              ],
            },
          ],
          volumes: [
            // A short-lived, audience-bound token for Vault only (not the API server's default token).
            ...(vaultToken
              ? [
                  {
                    name: vaultToken,
                    projected: {
                      sources: [
                        {
                          serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 3600 },
                        },
                      ],
                    },
                  },
                ]
              : []),
            { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
            ...(o.volumes ?? []),
          ],
        },
      },
    },
  });
}
