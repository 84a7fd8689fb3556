import { type KafkaClientConfig, kafkaConfigFromEnv } from '../../../lib/kafka-events.js';
import { type ClusterNode, parseClusterNodes, RedisClusterNodesError } from '../../../lib/redis-client.js';
import { adminPortFromEnv } from '../../../lib/service-kit/admin-listener.js';
import { asConfigError, ConfigError, type Env, envReader } from '../../../lib/service-kit/env.js';
import { vaultAuthFromEnv } from '../../../lib/service-kit/vault-env.js';
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
  /**
   * REDIS_CLUSTER_NODES: seed nodes of the Redis Cluster the gateways use (`host:port,...`): the session
   * revocations go there, in each tenant's slot (docs/contracts.md, "Session revocation"). Wins over REDIS_URL.
   */
  readonly redisClusterNodes: readonly ClusterNode[] | undefined;
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

export { ConfigError };

/** Builds the configuration from `env` (pass `process.env` in main). Throws ConfigError naming the variable. */
export function configFromEnv(env: Env): AuthConfig {
  const r = envReader(env);
  const vaultAddr = r.optional('VAULT_ADDR');
  if (!vaultAddr) throw new ConfigError('VAULT_ADDR is required');
  const keysetPath = r.optional('SIGNING_KEYSET_PATH');
  if (!keysetPath || keysetPath.split('/').filter(Boolean).length < 2) {
    throw new ConfigError(
      'SIGNING_KEYSET_PATH is required, e.g. secret/novapos/signing-keys/novapos/auth-issuer',
    );
  }
  const webhookUrl = r.optional('SECURITY_SUSPICIOUS_WEBHOOK_URL');
  if (webhookUrl && !/^https?:\/\//.test(webhookUrl)) {
    throw new ConfigError('SECURITY_SUSPICIOUS_WEBHOOK_URL must be an http(s) URL');
  }
  return {
    port: r.int('PORT', 8085),
    host: r.string('HOST', '0.0.0.0'),
    logLevel: r.string('LOG_LEVEL', 'info'),
    databaseUrl: r.optional('DATABASE_URL'),
    pgliteDataDir: r.optional('PGLITE_DATA_DIR'),
    vault: { addr: vaultAddr, auth: vaultAuthFromEnv(r), namespace: r.optional('VAULT_NAMESPACE') },
    signingKeys: {
      keysetPath: keysetPath.replace(/^\/+|\/+$/g, ''),
      pollSeconds: r.int('SIGNING_KEYSET_POLL_SECONDS', 30, { min: 1 }),
    },
    tokens: {
      accessTtlSeconds: r.int('ACCESS_TOKEN_TTL_SECONDS', 900, { min: 30 }),
      sessionIdleHours: r.int('SESSION_TTL_HOURS', 12, { min: 1 }),
      refreshTtlHours: r.int('REFRESH_TOKEN_TTL_HOURS', 168, { min: 1 }),
      adminRefreshTtlHours: r.int('ADMIN_REFRESH_TOKEN_TTL_HOURS', 12, { min: 1 }),
      enrollmentTtlSeconds: r.int('MFA_ENROLLMENT_TOKEN_TTL_SECONDS', 600, { min: 60 }),
      clockToleranceSeconds: r.int('JWT_CLOCK_TOLERANCE_SECONDS', 30),
      refreshReuseIntervalSeconds: r.int('REFRESH_REUSE_INTERVAL_SECONDS', 5),
    },
    stepUpMaxAgeSeconds: r.int('STEP_UP_MAX_AGE_SECONDS', 300, { min: 1 }),
    // OWASP Password Storage Cheat Sheet, argon2id option 1: m=19 MiB, t=2, p=1.
    argon2: {
      memoryCost: r.int('ARGON2_MEMORY_KIB', 19_456, { min: 8_192 }),
      timeCost: r.int('ARGON2_TIME_COST', 2, { min: 1 }),
      parallelism: r.int('ARGON2_PARALLELISM', 1, { min: 1 }),
    },
    passwordMinLength: r.int('PASSWORD_MIN_LENGTH', 12, { min: 8 }),
    mfa: {
      required: r.bool('MFA_REQUIRED', false),
      requiredForAdmin: r.bool('MFA_REQUIRED_FOR_ADMIN', true),
      privilegedRoles: r.list('MFA_PRIVILEGED_ROLES', ['admin']),
      issuerLabel: r.string('MFA_ISSUER', 'NovaPOS'),
      totpWindowSteps: r.int('MFA_TOTP_WINDOW', 1),
      backupCodesCount: r.int('MFA_BACKUP_CODES_COUNT', 10, { min: 1 }),
    },
    lockout: {
      threshold: r.int('AUTH_LOCKOUT_THRESHOLD', 5, { min: 1 }),
      baseSeconds: r.int('AUTH_LOCKOUT_BASE_SECONDS', 60, { min: 1 }),
      maxSeconds: r.int('AUTH_LOCKOUT_MAX_SECONDS', 900, { min: 1 }),
      accountThreshold: r.int('AUTH_LOCKOUT_ACCOUNT_THRESHOLD', 100, { min: 1 }),
      failureResetSeconds: r.int('AUTH_LOCKOUT_FAILURE_RESET_SECONDS', 900, { min: 1 }),
      knownSourceDays: r.int('AUTH_LOCKOUT_KNOWN_SOURCE_DAYS', 90, { min: 1 }),
    },
    rateLimits: {
      loginPerIpPerMinute: r.int('AUTH_LOGIN_PER_IP_PER_MINUTE', 30, { min: 1 }),
      loginPerAccountPerMinute: r.int('AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE', 10, { min: 1 }),
      mfaPerIpPerMinute: r.int('AUTH_MFA_PER_IP_PER_MINUTE', 30, { min: 1 }),
      generalPerIpPerMinute: r.int('RATE_LIMIT_PER_IP_PER_MINUTE', 600, { min: 1 }),
      registerFirstPerIpPer15Minutes: r.int('AUTH_REGISTER_FIRST_PER_IP_PER_15_MINUTES', 5, { min: 1 }),
    },
    corsAllowedOrigins: r.list('CORS_ALLOWED_ORIGINS', []),
    maxRequestBodyBytes: r.int('MAX_REQUEST_BODY_BYTES', 16_384, { min: 1024 }),
    trustProxyHops: r.int('TRUST_PROXY_HOPS', 0),
    allowRegisterFirst: r.bool('ALLOW_REGISTER_FIRST', false),
    bootstrapToken: r.optional('AUTH_BOOTSTRAP_TOKEN'),
    bootstrapTokenFile: r.optional('AUTH_BOOTSTRAP_TOKEN_FILE'),
    redisUrl: r.optional('REDIS_URL'),
    redisClusterNodes: asConfigError(
      () => parseClusterNodes(r.optional('REDIS_CLUSTER_NODES')),
      RedisClusterNodesError,
    ),
    adminPort: adminPortFromEnv(env, 'auth-service'),
    mfaTransit: {
      mount: r.string('MFA_TRANSIT_MOUNT', 'transit'),
      key: r.string('MFA_TRANSIT_KEY', 'novapos-auth-mfa'),
    },
    suspicious: {
      webhookUrl,
      webhookBearer: r.optional('SECURITY_SUSPICIOUS_WEBHOOK_BEARER'),
      webhookMinIntervalSeconds: r.int('SECURITY_SUSPICIOUS_WEBHOOK_MIN_INTERVAL_SECONDS', 300),
      webhookMaxPerMinute: r.int('SECURITY_SUSPICIOUS_WEBHOOK_MAX_PER_MINUTE', 10, { min: 1 }),
      failuresBeforeSuccess: r.int('SUSPICIOUS_FAILURES_BEFORE_SUCCESS', 3, { min: 1 }),
      distinctAccountsPerIp: r.int('SUSPICIOUS_DISTINCT_ACCOUNTS_PER_IP', 5, { min: 2 }),
      windowSeconds: r.int('SUSPICIOUS_WINDOW_SECONDS', 900, { min: 1 }),
    },
    topics: {
      mfaActivity: r.string('SECURITY_MFA_ACTIVITY_TOPIC', 'security.mfa.activity'),
      audit: r.string('SECURITY_AUDIT_TOPIC', 'audit.events.v1'),
    },
    kafka: kafkaConfigFromEnv(env),
  };
}
