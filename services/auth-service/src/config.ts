import { type KafkaClientConfig, kafkaConfigFromEnv } from '../../../lib/kafka-events.js';
import { adminPortFromEnv } from '../../../lib/service-kit/admin-listener.js';
import type { VaultAuth } from '../../../lib/vault.js';

/** Typed configuration of auth-service, built once from an env object (never read deep in the code). */
export interface AuthConfig {
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  /** PostgreSQL; absent → embedded PGlite (in memory, or in `pgliteDataDir`). */
  readonly databaseUrl: string | undefined;
  readonly pgliteDataDir: string | undefined;
  readonly vault: { readonly addr: string; readonly auth: VaultAuth; readonly namespace: string | undefined };
  readonly signingKeys: {
    /** `<mount>/novapos/signing-keys/<namespace>/<name>`: the key-set document is `<this>/keyset`. */
    readonly keysetPath: string;
    readonly pollSeconds: number;
  };
  readonly tokens: {
    /** Access JWT lifetime; also capped by the key set's maxTokenTTLSeconds. */
    readonly accessTtlSeconds: number;
    /** A session (refresh family) that is not refreshed for this long ends (seed 004 SESSION_TTL_HOURS). */
    readonly sessionIdleHours: number;
    /** Absolute lifetime of a session (seed 004 REFRESH_TOKEN_TTL_HOURS). */
    readonly refreshTtlHours: number;
    /** Absolute lifetime of a privileged (admin) session: shorter (seed 003). */
    readonly adminRefreshTtlHours: number;
    /** Lifetime of the enrollment-only token handed out when MFA must be set up first. */
    readonly enrollmentTtlSeconds: number;
    readonly clockToleranceSeconds: number;
    /**
     * The immediately previous refresh token presented again within this many seconds gets one more
     * successor in its family instead of revoking it (Auth0's reuse interval); 0 turns the grace off.
     */
    readonly refreshReuseIntervalSeconds: number;
  };
  /**
   * Step-up: MFA enrollment and disable, password change and API-key creation need a primary authentication
   * (`auth_time`) at most this old, else 401 reauthentication_required.
   */
  readonly stepUpMaxAgeSeconds: number;
  readonly argon2: { readonly memoryCost: number; readonly timeCost: number; readonly parallelism: number };
  readonly passwordMinLength: number;
  readonly mfa: {
    /** Every account must use MFA (seed 004 MFA_REQUIRED); tenants can also require it (require_mfa). */
    readonly required: boolean;
    readonly requiredForAdmin: boolean;
    readonly privilegedRoles: readonly string[];
    readonly issuerLabel: string;
    /** Accepted TOTP steps before/after now (runbook 002 MFA_TOTP_WINDOW). */
    readonly totpWindowSteps: number;
    readonly backupCodesCount: number;
  };
  readonly lockout: {
    /** Failures from one client address on one account before that pair is locked. */
    readonly threshold: number;
    readonly baseSeconds: number;
    readonly maxSeconds: number;
    /** Failures on one account from all addresses before unknown addresses are locked out of it. */
    readonly accountThreshold: number;
    /** A failure older than this is forgotten (counts decay). */
    readonly failureResetSeconds: number;
    /** An address the account signed in from within this many days is known. */
    readonly knownSourceDays: number;
  };
  readonly rateLimits: {
    readonly loginPerIpPerMinute: number;
    readonly loginPerAccountPerMinute: number;
    readonly mfaPerIpPerMinute: number;
    readonly generalPerIpPerMinute: number;
    readonly registerFirstPerIpPer15Minutes: number;
  };
  readonly corsAllowedOrigins: readonly string[];
  readonly maxRequestBodyBytes: number;
  /** Express `trust proxy`: hops in front of the service whose X-Forwarded-For is believed. */
  readonly trustProxyHops: number;
  /** POST /register-first: off unless enabled, and then only with the one-time bootstrap token. */
  readonly allowRegisterFirst: boolean;
  /** The bootstrap token itself (AUTH_BOOTSTRAP_TOKEN) or a file holding it (AUTH_BOOTSTRAP_TOKEN_FILE). */
  readonly bootstrapToken: string | undefined;
  readonly bootstrapTokenFile: string | undefined;
  /**
   * Redis for the per-user "valid after" times (session revocation, shared with the gateway). Absent: an
   * in-process store (one replica, local development only).
   */
  readonly redisUrl: string | undefined;
  /** Port of the admin listener (/metrics): ADMIN_PORT, default 9085. */
  readonly adminPort: number;
  /** Vault transit key that encrypts TOTP secrets at rest (envelope: key versions make rotation safe). */
  readonly mfaTransit: { readonly mount: string; readonly key: string };
  readonly suspicious: {
    readonly webhookUrl: string | undefined;
    readonly webhookBearer: string | undefined;
    /** At most one webhook per rule and subject in this interval. */
    readonly webhookMinIntervalSeconds: number;
    /** And at most this many webhooks per minute overall. */
    readonly webhookMaxPerMinute: number;
    readonly failuresBeforeSuccess: number;
    readonly distinctAccountsPerIp: number;
    readonly windowSeconds: number;
  };
  readonly topics: { readonly mfaActivity: string; readonly audit: string };
  /** KAFKA_BOOTSTRAP + credentials: security events also go to Kafka through an outbox (lib/kafka-events.ts); log only when unset. */
  readonly kafka: KafkaClientConfig | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
}

