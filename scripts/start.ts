/**
 * `npm start`: the local stack. Starts the same real components the integration tests use (Redis,
 * PostgreSQL, Prometheus, Alertmanager with its PagerDuty/Slack sinks, kube-apiserver + etcd, OpenBao) on
 * loopback, writes a kubeconfig and an env file for other shells, applies `examples/`, then starts this
 * project's own processes (`localProcesses` below). Ctrl-C or SIGTERM stops everything.
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
import { VaultClient } from '../lib/vault.js';
import { bootstrapDatabaseRoles } from '../services/auth-service/src/storage/roles.js';
import { type Env, startEnv } from '../test/harness/env.js';
import { ManagedProcess } from '../test/harness/process.js';
import { stopOnSignals } from '../test/harness/signals.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Where the env file and kubeconfig go; tests point it elsewhere so a developer's files are left alone.
const outDir = process.env.NOVAPOS_LOCAL_STACK_DIR ?? path.join(repoRoot, 'tmp');
const kubeconfigFile = path.join(outDir, 'local-stack.kubeconfig');
const envFile = path.join(outDir, 'local-stack.env');
const connectionsFile = path.join(outDir, 'local-stack.connections.yaml');
const examplesDir = path.join(repoRoot, 'examples');

/** What a local process gets to configure itself from: the running components and their addresses. */
export interface Stack {
  readonly env: Env;
  /** The variables written to tmp/local-stack.env: VAULT_ADDR, VAULT_TOKEN, REDIS_URL, DATABASE_URL, KUBECONFIG, ... */
  readonly vars: Readonly<Record<string, string>>;
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
      KUBECONFIG: s.vars.KUBECONFIG!,
      VAULT_ADDR: s.vars.VAULT_ADDR!,
      VAULT_TOKEN: s.vars.VAULT_TOKEN!,
      REDIS_URL: s.vars.REDIS_URL!,
      ALERTMANAGER_URL: s.vars.ALERTMANAGER_URL!,
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
      VAULT_STAGING_TOKEN: s.vars.VAULT_STAGING_TOKEN!,
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
      DATABASE_URL: s.vars.DATABASE_URL!,
      // Session revocation: the same Redis the gateway reads (docs/contracts.md, "Session revocation").
      REDIS_URL: s.vars.REDIS_URL!,
      VAULT_ADDR: s.vars.VAULT_ADDR!,
      VAULT_TOKEN: s.vars.VAULT_TOKEN!,
      SIGNING_KEYSET_PATH: 'secret/novapos/signing-keys/novapos/auth',
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
      REDIS_URL: s.vars.REDIS_URL!,
      // Its own least-privilege role (API keys through a view, its own tables), not auth-service's.
      DATABASE_URL: s.vars.GATEWAY_DATABASE_URL!,
      JWKS_URL: 'http://127.0.0.1:8085/.well-known/jwks.json',
      JWT_ISSUER: 'https://auth.novapos.local',
      JWT_AUDIENCE: 'novapos-api',
    }),
    ready: () => httpOk('http://127.0.0.1:8083/healthz'),
    url: 'http://127.0.0.1:8083',
    metrics: '127.0.0.1:9083',
  },
];

/**
 * The example SigningKeyRotation lists the services by their in-cluster addresses; locally they listen on
 * loopback, so the operator is pointed there (otherwise it would wait for services it cannot reach).
 */
async function pointExamplesAtLoopback(e: Env): Promise<void> {
  await e.kube!.kubectl(['create', 'namespace', 'novapos-system']).catch(() => {});
  const services = [
    { name: 'auth-service', statusURL: 'http://127.0.0.1:8085/keys/status' },
    {
      name: 'integration-gateway',
      statusURL: 'http://127.0.0.1:8083/keys/status',
      reloadURL: 'http://127.0.0.1:9083/keys/reload',
    },
  ];
  await e
    .kube!.kubectl([
      'patch',
      'signingkeyrotation',
      'auth',
      '-n',
      'novapos',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { services } }),
    ])
    .catch((err: Error) =>
      say(`examples: could not point the SigningKeyRotation at loopback: ${err.message}`),
    );
}

