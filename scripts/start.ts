/**
 * `npm start`: the local stack. Starts the same real components the integration tests use (Redis,
 * PostgreSQL, Kafka, Prometheus, Alertmanager with its PagerDuty/Slack sinks, OpenBao) on loopback and, as root,
 * the harness's real Kubernetes node (scripts/start-node.ts): the operator and services charts run there as
 * pods from the images built here, and loopback ports are forwarded to them. Without root (or with NOVAPOS_START_NODE=0)
 * it says so in one line and runs a kube-apiserver + etcd without nodes and the project's processes on
 * loopback instead. Writes a kubeconfig and an env file for other shells, applies `examples/`, then starts
 * this project's own processes (`localProcesses` below; in the node, those that run as pods are not).
 * Ctrl-C or SIGTERM stops everything, the node included.
 */
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { localAlertmanagerConfig } from '../alerts/alertmanager/local.js';
import { describeError } from '../lib/errors.js';
import { connectPostgres } from '../lib/service-kit/db.js';
import { VaultClient } from '../lib/vault.js';
import { migrate as migrateAudit } from '../services/audit-service/src/storage/repo.js';
import { bootstrapAuditRole } from '../services/audit-service/src/storage/roles.js';
import { bootstrapDatabaseRoles } from '../services/auth-service/src/storage/roles.js';
import type { AlertmanagerInstance } from '../test/harness/components/alertmanager.js';
import { type KafkaInstance, kafkaEnv, startKafka } from '../test/harness/components/kafka.js';
import type { KubeInstance } from '../test/harness/components/kube.js';
import type { PostgresInstance } from '../test/harness/components/postgres.js';
import type { PrometheusInstance } from '../test/harness/components/prometheus.js';
import type { RedisInstance } from '../test/harness/components/redis.js';
import type { Sink } from '../test/harness/components/sinks.js';
import type { VaultInstance } from '../test/harness/components/vault.js';
import { type Env, startEnv } from '../test/harness/env.js';
import { importAppImages } from '../test/harness/node/app-images.js';
import {
  DATA_SERVICES,
  externalServiceManifests,
  serviceHost,
  vaultRoleForServiceAccount,
} from '../test/harness/node/data-stores.js';
import { ManagedProcess } from '../test/harness/process.js';
import { prometheusOperatorCrdDir } from '../test/harness/prometheus-operator-crds.js';
import { stopOnSignals } from '../test/harness/signals.js';
import type { Forwarder } from '../test/harness/tcp-forward.js';
import { enableVaultKubernetesAuth } from '../test/harness/vault-kube-auth.js';
import {
  applyAll,
  canRunNode,
  forwardFromBridge,
  forwardToPods,
  hostService,
  type K8sObject,
  type NodeInstance,
  operatorManifests,
  type PodRow,
  podRows,
  servicesManifests,
  startNode,
} from './start-node.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Where the env file and kubeconfig go; tests point it elsewhere so a developer's files are left alone.
const outDir = process.env.NOVAPOS_LOCAL_STACK_DIR ?? path.join(repoRoot, 'tmp');
const kubeconfigFile = path.join(outDir, 'local-stack.kubeconfig');
const envFile = path.join(outDir, 'local-stack.env');
const connectionsFile = path.join(outDir, 'local-stack.connections.yaml');
const examplesDir = path.join(repoRoot, 'examples');

/** The variables written to tmp/local-stack.env, in the file's order. */
export interface StackVars {
  readonly REDIS_URL: string;
  readonly DATABASE_URL: string;
  readonly VAULT_ADDR: string;
  readonly VAULT_TOKEN: string;
  readonly VAULT_STAGING_ADDR: string;
  readonly VAULT_STAGING_TOKEN: string;
  readonly KUBECONFIG: string;
  readonly PROMETHEUS_URL: string;
  readonly ALERTMANAGER_URL: string;
  readonly PAGERDUTY_SINK_URL: string;
  readonly SLACK_SINK_URL: string;
  /** The gateway's own least-privilege database role (made by bootstrapDatabaseRoles). */
  readonly GATEWAY_DATABASE_URL: string;
  /** The audit-service's insert-only role in its own database (`audit verify`: DATABASE_URL=$AUDIT_DATABASE_URL). */
  readonly AUDIT_DATABASE_URL: string;
  /** The audit tables' owner (migrations, retention). */
  readonly AUDIT_DATABASE_ADMIN_URL: string;
}

/** What a local process gets to configure itself from: the running components and their addresses. */
export interface Stack {
  readonly env: Env;
  readonly vars: StackVars;
  /** The broker the services publish their security events to (docs/contracts.md, "Events"). */
  readonly kafka: KafkaInstance;
}

