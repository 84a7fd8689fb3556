import { request } from 'undici';
import type { RedisClient } from '../../../../lib/redis-client.js';
import type { VaultClient } from '../../../../lib/vault.js';

/**
 * The tenants' partner webhook secrets, read from Vault KV v2 at `<mount>/<prefix>/<partner>/<tenant>`
 * (fields `webhook_secret` and, during a rotation, `previous_webhook_secret`) and kept for `ttlMs`; a tenant
 * with none is remembered for `missingTtlMs`, so requests naming unknown tenants do not each reach Vault.
 * At most `maxEntries` are kept (the oldest go first).
 */
export class VaultWebhookSecrets {
  private readonly cache = new Map<string, { secrets: readonly string[] | undefined; until: number }>();

  constructor(
    private readonly opts: {
      readonly vault: Pick<VaultClient, 'kvRead'>;
      readonly mount: string;
      readonly prefix: string;
      readonly ttlMs?: number;
      readonly missingTtlMs?: number;
      readonly maxEntries?: number;
      readonly now?: () => number;
    },
  ) {}

  async get(partner: string, tenant: string): Promise<readonly string[] | undefined> {
    const now = (this.opts.now ?? Date.now)();
    const key = `${partner}/${tenant}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.secrets;
    const secret = await this.opts.vault.kvRead<Record<string, unknown>>(
      this.opts.mount,
      `${this.opts.prefix}/${key}`,
    );
    const secrets = [secret?.data['webhook_secret'], secret?.data['previous_webhook_secret']].filter(
      (s): s is string => typeof s === 'string' && s.length > 0,
    );
    const found = secrets.length ? secrets : undefined;
    this.cache.delete(key);
    this.cache.set(key, {
      secrets: found,
      until: now + (found ? (this.opts.ttlMs ?? 60_000) : (this.opts.missingTtlMs ?? 10_000)),
    });
    const max = this.opts.maxEntries ?? 10_000;
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= max) break;
      this.cache.delete(oldest);
    }
    return found;
  }
}

/** Events seen, in Redis: `novapos:webhook:seen:{<tenant>}:<partner>:<event id>` (the tenant's slot on a cluster). */
export class RedisWebhookReplay {
  constructor(private readonly redis: RedisClient) {}

  static key(partner: string, tenant: string, eventId: string): string {
    return `novapos:webhook:seen:{${tenant}}:${partner}:${eventId}`;
  }

  async markSeen(partner: string, tenant: string, eventId: string, ttlMs: number): Promise<boolean> {
    const set = await this.redis.set(
      RedisWebhookReplay.key(partner, tenant, eventId),
      '1',
      'PX',
      ttlMs,
      'NX',
    );
    return set === 'OK';
  }

  async unmarkSeen(partner: string, tenant: string, eventId: string): Promise<void> {
    await this.redis.del(RedisWebhookReplay.key(partner, tenant, eventId));
  }
}

/** POSTs a verified webhook to the upstream origin's `/webhooks/<partner>/<tenant>`; the upstream's status. */
export function upstreamWebhookForwarder(origin: string, timeoutMs: number) {
  return async (
    partner: string,
    tenant: string,
    body: Buffer,
    headers: Record<string, string>,
  ): Promise<number> => {
    const res = await request(`${origin}/webhooks/${partner}/${tenant}`, {
      method: 'POST',
      body,
      headers,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump();
    return res.statusCode;
  };
}
