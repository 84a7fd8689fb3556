/**
 * The Kubernetes node side of `npm start` (when run as root): the harness's real node (startNode), this
 * project's images built here and imported into it, the operator chart and the services chart as shipped
 * running as pods, and the plumbing between the node and the components the local stack runs on loopback:
 *
 *   pods -> host     TCP forwarders on the node's bridge address (10.217.0.1) to the loopback components
 *                    (OpenBao, Redis, PostgreSQL, Alertmanager), named in the cluster by selectorless
 *                    Services where the charts expect a Service name (alertmanager-operated.monitoring,
 *                    vault.vault).
 *   host -> pods     TCP forwarders on loopback to a Service's ready pods (the host cannot reach a
 *                    ClusterIP), so the README's `curl localhost:8085 ...` and Prometheus's and
 *                    Alertmanager's loopback targets keep working.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { type NodeInstance, startNode } from '../test/harness/components/node.js';
import { type Forwarder, forwardTcp, roundRobin, type Target } from '../test/harness/tcp-forward.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The node needs root (bridge, iptables, cgroups, containerd). */
export function canRunNode(): string | undefined {
  if (process.platform !== 'linux') return `no Kubernetes node: it needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0)
    return 'no Kubernetes node: it needs root (bridge, iptables, containerd); running the project as processes on loopback instead';
  if (process.env.NOVAPOS_START_NODE === '0')
    return 'no Kubernetes node: NOVAPOS_START_NODE=0; running the project as processes on loopback instead';
  return undefined;
}

/** This project's components that have an image (scripts/build-app.mjs's COMPONENTS) and run in npm start's node. */
export type Component = 'operator' | 'auth-service' | 'integration-gateway';

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: Record<string, unknown> & { replicas?: number; template?: { spec?: PodSpec } };
}
interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  env?: Record<string, unknown>[];
  volumeMounts?: Record<string, unknown>[];
}
export interface PodSpec {
  containers?: Container[];
  volumes?: Record<string, unknown>[];
}

/**
 * A Deployment of a chart in charts/dist with the parts npm start sets (replicas, containers, volumes): its
 * spec and pod spec, or an error naming the chart and the Deployment that lacks them.
 */
export function deploymentParts(
  chart: string,
  d: K8sObject,
): { spec: NonNullable<K8sObject['spec']>; pod: PodSpec } {
  const pod = d.spec?.template?.spec;
  if (!d.spec || !pod)
    throw new Error(`${chart}: Deployment ${d.metadata?.name ?? '(no name)'} has no spec.template.spec`);
  return { spec: d.spec, pod };
}

/** The documents of a synthesized chart in charts/dist. */
export function chartObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path.join(repoRoot, 'charts/dist', file), 'utf8'))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

/** A selectorless Service whose one endpoint is the host's bridge address (where a forwarder listens). */
export function hostService(
  name: string,
  namespace: string,
  hostIp: string,
  ports: readonly { name: string; port: number; targetPort: number }[],
): K8sObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort })) },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-host`,
        namespace,
        labels: { 'kubernetes.io/service-name': name },
      } as K8sObject['metadata'],
      addressType: 'IPv4',
      endpoints: [{ addresses: [hostIp], conditions: { ready: true } }],
      ports: ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: 'TCP' })),
    } as K8sObject,
  ];
}

/** What the operator's pod gets from the local stack. */
export interface OperatorSettings {
  readonly image: string;
  readonly replicas: number;
  readonly vaultAddr: string;
  readonly vaultToken: string;
  readonly vaultStagingToken: string;
  readonly redisUrl: string;
  readonly drillWebhookToken: string;
  /** The connections file's YAML (tokens by environment variable, never in it). */
  readonly connectionsYaml: string;
}

const OPERATOR_NS = 'novapos-system';

/**
 * charts/dist/novapos-operator.yaml as shipped, with the image swapped for the one built here, and the
 * settings a user gives it through the Secrets the chart reads (novapos-operator-redis,
 * novapos-operator-drill-webhook) plus the local Vault's token and connections file (a cluster would use
 * the Kubernetes auth method; the local stack's OpenBao has no role for it, so the token is the
 * local-development setting of operator/src/config.ts).
 */
