import { existsSync } from 'node:fs';
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
import { type Env, envReader, invalid } from '../../lib/service-kit/env.js';
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
  /**
   * OPERATOR_CONNECTIONS_FILE_OPTIONAL=true and the file is not there (in a pod: the chart's optional Secret
   * volume, Secret not created): the operator runs as without a file and says so at start.
   */
  readonly connectionsFileAbsent?: boolean;
  /** Other environments' Vaults, by name, from `connectionsFile`. */
  readonly connections: ReadonlyMap<string, VaultConnection>;
  /** The operator's own namespace (POD_NAMESPACE): its Secrets (fingerprint key, connection tokens) live here. */
  readonly operatorNamespace: string;
  /** Redis the integration gateways read their limits from (REDIS_URL); TenantRateLimits need it. */
  readonly redisUrl?: string;
  /** The rest of the connections file: allowed key-status endpoints, tenant owners. */
  readonly file: Omit<ConnectionsFile, 'connections'>;
}

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

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

/**
 * The readers of lib/service-kit/env.ts (trimmed, empty is unset, a ConfigError naming the variable), with
 * the operator's own value shapes: whole numbers, durations.
 */
function readers(env: Env) {
  const r = envReader(env);
  const wholeNumber = (text: string): number => {
    if (!/^\d+$/.test(text)) throw new Error('not a whole number');
    return Number(text);
  };
  return {
    ...r,
    /** A whole number above 0 (`integer`) or any number above 0. */
    positiveNumber(name: string, fallback: number, integer: boolean): number {
      return r.parsed(
        name,
        fallback,
        (text) => {
          const n = Number(text);
          if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
            throw new Error('out of range');
          return n;
        },
        integer ? 'must be a whole number above 0' : 'must be a number above 0',
      );
    },
    wholeNumber(name: string, fallback: number): number {
      return r.parsed(name, fallback, wholeNumber, 'must be a whole number, 0 or more');
    },
    nonNegativeNumber(name: string, fallback: number): number {
      return r.parsed(
        name,
        fallback,
        (text) => {
          const n = Number(text);
          if (!Number.isFinite(n) || n < 0) throw new Error('out of range');
          return n;
        },
        'must be a number, 0 or more (0: no limit)',
      );
    },
    /** A duration like 90s, 15m or 1h, in milliseconds (above 0). */
    duration(name: string, fallback: string): number {
      const ms = r.parsed(
        name,
        parseDuration(fallback),
        parseDuration,
        'must be a duration like 90s, 15m or 1h',
      );
      if (!(ms > 0)) throw invalid(name, r.string(name, fallback), 'must be a duration like 90s, 15m or 1h');
      return ms;
    },
  };
}

