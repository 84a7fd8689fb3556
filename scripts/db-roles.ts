/**
 * The services' PostgreSQL roles, created or updated with an admin credential (issues 18 and 20, least
 * privilege): the entry point of the `db-roles` image, which the services chart runs as a Job
 * (charts/src/constructs/db-roles-job.ts) at every deploy. Idempotent: it creates what is missing and sets
 * the passwords and grants again, so a changed password in the Secret takes effect on the next run.
 *
 *   DATABASE_ADMIN_URL=... GATEWAY_DB_PASSWORD_FILE=... npx tsx scripts/db-roles.ts
 *
 * - The gateway's role in auth-service's database (`bootstrapDatabaseRoles`): `DATABASE_ADMIN_URL`,
 *   `GATEWAY_DB_ROLE` (default `novapos_gateway`), `GATEWAY_DB_PASSWORD` or `GATEWAY_DB_PASSWORD_FILE`. Its
 *   read grant is on a view auth-service's own migrations make: the run waits for it (auth-service starting
 *   beside the Job) up to `DB_ROLES_WAIT_SECONDS` (default 300), then fails so the Job retries.
 * - The audit-service's insert-only role (`bootstrapAuditRole`): `AUDIT_DATABASE_ADMIN_URL`, `AUDIT_DB_ROLE`
 *   (default `novapos_audit`), `AUDIT_DB_PASSWORD` or `AUDIT_DB_PASSWORD_FILE`. The audit tables' migrations run
 *   first, as the same admin the audit-service migrates with (the same advisory lock), so the grants have their
 *   tables whichever starts first.
 *
 * Exit 0 when done, 2 on a configuration error (one line naming the variable), 1 on a failure (the error's
 * class and PostgreSQL code only: a message may quote a connection string).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { errorClass, errorCode } from '../lib/errors.js';
import { connectPostgres } from '../lib/service-kit/db.js';
import { ConfigError, type Env, envReader } from '../lib/service-kit/env.js';
import { migrate as migrateAudit } from '../services/audit-service/src/storage/repo.js';
import { bootstrapAuditRole } from '../services/audit-service/src/storage/roles.js';
import { bootstrapDatabaseRoles } from '../services/auth-service/src/storage/roles.js';

export interface RoleTarget {
  readonly adminUrl: string;
  readonly role: string;
  readonly password: string;
}

export interface DbRolesConfig {
  readonly gateway: RoleTarget | undefined;
  readonly audit: RoleTarget | undefined;
  readonly waitSeconds: number;
}

const ROLE_RE = /^[a-z_][a-z0-9_]{0,62}$/;

function roleTarget(
  r: ReturnType<typeof envReader>,
  adminVar: string,
  prefix: 'GATEWAY' | 'AUDIT',
  defaultRole: string,
): RoleTarget | undefined {
  const adminUrl = r.url(adminVar, ['postgres:', 'postgresql:']);
  if (!adminUrl) return undefined;
  const role = r.string(`${prefix}_DB_ROLE`, defaultRole);
  if (!ROLE_RE.test(role)) throw new ConfigError(`${prefix}_DB_ROLE=${role}: must match [a-z_][a-z0-9_]*`);
  let password = r.optional(`${prefix}_DB_PASSWORD`);
  const file = r.optional(`${prefix}_DB_PASSWORD_FILE`);
  if (!password && file) {
    try {
      password = readFileSync(file, 'utf8').trim();
    } catch {
      throw new ConfigError(`${prefix}_DB_PASSWORD_FILE=${file}: cannot be read`);
    }
  }
  if (!password)
    throw new ConfigError(`${prefix}_DB_PASSWORD or ${prefix}_DB_PASSWORD_FILE is required with ${adminVar}`);
  if (password.length < 16) throw new ConfigError(`${prefix}_DB_PASSWORD must be at least 16 characters`);
  return { adminUrl, role, password };
}

export function dbRolesConfigFromEnv(env: Env): DbRolesConfig {
  const r = envReader(env);
  const gateway = roleTarget(r, 'DATABASE_ADMIN_URL', 'GATEWAY', 'novapos_gateway');
  const audit = roleTarget(r, 'AUDIT_DATABASE_ADMIN_URL', 'AUDIT', 'novapos_audit');
  if (!gateway && !audit)
    throw new ConfigError('DATABASE_ADMIN_URL or AUDIT_DATABASE_ADMIN_URL is required: nothing to bootstrap');
  return { gateway, audit, waitSeconds: r.int('DB_ROLES_WAIT_SECONDS', 300, { min: 0, max: 3600 }) };
}

async function gatewayViewExists(adminUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const r = await client.query(`SELECT 1 FROM pg_views WHERE viewname = 'gateway_api_keys'`);
    return (r.rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

export class ViewMissingError extends Error {
  override readonly name = 'ViewMissingError';
}

/** Creates or updates the configured roles; resolves to what was done, one line each (no secret in them). */
export async function runDbRoles(
  config: DbRolesConfig,
  opts: { sleep?: (ms: number) => Promise<void>; now?: () => number } = {},
): Promise<string[]> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const done: string[] = [];
  if (config.audit) {
    const a = config.audit;
    const db = connectPostgres(a.adminUrl, { max: 1 });
    try {
      await migrateAudit(db);
    } finally {
      await db.close();
    }
    await bootstrapAuditRole({ adminUrl: a.adminUrl, role: a.role, password: a.password });
    done.push(`audit role ${a.role}: insert-only on audit_logs`);
  }
  if (config.gateway) {
    const g = config.gateway;
    const deadline = now() + config.waitSeconds * 1000;
    for (;;) {
      await bootstrapDatabaseRoles({
        adminUrl: g.adminUrl,
        gatewayRole: g.role,
        gatewayPassword: g.password,
      });
      if (await gatewayViewExists(g.adminUrl)) break;
      if (now() >= deadline)
        throw new ViewMissingError(
          'gateway_api_keys does not exist yet: auth-service has not run its migrations (the Job retries)',
        );
      await sleep(5000);
    }
    done.push(`gateway role ${g.role}: reads gateway_api_keys`);
  }
  return done;
}

async function main(): Promise<number> {
  let config: DbRolesConfig;
  try {
    config = dbRolesConfigFromEnv(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`db-roles: ${err.message}\n`);
    return 2;
  }
  try {
    for (const line of await runDbRoles(config)) process.stdout.write(`db-roles: ${line}\n`);
    return 0;
  } catch (err) {
    // Our own messages carry no secret; a driver's may quote the connection string.
    const code = errorCode(err);
    const detail =
      err instanceof ViewMissingError ? err.message : `${errorClass(err)}${code ? ` (${code})` : ''}`;
    process.stderr.write(`db-roles: failed: ${detail}\n`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main();
}
