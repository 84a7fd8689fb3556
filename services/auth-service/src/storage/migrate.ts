import { fileURLToPath } from 'node:url';
import { runMigrations } from '../../../../lib/service-kit/migrations.js';
import type { Db } from './db.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** auth-service's schema: `migrations/NNNN_name.sql`, recorded in `auth_schema_migrations`. */
export function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  return runMigrations(db, { dir, table: 'auth_schema_migrations', lock: 'novapos-auth-service-migrations' });
}