/** The components npm start asks startEnv for, each one known to be running. */
interface Components {
  readonly redis: RedisInstance;
  readonly postgres: PostgresInstance;
  readonly prometheus: PrometheusInstance;
  readonly alertmanager: AlertmanagerInstance;
  readonly pagerduty: Sink;
  readonly slack: Sink;
  /** The operator's own OpenBao ("local"). */
  readonly vault: VaultInstance;
  /** The second OpenBao, standing in for staging (the example SecretPromotion's target). */
  readonly staging: VaultInstance;
}

/** `value`, or an error naming what npm start expected and did not get. */
function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`npm start: ${what} is missing`);
  return value;
}

function componentsOf(e: Env): Components {
  return {
    redis: required(e.redis, 'Redis (startEnv)'),
    postgres: required(e.postgres, 'PostgreSQL (startEnv)'),
    prometheus: required(e.prometheus, 'Prometheus (startEnv)'),
    alertmanager: required(e.alertmanager, 'Alertmanager (startEnv)'),
    pagerduty: required(e.pagerduty, 'the PagerDuty sink (startEnv)'),
    slack: required(e.slack, 'the Slack sink (startEnv)'),
    vault: required(e.vaults[0], 'the local OpenBao (startEnv, vault 1 of 2)'),
    staging: required(e.vaults[1], 'the staging OpenBao (startEnv, vault 2 of 2)'),
  };
}

