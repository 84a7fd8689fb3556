import { readFileSync } from 'node:fs';
import { type KafkaClientConfig, kafkaConfigFromEnv } from '../../../lib/kafka-events.js';
import { AUDIT_CONSUMER_GROUP, SECURITY_TOPICS } from '../../../lib/kafka-topics.js';
import { adminPortFromEnv } from '../../../lib/service-kit/admin-listener.js';
import { ConfigError, type Env, envReader } from '../../../lib/service-kit/env.js';
import { vaultAuthFromEnv } from '../../../lib/service-kit/vault-env.js';
import type { VaultAuth } from '../../../lib/vault.js';

/** Typed configuration of the audit-service (docs/audit-service.md). */
export interface AuditConfig {
  readonly adminPort: number;
  readonly adminHost: string;
  readonly logLevel: string;
  readonly databaseUrl: string;
  /** DATABASE_ADMIN_URL: the tables' owner, for the migrations; the service then runs as DATABASE_URL's insert-only role (src/storage/roles.ts). Unset: DATABASE_URL migrates too (development). */
  readonly databaseAdminUrl: string | undefined;
  readonly kafka: KafkaClientConfig;
  readonly consumerGroup: string;
  /** The topics chained: SECURITY_AUDIT_TOPIC, SECURITY_MFA_ACTIVITY_TOPIC, SECURITY_ALERT_TOPIC (AUDIT_TOPICS overrides). */
  readonly topics: readonly string[];
  /** A producer's missing sequence number older than this is a chain gap (seed 001: 60 s). */
  readonly gapSloSeconds: number;
  /** Events per database transaction. */
  readonly batchSize: number;
  /** How often gaps, lag and the head's age are computed. */
  readonly checkIntervalMs: number;
  /** AUDIT_ADMIN_TOKEN(_FILE): bearer token of the pause/resume routes (the DR drill); unset = routes off. */
  readonly adminToken: string | undefined;
  /**
   * GET /audit/events for users (src/query-auth.ts): auth-service's JWKS (`AUDIT_JWKS_URL`, or `JWKS_URL`),
   * `JWT_ISSUER`, `JWT_AUDIENCE`, and the roles that may read their tenant's log (`AUDIT_QUERY_ROLES`).
   * Undefined without a JWKS URL: only the admin token reads.
   */
  readonly queryAuth:
    | {
        readonly jwksUrl: string;
        readonly issuer: string;
        readonly audience: string;
        readonly roles: readonly string[];
      }
    | undefined;
  /** AUDIT_RETENTION_DAYS (seed 004, default 2555): rows chained longer ago are removed, above a signed base. */
  readonly retentionDays: number;
  /** How often retention runs (AUDIT_RETENTION_CHECK_MS, default one hour). */
  readonly retentionCheckMs: number;
  /** The longest pause a caller may ask for; the consumer resumes by itself after it. */
  readonly maxPauseSeconds: number;
  /**
   * Signed chain heads (src/adapters/head-signer.ts): on when VAULT_ADDR is set. Vault login as the other
   * services (lib/service-kit/vault-env.ts): `VAULT_AUTH_METHOD=kubernetes` with `VAULT_K8S_ROLE` (the chart),
   * or a `VAULT_TOKEN` for development.
   */
  readonly signing:
    | {
        readonly addr: string;
        readonly auth: VaultAuth;
        readonly namespace: string | undefined;
        readonly transitMount: string;
        readonly key: string;
        readonly kvMount: string;
        readonly path: string;
        readonly intervalMs: number;
      }
    | undefined;
}