const say = (line: string) => process.stderr.write(`[start] ${line}\n`);

let env: Env | undefined;
const running: ManagedProcess[] = [];
let stopping = false;

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
  await env?.stop();
  rmSync(envFile, { force: true });
  rmSync(kubeconfigFile, { force: true });
  rmSync(connectionsFile, { force: true });
  rmSync(alertmanagerSecrets, { recursive: true, force: true });
  say('stopped');
}

function stackVars(e: Env): Record<string, string> {
  return {
    REDIS_URL: e.redis!.url,
    DATABASE_URL: e.postgres!.url,
    VAULT_ADDR: e.vault!.addr,
    VAULT_TOKEN: e.vault!.rootToken,
    VAULT_STAGING_ADDR: e.vaults[1]!.addr,
    VAULT_STAGING_TOKEN: e.vaults[1]!.rootToken,
    KUBECONFIG: kubeconfigFile,
    PROMETHEUS_URL: e.prometheus!.url,
    ALERTMANAGER_URL: e.alertmanager!.url,
    PAGERDUTY_SINK_URL: e.pagerduty!.url,
    SLACK_SINK_URL: e.slack!.url,
  };
}

function alertRuleFiles(): string[] {
  const dir = path.join(repoRoot, 'alerts');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.rules.yaml'))
    .map((f) => path.join(dir, f));
}

function writeStackFiles(e: Env, vars: Record<string, string>): void {
  mkdirSync(outDir, { recursive: true });
  // A copy at a fixed path: the run directory's name changes on every start. Both files hold credentials.
  copyFileSync(e.kube!.kubeconfig, kubeconfigFile);
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
async function seedPromotionExample(e: Env): Promise<void> {
  const [local, staging] = e.vaults.map(
    (v) => new VaultClient({ addr: v.addr, auth: { method: 'token', token: v.rootToken } }),
  );
  await local!.kvWrite('secret', 'novapos/auth', {
    KAFKA_BOOTSTRAP: 'kafka.local:9092',
    REDIS_URL: e.redis!.url,
    SECURITY_MFA_ACTIVITY_TOPIC: 'security.mfa.activity',
  });
  await staging!.kvWrite('secret', 'novapos/staging-overrides/auth', {
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
          address: e.vaults[1]!.addr,
          auth: { method: 'token', tokenEnv: 'VAULT_STAGING_TOKEN' },
          promotion: { target: true, namespaces: ['novapos'] },
        },
      },
      // The local services' key endpoints (the SigningKeyRotation npm start applies lists them).
      keyStatusEndpoints: {
        allowedOrigins: ['http://127.0.0.1:8085', 'http://127.0.0.1:8083', 'http://127.0.0.1:9083'],
      },
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
async function applyExamples(e: Env): Promise<number> {
  const objects = yamlFilesUnder(examplesDir)
    .flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => doc.toJS() as unknown))
    .filter((obj): obj is { kind?: string } => typeof obj === 'object' && obj !== null);
  if (objects.length === 0) return 0;
  const first = (o: { kind?: string }) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition';
  const ordered = [...objects.filter(first), ...objects.filter((o) => !first(o))];
  await e.kube!.kubectl(['apply', '-f', '-'], ordered.map((o) => stringify(o)).join('---\n'));
  return objects.length;
}

function watchForCrashes(procs: readonly ManagedProcess[]): void {
  for (const proc of procs) {
    void proc.exited.then((code) => {
      if (!stopping) say(`${proc.name} exited unexpectedly (code ${code}); its log: ${proc.logFile}`);
    });
  }
}

