import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Db } from '../../lib/service-kit/db.js';
import { VaultClient } from '../../lib/vault.js';
import { TransitHeadSigner } from '../../services/audit-service/src/adapters/head-signer.js';
import { AuditRepository, migrate } from '../../services/audit-service/src/storage/repo.js';
import { verifyAudit } from '../../services/audit-service/src/verify.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { startVault, type VaultInstance } from '../harness/components/vault.js';
import { makeRunDir, removeRunDir } from '../harness/process.js';
import { anEvent } from './events.js';
import { createChainKey } from './support.js';

/**
 * Retention with a signed checkpoint (issue 20, seed 004 AUDIT_RETENTION_DAYS), against real PostgreSQL and
 * OpenBao: rows chained before the cutoff are removed above a base that is signed (transit, kept in KV) before
 * the delete; what remains verifies, with its signed heads. Someone who can write the database and removes
 * more rows, with or without a forged base, is reported; the append-only trigger still refuses other deletes.
 */
let dir: string;
let pgi: PostgresInstance;
let vault: VaultInstance;
let db: Db;
let repo: AuditRepository;
let signer: TransitHeadSigner;

async function asOwner<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: pgi.url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  dir = makeRunDir('audit-retention');
  [pgi, vault] = await Promise.all([startPostgres(dir), startVault(dir)]);
  await createChainKey(vault);
  db = connectPostgres(pgi.url);
  await migrate(db);
  repo = new AuditRepository(db);
  signer = new TransitHeadSigner({
    vault: new VaultClient({ addr: vault.addr, auth: { method: 'token', token: vault.rootToken } }),
    transitMount: 'transit',
    key: 'novapos-audit-chain',
    kvMount: 'secret',
    path: `novapos/audit-checkpoints-${randomUUID().slice(0, 8)}`,
  });
}, 120_000);

afterAll(async () => {
  await db?.close();
  await Promise.all([pgi?.process.stop(), vault?.stop()]);
  removeRunDir(dir);
});

describe('audit retention', () => {
  it('removes rows past the cutoff above a signed base; the rest verifies; tampering is still reported', async () => {
    await repo.append(Array.from({ length: 10 }, (_, i) => anEvent(i + 1)));
    await signer.sign(5, (await repo.hashAt(5))!);
    // Rows 1-6 were chained 30 days ago (the trigger refuses the UPDATE: the test moves time as the owner).
    await asOwner(async (c) => {
      await c.query('SET session_replication_role = replica');
      await c.query("UPDATE audit_logs SET chained_at = now() - interval '30 days' WHERE seq <= 6");
    });
    // Still append-only for anyone else.
    await expect(asOwner((c) => c.query('DELETE FROM audit_logs WHERE seq = 1'))).rejects.toThrow(
      /append-only/,
    );

    const cutoff = new Date(Date.now() - 7 * 86_400_000);
    const result = await repo.prune(cutoff, async (base) => {
      await signer.sign(base.seq, base.hash);
    });
    expect(result).toMatchObject({ base: { seq: 6 }, removed: 6 });
    const left = await db.query<{ seq: string }>('SELECT seq FROM audit_logs ORDER BY seq');
    expect(left.rows.map((r) => Number(r.seq))).toEqual([7, 8, 9, 10]);
    // Appending continues the chain; it verifies from the base, and the base is a signed head.
    await repo.append([anEvent(11)]);
    await signer.sign(11, (await repo.hashAt(11))!);
    expect(await verifyAudit(repo, signer)).toMatchObject({
      ok: true,
      checked: 5,
      base: { seq: 6 },
      signedHeads: { checked: 1, lastGoodSeq: 11 },
    });
    expect(await repo.prune(cutoff, async () => {})).toBeUndefined(); // nothing more to remove

    // Someone removes rows 7-8 and writes a base of their own to hide it.
    await asOwner(async (c) => {
      await c.query('SET session_replication_role = replica');
      const eight = await c.query<{ entry_hash: string }>('SELECT entry_hash FROM audit_logs WHERE seq = 8');
      await c.query('DELETE FROM audit_logs WHERE seq IN (7, 8)');
      await c.query(
        'INSERT INTO audit_retention (base_seq, base_hash, cutoff, rows_removed) VALUES (8, $1, now(), 2)',
        [eight.rows[0]!.entry_hash],
      );
    });
    // The chain alone verifies from the forged base; the signed heads do not accept it.
    expect(await repo.verify()).toMatchObject({ ok: true, base: { seq: 8 } });
    expect(await verifyAudit(repo, signer)).toMatchObject({
      ok: false,
      firstBroken: { seq: 8, reason: 'retention_base_unsigned' },
    });
    // Without the forged base, the removed rows are a gap in the chain.
    await asOwner((c) => c.query('DELETE FROM audit_retention WHERE base_seq = 8'));
    expect(await verifyAudit(repo, signer)).toMatchObject({
      ok: false,
      firstBroken: { seq: 7, reason: 'seq_gap' },
    });
  }, 120_000);
});