/** One of this project's own processes, started after the components, in list order. */
export interface LocalProcess {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Its environment (added to this process's), built from the stack. */
  env(stack: Stack): Record<string, string>;
  /** Resolves true once it serves; default: ready as soon as it has started. */
  ready?(stack: Stack): Promise<boolean>;
  /** Where a person reaches it, for the table. */
  readonly url?: string;
  /** `host:port` of its /metrics, added to Prometheus's scrape targets under job `name`. */
  readonly metrics?: string;
}

/** GET that resolves true on a 2xx answer. */
async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

// Node with the tsx loader, not `npx tsx`: one process, so the harness's stop and parent-death signal reach it.
const tsNode = (entry: string) => ({ command: process.execPath, args: ['--import', 'tsx', entry] });

/**
 * This project's own processes, on the contracts' ports (operator 8080/8081, auth-service 8085,
 * integration-gateway 8083). The operator creates the signing keys of examples/signingkeyrotation.yaml in
 * OpenBao; auth-service signs with them; the gateway verifies through auth-service's JWKS and takes its
 * limits from the TenantRateLimit the operator publishes to Redis.
 */
const localProcesses: readonly LocalProcess[] = [
  {
    // The scrape job is named after the process: the alert rules expect job="novapos-operator".
    name: 'novapos-operator',
    ...tsNode('operator/src/main.ts'),
    env: (s) => ({
      KUBECONFIG: s.vars.KUBECONFIG,
      VAULT_ADDR: s.vars.VAULT_ADDR,
      VAULT_TOKEN: s.vars.VAULT_TOKEN,
      REDIS_URL: s.vars.REDIS_URL,
      ALERTMANAGER_URL: s.vars.ALERTMANAGER_URL,
      POD_NAMESPACE: 'novapos-system',
      OPERATOR_BIND_ADDRESS: '127.0.0.1',
      OPERATOR_METRICS_PORT: '8080',
      OPERATOR_PROBES_PORT: '8081',
      // Drills exercise the two services below and confirm delivery through the local Alertmanager.
      DRILL_AUTH_SERVICE_URL: 'http://127.0.0.1:8085',
      DRILL_GATEWAY_URL: 'http://127.0.0.1:8083',
      // The gateway serves /metrics on its admin port (docs/contracts.md, "Ports").
      DRILL_GATEWAY_METRICS_URLS: 'http://127.0.0.1:9083/metrics',
      DRILL_WEBHOOK_PORT: '8082',
      DRILL_WEBHOOK_TOKEN_FILE: drillWebhookTokenFile,
      // The named Vault connections: "staging" is the second local OpenBao.
      OPERATOR_CONNECTIONS_FILE: connectionsFile,
      VAULT_STAGING_TOKEN: s.vars.VAULT_STAGING_TOKEN,
    }),
    ready: () => httpOk('http://127.0.0.1:8081/readyz'),
    url: 'http://127.0.0.1:8080/metrics',
    metrics: '127.0.0.1:8080',
  },
  {
    name: 'auth-service',
    ...tsNode('services/auth-service/src/main.ts'),
    env: (s) => ({
      HOST: '127.0.0.1',
      PORT: '8085',
      ADMIN_PORT: '9085',
      DATABASE_URL: s.vars.DATABASE_URL,
      // Session revocation: the same Redis the gateway reads (docs/contracts.md, "Session revocation").
      REDIS_URL: s.vars.REDIS_URL,
      VAULT_ADDR: s.vars.VAULT_ADDR,
      VAULT_TOKEN: s.vars.VAULT_TOKEN,
      SIGNING_KEYSET_PATH: 'secret/novapos/signing-keys/novapos/auth',
      ...kafkaEnv(s.kafka, 'auth-service'),
    }),
    ready: () => httpOk('http://127.0.0.1:8085/health/live'),
    url: 'http://127.0.0.1:8085',
    // /metrics (with the per-tenant gauges) is on the admin listener only (docs/contracts.md, "Ports").
    metrics: '127.0.0.1:9085',
  },
  {
    name: 'integration-gateway',
    ...tsNode('services/integration-gateway/src/main.ts'),
    env: (s) => ({
      HOST: '127.0.0.1',
      PORT: '8083',
      ADMIN_PORT: '9083',
      REDIS_URL: s.vars.REDIS_URL,
      // Its own least-privilege role (API keys through a view, its own tables), not auth-service's.
      DATABASE_URL: s.vars.GATEWAY_DATABASE_URL,
      JWKS_URL: 'http://127.0.0.1:8085/.well-known/jwks.json',
      JWT_ISSUER: 'https://auth.novapos.local',
      JWT_AUDIENCE: 'novapos-api',
      ...kafkaEnv(s.kafka, 'integration-gateway'),
    }),
    ready: () => httpOk('http://127.0.0.1:8083/healthz'),
    url: 'http://127.0.0.1:8083',
    metrics: '127.0.0.1:9083',
  },
  {
    // Chains the two services' security events from Kafka (docs/audit-service.md); its admin port only.
    name: 'audit-service',
    ...tsNode('services/audit-service/src/main.ts'),
    env: (s) => ({
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: '9087',
      DATABASE_URL: s.vars.AUDIT_DATABASE_URL,
      DATABASE_ADMIN_URL: s.vars.AUDIT_DATABASE_ADMIN_URL,
      ...kafkaEnv(s.kafka, 'audit-service'),
      AUDIT_JWKS_URL: 'http://127.0.0.1:8085/.well-known/jwks.json',
      JWT_ISSUER: 'https://auth.novapos.local',
      JWT_AUDIENCE: 'novapos-api',
      // Chain heads signed with the local OpenBao's transit key (made by bootstrapAudit).
      VAULT_ADDR: s.vars.VAULT_ADDR,
      VAULT_TOKEN: s.vars.VAULT_TOKEN,
    }),
    ready: () => httpOk('http://127.0.0.1:9087/healthz'),
    url: 'http://127.0.0.1:9087',
    metrics: '127.0.0.1:9087',
  },
];

/**
 * The example SigningKeyRotation lists the services by their in-cluster addresses; locally they listen on
 * loopback, so the operator is pointed there (otherwise it would wait for services it cannot reach).
 */
async function pointExamplesAtLoopback(k: KubeInstance): Promise<void> {
  await k.kubectl(['create', 'namespace', 'novapos-system']).catch(() => {});
  const services = [
    { name: 'auth-service', statusURL: 'http://127.0.0.1:8085/keys/status' },
    {
      name: 'integration-gateway',
      statusURL: 'http://127.0.0.1:8083/keys/status',
      reloadURL: 'http://127.0.0.1:9083/keys/reload',
    },
    {
      name: 'audit-service',
      statusURL: 'http://127.0.0.1:9087/keys/status',
      reloadURL: 'http://127.0.0.1:9087/keys/reload',
    },
  ];
  await k
    .kubectl([
      'patch',
      'signingkeyrotation',
      'auth',
      '-n',
      'novapos',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { services } }),
    ])
    .catch((err: unknown) =>
      say(`examples: could not point the SigningKeyRotation at loopback: ${describeError(err)}`),
    );
}

const say = (line: string) => process.stderr.write(`[start] ${line}\n`);

let env: Env | undefined;
let node: NodeInstance | undefined;
let kafka: KafkaInstance | undefined;
const forwarders: Forwarder[] = [];
const running: ManagedProcess[] = [];
let stopping = false;
// Why there is no node (not root, ...), or undefined: the node runs.
const noNode = canRunNode();
/** The processes started on loopback: all of them without a node; in the node, those without an image yet. */
const inCluster = new Set(
  noNode ? [] : ['novapos-operator', 'auth-service', 'integration-gateway', 'audit-service'],
);
const processes = localProcesses.filter((p) => !inCluster.has(p.name));