export function configFromEnv(env: Env): AuditConfig {
  const r = envReader(env);
  const kafka = kafkaConfigFromEnv(env);
  if (!kafka)
    throw new ConfigError('KAFKA_BOOTSTRAP is required: the audit-service consumes the security topics');
  const defaults = [
    r.string(SECURITY_TOPICS.audit.env, SECURITY_TOPICS.audit.name),
    r.string(SECURITY_TOPICS.mfaActivity.env, SECURITY_TOPICS.mfaActivity.name),
    r.string(SECURITY_TOPICS.alerts.env, SECURITY_TOPICS.alerts.name),
  ];
  const topics = r.list('AUDIT_TOPICS', defaults);
  if (topics.length === 0) throw new ConfigError('AUDIT_TOPICS must name at least one topic');
  return {
    adminPort: adminPortFromEnv(env, 'audit-service'),
    adminHost: r.string('ADMIN_HOST', r.string('HOST', '0.0.0.0')),
    logLevel: r.string('LOG_LEVEL', 'info'),
    databaseUrl: r.required('DATABASE_URL'),
    databaseAdminUrl: r.optional('DATABASE_ADMIN_URL'),
    kafka,
    consumerGroup: r.string('AUDIT_CONSUMER_GROUP', AUDIT_CONSUMER_GROUP),
    topics,
    gapSloSeconds: r.int('AUDIT_GAP_SLO_SECONDS', 60, { min: 1, max: 86_400 }),
    batchSize: r.int('AUDIT_BATCH_SIZE', 200, { min: 1, max: 5000 }),
    checkIntervalMs: r.int('AUDIT_CHECK_INTERVAL_MS', 5000, { min: 100, max: 600_000 }),
    signing: signingFromEnv(r),
    adminToken: adminTokenFromEnv(r),
    maxPauseSeconds: r.int('AUDIT_MAX_PAUSE_SECONDS', 900, { min: 1, max: 3600 }),
    queryAuth: queryAuthFromEnv(r),
    retentionDays: r.int('AUDIT_RETENTION_DAYS', 2555, { min: 1, max: 36_500 }),
    retentionCheckMs: r.int('AUDIT_RETENTION_CHECK_MS', 3_600_000, { min: 1000, max: 86_400_000 }),
  };
}

export function signingFromEnv(r: ReturnType<typeof envReader>): AuditConfig['signing'] {
  const addr = r.url('VAULT_ADDR');
  if (!addr) return undefined;
  return {
    addr,
    auth: vaultAuthFromEnv(r),
    namespace: r.optional('VAULT_NAMESPACE'),
    transitMount: r.string('AUDIT_TRANSIT_MOUNT', 'transit'),
    key: r.string('AUDIT_TRANSIT_KEY', 'novapos-audit-chain'),
    kvMount: r.string('AUDIT_CHECKPOINT_KV_MOUNT', 'secret'),
    path: r.string('AUDIT_CHECKPOINT_PATH', 'novapos/audit-checkpoints'),
    intervalMs: r.int('AUDIT_SIGN_INTERVAL_MS', 60_000, { min: 100, max: 86_400_000 }),
  };
}

function queryAuthFromEnv(r: ReturnType<typeof envReader>): AuditConfig['queryAuth'] {
  const jwksUrl = r.url('AUDIT_JWKS_URL') ?? r.url('JWKS_URL');
  if (!jwksUrl) return undefined;
  const roles = r.list('AUDIT_QUERY_ROLES', ['auditor', 'admin']);
  if (roles.length === 0) throw new ConfigError('AUDIT_QUERY_ROLES must name at least one role');
  return {
    jwksUrl,
    issuer: r.string('JWT_ISSUER', 'https://auth.novapos.local'),
    audience: r.string('JWT_AUDIENCE', 'novapos-api'),
    roles,
  };
}

function adminTokenFromEnv(r: ReturnType<typeof envReader>): string | undefined {
  const token = r.optional('AUDIT_ADMIN_TOKEN');
  const file = r.optional('AUDIT_ADMIN_TOKEN_FILE');
  let value = token;
  if (!value && file) {
    try {
      value = readFileSync(file, 'utf8').trim();
    } catch {
      throw new ConfigError(`AUDIT_ADMIN_TOKEN_FILE=${file}: cannot be read`);
    }
  }
  if (value !== undefined && value.length < 24)
    throw new ConfigError('AUDIT_ADMIN_TOKEN must be at least 24 characters');
  return value;
}
