import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';

/** A bad setting: the message is one line naming the setting and what it must be (never a secret value). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** How the operator authenticates to one Vault. */
export type VaultAuth =
  | {
      readonly method: 'kubernetes';
      /** Vault role bound to the operator's ServiceAccount. */
      readonly role: string;
      /** Mount path of the Kubernetes auth method. Default `kubernetes`. */
      readonly mount: string;
      /** Where the projected ServiceAccount token is read from. */
      readonly serviceAccountTokenPath: string;
    }
  | {
      readonly method: 'token';
      /** Read the token from this file... */
      readonly tokenFile?: string;
      /** ...or from this environment variable (never written in the file itself). */
      readonly tokenEnv?: string;
    }
  | {
      /** A token in a Kubernetes Secret (default: the operator's namespace), re-read when Vault refuses it. */
      readonly method: 'tokenSecret';
      readonly name: string;
      /** Default `token`. */
      readonly key?: string;
      readonly namespace?: string;
    };

/** A named Vault in another environment (SecretPromotion sources and targets refer to it by name). */
export interface VaultConnection {
  readonly name: string;
  readonly address: string;
  readonly auth: VaultAuth;
  /** PEM file of the CA that signs this Vault's certificate; the system roots when absent. */
  readonly caCertFile?: string;
  /** Vault Enterprise / OpenBao namespace. */
  readonly namespace?: string;
}

export interface OperatorConfig {
  /** Namespaces whose resources are reconciled; empty: all namespaces. */
  readonly watchNamespaces: readonly string[];
  readonly identity: string;
  readonly leaderElection: {
    readonly enabled: boolean;
    readonly leaseName: string;
    readonly leaseNamespace: string;
    readonly leaseDurationMs: number;
    readonly renewDeadlineMs: number;
    readonly retryPeriodMs: number;
  };
  readonly metricsPort: number;
  readonly probesPort: number;
  readonly bindAddress: string;
  readonly logLevel: LogLevel;
  readonly resyncPeriodMs: number;
  readonly maxConcurrentReconciles: number;
  readonly reconcileRateLimit: { readonly ratePerSecond: number; readonly burst: number };
  readonly shutdownTimeoutMs: number;
  /** This environment's Vault; absent when VAULT_ADDR is not set. */
  readonly vault?: {
    readonly address: string;
    /** Local development only; in a cluster the Kubernetes auth role is used. */
    readonly token?: string;
    readonly auth: VaultAuth;
    readonly caCertFile?: string;
  };
  readonly connectionsFile?: string;
  /** Other environments' Vaults, by name, from `connectionsFile`. */
  readonly connections: ReadonlyMap<string, VaultConnection>;
  /** The operator's own namespace (POD_NAMESPACE): its Secrets (fingerprint key, connection tokens) live here. */
  readonly operatorNamespace: string;
  /** Redis the integration gateways read their limits from (REDIS_URL); TenantRateLimits need it. */
  readonly redisUrl?: string;
  /** Alertmanager the drills send their synthetic alert to (ALERTMANAGER_URL). */
  readonly alertmanagerUrl?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const SA_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SECRET_VARS = new Set(['VAULT_TOKEN']);

/** Command-line flags, each overriding the environment variable it names. */
const FLAGS = {
  'metrics-port': 'OPERATOR_METRICS_PORT',
  'probes-port': 'OPERATOR_PROBES_PORT',
  'leader-elect': 'OPERATOR_LEADER_ELECT',
  namespace: 'OPERATOR_WATCH_NAMESPACES',
  'connections-file': 'OPERATOR_CONNECTIONS_FILE',
  'log-level': 'LOG_LEVEL',
  identity: 'OPERATOR_IDENTITY',
} as const;

function bad(name: string, value: string, must: string): ConfigError {
  const shown = SECRET_VARS.has(name) ? '[redacted]' : value;
  return new ConfigError(`${name}=${shown}: ${must}`);
}

/** Go-style duration (`90s`, `15m`, `1h30m`, `500ms`) in milliseconds. */
export function parseDuration(text: string): number | undefined {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let matched = false;
  re.lastIndex = 0;
  while (re.lastIndex < text.length) {
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * (units[m[2] as string] ?? 0);
    matched = true;
  }
  return matched ? total : undefined;
}

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
}

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || n > 65535) throw bad(name, raw, 'must be a port number 0-65535');
  return n;
}