/**
 * The files Alertmanager reads its PagerDuty routing key, Slack webhook URLs and drill webhook token from;
 * the operator reads the same token file, as both read their mounted Secrets in a cluster.
 */
const alertmanagerSecrets = mkdtempSync(path.join(tmpdir(), 'novapos-alertmanager-secrets-'));
const drillWebhookTokenFile = path.join(alertmanagerSecrets, 'drill-webhook-token');
writeFileSync(drillWebhookTokenFile, randomBytes(32).toString('hex'), { mode: 0o600 });

async function stopAll(): Promise<void> {
  stopping = true;
  for (const proc of running.reverse()) await proc.stop().catch(() => {});
  await Promise.all(forwarders.map((f) => f.close()));
  // The node first: its stop checks the machine is as it was (and that no packet left the bridge).
  await node?.stop().catch((err: unknown) => say(`node: ${describeError(err)}`));
  await kafka?.stop().catch(() => {});
  await env?.stop();
  rmSync(envFile, { force: true });
  rmSync(kubeconfigFile, { force: true });
  rmSync(connectionsFile, { force: true });
  rmSync(alertmanagerSecrets, { recursive: true, force: true });
  say('stopped');
}

function stackVars(
  c: Components,
  gatewayDatabaseUrl: string,
  audit: { url: string; adminUrl: string },
): StackVars {
  return {
    REDIS_URL: c.redis.url,
    DATABASE_URL: c.postgres.url,
    VAULT_ADDR: c.vault.addr,
    VAULT_TOKEN: c.vault.rootToken,
    VAULT_STAGING_ADDR: c.staging.addr,
    VAULT_STAGING_TOKEN: c.staging.rootToken,
    KUBECONFIG: kubeconfigFile,
    PROMETHEUS_URL: c.prometheus.url,
    ALERTMANAGER_URL: c.alertmanager.url,
    PAGERDUTY_SINK_URL: c.pagerduty.url,
    SLACK_SINK_URL: c.slack.url,
    GATEWAY_DATABASE_URL: gatewayDatabaseUrl,
    AUDIT_DATABASE_URL: audit.url,
    AUDIT_DATABASE_ADMIN_URL: audit.adminUrl,
  };
}

/**
 * The gateway's database role, made by the privileged bootstrap step with the admin credential (issue 18):
 * the admin URL with the role's name and a fresh password.
 */
async function bootstrapGatewayRole(adminUrl: string): Promise<string> {
  const gatewayDb = new URL(adminUrl);
  gatewayDb.username = 'novapos_gateway';
  gatewayDb.password = randomBytes(18).toString('base64url');
  await bootstrapDatabaseRoles({
    adminUrl,
    gatewayRole: gatewayDb.username,
    gatewayPassword: gatewayDb.password,
  });
  return gatewayDb.toString();
}

/**
 * The audit-service's database and role, as the chart's role Job makes them (scripts/db-roles.ts): a database
 * of its own, its tables migrated by the owner, the insert-only role `novapos_audit` with a fresh password;
 * and the local OpenBao's transit key its chain heads are signed with (docs/audit-service.md).
 */
async function bootstrapAudit(
  adminUrl: string,
  vault: VaultInstance,
): Promise<{ url: string; adminUrl: string }> {
  const database = 'novapos_audit';
  const admin = connectPostgres(adminUrl, { max: 1 });
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!exists.rowCount) await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.close();
  }
  const owner = new URL(adminUrl);
  owner.pathname = `/${database}`;
  const db = connectPostgres(owner.toString(), { max: 1 });
  try {
    await migrateAudit(db);
  } finally {
    await db.close();
  }
  const role = new URL(owner);
  role.username = 'novapos_audit';
  role.password = randomBytes(18).toString('base64url');
  await bootstrapAuditRole({ adminUrl: owner.toString(), role: role.username, password: role.password });
  // 400: mounted already (a second npm start against the same OpenBao).
  const mount = await vault.request('POST', 'sys/mounts/transit', { type: 'transit' });
  if (mount.status >= 300 && mount.status !== 400) throw new Error(`transit mount: HTTP ${mount.status}`);
  const key = await vault.request('POST', 'transit/keys/novapos-audit-chain', { type: 'ed25519' });
  if (key.status >= 300) throw new Error(`transit key novapos-audit-chain: HTTP ${key.status}`);
  return { url: role.toString(), adminUrl: owner.toString() };
}

