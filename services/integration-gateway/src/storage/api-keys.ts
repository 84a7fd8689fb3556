import type pg from 'pg';
import type { ApiKeyRecord, ApiKeyStore } from '../domain/api-keys.js';

/** Reads auth-service's `gateway_api_keys` view (owned and migrated by auth-service; the gateway only reads it). */
export class PgApiKeyStore implements ApiKeyStore {
  constructor(private readonly pool: pg.Pool) {}

  async findLiveByPrefix(prefix: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.pool.query<{
      id: string;
      tenant_id: string;
      key_hash: string;
      scopes: string[] | null;
    }>(
      // auth-service's view of live keys (migration 0003): all this role may read (least privilege).
      `SELECT id, tenant_id, key_hash, scopes FROM gateway_api_keys
        WHERE prefix = $1 AND (expires_at IS NULL OR expires_at > now())`,
      [prefix],
    );
    const r = rows[0];
    return r && { id: r.id, tenantId: r.tenant_id, keyHash: r.key_hash, scopes: r.scopes ?? [] };
  }
}
