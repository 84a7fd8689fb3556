/**
 * Token and session time rules, as pure functions of `now` (epoch ms, from the injected clock): a new
 * session's lifetimes, the sliding idle window of a refresh, step-up's recent-authentication window, a
 * pending MFA enrollment's lifetime and an API key's expiry.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface SessionLifetimes {
  /** Hours a refresh token may go unused before the session ends. */
  readonly sessionIdleHours: number;
  /** Absolute lifetime of a session (refresh family), and of an admin's. */
  readonly refreshTtlHours: number;
  readonly adminRefreshTtlHours: number;
}

/** A new session: its first refresh token ends after the idle window, the family at its absolute limit. */
export function newSessionExpiry(
  nowMs: number,
  policy: SessionLifetimes,
  privileged: boolean,
): { expiresAt: Date; familyExpiresAt: Date } {
  const absoluteHours = privileged ? policy.adminRefreshTtlHours : policy.refreshTtlHours;
  const familyExpiresAt = new Date(nowMs + absoluteHours * HOUR_MS);
  return { expiresAt: slidingExpiry(nowMs, policy.sessionIdleHours, familyExpiresAt), familyExpiresAt };
}

/** A refresh token's end: the idle window from now, never past its family's absolute end. */
export function slidingExpiry(nowMs: number, idleHours: number, familyExpiresAt: Date): Date {
  return new Date(Math.min(nowMs + idleHours * HOUR_MS, familyExpiresAt.getTime()));
}

/** A refresh token at or past its own end or its family's is expired. */
export function refreshExpired(token: { expiresAt: Date; familyExpiresAt: Date }, nowMs: number): boolean {
  return token.expiresAt.getTime() <= nowMs || token.familyExpiresAt.getTime() <= nowMs;
}

/**
 * Step-up: the primary authentication (`auth_time`, epoch seconds) must be at most `maxAgeSeconds` old; a
 * token without one never passes.
 */
export function authenticatedRecently(
  authTime: number | undefined,
  nowMs: number,
  maxAgeSeconds: number,
): boolean {
  return authTime !== undefined && nowMs / 1000 - authTime <= maxAgeSeconds;
}

/** A pending enrollment lives as long as the enrollment token that may complete it. */
export function pendingEnrollmentExpired(
  createdAt: Date | null | undefined,
  nowMs: number,
  ttlSeconds: number,
): boolean {
  return nowMs - (createdAt?.getTime() ?? 0) > ttlSeconds * 1000;
}

export function apiKeyExpiresAt(nowMs: number, expiresInDays: number | undefined): Date | null {
  return expiresInDays === undefined ? null : new Date(nowMs + expiresInDays * DAY_MS);
}