function alertRuleFiles(): string[] {
  const dir = path.join(repoRoot, 'alerts');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.rules.yaml'))
    .map((f) => path.join(dir, f));
}

function writeStackFiles(k: KubeInstance, vars: StackVars): void {
  mkdirSync(outDir, { recursive: true });
  // A copy at a fixed path: the run directory's name changes on every start. Both files hold credentials.
  copyFileSync(k.kubeconfig, kubeconfigFile);
  const lines = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  writeFileSync(
    envFile,
    `# Written by npm start; removed when it stops. Load with: set -a; . ${envFile}; set +a\n${lines.join('\n')}\n`,
    {
      mode: 0o600,
    },
  );
}

/**
 * What examples/secretpromotion.yaml needs to plan: the source secret in the local Vault, the staging
 * overrides in the staging one, and the operator's connection to staging (token by environment variable,
 * never in the file). Placeholder values, not credentials.
 */
async function seedPromotionExample(c: Components, n: NodeInstance | undefined): Promise<void> {
  const client = (v: VaultInstance) =>
    new VaultClient({ addr: v.addr, auth: { method: 'token', token: v.rootToken } });
  const local = client(c.vault);
  const staging = client(c.staging);
  await local.kvWrite('secret', 'novapos/auth', {
    KAFKA_BOOTSTRAP: 'kafka.local:9092',
    REDIS_URL: c.redis.url,
    SECURITY_MFA_ACTIVITY_TOPIC: 'security.mfa.activity',
  });
  await staging.kvWrite('secret', 'novapos/staging-overrides/auth', {
    KAFKA_BOOTSTRAP: 'kafka.staging.local:9092',
    REDIS_URL: 'redis://redis.staging.local:6379',
  });
  writeFileSync(
    connectionsFile,
    stringify({
      connections: {
        // The promotion policy: examples/secretpromotion.yaml (namespace novapos) reads local, writes staging.
        local: { promotion: { source: true, namespaces: ['novapos'] } },
        staging: {
          // From a pod, the staging OpenBao is reached through the node's bridge address.
          address: n ? bridgeUrl(n, c.staging.addr) : c.staging.addr,
          auth: { method: 'token', tokenEnv: 'VAULT_STAGING_TOKEN' },
          promotion: { target: true, namespaces: ['novapos'] },
        },
      },
      // The services' key endpoints: as examples/ names them in the node (Services), on loopback without.
      keyStatusEndpoints: {
        allowedOrigins: n
          ? [
              'http://auth-service.novapos.svc:8085',
              'http://integration-gateway.novapos.svc:8083',
              'http://integration-gateway.novapos.svc:9083',
            ]
          : ['http://127.0.0.1:8085', 'http://127.0.0.1:8083', 'http://127.0.0.1:9083'],
      },
      // Without an entry no TenantRateLimit applies: examples/ puts acme's limits and the drill's
      // synthetic tenant in novapos.
      tenantOwners: [{ namespace: 'novapos', tenants: ['acme', 'drill-*'] }],
    }),
    { mode: 0o600 },
  );
}

function yamlFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return yamlFilesUnder(full);
    return /\.ya?ml$/.test(entry) ? [full] : [];
  });
}

/**
 * Applies every object in examples/ (files in any depth, several documents per file). Namespaces and CRDs go
 * first: `kubectl apply -f <folder>` takes files alphabetically and would create a resource before its
 * namespace.
 */
async function applyExamples(k: KubeInstance): Promise<number> {
  const objects = yamlFilesUnder(examplesDir)
    .flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => doc.toJS() as unknown))
    .filter((obj): obj is { kind?: string } => typeof obj === 'object' && obj !== null);
  if (objects.length === 0) return 0;
  const first = (o: { kind?: string }) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition';
  const ordered = [...objects.filter(first), ...objects.filter((o) => !first(o))];
  await k.kubectl(['apply', '-f', '-'], ordered.map((o) => stringify(o)).join('---\n'));
  return objects.length;
}

function watchForCrashes(procs: readonly ManagedProcess[]): void {
  for (const proc of procs) {
    void proc.exited.then((code) => {
      if (!stopping) say(`${proc.name} exited unexpectedly (code ${code}); its log: ${proc.logFile}`);
    });
  }
}

/** `url` with its host swapped for the node's bridge address (where a forwarder to loopback listens). */
function bridgeUrl(n: NodeInstance, url: string): string {
  const u = new URL(url);
  u.hostname = n.network.nodeIp;
  return u.toString().replace(/\/$/, '');
}

