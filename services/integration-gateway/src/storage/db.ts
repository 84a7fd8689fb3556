import pg from 'pg';

/** The gateway's PostgreSQL pool: auth-service's database (api_keys) plus the gateway's own table. */
export function createPool(databaseUrl: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 5,
    connectionTimeoutMillis: 2000,
    statement_timeout: 2000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}