function positiveNumber(env: Env, name: string, fallback: number, integer: boolean): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw bad(name, raw, integer ? 'must be a whole number above 0' : 'must be a number above 0');
  }
  return n;
}

function duration(env: Env, name: string, fallback: string): number {
  const raw = str(env, name, fallback);
  const ms = parseDuration(raw);
  if (ms === undefined || ms <= 0) throw bad(name, raw, 'must be a duration like 90s, 15m or 1h');
  return ms;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw bad(name, raw, 'must be true or false');
}

function url(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    const u = new URL(raw.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    return raw.trim().replace(/\/+$/, '');
  } catch {
    throw bad(name, raw, 'must be an http(s) URL');
  }
}

/** argv flags (`--metrics-port=0`, `--namespace=a --namespace=b`) as environment overrides. */
function argvOverrides(argv: readonly string[]): Record<string, string> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(
        Object.keys(FLAGS).map((f) => [f, { type: 'string', multiple: f === 'namespace' }]),
      ),
    });
  } catch (err) {
    throw new ConfigError(`command line: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: Record<string, string> = {};
  for (const [flag, envName] of Object.entries(FLAGS)) {
    const v = parsed.values[flag];
    if (v === undefined) continue;
    out[envName] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return out;
}

/** The operator's configuration from its environment (and optional command-line flags, which win). */
export function configFromEnv(envIn: Env, argv: readonly string[] = []): OperatorConfig {
  const env: Env = { ...envIn, ...argvOverrides(argv) };

  const watchNamespaces = str(env, 'OPERATOR_WATCH_NAMESPACES', '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const ns of watchNamespaces) {
    if (!DNS_LABEL.test(ns) || ns.length > 63)
      throw bad(
        'OPERATOR_WATCH_NAMESPACES',
        env.OPERATOR_WATCH_NAMESPACES ?? '',
        `"${ns}" is not a namespace name`,
      );
  }

  const leaseDurationMs = duration(env, 'OPERATOR_LEASE_DURATION', '15s');
  const renewDeadlineMs = duration(env, 'OPERATOR_RENEW_DEADLINE', '10s');
  const retryPeriodMs = duration(env, 'OPERATOR_RETRY_PERIOD', '2s');
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
    throw new ConfigError(
      `OPERATOR_LEASE_DURATION, OPERATOR_RENEW_DEADLINE, OPERATOR_RETRY_PERIOD: must satisfy lease duration > renew deadline > retry period`,
    );
  }
  const leaseName = str(env, 'OPERATOR_LEASE_NAME', 'novapos-operator');
  if (!DNS_LABEL.test(leaseName))
    throw bad('OPERATOR_LEASE_NAME', leaseName, 'must be a lower-case DNS label');
  const leaseNamespace = str(env, 'OPERATOR_LEASE_NAMESPACE', str(env, 'POD_NAMESPACE', 'novapos-system'));
  if (!DNS_LABEL.test(leaseNamespace))
    throw bad('OPERATOR_LEASE_NAMESPACE', leaseNamespace, 'must be a namespace name');

  const logLevel = str(env, 'LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw bad('LOG_LEVEL', logLevel, `must be one of ${LOG_LEVELS.join(', ')}`);

  const metricsPort = port(env, 'OPERATOR_METRICS_PORT', 8080);
  const probesPort = port(env, 'OPERATOR_PROBES_PORT', 8081);
  if (metricsPort !== 0 && metricsPort === probesPort) {
    throw new ConfigError(
      `OPERATOR_METRICS_PORT and OPERATOR_PROBES_PORT: must differ (both ${metricsPort})`,
    );
  }

  const connectionsFile = env.OPERATOR_CONNECTIONS_FILE?.trim() || undefined;
  const operatorNamespace = str(env, 'POD_NAMESPACE', 'novapos-system');
  if (!DNS_LABEL.test(operatorNamespace))
    throw bad('POD_NAMESPACE', operatorNamespace, 'must be a namespace name');
  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    throw new ConfigError('REDIS_URL: must be a redis:// or rediss:// URL');
  return {
    operatorNamespace,
    redisUrl,
    alertmanagerUrl: url(env, 'ALERTMANAGER_URL'),
    watchNamespaces,
    identity: str(env, 'OPERATOR_IDENTITY', str(env, 'POD_NAME', `${hostname()}-${process.pid}`)),
    leaderElection: {
      enabled: bool(env, 'OPERATOR_LEADER_ELECT', true),
      leaseName,
      leaseNamespace,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    metricsPort,
    probesPort,
    bindAddress: str(env, 'OPERATOR_BIND_ADDRESS', '0.0.0.0'),
    logLevel,
    resyncPeriodMs: duration(env, 'OPERATOR_RESYNC_PERIOD', '10m'),
    maxConcurrentReconciles: positiveNumber(env, 'OPERATOR_MAX_CONCURRENT_RECONCILES', 4, true),
    reconcileRateLimit: {
      ratePerSecond: positiveNumber(env, 'OPERATOR_RECONCILE_QPS', 50, false),
      burst: positiveNumber(env, 'OPERATOR_RECONCILE_BURST', 100, true),
    },
    shutdownTimeoutMs: duration(env, 'OPERATOR_SHUTDOWN_TIMEOUT', '30s'),
    vault: vaultFromEnv(env),
    connectionsFile,
    connections: connectionsFile ? loadConnectionsFile(connectionsFile, env) : new Map(),
  };
}

function vaultFromEnv(env: Env): OperatorConfig['vault'] {
  const address = url(env, 'VAULT_ADDR');
  const token = env.VAULT_TOKEN?.trim() || undefined;
  const role = env.VAULT_KUBERNETES_ROLE?.trim() || undefined;
  if (!address) {
    if (token || role)
      throw new ConfigError('VAULT_ADDR: must be set when VAULT_TOKEN or VAULT_KUBERNETES_ROLE is');
    return undefined;
  }
  if (token && role)
    throw new ConfigError(
      'VAULT_TOKEN and VAULT_KUBERNETES_ROLE: set only one (token for local development, role in a cluster)',
    );
  if (!token && !role)
    throw new ConfigError(
      'VAULT_ADDR: needs VAULT_KUBERNETES_ROLE (in a cluster) or VAULT_TOKEN (local development)',
    );
  const caCertFile = env.VAULT_CACERT?.trim() || undefined;
  if (token) return { address, token, auth: { method: 'token', tokenEnv: 'VAULT_TOKEN' }, caCertFile };
  return {
    address,
    auth: {
      method: 'kubernetes',
      role: role as string,
      mount: str(env, 'VAULT_KUBERNETES_MOUNT', 'kubernetes'),
      serviceAccountTokenPath: str(env, 'VAULT_SA_TOKEN_PATH', SA_TOKEN_PATH),
    },
    caCertFile,
  };
}

/** Reads and validates the named Vault connections file (YAML). */
export function loadConnectionsFile(file: string, env: Env = {}): Map<string, VaultConnection> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `OPERATOR_CONNECTIONS_FILE=${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      `OPERATOR_CONNECTIONS_FILE=${file}: not valid YAML (${(err as Error).message.split('\n')[0]})`,
    );
  }
  return parseConnections(
    doc,
    env,
    (path, must) => new ConfigError(`OPERATOR_CONNECTIONS_FILE=${file}: ${path}: ${must}`),
  );
}

