import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { EventPublisher } from '../../../../../lib/events.js';
import type { Logger } from '../../../../../lib/log.js';
import type { SessionRevocationStore } from '../../../../../lib/session-revocation.js';
import type { AuthConfig } from '../../config.js';
import type { AuthMetrics } from '../../metrics.js';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { KeyRing } from '../keyring.js';
import type { PasswordHasher } from '../passwords.js';
import type { AuthStore, MfaSecretCipher } from '../ports.js';
import type { SuspiciousLoginDetector, SuspiciousWebhook } from '../suspicious.js';

/** What the wiring (server.ts) gives the use cases. */
export interface AuthServiceDeps {
  readonly config: AuthConfig;
  /** Tenants, users, sessions, lockout counts and API keys (storage/repo.ts implements it). */
  readonly store: AuthStore;
  readonly hasher: PasswordHasher;
  readonly keyring: KeyRing;
  readonly metrics: AuthMetrics;
  readonly events: EventPublisher;
  readonly logger: Logger;
  readonly detector: SuspiciousLoginDetector;
  readonly webhook: SuspiciousWebhook;
  /** Encrypts TOTP secrets at rest (Vault transit); decrypted only to verify a code. */
  readonly mfaCipher: MfaSecretCipher;
  /** Per-user "valid after" times and ended sessions, shared with the gateway (lib/session-revocation.ts). */
  readonly sessions: SessionRevocationStore;
  /** The bootstrap token for POST /register-first from AUTH_BOOTSTRAP_TOKEN(_FILE), if any. */
  readonly bootstrapToken?: string | undefined;
  /** Every time the domain reads: lockout windows, TOTP steps, token and session expiry. */
  readonly clock: Clock;
}

/** In-process limits of the sign-in, MFA and bootstrap routes (per address, per account and address). */
export interface Limits {
  readonly ipLogin: RateLimiterMemory;
  readonly accountLogin: RateLimiterMemory;
  readonly ipMfa: RateLimiterMemory;
  readonly ipRegisterFirst: RateLimiterMemory;
}

/** The dependencies every use case takes: the wiring's, plus the limits and the bootstrap token's hash. */
export interface UseCaseDeps extends AuthServiceDeps {
  readonly limits: Limits;
  readonly bootstrapHash: Buffer | undefined;
}

export function useCaseDeps(d: AuthServiceDeps): UseCaseDeps {
  const rl = d.config.rateLimits;
  return {
    ...d,
    limits: {
      ipLogin: new RateLimiterMemory({ keyPrefix: 'login-ip', points: rl.loginPerIpPerMinute, duration: 60 }),
      accountLogin: new RateLimiterMemory({
        keyPrefix: 'login-acct',
        points: rl.loginPerAccountPerMinute,
        duration: 60,
      }),
      ipMfa: new RateLimiterMemory({ keyPrefix: 'mfa-ip', points: rl.mfaPerIpPerMinute, duration: 60 }),
      ipRegisterFirst: new RateLimiterMemory({
        keyPrefix: 'register-first-ip',
        points: rl.registerFirstPerIpPer15Minutes,
        duration: 900,
      }),
    },
    bootstrapHash: d.bootstrapToken ? createHash('sha256').update(d.bootstrapToken).digest() : undefined,
  };
}

/** Takes one point of `limiter` for `key`; 429 rate_limited with Retry-After when none is left. */
export async function consume(limiter: RateLimiterMemory, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (res) {
    if (res instanceof RateLimiterRes) {
      throw new AppError('rate_limited', undefined, Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
    }
    throw res;
  }
}

/** The login limits: per address, and per (account, address) so an attacker's budget is not the owner's. */
export async function consumeLoginLimits(
  d: UseCaseDeps,
  ip: string,
  tenantId: string,
  subject: string,
): Promise<void> {
  await consume(d.limits.ipLogin, ip);
  await consume(d.limits.accountLogin, `${tenantId}|${subject}|${ip}`);
}
