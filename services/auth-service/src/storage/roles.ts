import pg from 'pg';

/**
 * The privileged bootstrap of the database roles (issue 18, least privilege). Creating roles needs a
 * privilege (CREATEROLE or superuser) that a service's own role should not have and managed PostgreSQL rarely
 * grants to it, so this runs apart from the services, with an admin credential: `npm start` and the test
 * harness call it; in a cluster a Job (or the Pulumi program) runs
 * `tsx services/auth-service/src/storage/roles.ts` with `DATABASE_ADMIN_URL` and the role passwords from
 * Secrets.
 *
 * The gateway's role can: connect; read `gateway_api_keys` (the view auth-service's migration 0003 makes:
 * id, tenant, prefix, key hash, scopes, expiry of live keys); create and write its own tables in the schema
 * (its migrations: API-key usage, the event outbox). It cannot read or write `users`, refresh tokens,
 * recovery codes or anything else of auth-service's.
 */
export const GATEWAY_READER_GROUP = 'novapos_gateway_reader';

export interface RoleBootstrapOptions {
  /** Connection with the privilege to create roles, to the database auth-service uses. */
  readonly adminUrl: string;
  /** The gateway's login role, e.g. `novapos_gateway`, and its password (from a Secret). */
  readonly gatewayRole: string;
  readonly gatewayPassword: string;
}

const ROLE_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Creates or updates the roles and grants; idempotent (safe to run at every deploy). */
export async function bootstrapDatabaseRoles(opts: RoleBootstrapOptions): Promise<void> {
  if (!ROLE_RE.test(opts.gatewayRole)) throw new Error('gateway role name must match [a-z_][a-z0-9_]*');
  if (opts.gatewayPassword.length < 16)
    throw new Error('gateway role password must be at least 16 characters');
  const client = new pg.Client({ connectionString: opts.adminUrl });
  await client.connect();
  try {
    const [current] = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows;
    if (!current) throw new Error('SELECT current_database() returned no row');
    const database = current.db;
    const role = client.escapeIdentifier(opts.gatewayRole);
    const group = client.escapeIdentifier(GATEWAY_READER_GROUP);
    const createIfMissing = async (name: string, login: boolean) =>
      client.query(
        `DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${client.escapeLiteral(name)}) THEN
             CREATE ROLE ${client.escapeIdentifier(name)} ${login ? 'LOGIN' : 'NOLOGIN'};
           END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$`,
      );
    await createIfMissing(GATEWAY_READER_GROUP, false);
    await createIfMissing(opts.gatewayRole, true);
    await client.query(
      `ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${client.escapeLiteral(opts.gatewayPassword)}`,
    );
    await client.query(`GRANT ${group} TO ${role}`);
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(database)} TO ${role}`);
    // Its own tables (migrations): it owns what it creates, and nothing else.
    await client.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${role}`);
    const view = await client.query(`SELECT 1 FROM pg_views WHERE viewname = 'gateway_api_keys'`);
    if (view.rowCount) await client.query(`GRANT SELECT ON gateway_api_keys TO ${group}`);
  } finally {
    await client.end();
  }
}

// `tsx services/auth-service/src/storage/roles.ts` (DATABASE_ADMIN_URL, GATEWAY_DB_ROLE, GATEWAY_DB_PASSWORD).
if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const adminUrl = env['DATABASE_ADMIN_URL'];
  const gatewayPassword = env['GATEWAY_DB_PASSWORD'];
  if (!adminUrl || !gatewayPassword) {
    const missing = { DATABASE_ADMIN_URL: adminUrl, GATEWAY_DB_PASSWORD: gatewayPassword };
    const names = Object.entries(missing).flatMap(([k, v]) => (v ? [] : [k]));
    process.stderr.write(`missing ${names.join(', ')}\n`);
    process.exit(2);
  }
  await bootstrapDatabaseRoles({
    adminUrl,
    gatewayRole: env['GATEWAY_DB_ROLE'] ?? 'novapos_gateway',
    gatewayPassword,
  });
  process.stdout.write('database roles bootstrapped\n');
}
