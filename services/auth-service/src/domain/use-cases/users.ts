import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';
import type {
  AssignableRole,
  Principal,
  RegisterCommand,
  RegisterFirstCommand,
  RequestContext,
  SetRolesCommand,
  TenantSettingsCommand,
} from '../model.js';
import { checkPassword } from '../password-policy.js';
import { requirePrivileged, revokeUserTokens } from './access.js';
import { consume, type UseCaseDeps } from './deps.js';
import { ifDone, withEvent } from './events.js';

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface NewUser {
  readonly id: string;
  readonly email: string;
  readonly tenantId: string;
  readonly roles: string[];
}

/** A new user's e-mail (normalised, well-formed), password (policy) and its argon2 hash. */
async function newUserFields(d: UseCaseDeps, cmd: { email: string; password: string }, roles: string[]) {
  const email = cmd.email.trim().toLowerCase();
  if (!EMAIL_RE.test(email)) throw new AppError('invalid_request', { field: 'email' });
  const issues = checkPassword(cmd.password, { minLength: d.config.passwordMinLength, email });
  if (issues.length > 0) throw new AppError('weak_password', { issues });
  return { email, passwordHash: await d.hasher.hash(cmd.password), roles };
}

/**
 * The first account of a tenant (an admin), to bootstrap an empty installation. Off unless
 * ALLOW_REGISTER_FIRST, and then only with a one-time bootstrap token (AUTH_BOOTSTRAP_TOKEN(_FILE), or one
 * issued by `npm run auth:seed -- --bootstrap-token`). Every check that costs nothing runs before the argon2
 * hash, under its own strict per-address limit, and every refusal is the same 403 registration_closed
 * (whether the tenant exists, has users, or the token is wrong): no tenant enumeration.
 */
export async function registerFirst(
  d: UseCaseDeps,
  ctx: RequestContext,
  cmd: RegisterFirstCommand,
): Promise<NewUser> {
  await consume(d.limits.ipRegisterFirst, ctx.ip);
  const closed = () => new AppError('registration_closed');
  const token = cmd.bootstrapToken;
  if (!d.config.allowRegisterFirst || !token || token.length > 256) throw closed();
  const presented = createHash('sha256').update(token).digest();
  const configured = d.bootstrapHash !== undefined && timingSafeEqual(presented, d.bootstrapHash);
  const tokenHash = presented.toString('hex');
  if (!(await d.store.bootstrapTokenUsable(tokenHash, configured))) throw closed();
  const tenant = await d.store.getTenant(ctx.tenantId);
  if (tenant ? await d.store.tenantHasUsers(tenant.id) : (await d.store.countTenants()) > 0) throw closed();
  const fields = await newUserFields(d, cmd, ['admin']);
  const id = await withEvent(
    d,
    ctx,
    () => d.store.createFirstUser({ tenantId: ctx.tenantId, ...fields }, { tokenHash, configured }),
    (created) =>
      created
        ? {
            topic: 'audit',
            type: 'user_registered',
            fields: { userId: created, roles: ['admin'], outcome: 'first_admin' },
          }
        : undefined,
  );
  if (!id) throw closed();
  return { id, email: fields.email, tenantId: ctx.tenantId, roles: fields.roles };
}

/** POST /register: an admin (with MFA) creates a user of the tenant. */
export async function register(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: RegisterCommand,
): Promise<NewUser> {
  requirePrivileged(d, ctx, p, '/register');
  const fields = await newUserFields(d, cmd, uniqueRoles(cmd.roles ?? ['user']));
  const id = await withEvent(
    d,
    ctx,
    () => d.store.createUser({ tenantId: ctx.tenantId, ...fields }),
    (created) =>
      created
        ? {
            topic: 'audit',
            type: 'user_registered',
            fields: { userId: p.userId, roles: p.roles, outcome: 'created', created_user_id: created },
          }
        : undefined,
  );
  if (!id) throw new AppError('email_taken');
  return { id, email: fields.email, tenantId: ctx.tenantId, roles: fields.roles };
}

/** PUT /users/:id/roles: new roles; every earlier token of that user stops working at once. */
export async function setUserRoles(d: UseCaseDeps, ctx: RequestContext, p: Principal, cmd: SetRolesCommand) {
  requirePrivileged(d, ctx, p, '/users');
  const id = cmd.userId;
  const roles = uniqueRoles(cmd.roles);
  const updated =
    UUID_RE.test(id) &&
    (await withEvent(
      d,
      ctx,
      () => d.store.setUserRoles(p.tenantId, id, roles),
      ifDone({
        topic: 'audit',
        type: 'user_roles_changed',
        fields: {
          userId: p.userId,
          roles: p.roles,
          outcome: 'updated',
          target_user_id: id,
          new_roles: roles,
        },
      }),
    ));
  if (!updated) throw new AppError('not_found');
  await revokeUserTokens(d, p.tenantId, id);
  return { id, tenantId: p.tenantId, roles };
}

/** DELETE /users/:id: the user, its sessions and codes are gone; its tokens stop working at once. */
export async function deleteUser(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  id: string,
): Promise<void> {
  requirePrivileged(d, ctx, p, '/users');
  const deleted =
    UUID_RE.test(id) &&
    (await withEvent(
      d,
      ctx,
      () => d.store.deleteUser(p.tenantId, id),
      ifDone({
        topic: 'audit',
        type: 'user_deleted',
        fields: { userId: p.userId, roles: p.roles, outcome: 'deleted', target_user_id: id },
      }),
    ));
  if (!deleted) throw new AppError('not_found');
  await revokeUserTokens(d, p.tenantId, id);
}

/** PUT /tenant/settings: the tenant's MFA requirement. */
export async function setTenantSettings(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: TenantSettingsCommand,
) {
  requirePrivileged(d, ctx, p, '/tenant/settings');
  const { requireMfa } = cmd;
  await withEvent(
    d,
    ctx,
    () => d.store.setTenantRequireMfa(p.tenantId, requireMfa),
    () => ({
      topic: 'audit',
      type: 'tenant_settings_changed',
      fields: { userId: p.userId, roles: p.roles, outcome: 'updated', require_mfa: requireMfa },
    }),
  );
  return { tenantId: p.tenantId, requireMfa };
}

const uniqueRoles = (roles: readonly AssignableRole[]): string[] => [...new Set(roles)];
