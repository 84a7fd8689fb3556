import type pg from 'pg';
import type { UsageDelta, UsageStore } from '../domain/usage.js';

/** Writes API key usage deltas to `api_key_usage` in one multi-row INSERT. */
export class PgUsageStore implements UsageStore {
  constructor(private readonly pool: pg.Pool) {}

  async insertDeltas(rows: readonly UsageDelta[]): Promise<void> {
    if (rows.length === 0) return;
    const values: unknown[] = [];
    const tuples = rows.map((r, i) => {
      values.push(
        r.apiKeyId,
        r.tenantId,
        r.keyPrefix,
        r.windowStart,
        r.windowEnd,
        r.requests,
        r.rejected,
        r.lastSeenAt,
        r.replicaId,
      );
      const b = i * 9;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9})`;
    });
    await this.pool.query(
      `INSERT INTO api_key_usage (api_key_id, tenant_id, key_prefix, window_start, window_end, requests, rejected, last_seen_at, replica_id)
       VALUES ${tuples.join(', ')}`,
      values,
    );
  }
}
