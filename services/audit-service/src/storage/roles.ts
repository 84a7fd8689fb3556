import pg from 'pg';
import { errorClass } from '../../../../lib/errors.js';

/**
 * The audit-service's database role (issue 20, tamper evidence): it may read the audit log and append to
 * it, nothing else. UPDATE, DELETE and TRUNCATE are not granted, and the role owns nothing, so it can neither
 * alter the table nor disable its append-only trigger. The tables belong to the admin role that runs the
 * migrations (`DATABASE_ADMIN_URL`, a migration Job in a cluster); this bootstrap runs with the same admin
 * credential: `npm start` and the tests call it, in a cluster a Job runs
 * `tsx services/audit-service/src/storage/roles.ts` with `DATABASE_ADMIN_URL`, `AUDIT_DB_ROLE` and
 * `AUDIT_DB_PASSWORD` from Secrets.
 */
export interface AuditRoleOptions {
  readonly adminUrl: string;
  readonly role: string;
  readonly password: string;
}

const ROLE_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Creates or updates the role and its grants; idempotent. Run after the migrations. */
export async function bootstrapAuditRole(opts: AuditRoleOptions): Promise<void> {
  if (!ROLE_RE.test(opts.role)) throw new Error('audit role name must match [a-z_][a-z0-9_]*');
  if (opts.password.length < 16) throw new Error('audit role password must be at least 16 characters');
  const client = new pg.Client({ connectionString: opts.adminUrl });
  await client.connect();
  try {
    const [current] = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows;
    if (current === undefined) throw new Error('SELECT current_database() returned no row');
    const database = current.db;
    const role = client.escapeIdentifier(opts.role);
    await client.query(
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${client.escapeLiteral(opts.role)}) THEN
           CREATE ROLE ${role} LOGIN;
         END IF;
       EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
       END $$`,
    );
    await client.query(
      `ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD ${client.escapeLiteral(opts.password)}`,
    );
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(database)} TO ${role}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`REVOKE CREATE ON SCHEMA public FROM ${role}`);
    await client.query(`REVOKE ALL ON audit_logs FROM ${role}`);
    await client.query(`GRANT SELECT, INSERT ON audit_logs TO ${role}`);
    await client.query(`GRANT SELECT ON audit_schema_migrations TO ${role}`);
    // Retention runs as the tables' owner (DATABASE_ADMIN_URL); the service reads the base to verify from.
    await client.query(`GRANT SELECT ON audit_retention TO ${role}`);
  } finally {
    await client.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const adminUrl = env.DATABASE_ADMIN_URL;
  if (!adminUrl || !env.AUDIT_DB_ROLE || !env.AUDIT_DB_PASSWORD) {
    process.stderr.write('DATABASE_ADMIN_URL, AUDIT_DB_ROLE and AUDIT_DB_PASSWORD are required\n');
    process.exit(2);
  }
  bootstrapAuditRole({ adminUrl, role: env.AUDIT_DB_ROLE, password: env.AUDIT_DB_PASSWORD }).then(
    () => process.stdout.write(`role ${env.AUDIT_DB_ROLE} ready\n`),
    (err: unknown) => {
      process.stderr.write(`role bootstrap failed: ${errorClass(err)}\n`);
      process.exit(1);
    },
  );
}