function printTable(e: Env, vars: Record<string, string>, examples: number): void {
  const rows: [string, string, string][] = [
    ['redis', e.redis!.url, e.redis!.process.logFile],
    ['postgres', e.postgres!.url, e.postgres!.process.logFile],
    ['prometheus', e.prometheus!.url, e.prometheus!.process.logFile],
    ['alertmanager', e.alertmanager!.url, e.alertmanager!.process.logFile],
    ['pagerduty sink', `${e.pagerduty!.url}  (GET /_records)`, ''],
    ['slack sink', `${e.slack!.url}  (GET /_records)`, ''],
    ['kube-apiserver', e.kube!.server, e.kube!.apiserver.logFile],
    ['etcd', e.kube!.etcdUrl, e.kube!.etcd.logFile],
    ['vault (openbao)', e.vault!.addr, e.vault!.process?.logFile ?? '(external)'],
    ['vault staging', e.vaults[1]!.addr, e.vaults[1]!.process?.logFile ?? ''],
    ...localProcesses.map((p, i): [string, string, string] => [
      p.name,
      p.url ?? '',
      running[i]?.logFile ?? '',
    ]),
  ];
  const width = (col: 0 | 1) => Math.max(...rows.map((r) => r[col].length));
  const line = (r: readonly string[]) =>
    `  ${r[0]!.padEnd(width(0))}  ${r[1]!.padEnd(width(1))}  ${r[2]}`.trimEnd();
  const out = [
    '',
    line(['component', 'address', 'log']),
    ...rows.map(line),
    '',
    `  kubectl:      ${e.kube!.kubectlPath} --kubeconfig ${vars.KUBECONFIG}`,
    `  env file:     ${envFile}  (VAULT_TOKEN and the rest; load with: set -a; . ${envFile}; set +a)`,
    `  examples:     ${examples ? `${examples} object(s) applied from examples/` : 'none in examples/'}`,
    `  run dir:      ${e.dir}`,
    '',
    'Local stack is up. Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(out.join('\n'));
}

async function main(): Promise<void> {
  // Registered first: a Ctrl-C while starting stops whatever is already up.
  stopOnSignals(stopAll, say);
  const started = Date.now();
  say(
    'starting redis, postgres, prometheus, alertmanager + sinks, kube-apiserver + etcd, openbao (local + staging)',
  );
  const scrape = Object.fromEntries(
    localProcesses.filter((p) => p.metrics).map((p) => [p.name, [p.metrics!]]),
  );
  env = await startEnv({
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
    kube: true,
    // The operator's own Vault ("local") and a second one standing in for staging, so the example
    // SecretPromotion has somewhere to promote to.
    vault: 2,
  });
  const vars = stackVars(env);
  // The gateway's database role, made by the privileged bootstrap step with the admin credential (issue 18).
  const gatewayDb = new URL(vars.DATABASE_URL!);
  gatewayDb.username = 'novapos_gateway';
  gatewayDb.password = randomBytes(18).toString('base64url');
  await bootstrapDatabaseRoles({
    adminUrl: vars.DATABASE_URL!,
    gatewayRole: gatewayDb.username,
    gatewayPassword: gatewayDb.password,
  });
  vars.GATEWAY_DATABASE_URL = gatewayDb.toString();
  writeStackFiles(env, vars);
  await seedPromotionExample(env);
  // The approval policies the chart ships: without them a SecretPromotion approval is never stamped.
  await env.kube!.kubectl(['apply', '--server-side', '-f', path.join(repoRoot, 'operator/admission')]);
  await env.kube!.waitUntilServed();
  const examples = await applyExamples(env);
  if (examples) await pointExamplesAtLoopback(env);
  const stack: Stack = { env, vars };
  for (const p of localProcesses) {
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
        path.join(env.dir, 'logs'),
      ),
    );
  }
  watchForCrashes([
    ...[env.redis, env.postgres, env.prometheus, env.alertmanager].map((c) => c!.process),
    env.kube!.apiserver,
    env.kube!.etcd,
    ...(env.vault?.process ? [env.vault.process] : []),
    ...running,
  ]);
  say(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  printTable(env, vars, examples);
}

main().catch(async (err: unknown) => {
  say(`failed: ${describeError(err)}`);
  await stopAll();
  process.exit(1);
});
