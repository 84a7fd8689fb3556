import { readdir, readFile } from 'node:fs/promises';
import type { Db } from './db.js';

export interface MigrationSet {
  /** Folder of `NNNN_name.sql` files, applied in name order. */
  readonly dir: string;
  /** The table recording what was applied: one per service, even when services share a database. */
  readonly table: string;
  /** Name of the advisory lock replicas starting together take, so each file is applied once. */
  readonly lock: string;
}

const FILE = /^\d{4}_[a-z0-9_]+\.sql$/;
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Applies the migrations not applied yet, each in its own transaction together with its row in the table,
 * under an advisory lock. Plain SQL files rather than a migration tool: the same runner works on PostgreSQL
 * and on embedded PGlite, which has no connection string for a tool to use. Returns the names applied by
 * this call. A failing file rolls back alone and is retried at the next start.
 */
export async function runMigrations(db: Db, set: MigrationSet): Promise<string[]> {
  if (!IDENTIFIER.test(set.table))
    throw new Error(`migration table name "${set.table}" is not a plain identifier`);
  await db.exec(
    `CREATE TABLE IF NOT EXISTS ${set.table} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const files = (await readdir(set.dir)).filter((f) => FILE.test(f)).sort();
  const applied: string[] = [];
  for (const file of files) {
    const sql = await readFile(`${set.dir}/${file}`, 'utf8');
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [set.lock]);
      const seen = await tx.query(`SELECT 1 FROM ${set.table} WHERE name = $1`, [file]);
      if (seen.rowCount > 0) return false;
      await tx.exec(sql);
      await tx.query(`INSERT INTO ${set.table} (name) VALUES ($1)`, [file]);
      return true;
    });
    if (done) applied.push(file);
  }
  return applied;
}