type Readers = ReturnType<typeof readers>;

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
  const r = readers(env);

  const watchNamespaces = r.list('OPERATOR_WATCH_NAMESPACES', []);
  for (const ns of watchNamespaces) {
    if (!DNS_LABEL.test(ns) || ns.length > 63)
      throw invalid(
        'OPERATOR_WATCH_NAMESPACES',
        env.OPERATOR_WATCH_NAMESPACES ?? '',
        `"${ns}" is not a namespace name`,
      );
  }

  const leaseDurationMs = r.duration('OPERATOR_LEASE_DURATION', '15s');
  const renewDeadlineMs = r.duration('OPERATOR_RENEW_DEADLINE', '10s');
  const retryPeriodMs = r.duration('OPERATOR_RETRY_PERIOD', '2s');
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
    throw new ConfigError(
      `OPERATOR_LEASE_DURATION, OPERATOR_RENEW_DEADLINE, OPERATOR_RETRY_PERIOD: must satisfy lease duration > renew deadline > retry period`,
    );
  }
  const leaseName = r.string('OPERATOR_LEASE_NAME', 'novapos-operator');
  if (!DNS_LABEL.test(leaseName))
    throw invalid('OPERATOR_LEASE_NAME', leaseName, 'must be a lower-case DNS label');
  const leaseNamespace = r.string('OPERATOR_LEASE_NAMESPACE', r.string('POD_NAMESPACE', 'novapos-system'));
  if (!DNS_LABEL.test(leaseNamespace))
    throw invalid('OPERATOR_LEASE_NAMESPACE', leaseNamespace, 'must be a namespace name');

  const logLevel = r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info');

  const metricsPort = r.port('OPERATOR_METRICS_PORT', 8080);
  const probesPort = r.port('OPERATOR_PROBES_PORT', 8081);
  if (metricsPort !== 0 && metricsPort === probesPort) {
    throw new ConfigError(
      `OPERATOR_METRICS_PORT and OPERATOR_PROBES_PORT: must differ (both ${metricsPort})`,
    );
  }

  const connectionsFile = r.optional('OPERATOR_CONNECTIONS_FILE');
  const operatorNamespace = r.string('POD_NAMESPACE', 'novapos-system');
  if (!DNS_LABEL.test(operatorNamespace))
    throw invalid('POD_NAMESPACE', operatorNamespace, 'must be a namespace name');
  const connectionsFileAbsent =
    connectionsFile !== undefined &&
    r.bool('OPERATOR_CONNECTIONS_FILE_OPTIONAL', false) &&
    !existsSync(connectionsFile);
  const file =
    connectionsFile && !connectionsFileAbsent
      ? loadConnectionsFile(connectionsFile, env)
      : EMPTY_CONNECTIONS_FILE;
  const vault = vaultFromEnv(r);
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
  const redisUrl = r.optional('REDIS_URL');
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    throw new ConfigError('REDIS_URL: must be a redis:// or rediss:// URL');
  return {
    operatorNamespace,
    redisUrl,
    watchNamespaces,
    identity: r.string('OPERATOR_IDENTITY', r.string('POD_NAME', `${hostname()}-${process.pid}`)),
    leaderElection: {
      enabled: r.bool('OPERATOR_LEADER_ELECT', true),
      leaseName,
      leaseNamespace,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    metricsPort,
    probesPort,
    bindAddress: r.string('OPERATOR_BIND_ADDRESS', '0.0.0.0'),
    logLevel,
    resyncPeriodMs: r.duration('OPERATOR_RESYNC_PERIOD', '10m'),
    maxConcurrentReconciles: r.positiveNumber(
      'OPERATOR_MAX_CONCURRENT_RECONCILES',
      DEFAULT_MAX_CONCURRENT_RECONCILES,
      true,
    ),
    reconcileRateLimit: reconcileRateLimit(r),
    kubeThrottle: {
      maxRetries: r.wholeNumber('OPERATOR_KUBE_MAX_RETRIES', DEFAULT_THROTTLE.maxRetries),
      maxWaitMs: r.duration('OPERATOR_KUBE_MAX_RETRY_WAIT', `${DEFAULT_THROTTLE.maxWaitMs / 1000}s`),
    },
    shutdownTimeoutMs: r.duration('OPERATOR_SHUTDOWN_TIMEOUT', '30s'),
    vault,
    connectionsFile,
    connectionsFileAbsent,
    connections: file.connections,
    file: { keyStatusEndpoints: file.keyStatusEndpoints, tenantOwners: file.tenantOwners },
  };
}

/** OPERATOR_RECONCILE_QPS (0: no work-queue limit) and OPERATOR_RECONCILE_BURST (default twice the rate). */
function reconcileRateLimit(r: Readers): OperatorConfig['reconcileRateLimit'] {
  const ratePerSecond = r.nonNegativeNumber('OPERATOR_RECONCILE_QPS', DEFAULT_RECONCILE_RATE.ratePerSecond);
  if (ratePerSecond === 0) return false;
  const burstDefault = r.optional('OPERATOR_RECONCILE_QPS')
    ? Math.max(1, Math.ceil(ratePerSecond * 2))
    : DEFAULT_RECONCILE_RATE.burst;
  return { ratePerSecond, burst: r.positiveNumber('OPERATOR_RECONCILE_BURST', burstDefault, true) };
}

function vaultFromEnv(r: Readers): OperatorConfig['vault'] {
  const address = r.url('VAULT_ADDR');
  const token = r.optional('VAULT_TOKEN');
  const role = r.optional('VAULT_KUBERNETES_ROLE');
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
  const caCertFile = r.optional('VAULT_CACERT');
  if (token) return { address, token, auth: { method: 'token', tokenEnv: 'VAULT_TOKEN' }, caCertFile };
  return {
    address,
    auth: {
      method: 'kubernetes',
      role: role as string,
      mount: r.string('VAULT_KUBERNETES_MOUNT', 'kubernetes'),
      serviceAccountTokenPath: r.string('VAULT_SA_TOKEN_PATH', SA_TOKEN_PATH),
    },
    caCertFile,
  };
}
