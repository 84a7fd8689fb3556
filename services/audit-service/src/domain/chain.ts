import { createHash } from 'node:crypto';

/** The prev_hash of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a row's hash covers, besides the previous hash. */
export interface ChainFields {
  readonly seq: number;
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
  /** The envelope exactly as received. */
  readonly payload: string;
}

export interface ChainRow extends ChainFields {
  readonly prev_hash: string;
  readonly entry_hash: string;
}

/**
 * sha256 over the previous hash and the row's fields as a JSON array in a fixed order (unambiguous: no
 * field can run into the next). Any change to a covered field, or to the previous row, changes it.
 */
export function entryHash(prevHash: string, f: ChainFields): string {
  const covered = [
    f.seq,
    f.event_id,
    f.topic,
    f.event_type,
    f.schema_version,
    f.tenant_id,
    f.user_id,
    f.actor_role,
    f.trace_id,
    f.producer,
    f.producer_seq,
    f.payload,
  ];
  return createHash('sha256').update(prevHash).update('\n').update(JSON.stringify(covered)).digest('hex');
}

export interface BrokenLink {
  readonly seq: number;
  readonly reason: 'seq_gap' | 'prev_hash_mismatch' | 'entry_hash_mismatch';
}

/**
 * Checks rows (in seq order) continuing a chain whose last row was (`prevSeq`, `prevHash`). Returns the
 * first broken link, or undefined when every row links and hashes correctly.
 */
export function firstBrokenLink(
  rows: readonly ChainRow[],
  prevSeq: number,
  prevHash: string,
): BrokenLink | undefined {
  let seq = prevSeq;
  let hash = prevHash;
  for (const row of rows) {
    if (row.seq !== seq + 1) return { seq: seq + 1, reason: 'seq_gap' };
    if (row.prev_hash !== hash) return { seq: row.seq, reason: 'prev_hash_mismatch' };
    if (entryHash(row.prev_hash, row) !== row.entry_hash)
      return { seq: row.seq, reason: 'entry_hash_mismatch' };
    seq = row.seq;
    hash = row.entry_hash;
  }
  return undefined;
}