type Fail = (path: string, must: string) => ConfigError;

function record(
  value: unknown,
  path: string,
  fail: Fail,
  allowed: readonly string[],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw fail(path, 'must be a mapping');
  for (const k of Object.keys(value))
    if (!allowed.includes(k)) throw fail(`${path}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
  return value as Record<string, unknown>;
}

function optionalString(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  fail: Fail,
): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw fail(`${path}.${key}`, 'must be a non-empty string');
  return v.trim();
}

/**
 * The file's shape:
 * ```yaml
 * connections:
 *   staging:
 *     address: https://vault.staging.example:8200
 *     caCertFile: /etc/novapos/vault-ca/staging.pem   # optional
 *     auth: { method: kubernetes, role: novapos-operator, mount: kubernetes }
 *   prod:
 *     address: https://vault.prod.example:8200
 *     auth: { method: token, tokenFile: /var/run/secrets/novapos/prod-vault-token }
 * ```
 * Tokens are referenced (tokenFile, tokenEnv), never written in the file.
 */
export function parseConnections(doc: unknown, env: Env, fail: Fail): Map<string, VaultConnection> {
  const out = new Map<string, VaultConnection>();
  if (doc === null || doc === undefined) return out;
  const root = record(doc, '(root)', fail, ['connections']);
  if (root.connections === undefined || root.connections === null) return out;
  const conns = record(root.connections, 'connections', fail, Object.keys(root.connections as object));
  for (const [name, raw] of Object.entries(conns)) {
    const path = `connections.${name}`;
    if (!DNS_LABEL.test(name) || name.length > 63)
      throw fail(path, 'the name must be a lower-case DNS label (e.g. staging, prod)');
    const c = record(raw, path, fail, ['address', 'auth', 'caCertFile', 'namespace']);
    const address = optionalString(c, 'address', path, fail);
    if (!address) throw fail(`${path}.address`, 'required');
    try {
      const u = new URL(address);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw fail(`${path}.address`, 'must be an http(s) URL');
    }
    const a = record(c.auth, `${path}.auth`, fail, [
      'method',
      'role',
      'mount',
      'serviceAccountTokenPath',
      'tokenFile',
      'tokenEnv',
      'token',
      'name',
      'key',
      'namespace',
    ]);
    let auth: VaultAuth;
    if (a.token !== undefined)
      throw fail(`${path}.auth.token`, 'tokens do not belong in this file: use tokenFile or tokenEnv');
    if (a.method === 'kubernetes') {
      const role = optionalString(a, 'role', `${path}.auth`, fail);
      if (!role) throw fail(`${path}.auth.role`, 'required for the kubernetes method');
      auth = {
        method: 'kubernetes',
        role,
        mount: optionalString(a, 'mount', `${path}.auth`, fail) ?? 'kubernetes',
        serviceAccountTokenPath:
          optionalString(a, 'serviceAccountTokenPath', `${path}.auth`, fail) ?? SA_TOKEN_PATH,
      };
    } else if (a.method === 'token') {
      const tokenFile = optionalString(a, 'tokenFile', `${path}.auth`, fail);
      const tokenEnv = optionalString(a, 'tokenEnv', `${path}.auth`, fail);
      if (!tokenFile === !tokenEnv)
        throw fail(`${path}.auth`, 'the token method needs exactly one of tokenFile or tokenEnv');
      if (tokenEnv && !env[tokenEnv])
        throw fail(`${path}.auth.tokenEnv`, `environment variable ${tokenEnv} is not set`);
      auth = { method: 'token', ...(tokenFile ? { tokenFile } : {}), ...(tokenEnv ? { tokenEnv } : {}) };
    } else if (a.method === 'tokenSecret') {
      const name = optionalString(a, 'name', `${path}.auth`, fail);
      if (!name)
        throw fail(`${path}.auth.name`, 'required for the tokenSecret method (the Secret holding the token)');
      const key = optionalString(a, 'key', `${path}.auth`, fail);
      const namespace = optionalString(a, 'namespace', `${path}.auth`, fail);
      auth = { method: 'tokenSecret', name, ...(key ? { key } : {}), ...(namespace ? { namespace } : {}) };
    } else {
      throw fail(`${path}.auth.method`, 'must be kubernetes, token or tokenSecret');
    }
    out.set(name, {
      name,
      address: address.replace(/\/+$/, ''),
      auth,
      ...(optionalString(c, 'caCertFile', path, fail)
        ? { caCertFile: optionalString(c, 'caCertFile', path, fail) }
        : {}),
      ...(optionalString(c, 'namespace', path, fail)
        ? { namespace: optionalString(c, 'namespace', path, fail) }
        : {}),
    });
  }
  return out;
}
