import { AppError } from '../errors.js';
import { mfaRequiredFor } from '../mfa-policy.js';
import type { EnrollmentRequired, LoginResult, RequestContext, SignInCommand } from '../model.js';
import type { Tenant } from '../ports.js';
import { sha256Hex } from '../secrets.js';
import { consume, type UseCaseDeps } from './deps.js';
import { alertSuspicious, publish, suspiciousEvent, withEvent } from './events.js';
import { lockedFor, mfaEnrolled, recordFailure } from './failures.js';
import { checkSecondFactor } from './second-factor.js';
import { newSession, signEnrollment } from './tokens.js';

/**
 * POST /login. In order: the address's limit, the (account, address) limit, the lockout, the password
 * (the same work and answer for an unknown tenant or account), then the second factor when enrolled, an
 * enrollment-only token where MFA is required but not set up, else a new session.
 */
export async function signIn(
  d: UseCaseDeps,
  ctx: RequestContext,
  cmd: SignInCommand,
): Promise<LoginResult | EnrollmentRequired> {
  const m = d.metrics;
  const email = cmd.email.trim().toLowerCase();
  let tenant: Tenant | undefined;
  try {
    await consume(d.limits.ipLogin, ctx.ip);
    tenant = await d.store.getTenant(ctx.tenantId);
  } catch (err) {
    m.loginAttempts.inc({
      tenant: 'unknown',
      outcome: err instanceof AppError && err.code === 'rate_limited' ? 'rate_limited' : 'invalid_request',
    });
    throw err;
  }
  const tenantLabel = tenant?.id ?? 'unknown';
  const subject = sha256Hex(email);
  try {
    // Per (account, address): an attacker's budget is not the owner's.
    await consume(d.limits.accountLogin, `${ctx.tenantId}|${subject}|${ctx.ip}`);
  } catch (err) {
    m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'rate_limited' });
    throw err;
  }

  if (!tenant) {
    // Same work and the same answer as a wrong password: tenants are not enumerable either.
    await d.hasher.verifyDummy(cmd.password);
    m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'invalid_credentials' });
    await publish(d, ctx, {
      topic: 'audit',
      type: 'login_failed',
      fields: { outcome: 'invalid_credentials' },
    });
    throw new AppError('invalid_credentials');
  }

  const locked = await lockedFor(d, ctx, tenant, subject);
  if (locked > 0) {
    m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'locked' });
    await publish(d, ctx, { topic: 'audit', type: 'login_locked', fields: { outcome: 'locked' } });
    throw new AppError('too_many_attempts', undefined, locked);
  }

  const user = await d.store.findUserByEmail(tenant.id, email);
  const check = user
    ? await d.hasher.verify(user.passwordHash, cmd.password)
    : { ok: await d.hasher.verifyDummy(cmd.password), needsRehash: false };
  if (!user || !check.ok) {
    await withEvent(
      d,
      ctx,
      () => recordFailure(d, ctx, tenant, subject, user?.id ?? null),
      () => ({
        topic: 'audit',
        type: 'login_failed',
        fields: { userId: user?.id ?? null, outcome: 'invalid_credentials' },
      }),
    );
    m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'invalid_credentials' });
    throw new AppError('invalid_credentials');
  }
  if (check.needsRehash) {
    await d.store.updatePasswordHash(user.id, await d.hasher.hash(cmd.password));
    d.logger.info(
      { event: 'password_rehashed', user_id: user.id, tenant_id: tenant.id },
      'password hash upgraded',
    );
  }

  const authTime = new Date(d.clock.now());
  const amr = ['pwd'];
  const enrolled = mfaEnrolled(user);
  const who = { userId: user.id, roles: user.roles };
  if (enrolled) {
    if (!cmd.mfaCode && !cmd.recoveryCode) {
      m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'mfa_required' });
      m.mfaEvents.inc({ tenant: tenantLabel, outcome: 'mfa_required', route: '/login' });
      await publish(d, ctx, {
        topic: 'mfa',
        type: 'mfa_challenge',
        fields: { ...who, outcome: 'mfa_required' },
      });
      throw new AppError('mfa_required');
    }
    // The spent code or time step and the event saying so commit together.
    const second = await withEvent(
      d,
      ctx,
      async () => {
        const result = await checkSecondFactor(d, user, cmd);
        if (!result.ok) {
          await d.store.incrementMfaFailures(user.id);
          await recordFailure(d, ctx, tenant, subject, user.id);
        }
        return result;
      },
      (result) => ({
        topic: 'mfa',
        type: result.ok ? 'mfa_verified' : 'mfa_failed',
        fields: { ...who, outcome: result.outcome },
      }),
    );
    m.mfaEvents.inc({ tenant: tenantLabel, outcome: second.outcome, route: '/login' });
    if (!second.ok) {
      m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'mfa_invalid' });
      throw new AppError('mfa_invalid');
    }
    amr.push(...second.amr);
  } else if (mfaRequiredFor(user.roles, tenant.requireMfa, d.config.mfa)) {
    // Password right, but no second factor set up where one is required: only an enrollment token.
    const signed = await signEnrollment(d, user, amr, authTime);
    m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'mfa_enrollment_required' });
    await publish(d, ctx, {
      topic: 'mfa',
      type: 'mfa_enrollment_required',
      fields: { ...who, outcome: 'mfa_enrollment_required' },
    });
    return { enrollment: { enrollmentToken: signed.token, expiresIn: signed.expiresIn } };
  }

  // The session (refresh token row), the success bookkeeping and login_succeeded: one transaction.
  const { session, hit } = await withEvent(
    d,
    ctx,
    async () => {
      const previousFailures = await d.store.recordLoginSourceSuccess(tenant.id, subject, ctx.ip, user.id);
      const session = await newSession(d, user, amr, 'password', authTime);
      return { session, hit: d.detector.onSuccess(previousFailures) };
    },
    ({ hit }) => [
      { topic: 'audit', type: 'login_succeeded', fields: { ...who, outcome: 'success', amr } },
      ...(hit ? [suspiciousEvent(hit.rule, user.id, { failures: hit.failures })] : []),
    ],
  );
  if (hit) alertSuspicious(d, ctx, hit.rule, user.id, { failures: hit.failures });
  m.loginAttempts.inc({ tenant: tenantLabel, outcome: 'success' });
  return {
    ...session,
    user: {
      id: user.id,
      email: user.email,
      tenantId: user.tenantId,
      roles: user.roles,
      mfaEnrolled: enrolled,
    },
  };
}