function printTable(
  e: Env,
  c: Components,
  k: KubeInstance,
  vars: StackVars,
  examples: number,
  pods: readonly PodRow[],
): void {
  const rows: [string, string, string][] = [
    ['redis', c.redis.url, c.redis.process.logFile],
    ['postgres', c.postgres.url, c.postgres.process.logFile],
    [
      'kafka',
      `${kafka?.bootstrap ?? ''}${kafka?.podPort ? `  (pods: ${serviceHost(DATA_SERVICES.kafka)}:${DATA_SERVICES.kafka.port})` : ''}`,
      kafka?.process.logFile ?? '',
    ],
    ['prometheus', c.prometheus.url, c.prometheus.process.logFile],
    ['alertmanager', c.alertmanager.url, c.alertmanager.process.logFile],
    ['pagerduty sink', `${c.pagerduty.url}  (GET /_records)`, ''],
    ['slack sink', `${c.slack.url}  (GET /_records)`, ''],
    ['kube-apiserver', k.server, k.apiserver.logFile],
    ['etcd', k.etcdUrl, k.etcd.logFile],
    ['vault (openbao)', c.vault.addr, c.vault.process?.logFile ?? '(external)'],
    ['vault staging', c.staging.addr, c.staging.process?.logFile ?? ''],
    ...localProcesses.map((p): [string, string, string] => {
      const i = processes.indexOf(p);
      if (i === -1) return [p.name, p.url ?? '', '(a pod in the node, below; forwarded from loopback)'];
      return [p.name, p.url ?? '', running[i]?.logFile ?? ''];
    }),
  ];
  // Each column as wide as its widest cell.
  const table = (r: readonly (readonly string[])[]) => {
    const widths: number[] = [];
    for (const row of r) {
      for (const [i, v] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, v.length);
    }
    return r.map((row) => `  ${row.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
  };
  const podLines = node
    ? [
        '',
        `Pods in the node ${node.nodeName} (${node.network.nodeIp} on ${node.network.bridge}):`,
        ...table([
          ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'IP', 'IMAGE'],
          ...pods.map((p) => [p.namespace, p.name, p.ready, p.phase, p.ip, p.image]),
        ]),
        `  forwarded:    ${forwarders.map((f) => `${f.host}:${f.port}`).join(' ')}`,
      ]
    : [];
  const out = [
    '',
    ...table([['component', 'address', 'log'], ...rows]),
    ...podLines,
    '',
    `  kubectl:      ${k.kubectlPath} --kubeconfig ${vars.KUBECONFIG}`,
    `  env file:     ${envFile}  (VAULT_TOKEN and the rest; load with: set -a; . ${envFile}; set +a)`,
    `  examples:     ${examples ? `${examples} object(s) applied from examples/` : 'none in examples/'}`,
    `  run dir:      ${e.dir}`,
    '',
    'Local stack is up. Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(out.join('\n'));
}

/**
 * The node's side: pods reach the loopback components through forwarders on the bridge address, named by
 * Services where the charts expect names; the operator chart runs from the image built here; loopback
 * ports the README and Prometheus/Alertmanager use are forwarded to its pods.
 */
async function startClusterSide(
  n: NodeInstance,
  c: Components,
  vars: StackVars,
  kafkaStarting: Promise<KafkaInstance>,
): Promise<void> {
  const port = (url: string) => Number(new URL(url).port);
  const amPort = port(c.alertmanager.url);
  for (const p of [
    port(c.vault.addr),
    port(c.staging.addr),
    port(c.redis.url),
    port(c.postgres.url),
    amPort,
  ]) {
    forwarders.push(await forwardFromBridge(n, p));
  }
  const ip = n.network.nodeIp;
  // The harness's app images (test/harness/node/app-images.ts): the application layer is rebuilt only when
  // its inputs change, so a warm npm start builds nothing.
  const images = await importAppImages(n, [
    'operator',
    'auth-service',
    'integration-gateway',
    'audit-service',
  ]);
  say(
    `images ${Object.values(images)
      .map((i) => i.image)
      .join(', ')} imported`,
  );
  // prometheus-operator's CRDs (the chart ships a ServiceMonitor), and the namespaces the charts expect.
  await n.kubectl([
    'apply',
    '--server-side',
    '--field-manager=novapos-start',
    '-f',
    prometheusOperatorCrdDir,
  ]);
  const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await applyAll(n, [
    ns('novapos'),
    ns('monitoring'),
    ...hostService('alertmanager-operated', 'monitoring', ip, [
      { name: 'web', port: 9093, targetPort: amPort },
    ]),
    // The services chart's VAULT_ADDR, http://vault.vault.svc:8200: the local OpenBao through the bridge.
    ...(externalServiceManifests(DATA_SERVICES.vault, ip, port(c.vault.addr)) as K8sObject[]),
  ]);
  // auth-service logs in to OpenBao as its chart says: Kubernetes auth, role auth-service, with its pod's
  // projected token (audience vault), validated against the node's apiserver (test/harness/node/data-stores.ts).
  await enableVaultKubernetesAuth(c.vault, n.kube);
  for (const service of ['auth-service', 'audit-service']) {
    await vaultRoleForServiceAccount(c.vault, {
      name: service,
      policy: readFileSync(path.join(repoRoot, `operator/vault-policies/${service}.hcl`), 'utf8'),
      namespace: 'novapos',
      serviceAccount: service,
      audience: 'vault',
    });
  }
  await applyAll(
    n,
    operatorManifests({
      image: images.operator.image,
      // One replica locally: the chart's two compete for the lease on one node and a 2-core machine.
      replicas: 1,
      vaultAddr: bridgeUrl(n, vars.VAULT_ADDR),
      vaultToken: vars.VAULT_TOKEN,
      vaultStagingToken: vars.VAULT_STAGING_TOKEN,
      redisUrl: bridgeUrl(n, vars.REDIS_URL),
      drillWebhookToken: readFileSync(drillWebhookTokenFile, 'utf8'),
      connectionsYaml: readFileSync(connectionsFile, 'utf8'),
    }),
  );
  // Kafka's pods listener, as the chart's default kafka.kafka.svc:9092 (a Service naming the bridge address).
  const k = await kafkaStarting;
  if (!k.podPort) throw new Error('Kafka has no listener for pods');
  await applyAll(n, externalServiceManifests(DATA_SERVICES.kafka, ip, k.podPort) as K8sObject[]);
  // The services chart as shipped for auth-service and the gateway (images swapped), with the database,
  // Redis and Kafka Secrets a user creates; the gateway's own role is the one bootstrapped above.
  const services = servicesManifests({
    images: {
      'auth-service': images['auth-service'].image,
      'integration-gateway': images['integration-gateway'].image,
      'audit-service': images['audit-service'].image,
    },
    // One replica each locally, as for the operator: a 2-core machine.
    replicas: 1,
    databaseUrl: bridgeUrl(n, vars.DATABASE_URL),
    gatewayDatabaseUrl: bridgeUrl(n, vars.GATEWAY_DATABASE_URL),
    redisUrl: bridgeUrl(n, vars.REDIS_URL),
    auditDatabaseUrl: bridgeUrl(n, vars.AUDIT_DATABASE_URL),
    auditDatabaseAdminUrl: bridgeUrl(n, vars.AUDIT_DATABASE_ADMIN_URL),
    kafkaPasswords: {
      'auth-service': k.services['auth-service'].password,
      'integration-gateway': k.services['integration-gateway'].password,
      'audit-service': k.services['audit-service'].password,
    },
  });
  if (services.leftOut.length > 0)
    say(`services chart: left out ${services.leftOut.join(', ')} (not part of the local stack)`);
  await applyAll(n, services.objects);
  // Prometheus scrapes 127.0.0.1:8080/9085/9083 and Alertmanager posts drill alerts to 127.0.0.1:8082, and the
  // README curls 8085/8083/9085, as without a node.
  for (const [ns, selector, ports] of IN_CLUSTER_PORTS) {
    for (const p of ports) forwarders.push(await forwardToPods(n, p, ns, selector, p));
  }
}

/** The pods' loopback ports (the contracts' ports): namespace, pod selector, ports forwarded to them. */
const IN_CLUSTER_PORTS: readonly [string, string, readonly number[]][] = [
  ['novapos-system', 'app.kubernetes.io/name=novapos-operator', [8080, 8081, 8082]],
  ['novapos', 'app.kubernetes.io/name=auth-service', [8085, 9085]],
  ['novapos', 'app.kubernetes.io/name=integration-gateway', [8083, 9083]],
  ['novapos', 'app.kubernetes.io/name=audit-service', [9087]],
];

/** The Deployments npm start runs in the node, waited for before it says it is up. */
const IN_CLUSTER_DEPLOYMENTS = [
  ['novapos-system', 'novapos-operator'],
  ['novapos', 'auth-service'],
  ['novapos', 'integration-gateway'],
  ['novapos', 'audit-service'],
] as const;

async function main(): Promise<void> {
  // Registered first: a Ctrl-C while starting stops whatever is already up.
  stopOnSignals(stopAll, say);
  const started = Date.now();
  if (noNode) say(noNode);
  say(
    `starting redis, postgres, prometheus, alertmanager + sinks, ${noNode ? 'kube-apiserver + etcd' : 'the Kubernetes node'}, openbao (local + staging)`,
  );
  const scrape = Object.fromEntries(
    localProcesses.flatMap((p) => (p.metrics ? [[p.name, [p.metrics]]] : [])),
  );
  const [e, n] = await Promise.all([
    startEnv({
      label: 'local-stack',
      redis: true,
      postgres: true,
      // The project's alert rules, so the runbooks' alerts evaluate against the local processes and reach
      // the PagerDuty and Slack sinks through Alertmanager.
      prometheus: { scrape, ruleFiles: alertRuleFiles(), scrapeInterval: '5s', evaluationInterval: '5s' },
      // The project's routes, grouping and inhibition (alerts/alertmanager/), delivering to the local sinks;
      // alerts with a `drill` label go to the operator's drill endpoint, as in a cluster.
      alertmanager: {
        config: localAlertmanagerConfig(alertmanagerSecrets, 'local-stack-routing-key', {
          url: 'http://127.0.0.1:8082/drills/alert-delivery',
          tokenFile: drillWebhookTokenFile,
        }),
      },
      // The node brings its own API server.
      kube: !!noNode,
      // The operator's own Vault ("local") and a second one standing in for staging, so the example
      // SecretPromotion has somewhere to promote to.
      vault: 2,
    }).then((x) => {
      env = x;
      return x;
    }),
    noNode
      ? undefined
      : startNode().then((x) => {
          node = x;
          return x;
        }),
  ]);
  // The API server examples go to: the node's, or the loopback one without a node.
  const k = n ? n.kube : required(e.kube, 'the kube-apiserver + etcd (startEnv, no node)');
  const c = componentsOf(e);
  // Kafka (issue 20): the services' security events. In the node it also listens on the bridge address for
  // pods, who reach it as kafka.kafka.svc:9092; started now, it comes up while the rest is set up.
  say('starting kafka');
  const kafkaStarting = startKafka(
    e.dir,
    n
      ? {
          pods: {
            host: n.network.nodeIp,
            advertised: `${serviceHost(DATA_SERVICES.kafka)}:${DATA_SERVICES.kafka.port}`,
          },
        }
      : {},
  ).then((x) => {
    kafka = x;
    return x;
  });
  // Not awaited yet: a failure is reported where it is awaited; this keeps it from being an unhandled one.
  kafkaStarting.catch(() => {});
  const vars = stackVars(
    c,
    await bootstrapGatewayRole(c.postgres.url),
    await bootstrapAudit(c.postgres.url, c.vault),
  );
  writeStackFiles(k, vars);
  await seedPromotionExample(c, n);
  if (n) await startClusterSide(n, c, vars, kafkaStarting);
  // The approval policies the chart ships: without them a SecretPromotion approval is never stamped. In the
  // node the operator chart has installed them already.
  if (!n) await k.kubectl(['apply', '--server-side', '-f', path.join(repoRoot, 'operator/admission')]);
  await k.waitUntilServed();
  const examples = await applyExamples(k);
  // Without a node the services are on loopback, not behind the Services examples/ names.
  if (examples && !n) await pointExamplesAtLoopback(k);
  const stack: Stack = { env: e, vars, kafka: await kafkaStarting };
  for (const p of processes) {
    say(`starting ${p.name}`);
    const ready = p.ready;
    running.push(
      await ManagedProcess.start(
        {
          name: p.name,
          command: p.command,
          args: p.args,
          env: p.env(stack),
          cwd: repoRoot,
          ready: ready ? () => ready(stack) : async () => true,
          readyTimeoutMs: 60_000,
        },
        path.join(e.dir, 'logs'),
      ),
    );
  }
  // auth-service is ready once the example SigningKeyRotation's key set is in OpenBao (the operator makes it).
  if (n) {
    for (const [ns, name] of IN_CLUSTER_DEPLOYMENTS)
      await n.kubectl(['-n', ns, 'rollout', 'status', `deployment/${name}`, '--timeout=240s']);
  }
  watchForCrashes([
    ...[c.redis, c.postgres, c.prometheus, c.alertmanager, stack.kafka].map((x) => x.process),
    k.apiserver,
    k.etcd,
    ...(c.vault.process ? [c.vault.process] : []),
    ...(n ? n.processes : []),
    ...running,
  ]);
  say(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  printTable(e, c, k, vars, examples, n ? await podRows(n) : []);
}

main().catch(async (err: unknown) => {
  say(`failed: ${describeError(err)}`);
  await stopAll();
  process.exit(1);
});
