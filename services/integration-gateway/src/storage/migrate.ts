import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { postgresDb } from '../../../../lib/service-kit/db.js';
import { runMigrations } from '../../../../lib/service-kit/migrations.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
export const MIGRATIONS_TABLE = 'gateway_schema_migrations';

/**
 * The gateway's schema: `migrations/NNNN_name.sql`, recorded in `gateway_schema_migrations` (not
 * auth-service's table, though both live in one database).
 */
export function migrate(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  return runMigrations(postgresDb(pool), {
    dir,
    table: MIGRATIONS_TABLE,
    lock: 'novapos-integration-gateway-migrations',
  });
}
