import { fileURLToPath } from 'node:url';
import type { Db } from '../../../../lib/service-kit/db.js';
import { runMigrations } from '../../../../lib/service-kit/migrations.js';
import {
  type ChainFields,
  type ChainRow,
  entryHash,
  firstBrokenLink,
  GENESIS_HASH,
} from '../domain/chain.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export function migrate(db: Db): Promise<string[]> {
  return runMigrations(db, {
    dir: MIGRATIONS_DIR,
    table: 'audit_schema_migrations',
    lock: 'novapos-audit-migrations',
  });
}

/** One event to chain, parsed from a Kafka record. */
export interface IncomingEvent {
  readonly event_id: string;
  readonly topic: string;
  readonly event_type: string;
  readonly schema_version: number;
  readonly tenant_id: string | null;
  readonly user_id: string | null;
  readonly actor_role: string | null;
  readonly trace_id: string | null;
  readonly producer: string | null;
  readonly producer_seq: number | null;
  readonly occurred_at: string;
  readonly payload: string;
}

export interface AppendResult {
  readonly chained: (IncomingEvent & { seq: number })[];
  readonly duplicates: IncomingEvent[];
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly checked: number;
  readonly head: { readonly seq: number; readonly hash: string };
  readonly firstBroken?: { readonly seq: number; readonly reason: string };
  /** The retention base the chain was verified from (rows up to it were removed). */
  readonly base?: { readonly seq: number; readonly hash: string };
  /** Signed heads checked (when signing is configured); after a full rewrite, the last good one. */
  readonly signedHeads?: { readonly checked: number; readonly lastGoodSeq: number };
}

const ROW_COLUMNS =
  'seq, event_id, topic, event_type, schema_version, tenant_id, user_id, actor_role, trace_id, producer, producer_seq, payload, prev_hash, entry_hash';

type DbRow = Omit<ChainRow, 'seq' | 'producer_seq'> & { seq: string; producer_seq: string | null };
const toChainRow = (r: DbRow): ChainRow => ({
  ...r,
  seq: Number(r.seq),
  producer_seq: r.producer_seq === null ? null : Number(r.producer_seq),
});

/** The chain's storage: append (one writer at a time, under an advisory lock), read, verify, query. */
export class AuditRepository {
  constructor(private readonly db: Db) {}

