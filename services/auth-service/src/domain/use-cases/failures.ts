import { AppError } from '../errors.js';
import { lockedForSeconds, locksAfterFailure } from '../lockout.js';
import type { Principal, RequestContext } from '../model.js';
import type { Tenant, User } from '../ports.js';
import { sha256Hex } from '../secrets.js';
import type { UseCaseDeps } from './deps.js';
import { alertSuspicious, publish, suspiciousEvent, withEvent } from './events.js';

/** A signed-in caller's own account: the user, its tenant and its lockout subject. */
export interface Account {
  readonly user: User;
  readonly tenant: Tenant;
  /** The login lockout's subject: the account's failures here and at /login share one counter. */
  readonly subject: string;
}

export const mfaEnrolled = (u: User): boolean => !!(u.mfaSecret && u.mfaEnrolledAt);

/** The caller's own account and tenant (a deleted user's token authorises nothing). */
export async function account(d: UseCaseDeps, p: Principal): Promise<Account> {
  const [user, tenant] = await Promise.all([
    d.store.getUser(p.tenantId, p.userId),
    d.store.getTenant(p.tenantId),
  ]);
  if (!user || !tenant) throw new AppError('token_invalid');
  return { user, tenant, subject: sha256Hex(user.email) };
}

/** Seconds the account stays locked for this address (the login lockout), 0 when it is not locked. */
export async function lockedFor(
  d: UseCaseDeps,
  ctx: RequestContext,
  tenant: Tenant,
  subject: string,
): Promise<number> {
  const state = await d.store.lockoutState(tenant.id, subject, ctx.ip, d.config.lockout.knownSourceDays);
  return lockedForSeconds(state, d.clock.now());
}

/**
 * A failed password (or second factor) for the account from this address: counted, the locks it earns
 * set (each an `account_locked` event), and the spray detector told. Runs inside the caller's `withEvent`.
 */
export async function recordFailure(
  d: UseCaseDeps,
  ctx: RequestContext,
  tenant: Tenant,
  subject: string,
  userId: string | null,
): Promise<void> {
  const policy = d.config.lockout;
  const failures = await d.store.addLoginFailure(tenant.id, subject, ctx.ip, policy.failureResetSeconds);
  for (const lock of locksAfterFailure(failures, ctx.ip, policy, d.clock.now())) {
    await d.store.lockLogin(tenant.id, subject, lock.source, lock.until);
    d.metrics.accountLockouts.inc({ tenant: tenant.id });
    await publish(d, ctx, {
      topic: 'audit',
      type: 'account_locked',
      fields: {
        userId,
        outcome: 'locked',
        scope: lock.scope,
        failures: lock.failures,
        lock_seconds: lock.seconds,
      },
    });
  }
  const spray = d.detector.onFailure(ctx.ip, `${tenant.id}|${subject}`);
  if (!spray) return;
  await publish(d, ctx, suspiciousEvent(spray.rule, null, { accounts: spray.accounts }));
  alertSuspicious(d, ctx, spray.rule, null, { accounts: spray.accounts });
}

/** The MFA account routes need MFA enrolled. */
export function requireEnrolled(d: UseCaseDeps, acct: Account, route: string): void {
  if (mfaEnrolled(acct.user)) return;
  d.metrics.mfaEvents.inc({ tenant: acct.tenant.id, outcome: 'not_enrolled', route });
  throw new AppError('mfa_not_enrolled');
}

/** A locked account (the login lockout) cannot try codes on the MFA account routes either. */
export async function refuseIfLocked(
  d: UseCaseDeps,
  ctx: RequestContext,
  acct: Account,
  route: string,
): Promise<void> {
  const locked = await lockedFor(d, ctx, acct.tenant, acct.subject);
  if (locked === 0) return;
  d.metrics.mfaEvents.inc({ tenant: acct.tenant.id, outcome: 'locked', route });
  await publish(d, ctx, {
    topic: 'mfa',
    type: 'mfa_failed',
    fields: { userId: acct.user.id, roles: acct.user.roles, outcome: 'locked', route },
  });
  throw new AppError('too_many_attempts', undefined, locked);
}

/**
 * A failed second-factor check on an account route: counted like a failed MFA login (the user's MFA
 * failures, the durable lockout, `auth_mfa_events_total`, `mfa_failed`), then refused.
 */
export async function mfaFailure(
  d: UseCaseDeps,
  ctx: RequestContext,
  acct: Account,
  outcome: 'mfa_invalid' | 'replay' | 'invalid_credentials',
  route: string,
): Promise<never> {
  const { user, tenant, subject } = acct;
  await withEvent(
    d,
    ctx,
    async () => {
      await d.store.incrementMfaFailures(user.id);
      await recordFailure(d, ctx, tenant, subject, user.id);
    },
    () => ({
      topic: 'mfa',
      type: 'mfa_failed',
      fields: { userId: user.id, roles: user.roles, outcome, route },
    }),
  );
  d.metrics.mfaEvents.inc({ tenant: tenant.id, outcome, route });
  throw new AppError(outcome === 'invalid_credentials' ? 'invalid_credentials' : 'mfa_invalid');
}
