import { epochSeconds } from '../clock.js';
import { AppError } from '../errors.js';
import { CipherUnavailable, type User } from '../ports.js';
import { hashRecoveryCode } from '../secrets.js';
import { checkTotp, type TotpCheck } from '../totp.js';
import type { UseCaseDeps } from './deps.js';

/**
 * A stored TOTP secret's plaintext, from Vault transit. Vault unreachable: 503 mfa_unavailable (MFA
 * neither passes nor fails without it; the failure is counted as outcome `unavailable`).
 */
async function totpSecret(d: UseCaseDeps, user: User, stored: string, route: string): Promise<string> {
  try {
    return await d.mfaCipher.decrypt(stored, { tenantId: user.tenantId, userId: user.id });
  } catch (err) {
    if (!(err instanceof CipherUnavailable)) throw err;
    d.metrics.mfaEvents.inc({ tenant: user.tenantId, outcome: 'unavailable', route });
    d.logger.warn({ event: 'mfa_cipher_unavailable', reason: err.reason }, 'TOTP secret not decrypted');
    throw new AppError('mfa_unavailable');
  }
}

/**
 * Checks `code` against a sealed secret at the clock's time step (±MFA_TOTP_WINDOW_STEPS); a step at or
 * before `afterTimeStep` (the last accepted) is a replay.
 */
export async function checkSealedTotp(
  d: UseCaseDeps,
  user: User,
  sealed: string,
  code: string,
  route: string,
  afterTimeStep?: number | null,
): Promise<TotpCheck> {
  return checkTotp({
    secret: await totpSecret(d, user, sealed, route),
    code,
    windowSteps: d.config.mfa.totpWindowSteps,
    afterTimeStep,
    epochSeconds: epochSeconds(d.clock),
  });
}

/** Checks a TOTP code of an enrolled user and claims its time step, so each code works once. */
export async function claimTotp(
  d: UseCaseDeps,
  user: User,
  code: string,
  route = '/login',
): Promise<'success' | 'replay' | 'mfa_invalid'> {
  if (!user.mfaSecret) return 'mfa_invalid';
  const res = await checkSealedTotp(d, user, user.mfaSecret, code, route, user.mfaLastTimeStep);
  if (!res.valid) return res.replay ? 'replay' : 'mfa_invalid';
  // Claimed atomically: the same code presented twice at once succeeds once.
  if (!(await d.store.claimTotpStep(user.id, res.timeStep))) return 'replay';
  return 'success';
}

export type SecondFactor = { ok: true; amr: string[]; outcome: string } | { ok: false; outcome: string };

/** The second factor at sign-in: a TOTP code, else a recovery code (spent when it matches). */
export async function checkSecondFactor(
  d: UseCaseDeps,
  user: User,
  factor: { mfaCode?: string | undefined; recoveryCode?: string | undefined },
): Promise<SecondFactor> {
  if (factor.mfaCode) {
    const outcome = await claimTotp(d, user, factor.mfaCode);
    if (outcome !== 'success') return { ok: false, outcome };
    return { ok: true, amr: ['otp', 'mfa'], outcome };
  }
  if (
    factor.recoveryCode &&
    (await d.store.consumeRecoveryCode(user.id, hashRecoveryCode(factor.recoveryCode)))
  ) {
    return { ok: true, amr: ['mfa'], outcome: 'recovery_code_used' };
  }
  return { ok: false, outcome: 'mfa_invalid' };
}
