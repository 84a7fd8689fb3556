import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { parseDuration } from './api/validation.js';
import {
  ConfigError,
  type ConnectionsFile,
  DNS_LABEL,
  EMPTY_CONNECTIONS_FILE,
  loadConnectionsFile,
  SA_TOKEN_PATH,
  type VaultAuth,
  type VaultConnection,
} from './connections-file.js';

/**
 * The operator's settings from its environment and command line (`configFromEnv`). The named Vault
 * connections, the promotion policy, the allowed key-status endpoints and the tenant owners are in the
 * connections file (connections-file.ts), which OPERATOR_CONNECTIONS_FILE names.
 */

export {
  ConfigError,
  type ConnectionsFile,
  loadConnectionsFile,
  type VaultAuth,
  type VaultConnection,
} from './connections-file.js';

import { describeError } from '../../lib/errors.js';
import { DEFAULT_THROTTLE } from './runtime/kube.js';
import { DEFAULT_MAX_CONCURRENT_RECONCILES, DEFAULT_RECONCILE_RATE } from './runtime/manager.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

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
  /** Work-queue limit per controller; `false` (OPERATOR_RECONCILE_QPS=0): none, the apiserver's 429s pace it. */
  readonly reconcileRateLimit: { readonly ratePerSecond: number; readonly burst: number } | false;
  /** How the kube clients answer the apiserver's 429 / Retry-After (priority and fairness). */
  readonly kubeThrottle: { readonly maxRetries: number; readonly maxWaitMs: number };
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
  /** The rest of the connections file: allowed key-status endpoints, tenant owners. */
  readonly file: Omit<ConnectionsFile, 'connections'>;
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
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

function wholeNumber(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw bad(name, raw, 'must be a whole number, 0 or more');
  return Number(raw.trim());
}

function nonNegativeNumber(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!Number.isFinite(n) || n < 0) throw bad(name, raw, 'must be a number, 0 or more (0: no limit)');
  return n;
}

function duration(env: Env, name: string, fallback: string): number {
  const raw = str(env, name, fallback);
  let ms: number;
  try {
    ms = parseDuration(raw);
  } catch {
    ms = 0;
  }
  if (!(ms > 0)) throw bad(name, raw, 'must be a duration like 90s, 15m or 1h');
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
    throw new ConfigError(`command line: ${describeError(err).split('\n')[0]}`);
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
  const file = connectionsFile ? loadConnectionsFile(connectionsFile, env) : EMPTY_CONNECTIONS_FILE;
  const vault = vaultFromEnv(env);
  const local = file.connections.get('local');
  if (local && !local.auth && vault?.auth.method === 'kubernetes')
    throw new ConfigError(
      `OPERATOR_CONNECTIONS_FILE=${connectionsFile}: connections.local.auth: required with VAULT_KUBERNETES_ROLE: promotion gets its own Vault role and policy, without the signing keys`,
    );
  const localAuth = local?.auth;
  if (
    vault?.auth.method === 'kubernetes' &&
    localAuth?.method === 'kubernetes' &&
    localAuth.role === vault.auth.role
  )
    throw new ConfigError(
      `OPERATOR_CONNECTIONS_FILE=${connectionsFile}: connections.local.auth.role: must not be VAULT_KUBERNETES_ROLE (${vault.auth.role}): promotion gets its own Vault role and policy, without the signing keys`,
    );
  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    throw new ConfigError('REDIS_URL: must be a redis:// or rediss:// URL');
  return {
    operatorNamespace,
    redisUrl,
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
    maxConcurrentReconciles: positiveNumber(
      env,
      'OPERATOR_MAX_CONCURRENT_RECONCILES',
      DEFAULT_MAX_CONCURRENT_RECONCILES,
      true,
    ),
    reconcileRateLimit: reconcileRateLimit(env),
    kubeThrottle: {
      maxRetries: wholeNumber(env, 'OPERATOR_KUBE_MAX_RETRIES', DEFAULT_THROTTLE.maxRetries),
      maxWaitMs: duration(env, 'OPERATOR_KUBE_MAX_RETRY_WAIT', `${DEFAULT_THROTTLE.maxWaitMs / 1000}s`),
    },
    shutdownTimeoutMs: duration(env, 'OPERATOR_SHUTDOWN_TIMEOUT', '30s'),
    vault,
    connectionsFile,
    connections: file.connections,
    file: { keyStatusEndpoints: file.keyStatusEndpoints, tenantOwners: file.tenantOwners },
  };
}

/** OPERATOR_RECONCILE_QPS (0: no work-queue limit) and OPERATOR_RECONCILE_BURST (default twice the rate). */
function reconcileRateLimit(env: Env): OperatorConfig['reconcileRateLimit'] {
  const ratePerSecond = nonNegativeNumber(
    env,
    'OPERATOR_RECONCILE_QPS',
    DEFAULT_RECONCILE_RATE.ratePerSecond,
  );
  if (ratePerSecond === 0) return false;
  const burstDefault = env.OPERATOR_RECONCILE_QPS?.trim()
    ? Math.max(1, Math.ceil(ratePerSecond * 2))
    : DEFAULT_RECONCILE_RATE.burst;
  return { ratePerSecond, burst: positiveNumber(env, 'OPERATOR_RECONCILE_BURST', burstDefault, true) };
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