  /**
   * Appends the events not chained yet, in the given order, in one transaction: the events already in the
   * log (same event id) and repeats within the batch are returned as duplicates and not stored again.
   */
  async append(events: readonly IncomingEvent[]): Promise<AppendResult> {
    if (events.length === 0) return { chained: [], duplicates: [] };
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['novapos-audit-chain']);
      const ids = [...new Set(events.map((e) => e.event_id))];
      const existing = await tx.query<{ event_id: string }>(
        'SELECT event_id::text FROM audit_logs WHERE event_id = ANY($1::uuid[])',
        [ids],
      );
      const seen = new Set(existing.rows.map((r) => r.event_id));
      const head = await tx.query<{ seq: string; entry_hash: string }>(
        'SELECT seq, entry_hash FROM audit_logs ORDER BY seq DESC LIMIT 1',
      );
      let seq = Number(head.rows[0]?.seq ?? 0);
      let prev = head.rows[0]?.entry_hash ?? GENESIS_HASH;
      const chained: (IncomingEvent & { seq: number })[] = [];
      const duplicates: IncomingEvent[] = [];
      const rows: unknown[][] = [];
      for (const e of events) {
        if (seen.has(e.event_id)) {
          duplicates.push(e);
          continue;
        }
        seen.add(e.event_id);
        seq++;
        const fields: ChainFields = { ...e, seq };
        const hash = entryHash(prev, fields);
        const values = [
          seq,
          e.event_id,
          e.topic,
          e.event_type,
          e.schema_version,
          e.tenant_id,
          e.user_id,
          e.actor_role,
          e.trace_id,
          e.producer,
          e.producer_seq,
          e.occurred_at,
          e.payload,
          prev,
          hash,
        ];
        rows.push(values);
        prev = hash;
        chained.push({ ...e, seq });
      }
      if (chained.length > 0) {
        await tx.query(
          `INSERT INTO audit_logs (seq, event_id, topic, event_type, schema_version, tenant_id, user_id, actor_role,
             trace_id, producer, producer_seq, occurred_at, payload, prev_hash, entry_hash)
           SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
             $8::text[], $9::text[], $10::text[], $11::bigint[], $12::timestamptz[], $13::text[], $14::text[], $15::text[])`,
          // unnest takes one array per column: the rows transposed.
          (rows[0] ?? []).map((_, c) => rows.map((row) => row[c])),
        );
      }
      return { chained, duplicates };
    });
  }

  /** The newest retention base (rows up to it were removed), if any. */
  async retentionBase(): Promise<{ seq: number; hash: string } | undefined> {
    const r = await this.db.query<{ base_seq: string; base_hash: string }>(
      'SELECT base_seq, base_hash FROM audit_retention ORDER BY base_seq DESC LIMIT 1',
    );
    const row = r.rows[0];
    return row && { seq: Number(row.base_seq), hash: row.base_hash };
  }

  /**
   * Retention: removes the rows chained before `cutoff` (never the newest row, which the next append links
   * to), after recording their last (seq, hash) as the base the chain verifies from, and after `beforeDelete`
   * (the signer: the base is signed outside PostgreSQL first). Needs DELETE on audit_logs: the tables' owner.
   */
  async prune(
    cutoff: Date,
    beforeDelete: (base: { seq: number; hash: string }) => Promise<void>,
  ): Promise<{ base: { seq: number; hash: string }; removed: number } | undefined> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['novapos-audit-chain']);
      const r = await tx.query<{ seq: string; entry_hash: string }>(
        `SELECT seq, entry_hash FROM audit_logs
          WHERE chained_at < $1 AND seq < (SELECT max(seq) FROM audit_logs)
          ORDER BY seq DESC LIMIT 1`,
        [cutoff],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      const base = { seq: Number(row.seq), hash: row.entry_hash };
      await beforeDelete(base);
      await tx.query("SELECT set_config('novapos.audit_retention', 'on', true)");
      const removed = await tx.query('DELETE FROM audit_logs WHERE seq <= $1', [base.seq]);
      await tx.query(
        `INSERT INTO audit_retention (base_seq, base_hash, cutoff, rows_removed) VALUES ($1, $2, $3, $4)
         ON CONFLICT (base_seq) DO NOTHING`,
        [base.seq, base.hash, cutoff, removed.rowCount],
      );
      return { base, removed: removed.rowCount };
    });
  }

  /** Recomputes the whole chain (from the retention base, if rows were removed), in pages; names the first broken link. */
  async verify(pageSize = 1000): Promise<VerifyResult> {
    const base = await this.retentionBase();
    let prevSeq = base?.seq ?? 0;
    let prevHash = base?.hash ?? GENESIS_HASH;
    let checked = 0;
    for (;;) {
      const page = await this.db.query<DbRow>(
        `SELECT ${ROW_COLUMNS} FROM audit_logs WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [prevSeq, pageSize],
      );
      const rows = page.rows.map(toChainRow);
      const broken = firstBrokenLink(rows, prevSeq, prevHash);
      if (broken) {
        return {
          ok: false,
          checked: checked + rows.findIndex((r) => r.seq >= broken.seq) + 1,
          head: { seq: prevSeq, hash: prevHash },
          firstBroken: broken,
        };
      }
      checked += rows.length;
      const last = rows.at(-1);
      if (last === undefined) break;
      prevSeq = last.seq;
      prevHash = last.entry_hash;
      if (rows.length < pageSize) break;
    }
    return { ok: true, checked, head: { seq: prevSeq, hash: prevHash }, ...(base ? { base } : {}) };
  }

  /** Per producer: the highest number up to which all are chained, and the numbers chained above it. */
  async producerSequences(): Promise<Map<string, { contiguous: number; ahead: number[] }>> {
    const res = await this.db.query<{ producer: string; producer_seq: string }>(
      `SELECT producer, producer_seq FROM audit_logs WHERE producer IS NOT NULL AND producer_seq IS NOT NULL
        ORDER BY producer, producer_seq`,
    );
    const out = new Map<string, { contiguous: number; ahead: number[] }>();
    for (const r of res.rows) {
      const n = Number(r.producer_seq);
      let s = out.get(r.producer);
      if (!s) {
        s = { contiguous: 0, ahead: [] };
        out.set(r.producer, s);
      }
      if (s.ahead.length === 0 && n === s.contiguous + 1) s.contiguous = n;
      else s.ahead.push(n);
    }
    return out;
  }

  async hashAt(seq: number): Promise<string | undefined> {
    const r = await this.db.query<{ entry_hash: string }>(
      'SELECT entry_hash FROM audit_logs WHERE seq = $1',
      [seq],
    );
    return r.rows[0]?.entry_hash;
  }

  async newest(): Promise<{
    seq: number;
    hash: string | undefined;
    occurredAt: Date | undefined;
    chainedAt: Date | undefined;
  }> {
    const res = await this.db.query<{ seq: string; entry_hash: string; occurred_at: Date; chained_at: Date }>(
      'SELECT seq, entry_hash, occurred_at, chained_at FROM audit_logs ORDER BY seq DESC LIMIT 1',
    );
    const r = res.rows[0];
    return {
      seq: Number(r?.seq ?? 0),
      hash: r?.entry_hash,
      occurredAt: r?.occurred_at,
      chainedAt: r?.chained_at,
    };
  }

  /** Security engineers' query (seed 003): filters, time range, keyset pagination by seq. */
  async query(q: {
    tenantId?: string;
    eventType?: string;
    userId?: string;
    from?: Date;
    to?: Date;
    afterSeq?: number;
    limit: number;
  }): Promise<{ seq: number; event: unknown; chained_at: string; entry_hash: string }[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (q.tenantId !== undefined) add('tenant_id = ?', q.tenantId);
    if (q.eventType !== undefined) add('event_type = ?', q.eventType);
    if (q.userId !== undefined) add('user_id = ?', q.userId);
    if (q.from) add('occurred_at >= ?', q.from);
    if (q.to) add('occurred_at < ?', q.to);
    if (q.afterSeq !== undefined) add('seq > ?', q.afterSeq);
    params.push(q.limit);
    const res = await this.db.query<{ seq: string; payload: string; chained_at: Date; entry_hash: string }>(
      `SELECT seq, payload, chained_at, entry_hash FROM audit_logs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY seq LIMIT $${params.length}`,
      params,
    );
    return res.rows.map((r) => ({
      seq: Number(r.seq),
      event: JSON.parse(r.payload) as unknown,
      chained_at: new Date(r.chained_at).toISOString(),
      entry_hash: r.entry_hash,
    }));
  }
}