export function operatorManifests(s: OperatorSettings): K8sObject[] {
  const chart = 'novapos-operator.yaml';
  const docs = chartObjects(chart);
  for (const d of docs.filter((x) => x.kind === 'Deployment')) {
    const { spec, pod } = deploymentParts(chart, d);
    spec.replicas = s.replicas;
    for (const c of pod.containers ?? []) {
      c.image = s.image;
      c.imagePullPolicy = 'Never';
      const own = [
        { name: 'VAULT_ADDR', value: s.vaultAddr },
        {
          name: 'VAULT_TOKEN',
          valueFrom: { secretKeyRef: { name: 'novapos-operator-local-vault', key: 'VAULT_TOKEN' } },
        },
        {
          name: 'VAULT_STAGING_TOKEN',
          valueFrom: { secretKeyRef: { name: 'novapos-operator-local-vault', key: 'VAULT_STAGING_TOKEN' } },
        },
        { name: 'OPERATOR_CONNECTIONS_FILE', value: '/etc/novapos/connections/connections.yaml' },
      ];
      // The chart's own settings of these are replaced; its Kubernetes auth role goes with the token.
      const replaced = new Set([...own.map((e) => e.name), 'VAULT_KUBERNETES_ROLE']);
      c.env = [...(c.env ?? []).filter((e) => !replaced.has(e.name as string)), ...own];
      c.volumeMounts = [
        ...(c.volumeMounts ?? []).filter((m) => m.name !== 'connections'),
        { name: 'connections', mountPath: '/etc/novapos/connections', readOnly: true },
      ];
    }
    pod.volumes = [
      ...(pod.volumes ?? []).filter((v) => v.name !== 'connections'),
      { name: 'connections', secret: { secretName: 'novapos-operator-connections', defaultMode: 0o440 } },
    ];
  }
  const secret = (name: string, data: Record<string, string>): K8sObject =>
    ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: OPERATOR_NS },
      type: 'Opaque',
      stringData: data,
    }) as K8sObject;
  return [
    ...docs,
    secret('novapos-operator-redis', { REDIS_URL: s.redisUrl }),
    secret('novapos-operator-drill-webhook', { token: s.drillWebhookToken }),
    secret('novapos-operator-local-vault', {
      VAULT_TOKEN: s.vaultToken,
      VAULT_STAGING_TOKEN: s.vaultStagingToken,
    }),
    secret('novapos-operator-connections', { 'connections.yaml': s.connectionsYaml }),
  ];
}

/** The services chart's container name -> the component whose image it runs. */
const SERVICE_CONTAINERS: Record<string, LocalService> = {
  'auth-service': 'auth-service',
  gateway: 'integration-gateway',
  'audit-service': 'audit-service',
};

/**
 * The services npm start runs from the services chart; an object of another component is left out (the role
 * Job: npm start makes the roles itself, with the admin credential, before installing).
 */
const RUN_SERVICES = ['auth-service', 'integration-gateway', 'audit-service'] as const;
type LocalService = (typeof RUN_SERVICES)[number];

/** Which of RUN_SERVICES an object of the services chart belongs to (by its name label or its name). */
function serviceOf(o: K8sObject): string | undefined {
  const labels = (o.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  const name = labels['app.kubernetes.io/name'] ?? o.metadata?.name ?? '';
  return RUN_SERVICES.find((s) => name === s || name.startsWith(`${s}-`));
}

/**
 * charts/dist/novapos-services.yaml as shipped for auth-service and integration-gateway, with only the
 * images swapped for the ones built here (as the node suite does, test/cluster/product.ts) and `replicas`
 * of each Deployment, plus the Secrets a user creates before installing it (docs/auth-service.md,
 * docs/integration-gateway.md): the database and Redis URLs and the Kafka passwords. OpenBao is the chart's own
 * `vault.vault.svc:8200` with its Kubernetes auth role. `leftOut` names the chart's objects of other
 * components (they need what the local stack does not run).
 */
export function servicesManifests(s: {
  readonly images: Readonly<Record<LocalService, string>>;
  readonly replicas: number;
  readonly databaseUrl: string;
  /** The gateway's own least-privilege role (the chart's integration-gateway-database Secret). */
  readonly gatewayDatabaseUrl: string;
  readonly redisUrl: string;
  /** The audit-service's insert-only role and its tables' owner (the chart's audit-service-database Secret). */
  readonly auditDatabaseUrl: string;
  readonly auditDatabaseAdminUrl: string;
  /** Each service's Kafka password (its SCRAM principal), for the chart's `<service>-kafka` Secrets. */
  readonly kafkaPasswords: Readonly<Record<LocalService, string>>;
}): { objects: K8sObject[]; leftOut: string[] } {
  const chart = 'novapos-services.yaml';
  const all = chartObjects(chart);
  const docs = all.filter((o) => o.kind === 'Namespace' || serviceOf(o));
  const leftOut = all.filter((o) => !docs.includes(o)).map((o) => `${o.kind}/${o.metadata?.name}`);
  for (const d of docs.filter((x) => x.kind === 'Deployment')) {
    const { spec, pod } = deploymentParts(chart, d);
    spec.replicas = s.replicas;
    for (const c of pod.containers ?? []) {
      const component = SERVICE_CONTAINERS[c.name];
      if (!component) throw new Error(`container ${c.name} of ${d.metadata?.name}: no image built for it`);
      c.image = s.images[component];
      c.imagePullPolicy = 'Never';
    }
  }
  const secret = (name: string, data: Record<string, string>): K8sObject =>
    ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: 'novapos' },
      type: 'Opaque',
      stringData: data,
    }) as K8sObject;
  const objects = [
    ...docs,
    secret('auth-service-database', { DATABASE_URL: s.databaseUrl }),
    secret('integration-gateway-database', { DATABASE_URL: s.gatewayDatabaseUrl }),
    secret('auth-service-redis', { REDIS_URL: s.redisUrl }),
    secret('integration-gateway-redis', { REDIS_URL: s.redisUrl }),
    secret('audit-service-database', {
      DATABASE_URL: s.auditDatabaseUrl,
      DATABASE_ADMIN_URL: s.auditDatabaseAdminUrl,
    }),
    ...RUN_SERVICES.map((service) =>
      secret(`${service}-kafka`, { KAFKA_PASSWORD: s.kafkaPasswords[service] }),
    ),
  ];
  return { objects, leftOut };
}

