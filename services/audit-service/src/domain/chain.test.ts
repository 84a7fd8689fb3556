import { describe, expect, it } from 'vitest';
import { type ChainRow, entryHash, firstBrokenLink, GENESIS_HASH } from './chain.js';

function chain(n: number): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const f = {
      seq,
      event_id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
      topic: 'audit.events.v1',
      event_type: 'admin_action',
      schema_version: 1,
      tenant_id: 'acme',
      user_id: 'u1',
      actor_role: 'admin',
      trace_id: null,
      producer: 'auth-service',
      producer_seq: seq,
      payload: `{"n":${seq}}`,
    };
    const entry_hash = entryHash(prev, f);
    rows.push({ ...f, prev_hash: prev, entry_hash });
    prev = entry_hash;
  }
  return rows;
}

describe('the audit chain', () => {
  it('verifies an untouched chain', () => {
    expect(firstBrokenLink(chain(5), 0, GENESIS_HASH)).toBeUndefined();
  });

  it('names an edited field, an edited payload, a removed row and a relinked row', () => {
    const edited = chain(5);
    edited[2] = { ...edited[2]!, tenant_id: 'evil' };
    expect(firstBrokenLink(edited, 0, GENESIS_HASH)).toEqual({ seq: 3, reason: 'entry_hash_mismatch' });
    const payload = chain(5);
    payload[3] = { ...payload[3]!, payload: '{"n":99}' };
    expect(firstBrokenLink(payload, 0, GENESIS_HASH)).toEqual({ seq: 4, reason: 'entry_hash_mismatch' });
    const removed = chain(5).filter((r) => r.seq !== 2);
    expect(firstBrokenLink(removed, 0, GENESIS_HASH)).toEqual({ seq: 2, reason: 'seq_gap' });
    // A row rewritten with a fresh hash still breaks the next row's prev_hash.
    const relinked = chain(5);
    const r2 = { ...relinked[1]!, user_id: 'someone-else' };
    relinked[1] = { ...r2, entry_hash: entryHash(r2.prev_hash, r2) };
    expect(firstBrokenLink(relinked, 0, GENESIS_HASH)).toEqual({ seq: 3, reason: 'prev_hash_mismatch' });
  });
});
