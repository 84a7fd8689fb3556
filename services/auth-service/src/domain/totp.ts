import { generateSecret, generateURI, verify } from 'otplib';

/** TOTP (RFC 6238, SHA-1, 6 digits, 30 s) through otplib 13's async API. */

export const TOTP_PERIOD_SECONDS = 30;

/** A new secret: 20 random bytes (160 bits, RFC 4226's recommendation), base32. */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

/** The otpauth:// URI an authenticator app scans. */
export function provisioningUri(opts: { issuer: string; account: string; secret: string }): string {
  return generateURI({ issuer: opts.issuer, label: opts.account, secret: opts.secret });
}

export type TotpCheck = { valid: true; timeStep: number } | { valid: false; replay: boolean };

/**
 * Checks `code` within ±`windowSteps` steps. A code for a step at or before `afterTimeStep` (the last one
 * accepted) is refused as a replay; the caller must still claim the step atomically.
 */
export async function checkTotp(opts: {
  secret: string;
  code: string;
  windowSteps: number;
  afterTimeStep?: number | null;
  epochSeconds?: number;
}): Promise<TotpCheck> {
  if (!/^\d{6}$/.test(opts.code)) return { valid: false, replay: false };
  const base = {
    secret: opts.secret,
    token: opts.code,
    epochTolerance: opts.windowSteps * TOTP_PERIOD_SECONDS,
    ...(opts.epochSeconds !== undefined ? { epoch: opts.epochSeconds } : {}),
  };
  let res: Awaited<ReturnType<typeof verify>>;
  try {
    res = await verify(base);
  } catch {
    return { valid: false, replay: false }; // e.g. a secret otplib's guardrails refuse
  }
  if (!res.valid || !('timeStep' in res)) return { valid: false, replay: false };
  const last = opts.afterTimeStep;
  if (last !== undefined && last !== null && res.timeStep <= last) return { valid: false, replay: true };
  return { valid: true, timeStep: res.timeStep };
}
