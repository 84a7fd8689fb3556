/**
 * The Kubernetes node side of `npm start` (when run as root): the harness's real node (startNode), this
 * project's images built here and imported into it, the operator chart as shipped running as pods, and the
 * plumbing between the node and the components the local stack runs on loopback:
 *
 *   pods -> host     TCP forwarders on the node's bridge address (10.217.0.1) to the loopback components
 *                    (OpenBao, Redis, PostgreSQL, Alertmanager, and services still run as processes), named
 *                    in the cluster by selectorless Services where the charts expect a Service name
 *                    (alertmanager-operated.monitoring, auth-service.novapos, integration-gateway.novapos).
 *   host -> pods     TCP forwarders on loopback to a Service's ready pods (the host cannot reach a
 *                    ClusterIP), so the README's `curl localhost:8085 ...` and Prometheus's and
 *                    Alertmanager's loopback targets keep working whichever side a component runs on.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { type NodeInstance, startNode } from '../test/harness/components/node.js';
import { debianBaseLayer, nodeLtsLayer } from '../test/harness/node/base-image.js';
import { buildImageArchive } from '../test/harness/node/images.js';
import { prometheusOperatorCrdDir } from '../test/harness/prometheus-operator-crds.js';
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

/** This project's components that have an image (scripts/build-app.mjs's COMPONENTS). */
export type Component = 'operator' | 'auth-service' | 'integration-gateway';

/**
 * Builds `component`'s image as the root Dockerfile does (scripts/build-app.mjs's layer at /app, non-root
 * 10001, node as PID 1), on the harness's Debian + Node LTS base layers, and imports it into the node.
 * Named by the application layer's manifest hash unless `name` is given: the same sources give the same name.
 */
export async function buildAppImage(
  node: { importImage(archive: string): Promise<void> },
  component: Component,
  /** The reference to import it as (a chart's own image name, so the chart runs unchanged); default above. */
  name?: string,
): Promise<string> {
  const work = mkdtempSync(path.join(tmpdir(), 'novapos-image-'));
  try {
    const appDir = path.join(work, 'app');
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts/build-app.mjs'), component, appDir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const manifest = readFileSync(path.join(appDir, 'manifest.json'));
    const image =
      name ??
      `novapos.local/${component}:${createHash('sha256').update(manifest).digest('hex').slice(0, 12)}`;
    const archive = buildImageArchive(
      {
        name: image,
        baseLayers: [debianBaseLayer(), nodeLtsLayer()],
        files: [],
        trees: [{ from: appDir, to: '/app' }],
        entrypoint: ['/usr/local/bin/node', '--enable-source-maps', 'main.js'],
        workingDir: '/app',
        env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
        user: '10001:10001',
      },
      work,
    );
    await node.importImage(archive);
    return image;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

interface K8sObject {
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
interface PodSpec {
  containers?: Container[];
  volumes?: Record<string, unknown>[];
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
  const docs = chartObjects('novapos-operator.yaml');
  for (const d of docs.filter((x) => x.kind === 'Deployment')) {
    d.spec!.replicas = s.replicas;
    const pod = d.spec!.template!.spec!;
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
    return pods.items
      .filter(
        (p) =>
          !p.metadata.deletionTimestamp &&
          p.status.podIP &&
          p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      )
      .map((p) => ({ host: p.status.podIP!, port }));
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
export { prometheusOperatorCrdDir, startNode };
