import { AppError } from '../errors.js';
import { mayDisableMfa } from '../mfa-policy.js';
import type {
  ChangePasswordCommand,
  DisableMfaCommand,
  Principal,
  RequestContext,
  TotpCodeCommand,
} from '../model.js';
import { checkPassword } from '../password-policy.js';
import { hashRecoveryCode, newRecoveryCodes } from '../secrets.js';
import { requireRecentAuthentication, revokeUserTokens } from './access.js';
import { consumeLoginLimits, type UseCaseDeps } from './deps.js';
import { ifDone, publish, withEvent } from './events.js';
import {
  account,
  lockedFor,
  mfaFailure,
  recordFailure,
  refuseIfLocked,
  requireEnrolled,
} from './failures.js';
import { claimTotp } from './second-factor.js';

/**
 * POST /password/change: the current password proves the caller (a wrong one counts toward the login
 * lockout), the new one must pass the policy and differ; every session of the user ends.
 */
export async function changePassword(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: ChangePasswordCommand,
): Promise<{ revokedSessions: number }> {
  requireRecentAuthentication(d, p);
  const { user, tenant, subject } = await account(d, p);
  const who = { userId: user.id, roles: user.roles };
  const count = (outcome: string) => d.metrics.passwordChanges.inc({ tenant: tenant.id, outcome });
  const failed = (outcome: string) =>
    publish(d, ctx, { topic: 'audit', type: 'password_change_failed', fields: { ...who, outcome } });
  try {
    // The login limits: guessing a password here costs the same budget as at /login.
    await consumeLoginLimits(d, ctx.ip, tenant.id, subject);
  } catch (err) {
    count('rate_limited');
    throw err;
  }
  const locked = await lockedFor(d, ctx, tenant, subject);
  if (locked > 0) {
    count('locked');
    await failed('locked');
    throw new AppError('too_many_attempts', undefined, locked);
  }
  if (!(await d.hasher.verify(user.passwordHash, cmd.currentPassword)).ok) {
    await withEvent(
      d,
      ctx,
      () => recordFailure(d, ctx, tenant, subject, user.id),
      () => ({
        topic: 'audit',
        type: 'password_change_failed',
        fields: { ...who, outcome: 'invalid_credentials' },
      }),
    );
    count('invalid_credentials');
    throw new AppError('invalid_credentials');
  }
  if (cmd.newPassword === cmd.currentPassword) {
    count('unchanged');
    await failed('unchanged');
    throw new AppError('password_unchanged');
  }
  const issues = checkPassword(cmd.newPassword, { minLength: d.config.passwordMinLength, email: user.email });
  if (issues.length > 0) {
    count('weak_password');
    await failed('weak_password');
    throw new AppError('weak_password', { issues });
  }
  const newHash = await d.hasher.hash(cmd.newPassword);
  const revoked = await withEvent(
    d,
    ctx,
    async () => {
      const n = await d.store.changePassword(user.id, newHash, 'password_changed');
      await d.store.recordLoginSourceSuccess(tenant.id, subject, ctx.ip);
      return n;
    },
    (n) => ({
      topic: 'audit',
      type: 'password_changed',
      fields: { ...who, outcome: 'changed', revoked_sessions: n },
    }),
  );
  await revokeUserTokens(d, tenant.id, user.id);
  count('success');
  return { revokedSessions: revoked };
}

/** POST /mfa/recovery-codes/regenerate: a current TOTP code replaces every recovery code with new ones. */
export async function regenerateRecoveryCodes(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: TotpCodeCommand,
): Promise<{ recoveryCodes: string[] }> {
  const route = '/mfa/recovery-codes/regenerate';
  requireRecentAuthentication(d, p);
  const acct = await account(d, p);
  const { user, tenant } = acct;
  requireEnrolled(d, acct, route);
  await refuseIfLocked(d, ctx, acct, route);
  const outcome = await claimTotp(d, user, cmd.code, route);
  if (outcome !== 'success') await mfaFailure(d, ctx, acct, outcome, route);
  const recoveryCodes = newRecoveryCodes(d.config.mfa.backupCodesCount);
  const replaced = await withEvent(
    d,
    ctx,
    () => d.store.replaceRecoveryCodes(user.id, recoveryCodes.map(hashRecoveryCode)),
    ifDone({
      topic: 'mfa',
      type: 'mfa_recovery_codes_regenerated',
      fields: {
        userId: user.id,
        roles: user.roles,
        outcome: 'regenerated',
        count: recoveryCodes.length,
      },
    }),
  );
  if (!replaced) throw new AppError('mfa_not_enrolled');
  d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'recovery_codes_regenerated', route });
  return { recoveryCodes };
}

/**
 * POST /mfa/disable: password and a current TOTP code turn MFA off, where policy allows it (never for an
 * admin or where the tenant or the service requires MFA); every session of the user ends.
 */
export async function disableMfa(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: DisableMfaCommand,
): Promise<{ revokedSessions: number }> {
  const route = '/mfa/disable';
  requireRecentAuthentication(d, p);
  const acct = await account(d, p);
  const { user, tenant, subject } = acct;
  const who = { userId: user.id, roles: user.roles };
  requireEnrolled(d, acct, route);
  if (!mayDisableMfa(user.roles, tenant.requireMfa, d.config.mfa)) {
    d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'refused_by_policy', route });
    await publish(d, ctx, {
      topic: 'mfa',
      type: 'mfa_disable_refused',
      fields: { ...who, outcome: 'mfa_required_by_policy' },
    });
    throw new AppError('mfa_required_by_policy');
  }
  await refuseIfLocked(d, ctx, acct, route);
  // As at /login: the password first; the code is checked (and its step spent) only after it.
  if (!(await d.hasher.verify(user.passwordHash, cmd.password)).ok)
    await mfaFailure(d, ctx, acct, 'invalid_credentials', route);
  const outcome = await claimTotp(d, user, cmd.code, route);
  if (outcome !== 'success') await mfaFailure(d, ctx, acct, outcome, route);
  const revoked = await withEvent(
    d,
    ctx,
    async () => {
      const n = await d.store.disableMfa(user.id, 'mfa_disabled');
      if (n !== undefined) await d.store.recordLoginSourceSuccess(tenant.id, subject, ctx.ip);
      return n;
    },
    (n) =>
      n === undefined
        ? undefined
        : {
            topic: 'mfa',
            type: 'mfa_disabled',
            fields: { ...who, outcome: 'disabled', revoked_sessions: n },
          },
  );
  if (revoked === undefined) throw new AppError('mfa_not_enrolled');
  await revokeUserTokens(d, tenant.id, user.id);
  d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome: 'disabled', route });
  return { revokedSessions: revoked };
}
