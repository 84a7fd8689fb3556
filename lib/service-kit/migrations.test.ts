import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from './db.js';
import { runMigrations } from './migrations.js';
import { openPglite } from './pglite.js';

// Against embedded PostgreSQL (PGlite): the same runner serves PostgreSQL through the same seam.
describe('runMigrations', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'novapos-migrations-'));
  // One database for the file, as a service has: each case builds on the schema the one before left.
  let db: Db;
  beforeAll(async () => {
    db = await openPglite();
  }, 60_000);
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const set = { dir, table: 'kit_schema_migrations', lock: 'kit-test' };

  it('applies files in name order once, and records each', { timeout: 30_000 }, async () => {
    writeFileSync(path.join(dir, '0002_second.sql'), 'ALTER TABLE things ADD COLUMN size int;');
    writeFileSync(path.join(dir, '0001_first.sql'), 'CREATE TABLE things (id int PRIMARY KEY);');
    writeFileSync(path.join(dir, 'README.md'), 'not a migration');
    expect(await runMigrations(db, set)).toEqual(['0001_first.sql', '0002_second.sql']);
    expect(await runMigrations(db, set)).toEqual([]);
    const rows = await db.query<{ name: string }>('SELECT name FROM kit_schema_migrations ORDER BY name');
    expect(rows.rows.map((r) => r.name)).toEqual(['0001_first.sql', '0002_second.sql']);
  });

  it('rolls back a failing file alone: the next run applies it once it is fixed', {
    timeout: 30_000,
  }, async () => {
    writeFileSync(
      path.join(dir, '0003_broken.sql'),
      'INSERT INTO things VALUES (1); SELECT no_such_function();',
    );
    await expect(runMigrations(db, set)).rejects.toThrow(/no_such_function/);
    expect((await db.query('SELECT 1 FROM things')).rowCount).toBe(0);
    writeFileSync(path.join(dir, '0003_broken.sql'), 'INSERT INTO things VALUES (1);');
    expect(await runMigrations(db, set)).toEqual(['0003_broken.sql']);
    expect((await db.query('SELECT 1 FROM things')).rowCount).toBe(1);
  });

  it('refuses a table name that is not a plain identifier', async () => {
    await expect(runMigrations(db, { ...set, table: 'x; DROP TABLE things' })).rejects.toThrow(/identifier/);
  });
});