/** Applies manifests server-side, retrying while a kind they use is not served yet (CRDs in the same apply). */
export async function applyAll(node: NodeInstance, objects: readonly K8sObject[]): Promise<void> {
  const manifests = objects.map((o) => stringify(o)).join('---\n');
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      await node.kubectl(
        ['apply', '--server-side', '--force-conflicts', '--field-manager=novapos-start', '-f', '-'],
        manifests,
      );
      return;
    } catch (err) {
      // Only a kind that is not served yet is worth another try; anything else is the manifests' fault.
      const notServed = /no matches for kind|resource mapping not found|ensure CRDs are installed/;
      if (!notServed.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Ready pods' IPs selected by `selector` in `namespace`, with `port`. */
export function podTargets(node: NodeInstance, namespace: string, selector: string, port: number) {
  return async (): Promise<Target[]> => {
    const pods = JSON.parse(
      await node.kubectl(['-n', namespace, 'get', 'pods', '-l', selector, '-o', 'json']),
    ) as {
      items: {
        metadata: { deletionTimestamp?: string };
        status: { podIP?: string; conditions?: { type: string; status: string }[] };
      }[];
    };
    return pods.items.flatMap((p) => {
      const host = p.status.podIP;
      const ready = p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return host && ready && !p.metadata.deletionTimestamp ? [{ host, port }] : [];
    });
  };
}

/** Loopback `port` -> ready pods of `selector` on `targetPort`. */
export function forwardToPods(
  node: NodeInstance,
  port: number,
  namespace: string,
  selector: string,
  targetPort: number,
): Promise<Forwarder> {
  return forwardTcp(
    { host: '127.0.0.1', port },
    roundRobin(podTargets(node, namespace, selector, targetPort)),
  );
}

/** The node's bridge address `port` -> loopback `port` (a component on the host, for pods). */
export function forwardFromBridge(node: NodeInstance, port: number): Promise<Forwarder> {
  return forwardTcp({ host: node.network.nodeIp, port }, () => ({ host: '127.0.0.1', port }));
}

export interface PodRow {
  readonly namespace: string;
  readonly name: string;
  readonly phase: string;
  readonly ready: string;
  readonly ip: string;
  readonly image: string;
}

/** Every pod of the node, as `kubectl get pods -A` sees them. */
export async function podRows(node: NodeInstance): Promise<PodRow[]> {
  const pods = JSON.parse(await node.kubectl(['get', 'pods', '-A', '-o', 'json'])) as {
    items: {
      metadata: { name: string; namespace: string };
      spec: { containers: { image: string }[] };
      status: { phase?: string; podIP?: string; containerStatuses?: { ready: boolean }[] };
    }[];
  };
  return pods.items.map((p) => {
    const cs = p.status.containerStatuses ?? [];
    return {
      namespace: p.metadata.namespace,
      name: p.metadata.name,
      phase: p.status.phase ?? '',
      ready: `${cs.filter((c) => c.ready).length}/${p.spec.containers.length}`,
      ip: p.status.podIP ?? '',
      image: p.spec.containers.map((c) => c.image).join(','),
    };
  });
}

export type { NodeInstance };
export { startNode };
