import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/**
 * Applies `migrations/NNNN_name.sql` in name order, each in its own transaction together with its row in
 * `auth_schema_migrations`, under an advisory lock so replicas starting together apply each file once.
 * Plain SQL files rather than node-pg-migrate: the same runner has to work on embedded PGlite, which has
 * no connection string for a migration tool to use. Returns the names applied by this call.
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS auth_schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  for (const file of files) {
    const sql = await readFile(`${dir}/${file}`, 'utf8');
    const done = await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('novapos-auth-service-migrations'))`);
      const seen = await tx.query('SELECT 1 FROM auth_schema_migrations WHERE name = $1', [file]);
      if (seen.rowCount > 0) return false;
      await tx.exec(sql);
      await tx.query('INSERT INTO auth_schema_migrations (name) VALUES ($1)', [file]);
      return true;
    });
    if (done) applied.push(file);
  }
  return applied;
}
