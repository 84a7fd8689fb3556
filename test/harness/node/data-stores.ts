/**
 * OpenBao, Redis and PostgreSQL for the pods of the harness's Kubernetes node. They run as harness processes
 * on the node's bridge address (not in the cluster), and each is given to the cluster as a Service without a
 * selector plus an EndpointSlice naming that address, so pods reach them by the names a user's cluster has
 * (`vault.vault.svc:8200`, the charts' default) through CoreDNS and kube-proxy. Why outside the cluster:
 * the same binaries the rest of the harness builds and starts (no images of them to make), test code on the
 * host reaches them directly, and what the suites test is the project's pods, not a Vault chart. See
 * test/README.md ("The charts as pods").
 *
 * OpenBao's Kubernetes auth method validates pods' ServiceAccount tokens against the node's own apiserver
 * (TokenReview, with a reviewer ServiceAccount bound to system:auth-delegator), as in a cluster.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAFKA_SERVICES } from '../../../lib/kafka-topics.js';
import { connectPostgres } from '../../../lib/service-kit/db.js';
import { type KafkaInstance, startKafka } from '../components/kafka.js';
import type { NodeInstance } from '../components/node.js';
import { type PostgresInstance, startPostgres } from '../components/postgres.js';
import { type RedisInstance, startRedis } from '../components/redis.js';
import { startVault, type VaultInstance } from '../components/vault.js';
import { enableVaultKubernetesAuth, vaultKubernetesRole } from '../vault-kube-auth.js';

/** The in-cluster names (namespace, Service, port) the data stores answer on. */
export const DATA_SERVICES = {
  vault: { namespace: 'vault', name: 'vault', port: 8200 },
  /** A second OpenBao, another environment's Vault (a SecretPromotion's `staging` connection). */
  vaultStaging: { namespace: 'vault', name: 'vault-staging', port: 8200 },
  redis: { namespace: 'novapos-data', name: 'redis', port: 6379 },
  postgres: { namespace: 'novapos-data', name: 'postgres', port: 5432 },
  /** The services chart's default `kafkaBootstrap`. */
  kafka: { namespace: 'kafka', name: 'kafka', port: 9092 },
} as const;