type Env = Readonly<Record<string, string | undefined>>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be true or false`);
}

function list(env: Env, name: string, fallback: readonly string[]): string[] {
  const v = env[name];
  if (v === undefined || v.trim() === '') return [...fallback];
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function vaultAuth(env: Env): VaultAuth {
  const method = str(env, 'VAULT_AUTH_METHOD', 'token');
  if (method === 'token') {
    const token = optional(env, 'VAULT_TOKEN');
    if (!token) throw new ConfigError('VAULT_TOKEN is required when VAULT_AUTH_METHOD=token');
    return { method: 'token', token };
  }
  if (method === 'kubernetes') {
    const role = optional(env, 'VAULT_K8S_ROLE');
    if (!role) throw new ConfigError('VAULT_K8S_ROLE is required when VAULT_AUTH_METHOD=kubernetes');
    return {
      method: 'kubernetes',
      role,
      jwtPath: str(env, 'VAULT_K8S_TOKEN_PATH', '/var/run/secrets/kubernetes.io/serviceaccount/token'),
      mountPath: str(env, 'VAULT_K8S_MOUNT', 'kubernetes'),
    };
  }
  throw new ConfigError('VAULT_AUTH_METHOD must be token or kubernetes');
}

/** Builds the configuration from `env` (pass `process.env` in main). Throws ConfigError naming the variable. */
export function configFromEnv(env: Env): AuthConfig {
  const vaultAddr = optional(env, 'VAULT_ADDR');
  if (!vaultAddr) throw new ConfigError('VAULT_ADDR is required');
  const keysetPath = optional(env, 'SIGNING_KEYSET_PATH');
  if (!keysetPath || keysetPath.split('/').filter(Boolean).length < 2) {
    throw new ConfigError(
      'SIGNING_KEYSET_PATH is required, e.g. secret/novapos/signing-keys/novapos/auth-issuer',
    );
  }
  const webhookUrl = optional(env, 'SECURITY_SUSPICIOUS_WEBHOOK_URL');
  if (webhookUrl && !/^https?:\/\//.test(webhookUrl)) {
    throw new ConfigError('SECURITY_SUSPICIOUS_WEBHOOK_URL must be an http(s) URL');
  }
  return {
    port: int(env, 'PORT', 8085),
    host: str(env, 'HOST', '0.0.0.0'),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
    databaseUrl: optional(env, 'DATABASE_URL'),
    pgliteDataDir: optional(env, 'PGLITE_DATA_DIR'),
    vault: { addr: vaultAddr, auth: vaultAuth(env), namespace: optional(env, 'VAULT_NAMESPACE') },
    signingKeys: {
      keysetPath: keysetPath.replace(/^\/+|\/+$/g, ''),
      pollSeconds: int(env, 'SIGNING_KEYSET_POLL_SECONDS', 30, 1),
    },
    tokens: {
      accessTtlSeconds: int(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 30),
      sessionIdleHours: int(env, 'SESSION_TTL_HOURS', 12, 1),
      refreshTtlHours: int(env, 'REFRESH_TOKEN_TTL_HOURS', 168, 1),
      adminRefreshTtlHours: int(env, 'ADMIN_REFRESH_TOKEN_TTL_HOURS', 12, 1),
      enrollmentTtlSeconds: int(env, 'MFA_ENROLLMENT_TOKEN_TTL_SECONDS', 600, 60),
      clockToleranceSeconds: int(env, 'JWT_CLOCK_TOLERANCE_SECONDS', 30),
      refreshReuseIntervalSeconds: int(env, 'REFRESH_REUSE_INTERVAL_SECONDS', 5),
    },
    stepUpMaxAgeSeconds: int(env, 'STEP_UP_MAX_AGE_SECONDS', 300, 1),
    // OWASP Password Storage Cheat Sheet, argon2id option 1: m=19 MiB, t=2, p=1.
    argon2: {
      memoryCost: int(env, 'ARGON2_MEMORY_KIB', 19_456, 8_192),
      timeCost: int(env, 'ARGON2_TIME_COST', 2, 1),
      parallelism: int(env, 'ARGON2_PARALLELISM', 1, 1),
    },
    passwordMinLength: int(env, 'PASSWORD_MIN_LENGTH', 12, 8),
    mfa: {
      required: bool(env, 'MFA_REQUIRED', false),
      requiredForAdmin: bool(env, 'MFA_REQUIRED_FOR_ADMIN', true),
      privilegedRoles: list(env, 'MFA_PRIVILEGED_ROLES', ['admin']),
      issuerLabel: str(env, 'MFA_ISSUER', 'NovaPOS'),
      totpWindowSteps: int(env, 'MFA_TOTP_WINDOW', 1),
      backupCodesCount: int(env, 'MFA_BACKUP_CODES_COUNT', 10, 1),
    },
    lockout: {
      threshold: int(env, 'AUTH_LOCKOUT_THRESHOLD', 5, 1),
      baseSeconds: int(env, 'AUTH_LOCKOUT_BASE_SECONDS', 60, 1),
      maxSeconds: int(env, 'AUTH_LOCKOUT_MAX_SECONDS', 900, 1),
      accountThreshold: int(env, 'AUTH_LOCKOUT_ACCOUNT_THRESHOLD', 100, 1),
      failureResetSeconds: int(env, 'AUTH_LOCKOUT_FAILURE_RESET_SECONDS', 900, 1),
      knownSourceDays: int(env, 'AUTH_LOCKOUT_KNOWN_SOURCE_DAYS', 90, 1),
    },
    rateLimits: {
      loginPerIpPerMinute: int(env, 'AUTH_LOGIN_PER_IP_PER_MINUTE', 30, 1),
      loginPerAccountPerMinute: int(env, 'AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE', 10, 1),
      mfaPerIpPerMinute: int(env, 'AUTH_MFA_PER_IP_PER_MINUTE', 30, 1),
      generalPerIpPerMinute: int(env, 'RATE_LIMIT_PER_IP_PER_MINUTE', 600, 1),
      registerFirstPerIpPer15Minutes: int(env, 'AUTH_REGISTER_FIRST_PER_IP_PER_15_MINUTES', 5, 1),
    },
    corsAllowedOrigins: list(env, 'CORS_ALLOWED_ORIGINS', []),
    maxRequestBodyBytes: int(env, 'MAX_REQUEST_BODY_BYTES', 16_384, 1024),
    trustProxyHops: int(env, 'TRUST_PROXY_HOPS', 0),
    allowRegisterFirst: bool(env, 'ALLOW_REGISTER_FIRST', false),
    bootstrapToken: optional(env, 'AUTH_BOOTSTRAP_TOKEN'),
    bootstrapTokenFile: optional(env, 'AUTH_BOOTSTRAP_TOKEN_FILE'),
    redisUrl: optional(env, 'REDIS_URL'),
    adminPort: adminPortFromEnv(env, 'auth-service'),
    mfaTransit: {
      mount: str(env, 'MFA_TRANSIT_MOUNT', 'transit'),
      key: str(env, 'MFA_TRANSIT_KEY', 'novapos-auth-mfa'),
    },
    suspicious: {
      webhookUrl,
      webhookBearer: optional(env, 'SECURITY_SUSPICIOUS_WEBHOOK_BEARER'),
      webhookMinIntervalSeconds: int(env, 'SECURITY_SUSPICIOUS_WEBHOOK_MIN_INTERVAL_SECONDS', 300),
      webhookMaxPerMinute: int(env, 'SECURITY_SUSPICIOUS_WEBHOOK_MAX_PER_MINUTE', 10, 1),
      failuresBeforeSuccess: int(env, 'SUSPICIOUS_FAILURES_BEFORE_SUCCESS', 3, 1),
      distinctAccountsPerIp: int(env, 'SUSPICIOUS_DISTINCT_ACCOUNTS_PER_IP', 5, 2),
      windowSeconds: int(env, 'SUSPICIOUS_WINDOW_SECONDS', 900, 1),
    },
    topics: {
      mfaActivity: str(env, 'SECURITY_MFA_ACTIVITY_TOPIC', 'security.mfa.activity'),
      audit: str(env, 'SECURITY_AUDIT_TOPIC', 'audit.events.v1'),
    },
    kafka: kafkaConfigFromEnv(env),
  };
}
