import { epochSeconds } from '../clock.js';
import { AppError } from '../errors.js';
import type {
  EnrollCompleteCommand,
  EnrollStartCommand,
  Principal,
  RequestContext,
  SessionTokens,
} from '../model.js';
import { CipherUnavailable } from '../ports.js';
import { hashRecoveryCode, newRecoveryCodes } from '../secrets.js';
import { pendingEnrollmentExpired } from '../session-rules.js';
import { newTotpSecret, provisioningUri } from '../totp.js';
import { requireRecentAuthentication } from './access.js';
import { consume, type UseCaseDeps } from './deps.js';
import { ifDone, publish, type SecurityEvent, withEvent } from './events.js';
import { account, mfaFailure, refuseIfLocked } from './failures.js';
import { checkSealedTotp } from './second-factor.js';
import { newSession } from './tokens.js';

/** Limits for the MFA enrollment and account routes, per client address. */
export function limitMfa(d: UseCaseDeps, ctx: RequestContext): Promise<void> {
  return consume(d.limits.ipMfa, ctx.ip);
}

/**
 * POST /mfa/enroll/start (and /mfa/setup): a new TOTP secret, sealed with Vault transit, pending for the
 * enrollment token's lifetime. A live pending enrollment is not replaced, unless a full session proves
 * the password again; an enrollment-only token never replaces one.
 */
export async function startEnrollment(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: EnrollStartCommand,
): Promise<{ secret: string; otpauthUri: string }> {
  const { route } = cmd;
  requireRecentAuthentication(d, p);
  const acct = await account(d, p);
  const { user } = acct;
  if (user.mfaEnrolledAt) throw new AppError('mfa_already_enrolled');
  const secret = newTotpSecret();
  let sealed: string;
  try {
    sealed = await d.mfaCipher.encrypt(secret, { tenantId: user.tenantId, userId: user.id });
  } catch (err) {
    if (!(err instanceof CipherUnavailable)) throw err;
    d.metrics.mfaEvents.inc({ tenant: user.tenantId, outcome: 'unavailable', route });
    throw new AppError('mfa_unavailable');
  }
  const ttl = d.config.tokens.enrollmentTtlSeconds;
  const started: SecurityEvent = {
    topic: 'mfa',
    type: 'mfa_enrollment_started',
    fields: { userId: user.id, roles: user.roles, outcome: 'enrollment_started' },
  };
  const setPending = (replace: boolean) =>
    withEvent(
      d,
      ctx,
      () => d.store.setPendingMfaSecret(user.id, sealed, p.sid ?? '', ttl, replace),
      ifDone(started),
    );
  let set = await setPending(false);
  if (!set && cmd.password !== undefined && !p.enrollmentOnly) {
    await refuseIfLocked(d, ctx, acct, route);
    if (!(await d.hasher.verify(user.passwordHash, cmd.password)).ok)
      await mfaFailure(d, ctx, acct, 'invalid_credentials', route);
    set = await setPending(true);
  }
  if (!set) {
    d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'enrollment_pending', route });
    await publish(d, ctx, {
      topic: 'mfa',
      type: 'mfa_enrollment_refused',
      fields: { userId: user.id, roles: user.roles, outcome: 'enrollment_pending' },
    });
    throw new AppError('mfa_enrollment_pending');
  }
  d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'enrollment_started', route });
  return {
    secret,
    otpauthUri: provisioningUri({ issuer: d.config.mfa.issuerLabel, account: user.email, secret }),
  };
}

/**
 * POST /mfa/enroll/complete (and /mfa/enable): a code for the pending secret, from the session that
 * started it and within its lifetime, enrolls the user and returns recovery codes; after the
 * required-enrollment flow the user is signed in, with MFA.
 */
export async function completeEnrollment(
  d: UseCaseDeps,
  ctx: RequestContext,
  p: Principal,
  cmd: EnrollCompleteCommand,
): Promise<{ recoveryCodes: string[] } & Partial<SessionTokens>> {
  const { route } = cmd;
  requireRecentAuthentication(d, p);
  const user = await d.store.getUser(p.tenantId, p.userId);
  if (!user) throw new AppError('token_invalid');
  if (user.mfaEnrolledAt) throw new AppError('mfa_already_enrolled');
  const pendingSecret = user.mfaPendingSecret;
  if (
    !pendingSecret ||
    user.mfaPendingSession !== (p.sid ?? '') ||
    pendingEnrollmentExpired(user.mfaPendingCreatedAt, d.clock.now(), d.config.tokens.enrollmentTtlSeconds)
  )
    throw new AppError('mfa_not_started');
  const res = await checkSealedTotp(d, user, pendingSecret, cmd.code, route);
  if (!res.valid) {
    await withEvent(
      d,
      ctx,
      () => d.store.incrementMfaFailures(user.id),
      () => ({
        topic: 'mfa',
        type: 'mfa_failed',
        fields: { userId: user.id, roles: user.roles, outcome: 'mfa_invalid', route },
      }),
    );
    d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'mfa_invalid', route });
    throw new AppError('mfa_invalid');
  }
  const recoveryCodes = newRecoveryCodes(d.config.mfa.backupCodesCount);
  const done = await withEvent(
    d,
    ctx,
    () =>
      d.store.completeMfaEnrollment(
        user.id,
        pendingSecret,
        res.timeStep,
        recoveryCodes.map(hashRecoveryCode),
      ),
    ifDone({
      topic: 'mfa',
      type: 'mfa_enrolled',
      fields: { userId: user.id, roles: user.roles, outcome: 'enrolled' },
    }),
  );
  if (!done) throw new AppError('mfa_not_started');
  d.metrics.mfaEvents.inc({ tenant: p.tenantId, outcome: 'enrolled', route });
  if (!p.enrollmentOnly) return { recoveryCodes };
  const session = await newSession(
    d,
    { ...user, mfaEnrolledAt: new Date(d.clock.now()) },
    ['pwd', 'otp', 'mfa'],
    'mfa_enrollment',
    new Date((p.authTime ?? epochSeconds(d.clock)) * 1000),
  );
  return { recoveryCodes, ...session };
}
