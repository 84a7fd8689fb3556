import { AppError } from '../errors.js';
import type { CreateApiKeyCommand, Principal, RequestContext } from '../model.js';
import { newApiKey } from '../secrets.js';
import { apiKeyExpiresAt } from '../session-rules.js';
import { requirePrivileged, requireRecentAuthentication } from './access.js';
import type { UseCaseDeps } from './deps.js';
import { ifDone, withEvent } from './events.js';

/** POST /api-keys (admin with MFA, step-up): the key is returned once; only its argon2 hash is kept. */
export async function createApiKey(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: CreateApiKeyCommand,
) {
  requirePrivileged(d, ctx, p, '/api-keys');
  requireRecentAuthentication(d, p);
  const { prefix, key } = newApiKey();
  const keyHash = await d.hasher.hash(key);
  const row = await withEvent(
    d,
    ctx,
    () =>
      d.store.insertApiKey({
        tenantId: p.tenantId,
        createdBy: p.userId,
        name: cmd.name,
        prefix,
        keyHash,
        scopes: [...(cmd.scopes ?? [])],
        expiresAt: apiKeyExpiresAt(d.clock.now(), cmd.expiresInDays),
      }),
    (inserted) => ({
      topic: 'audit',
      type: 'api_key_created',
      fields: {
        userId: p.userId,
        roles: p.roles,
        outcome: 'created',
        key_prefix: prefix,
        api_key_id: inserted.id,
      },
    }),
  );
  return { ...row, key };
}

/** GET /api-keys: the tenant's keys, no secrets. */
export async function listApiKeys(d: UseCaseDeps, ctx: RequestContext, p: Principal) {
  requirePrivileged(d, ctx, p, '/api-keys');
  return d.store.listApiKeys(p.tenantId);
}

/** DELETE /api-keys/:id. */
export async function revokeApiKey(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  id: string,
): Promise<void> {
  requirePrivileged(d, ctx, p, '/api-keys');
  const revoked =
    /^[0-9a-f-]{36}$/.test(id) &&
    (await withEvent(
      d,
      ctx,
      () => d.store.revokeApiKey(p.tenantId, id),
      ifDone({
        topic: 'audit',
        type: 'api_key_revoked',
        fields: { userId: p.userId, roles: p.roles, outcome: 'revoked', api_key_id: id },
      }),
    ));
  if (!revoked) throw new AppError('not_found');
}