export interface NodeDataStores {
  /** OpenBao on the bridge address (test code uses `vault.request`); pods use `vaultUrl`. */
  readonly vault: VaultInstance;
  readonly redis: RedisInstance;
  readonly postgres: PostgresInstance;
  /** `http://vault.vault.svc:8200` */
  readonly vaultUrl: string;
  /** `redis://redis.novapos-data.svc:6379/<db>` */
  redisUrl(db?: number): string;
  /** `postgres://novapos@postgres.novapos-data.svc:5432/<database>` */
  postgresUrl(database?: string): string;
  stop(): Promise<void>;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** In-cluster DNS name of a Service. */
export const serviceHost = (s: { namespace: string; name: string }) => `${s.name}.${s.namespace}.svc`;

/**
 * A Service without a selector and the EndpointSlice that sends it to `address:targetPort`: how a cluster
 * names something that runs outside it.
 */
export function externalServiceManifests(
  svc: { namespace: string; name: string; port: number },
  address: string,
  targetPort: number,
): unknown[] {
  const labels = { 'app.kubernetes.io/name': svc.name, 'app.kubernetes.io/managed-by': 'novapos-harness' };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: svc.namespace } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svc.name, namespace: svc.namespace, labels },
      spec: { ports: [{ name: 'main', port: svc.port, targetPort, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${svc.name}-harness`,
        namespace: svc.namespace,
        labels: { ...labels, 'kubernetes.io/service-name': svc.name },
      },
      addressType: 'IPv4',
      ports: [{ name: 'main', port: targetPort, protocol: 'TCP' }],
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
    },
  ];
}

/** Applies objects with server-side apply (the harness's field manager). */
export async function applyObjects(node: NodeInstance, objects: readonly unknown[]): Promise<void> {
  await node.kubectl(
    ['apply', '--server-side', '--force-conflicts', '--field-manager=novapos-harness', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );
}

/**
 * Starts OpenBao (`vault/vault:8200`), Redis (`novapos-data/redis:6379`) and PostgreSQL
 * (`novapos-data/postgres:5432`) on the node's bridge address, names them in the cluster, and enables
 * OpenBao's Kubernetes auth method at `auth/kubernetes` against the node's apiserver.
 */
export async function startNodeDataStores(node: NodeInstance, dir: string): Promise<NodeDataStores> {
  // Readable by PostgreSQL's `postgres` account (startPostgres creates its data directory 0700 inside).
  mkdirSync(path.join(dir, 'postgres'), { recursive: true, mode: 0o755 });
  const host = node.network.nodeIp;
  const started = Date.now();
  const [vault, redis, postgres] = await Promise.all([
    startVault(path.join(dir, 'vault'), 'openbao-node', { host }),
    startRedis(path.join(dir, 'redis'), undefined, { host }),
    startPostgres(path.join(dir, 'postgres'), { host, trustCidr: node.network.subnet }),
  ]);
  const stop = async () => {
    await Promise.all([vault.stop(), redis.process.stop(), postgres.process.stop()]);
  };
  try {
    const vaultPort = Number(new URL(vault.addr).port);
    await applyObjects(node, [
      ...externalServiceManifests(DATA_SERVICES.vault, host, vaultPort),
      ...externalServiceManifests(DATA_SERVICES.redis, host, redis.port),
      ...externalServiceManifests(DATA_SERVICES.postgres, host, postgres.port),
    ]);
    await enableVaultKubernetesAuth(vault, node.kube);
    process.stderr.write(
      `[node] OpenBao, Redis and PostgreSQL on ${host} for pods in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const svc = (s: { namespace: string; name: string; port: number }) => `${serviceHost(s)}:${s.port}`;
  return {
    vault,
    redis,
    postgres,
    vaultUrl: `http://${svc(DATA_SERVICES.vault)}`,
    redisUrl: (db = 0) => `redis://${svc(DATA_SERVICES.redis)}/${db}`,
    postgresUrl: (database = 'novapos') => `postgres://novapos@${svc(DATA_SERVICES.postgres)}/${database}`,
    stop,
  };
}

export interface NodeKafka {
  /** The broker; test code uses its loopback listener (`kafka.bootstrap`) and its admin client. */
  readonly kafka: KafkaInstance;
  /** `kafka.kafka.svc:9092`: what pods use (the services chart's default `kafkaBootstrap`). */
  readonly bootstrap: string;
  /** The Secrets a user creates in `novapos` for the services chart: `<service>-kafka` with `KAFKA_PASSWORD`. */
  secrets(): ReturnType<typeof stringDataSecret>[];
  stop(): Promise<void>;
}

/**
 * Kafka for the pods of the node (issue 20: "the listener pods use is reachable from the real node"): the
 * harness's broker with a second SASL/SCRAM listener on the node's bridge address that advertises
 * `kafka.kafka.svc:9092`, named in the cluster like the other stores (a Service without a selector and an
 * EndpointSlice naming the bridge address). Pods log in as their service's principal; the ACLs are
 * lib/kafka-topics.ts's, the same as on loopback.
 */
export async function startNodeKafka(node: NodeInstance, dir: string): Promise<NodeKafka> {
  const host = node.network.nodeIp;
  const bootstrap = `${serviceHost(DATA_SERVICES.kafka)}:${DATA_SERVICES.kafka.port}`;
  const started = Date.now();
  const kafka = await startKafka(dir, { pods: { host, advertised: bootstrap } });
  try {
    if (!kafka.podPort) throw new Error('the broker has no pods listener');
    await applyObjects(node, externalServiceManifests(DATA_SERVICES.kafka, host, kafka.podPort));
  } catch (err) {
    await kafka.stop();
    throw err;
  }
  process.stderr.write(
    `[node] Kafka on ${host} for pods (${bootstrap}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  return {
    kafka,
    bootstrap,
    secrets: () =>
      KAFKA_SERVICES.map((service) =>
        stringDataSecret('novapos', `${service}-kafka`, { KAFKA_PASSWORD: kafka.services[service].password }),
      ),
    stop: () => kafka.stop(),
  };
}

/**
 * A Vault Kubernetes auth role for a ServiceAccount with one of the repository's policies. `audience`: the
 * audience the pod's projected token carries (auth-service's chart mounts one for `vault`); omitted, the
 * token's audience must be the apiserver's own (a default ServiceAccount token).
 */
export async function vaultRoleForServiceAccount(
  vault: VaultInstance,
  role: { name: string; policy: string; namespace: string; serviceAccount: string; audience?: string },
): Promise<void> {
  await vaultKubernetesRole(vault, {
    name: role.name,
    policyName: role.name,
    policy: role.policy,
    namespace: role.namespace,
    serviceAccount: role.serviceAccount,
  });
  if (role.audience) {
    const res = await vault.request('POST', `auth/kubernetes/role/${role.name}`, {
      bound_service_account_names: [role.serviceAccount],
      bound_service_account_namespaces: [role.namespace],
      token_policies: [role.name],
      token_ttl: '1h',
      audience: role.audience,
    });
    if (res.status >= 300) throw new Error(`role ${role.name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/**
 * The Vault Kubernetes auth roles docs/signing-keys.md, docs/auth-service.md and docs/audit-service.md set up
 * for the charts' pods: the operator with its pod's ServiceAccount token, auth-service and the audit-service
 * with the projected token of audience `vault`; and the audit-service's transit key.
 */
export async function chartVaultRoles(vault: VaultInstance): Promise<void> {
  const policy = (file: string) => readFileSync(path.join(repoRoot, 'operator/vault-policies', file), 'utf8');
  await vaultRoleForServiceAccount(vault, {
    name: 'novapos-operator',
    policy: policy('signing-key-operator.hcl'),
    namespace: 'novapos-system',
    serviceAccount: 'novapos-operator',
  });
  await vaultRoleForServiceAccount(vault, {
    name: 'auth-service',
    policy: policy('auth-service.hcl'),
    namespace: 'novapos',
    serviceAccount: 'auth-service',
    audience: 'vault',
  });
  // The audit-service signs chain heads with a transit key (docs/audit-service.md, "Signed heads").
  await vaultRoleForServiceAccount(vault, {
    name: 'audit-service',
    policy: policy('audit-service.hcl'),
    namespace: 'novapos',
    serviceAccount: 'audit-service',
    audience: 'vault',
  });
  const mount = await vault.request('POST', 'sys/mounts/transit', { type: 'transit' });
  // 400: mounted already.
  if (mount.status >= 300 && mount.status !== 400)
    throw new Error(`transit mount: ${mount.status} ${JSON.stringify(mount.body)}`);
  const key = await vault.request('POST', 'transit/keys/novapos-audit-chain', { type: 'ed25519' });
  if (key.status >= 300) throw new Error(`transit key: ${key.status} ${JSON.stringify(key.body)}`);
}

/** A Secret as a user writes it (`stringData`). */
export const stringDataSecret = (namespace: string, name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  stringData: data,
});

/** The audit-service's database, made before installing as a user's DBA would (its tables' owner: `novapos`). */
export const AUDIT_DATABASE = 'novapos_audit';

/** Makes AUDIT_DATABASE in the node's PostgreSQL. */
export async function createAuditDatabase(stores: NodeDataStores): Promise<void> {
  const admin = connectPostgres(stores.postgres.url, { max: 1 });
  try {
    await admin.query(`CREATE DATABASE ${AUDIT_DATABASE}`);
  } finally {
    await admin.close();
  }
}

/**
 * The Secrets a user creates in `novapos` before installing the whole services chart (docs/auth-service.md,
 * docs/integration-gateway.md, docs/audit-service.md, docs/deploying.md), naming these stores: Redis and
 * database URLs, the gateway's and the audit-service's naming the least-privilege roles the chart's role Job
 * makes, the owner URL that Job runs with, and those roles' passwords (fresh on each call).
 */
export function servicesSecrets(stores: NodeDataStores): ReturnType<typeof stringDataSecret>[] {
  const gatewayPassword = randomBytes(18).toString('base64url');
  const auditPassword = randomBytes(18).toString('base64url');
  const asRole = (user: string, password: string, database?: string) => {
    const url = new URL(stores.postgresUrl(database));
    url.username = user;
    url.password = password;
    return url.toString();
  };
  return [
    stringDataSecret('novapos', 'auth-service-redis', { REDIS_URL: stores.redisUrl(0) }),
    stringDataSecret('novapos', 'integration-gateway-redis', { REDIS_URL: stores.redisUrl(0) }),
    stringDataSecret('novapos', 'auth-service-database', { DATABASE_URL: stores.postgresUrl() }),
    stringDataSecret('novapos', 'integration-gateway-database', {
      DATABASE_URL: asRole('novapos_gateway', gatewayPassword),
    }),
    stringDataSecret('novapos', 'novapos-db-admin', { DATABASE_ADMIN_URL: stores.postgresUrl() }),
    stringDataSecret('novapos', 'integration-gateway-db-role', { GATEWAY_DB_PASSWORD: gatewayPassword }),
    stringDataSecret('novapos', 'audit-service-database', {
      DATABASE_URL: asRole('novapos_audit', auditPassword, AUDIT_DATABASE),
      DATABASE_ADMIN_URL: stores.postgresUrl(AUDIT_DATABASE),
    }),
    stringDataSecret('novapos', 'audit-service-db-role', { AUDIT_DB_PASSWORD: auditPassword }),
  ];
}

/**
 * A second OpenBao on the node's bridge address, named `vault-staging.vault.svc:8200` in the cluster the same
 * way as the first (a Service without a selector and its EndpointSlice), with its own Kubernetes auth method
 * against the node's apiserver: another environment's Vault, as a SecretPromotion's `staging` connection
 * sees it. In the `vault` namespace, so the operator chart's NetworkPolicy (egress to `vault`:8200) covers it
 * as it covers the first.
 */
export async function startStagingVault(
  node: NodeInstance,
  dir: string,
): Promise<{ vault: VaultInstance; url: string; stop(): Promise<void> }> {
  const host = node.network.nodeIp;
  const vault = await startVault(path.join(dir, 'vault-staging'), 'openbao-node-staging', { host });
  try {
    await applyObjects(
      node,
      externalServiceManifests(DATA_SERVICES.vaultStaging, host, Number(new URL(vault.addr).port)),
    );
    await enableVaultKubernetesAuth(vault, node.kube);
  } catch (err) {
    await vault.stop();
    throw err;
  }
  return {
    vault,
    url: `http://${serviceHost(DATA_SERVICES.vaultStaging)}:${DATA_SERVICES.vaultStaging.port}`,
    stop: () => vault.stop(),
  };
}
